//! Files that came with a message (a Telegram photo, a document): copied from the media object
//! store into the agent's workspace (`inbox/`), and the message says where, so the model can use
//! its tools on them. Done before the turn runs; a file that cannot be saved is named in the
//! message instead, never a failed turn.

use async_nats::jetstream::object_store::ObjectStore;
use pincer_bus::messages::ChatMessage;
use tokio::io::AsyncReadExt as _;

use pincer_workspace::Workspace;

/// The media object store (a handle, cheap to clone).
#[derive(Clone)]
pub struct Media(pub ObjectStore);

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Media(object store)")
    }
}

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
    let mut object = media
        .0
        .get(attachment.object.as_str())
        .await
        .map_err(|e| format!("not in the media store: {e}"))?;
    let mut bytes = Vec::new();
    (&mut object)
        .take(MAX_ATTACHMENT)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("cannot read it: {e}"))?;
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
