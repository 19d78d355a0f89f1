//! Slack's way to send ([`Transport`]): mrkdwn chunks of at most 4,000 characters (Slack's own
//! recommendation; `textChunkLimit` can lower it), in the thread the message came from, each
//! carrying its key in the message metadata. Slack has no idempotent post, so after a crash the
//! bridge looks for a chunk with that key in the conversation before posting it again.

use std::time::Duration;

use pincer_bus::messages::Delivery;

use super::web::{Web, WebError};
use crate::channel::outbound::{SendError, Transport};
use crate::render;

/// The longest chunk by default.
pub const SLACK_CHUNK: usize = 4000;

/// One app's sending side.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its Web API client.
    pub web: Web,
    /// `textChunkLimit`, or [`SLACK_CHUNK`].
    pub chunk_limit: usize,
}

/// The longest chunk for `textChunkLimit`.
pub fn chunk_limit(configured: Option<u32>) -> usize {
    configured
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(SLACK_CHUNK, |limit| limit.clamp(100, 40_000))
}

impl From<WebError> for SendError {
    fn from(error: WebError) -> Self {
        match error {
            WebError::RetryAfter(wait) => SendError::RetryAfter(wait),
            WebError::NoAccess(reason) => SendError::Refused(reason),
            WebError::Refused(reason) => SendError::Rejected(reason),
            // A revoked token: the reply waits until the token is fixed.
            error @ (WebError::Auth(_) | WebError::Server(..) | WebError::Transport(_)) => {
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
        // chat.postMessage: about one message a second per channel.
        Duration::from_millis(1000)
    }

    fn global_spacing(&self) -> Duration {
        Duration::from_millis(20)
    }

    async fn send(
        &self,
        to: &Delivery,
        text: &str,
        key: &str,
        _reply_to: Option<&str>,
    ) -> Result<String, SendError> {
        Ok(self
            .web
            .post_message(
                &to.chat_id,
                &render::to_mrkdwn(text),
                to.thread_id.as_deref(),
                Some(key),
            )
            .await?)
    }

    async fn edit(&self, to: &Delivery, message_id: &str, text: &str) -> Result<(), SendError> {
        Ok(self
            .web
            .update(&to.chat_id, message_id, &render::to_mrkdwn(text))
            .await?)
    }

    async fn find_sent(&self, to: &Delivery, key: &str, since_ms: u64) -> Option<String> {
        match self
            .web
            .find_reply(&to.chat_id, to.thread_id.as_deref(), key, since_ms / 1000)
            .await
        {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "cannot look for a reply sent before a crash; sending it");
                None
            }
        }
    }
}
