//! Files that came with a message (a Telegram photo, a document): copied from the media object
//! store into the agent's workspace (`inbox/`), and the message says where, so the model can use
//! its tools on them. Done before the turn runs; a file that cannot be saved is named in the
//! message instead, never a failed turn.

use std::time::Duration;

use async_nats::jetstream::object_store::ObjectStore;
use pincer_bus::messages::ChatMessage;
use tokio::io::AsyncReadExt as _;

use pincer_workspace::Workspace;

/// The media object store (a handle, cheap to clone).
#[derive(Clone)]
pub struct Media {
    store: ObjectStore,
    /// How long a read may wait for the next part of a file before it gives up.
    stall: Duration,
}

impl Media {
    /// The store, giving up on a file after [`READ_STALL`] without progress.
    pub fn new(store: ObjectStore) -> Self {
        Self {
            store,
            stall: READ_STALL,
        }
    }

    /// The same store with another patience (tests).
    pub fn with_stall(self, stall: Duration) -> Self {
        Self { stall, ..self }
    }
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Media(object store)")
    }
}

/// How long a read of a stored file may go without receiving any of it. The parts of a whole
/// file arrive within milliseconds of each other; a read that waits longer is reading parts that
/// are gone (the object was replaced or aged out meanwhile), and the object store client would
/// wait for them forever, holding the session's turn (its progress acks keep it from being
/// redelivered).
const READ_STALL: Duration = Duration::from_secs(10);

/// Largest attachment copied (the bridge enforces `mediaMaxMb` before this).
const MAX_ATTACHMENT: u64 = 64 * 1024 * 1024;

/// `messages` with their attachments saved under `inbox/` and described in the text.
pub async fn materialize(
    media: Option<&Media>,
    workspace: Option<&Workspace>,
    messages: &[ChatMessage],
) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(messages.len());
    for message in messages {
        let mut message = message.clone();
        for attachment in std::mem::take(&mut message.attachments) {
            let note = match save(media, workspace, &attachment).await {
                Ok(path) => {
                    let note = format!(
                        "[{} attached, saved as {path} ({} bytes)]",
                        attachment.kind, attachment.size
                    );
                    if image_mime(&path).is_some() {
                        message.images.push(path);
                    }
                    note
                }
                Err(reason) => {
                    tracing::warn!(%reason, object = %attachment.object, "attachment not saved");
                    format!(
                        "[{} attached, but it could not be saved: {reason}]",
                        attachment.kind
                    )
                }
            };
            message.content = format!("{note}\n{}", message.content);
        }
        out.push(message);
    }
    out
}

/// Largest image shown to a model (OpenAI's limit); a bigger one stays a file in the workspace.
const MAX_IMAGE: u64 = 20 * 1024 * 1024;
/// Largest total of images in one turn's request to the router.
const MAX_TURN_IMAGES: u64 = 20 * 1024 * 1024;

/// The media type of an image a model can be shown, by its file name.
pub fn image_mime(file_name: &str) -> Option<&'static str> {
    let extension = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    })
}

/// The images of this turn's `messages`, read back from the workspace for the model: one list per
/// message. An image that is gone or too big is left out (the message's text still names it).
pub async fn load_images(
    workspace: Option<&Workspace>,
    messages: &[ChatMessage],
) -> Vec<Vec<pincer_proto::llm::v1::Image>> {
    let mut budget = MAX_TURN_IMAGES;
    let mut out = Vec::with_capacity(messages.len());
    for message in messages {
        let mut images = Vec::new();
        for relative in &message.images {
            let (Some(workspace), Some(mime)) = (workspace, image_mime(relative)) else {
                continue;
            };
            match read_image(workspace, relative, budget).await {
                Ok(data) => {
                    budget -= data.len() as u64;
                    images.push(pincer_proto::llm::v1::Image {
                        mime_type: mime.to_owned(),
                        data,
                    });
                }
                Err(reason) => {
                    tracing::warn!(%reason, image = %relative, "image not shown to the model")
                }
            }
        }
        out.push(images);
    }
    out
}

async fn read_image(workspace: &Workspace, relative: &str, budget: u64) -> Result<Vec<u8>, String> {
    let path = workspace.resolve(relative).map_err(|e| e.to_string())?;
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|e| format!("cannot read it: {e}"))?
        .len();
    if size > MAX_IMAGE.min(budget) {
        return Err(format!(
            "{size} bytes is more than the {} left for this turn's images",
            MAX_IMAGE.min(budget)
        ));
    }
    tokio::fs::read(&path)
        .await
        .map_err(|e| format!("cannot read it: {e}"))
}

