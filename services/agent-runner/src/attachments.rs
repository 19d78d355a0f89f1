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
                Ok(path) => format!(
                    "[{} attached, saved as {path} ({} bytes)]",
                    attachment.kind, attachment.size
                ),
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
