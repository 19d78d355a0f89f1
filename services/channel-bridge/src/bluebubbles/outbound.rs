//! iMessage's way to send ([`Transport`]): plain text in chunks of at most 4,000 characters
//! (`textChunkLimit` can change it), to the chat the message came from; with the Private API the
//! first chunk in a group replies inline to the message. Each sent message is recorded as the
//! bot's (a reply to it addresses the bot). BlueBubbles has no idempotent send and no lookup by
//! key, so a claim left by a dead sender is taken over only once it is surely gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pincer_bus::messages::Delivery;

use super::api::{Api, ApiError};
use super::records::Records;
use crate::channel::outbound::{SendError, Transport};
use crate::render;

/// The longest chunk by default.
pub const IMESSAGE_CHUNK: usize = 4000;

/// One server's sending side.
#[derive(Clone)]
pub struct Account {
    /// Its API.
    pub api: Api,
    /// Whether its Private API is on.
    pub private_api: Arc<AtomicBool>,
    /// The bot's messages.
    pub records: Records,
    /// `textChunkLimit`, or [`IMESSAGE_CHUNK`].
    pub chunk_limit: usize,
}

/// The longest chunk for `textChunkLimit`.
pub fn chunk_limit(configured: Option<u32>) -> usize {
    configured
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(IMESSAGE_CHUNK, |limit| limit.clamp(100, 20_000))
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Refused(reason) => SendError::Rejected(reason),
            // A changed password or a sleeping Mac: the reply waits.
            error @ (ApiError::Auth | ApiError::Server(..) | ApiError::Transport(_)) => {
                SendError::Transient(error.to_string())
            }
        }
    }
}

impl Transport for Account {
    fn chunk_limit(&self) -> usize {
        self.chunk_limit
    }

    fn spacing(&self, _to: &Delivery) -> Duration {
        // Messages.app sends one at a time; bursts get reordered.
        Duration::from_millis(300)
    }

    fn global_spacing(&self) -> Duration {
        Duration::from_millis(100)
    }

    async fn send(
        &self,
        to: &Delivery,
        text: &str,
        key: &str,
        reply_to: Option<&str>,
    ) -> Result<String, SendError> {
        let private_api = self.private_api.load(Ordering::Relaxed);
        let guid = self
            .api
            .send_text(
                &to.chat_id,
                &render::to_plain(text),
                key,
                reply_to,
                private_api,
            )
            .await?;
        if let Err(error) = self
            .records
            .status(&guid, "sent", pincer_clock::now_ms())
            .await
        {
            tracing::debug!(%error, "sent message not recorded");
        }
        Ok(guid)
    }

    async fn edit(&self, _to: &Delivery, _message_id: &str, _text: &str) -> Result<(), SendError> {
        // No previews are shown on iMessage, so nothing is ever edited.
        Err(SendError::Rejected(
            "iMessage messages are not edited here".to_owned(),
        ))
    }

    fn stop_working(&self, to: &Delivery) {
        if !self.private_api.load(Ordering::Relaxed) {
            return;
        }
        let (api, chat) = (self.api.clone(), to.chat_id.clone());
        tokio::spawn(async move {
            if let Err(error) = api.typing(&chat, false).await {
                tracing::debug!(%error, "typing bubble not stopped");
            }
        });
    }
}