async fn save(
    media: Option<&Media>,
    workspace: Option<&Workspace>,
    attachment: &pincer_bus::messages::Attachment,
) -> Result<String, String> {
    let media = media.ok_or("the media store is not available")?;
    let workspace = workspace.ok_or("the agent has no workspace")?;
    let relative = format!("inbox/{}", attachment.file_name);
    let path = workspace.relative(&relative).map_err(|e| e.to_string())?;
    let object = tokio::time::timeout(media.stall, media.store.get(attachment.object.as_str()))
        .await
        .map_err(|_| format!("the media store did not answer in {:?}", media.stall))?
        .map_err(|e| format!("not in the media store: {e}"))?;
    let bytes = read_whole(object, media.stall).await?;
    // Written beneath the root, through a fresh temporary file: nothing planted in inbox/ can
    // redirect it.
    let root = workspace.root().to_path_buf();
    tokio::task::spawn_blocking(move || {
        pincer_workspace::beneath::write_atomically(&root, &path, &bytes)
    })
    .await
    .map_err(|e| format!("cannot write {relative}: {e}"))?
    .map_err(|e| format!("cannot write {relative}: {e}"))?;
    Ok(relative)
}

/// The whole file (at most [`MAX_ATTACHMENT`] bytes), or why not: each part must come within
/// `stall` of the one before.
async fn read_whole(
    object: async_nats::jetstream::object_store::Object,
    stall: Duration,
) -> Result<Vec<u8>, String> {
    let mut object = object.take(MAX_ATTACHMENT);
    let mut bytes = Vec::new();
    let mut part = vec![0; 64 * 1024];
    loop {
        let read = tokio::time::timeout(stall, object.read(&mut part))
            .await
            .map_err(|_| {
                format!("no part of it arrived in {stall:?} (it was replaced or is gone)")
            })?
            .map_err(|e| format!("cannot read it: {e}"))?;
        if read == 0 {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&part[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_bus::messages::{Attachment, ChatMessage, Role};
    use pincer_test_support::NatsServer;

    const STALL: Duration = Duration::from_millis(500);

    struct Setup {
        _nats: NatsServer,
        js: async_nats::jetstream::Context,
        media: Media,
        _dir: tempfile::TempDir,
        workspace: Workspace,
    }

    async fn setup() -> Setup {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let store = pincer_bus::setup::media_store(&js, &pincer_bus::Namespace::default())
            .await
            .expect("media store");
        let dir = tempfile::tempdir().expect("dir");
        let workspace = Workspace::open(dir.path()).expect("workspace");
        Setup {
            _nats: nats,
            js,
            media: Media::new(store).with_stall(STALL),
            _dir: dir,
            workspace,
        }
    }

    fn photo(object: &str, size: u64) -> Vec<ChatMessage> {
        let mut message = ChatMessage::text(Role::User, "look");
        message.attachments.push(Attachment {
            object: object.to_owned(),
            file_name: "IMG_0042.JPG".to_owned(),
            kind: "photo".to_owned(),
            size,
        });
        vec![message]
    }

    #[tokio::test]
    async fn a_stored_file_is_saved_whole_in_the_inbox() {
        let setup = setup().await;
        // Several of the store's parts (128 KiB each).
        let bytes: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
        setup
            .media
            .store
            .put("bb-default-GUID-1", &mut bytes.as_slice())
            .await
            .expect("put");
        let out = materialize(
            Some(&setup.media),
            Some(&setup.workspace),
            &photo("bb-default-GUID-1", bytes.len() as u64),
        )
        .await;
        assert!(
            out[0]
                .content
                .starts_with("[photo attached, saved as inbox/IMG_0042.JPG"),
            "{}",
            out[0].content
        );
        assert_eq!(out[0].images, ["inbox/IMG_0042.JPG"]);
        let saved = std::fs::read(setup.workspace.root().join("inbox/IMG_0042.JPG")).expect("file");
        assert_eq!(saved, bytes);
    }

    /// What a second upload under the same name does to a reader of the first: its parts are
    /// purged once the new description is written. The turn goes on, naming the file it lacks.
    #[tokio::test]
    async fn a_file_whose_parts_are_gone_is_named_not_waited_for() {
        let setup = setup().await;
        let info = setup
            .media
            .store
            .put("bb-default-GUID-2", &mut &b"\xff\xd8\xff\xe0 jpeg"[..])
            .await
            .expect("put");
        let bucket = pincer_bus::Namespace::default().media_bucket();
        setup
            .js
            .get_stream(format!("OBJ_{bucket}"))
            .await
            .expect("the store's stream")
            .purge()
            .filter(format!("$O.{bucket}.C.{}", info.nuid))
            .await
            .expect("purge the parts");
        let out = tokio::time::timeout(
            Duration::from_secs(20),
            materialize(
                Some(&setup.media),
                Some(&setup.workspace),
                &photo("bb-default-GUID-2", 9),
            ),
        )
        .await
        .expect("the read gives up on its own");
        assert!(
            out[0]
                .content
                .starts_with("[photo attached, but it could not be saved: no part of it arrived"),
            "{}",
            out[0].content
        );
        assert!(out[0].images.is_empty());
    }
}
