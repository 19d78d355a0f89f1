//! Files that came with a message (a Telegram photo, a document): copied from the media object
//! store into the agent's workspace (`inbox/`), and the message says where, so the model can use
//! its tools on them. Done before the turn runs; a file that cannot be saved is named in the
//! message instead, never a failed turn.

use std::time::Duration;

use async_nats::jetstream::object_store::ObjectStore;
use pincer_bus::messages::ChatMessage;
use tokio::io::AsyncReadExt as _;

use pincer_workspace::Workspace;

use crate::image_type::{self, ImageType};

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
                Ok(Saved { path, image }) => {
                    let note = format!(
                        "[{} attached, saved as {path} ({} bytes)]",
                        attachment.kind, attachment.size
                    );
                    if image.is_some() {
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
            let Some(workspace) = workspace else {
                continue;
            };
            match read_image(workspace, relative, budget).await {
                Ok((data, image)) => {
                    budget -= data.len() as u64;
                    images.push(pincer_proto::llm::v1::Image {
                        mime_type: image.mime.to_owned(),
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

/// The image at `relative` and its type, read from its bytes (it may have been replaced since it
/// was saved).
async fn read_image(
    workspace: &Workspace,
    relative: &str,
    budget: u64,
) -> Result<(Vec<u8>, ImageType), String> {
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
    let data = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("cannot read it: {e}"))?;
    let image =
        image_type::of_bytes(&data).ok_or("it is no longer a JPEG, PNG, GIF or WebP image")?;
    Ok((data, image))
}

/// Where an attachment was saved, and whether it is an image a model can be shown.
struct Saved {
    /// Its path in the workspace.
    path: String,
    /// Its type, read from its bytes.
    image: Option<ImageType>,
}

async fn save(
    media: Option<&Media>,
    workspace: Option<&Workspace>,
    attachment: &pincer_bus::messages::Attachment,
) -> Result<Saved, String> {
    let media = media.ok_or("the media store is not available")?;
    let workspace = workspace.ok_or("the agent has no workspace")?;
    let object = tokio::time::timeout(media.stall, media.store.get(attachment.object.as_str()))
        .await
        .map_err(|_| format!("the media store did not answer in {:?}", media.stall))?
        .map_err(|e| format!("not in the media store: {e}"))?;
    let bytes = read_whole(object, media.stall).await?;
    // An image is named for what it holds, so the name the model and its tools see says it.
    let image = image_type::of_bytes(&bytes);
    let file_name = match image {
        Some(image) => image_type::named_for(&attachment.file_name, image),
        None => attachment.file_name.clone(),
    };
    // A name made here must not land on a file saved under that name before.
    let renamed = file_name != attachment.file_name;
    let mut relative = format!("inbox/{file_name}");
    let mut copy = 1;
    while renamed && copy < 100 && workspace.root().join(&relative).exists() {
        copy += 1;
        let (stem, extension) = file_name.rsplit_once('.').unwrap_or((&file_name, ""));
        relative = format!("inbox/{stem}-{copy}.{extension}");
    }
    let path = workspace.relative(&relative).map_err(|e| e.to_string())?;
    // Written beneath the root, through a fresh temporary file: nothing planted in inbox/ can
    // redirect it.
    let root = workspace.root().to_path_buf();
    tokio::task::spawn_blocking(move || {
        pincer_workspace::beneath::write_atomically(&root, &path, &bytes)
    })
    .await
    .map_err(|e| format!("cannot write {relative}: {e}"))?
    .map_err(|e| format!("cannot write {relative}: {e}"))?;
    Ok(Saved {
        path: relative,
        image,
    })
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
        // A JPEG of several of the store's parts (128 KiB each).
        let mut bytes: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
        bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
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
        assert_eq!(out[0].images, ["inbox/IMG_0042.JPG"], "the name fits: kept");
        let saved = std::fs::read(setup.workspace.root().join("inbox/IMG_0042.JPG")).expect("file");
        assert_eq!(saved, bytes);
    }

    /// BlueBubbles serves an iPhone's HEIC photo converted to JPEG under its original name; a
    /// client may call anything `.png`. What the bytes are decides the name and whether the model
    /// is shown it, with the media type they are.
    #[tokio::test]
    async fn a_file_is_named_and_shown_for_what_its_bytes_are() {
        let setup = setup().await;
        let jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF jpeg";
        let not_an_image = b"\x00\x00\x00\x18ftypheic heic";
        for (object, bytes) in [
            ("bb-default-A", &jpeg[..]),
            ("bb-default-B", &not_an_image[..]),
        ] {
            setup
                .media
                .store
                .put(object, &mut &bytes[..])
                .await
                .expect("put");
        }
        let mut messages = photo("bb-default-A", jpeg.len() as u64);
        messages[0].attachments[0].file_name = "IMG_0042.HEIC".to_owned();
        let mut other = photo("bb-default-B", not_an_image.len() as u64);
        other[0].attachments[0].file_name = "IMG_0043.png".to_owned();
        messages.extend(other);

        let out = materialize(Some(&setup.media), Some(&setup.workspace), &messages).await;

        assert!(
            out[0]
                .content
                .starts_with("[photo attached, saved as inbox/IMG_0042.jpg"),
            "{}",
            out[0].content
        );
        assert_eq!(out[0].images, ["inbox/IMG_0042.jpg"]);
        assert!(
            out[1]
                .content
                .starts_with("[photo attached, saved as inbox/IMG_0043.png"),
            "{}",
            out[1].content
        );
        assert!(out[1].images.is_empty(), "not shown as an image");
        let shown = load_images(Some(&setup.workspace), &out).await;
        assert_eq!(shown[0].len(), 1);
        assert_eq!(shown[0][0].mime_type, "image/jpeg");
        assert_eq!(shown[0][0].data, jpeg);
        assert!(shown[1].is_empty());

        // Another photo renamed to a name already taken is saved beside it, not over it.
        let again = materialize(Some(&setup.media), Some(&setup.workspace), &messages[..1]).await;
        assert_eq!(again[0].images, ["inbox/IMG_0042-2.jpg"]);

        // Replaced meanwhile by something that is not an image: left out, not sent as JPEG.
        std::fs::write(
            setup.workspace.root().join("inbox/IMG_0042.jpg"),
            b"plain text",
        )
        .expect("write");
        assert!(load_images(Some(&setup.workspace), &out).await[0].is_empty());
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
