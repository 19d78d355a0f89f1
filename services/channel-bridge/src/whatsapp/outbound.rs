//! WhatsApp's way to send ([`Transport`]): WhatsApp-formatted text in chunks of at most 4,096
//! characters (the Cloud API's limit; `textChunkLimit` can lower it), to a person or a group,
//! the first chunk quoting the message in a group. A reply to a person outside the 24-hour window
//! is refused before it is sent. The Cloud API has no idempotent send and no way to list sent
//! messages, so a claim left by a dead sender is taken over only once it is surely gone.

use std::time::Duration;

use pincer_bus::messages::Delivery;

use super::graph::{Graph, GraphError, Recipient};
use super::window::Windows;
use crate::channel::outbound::{SendError, Transport};
use crate::render;

/// The Cloud API's longest text body.
pub const WHATSAPP_CHUNK: usize = 4096;

/// One number's sending side.
#[derive(Clone)]
pub struct Account {
    /// Its Graph API client.
    pub graph: Graph,
    /// When each person last wrote.
    pub windows: Windows,
    /// `textChunkLimit`, or [`WHATSAPP_CHUNK`].
    pub chunk_limit: usize,
}

/// The longest chunk for `textChunkLimit`.
pub fn chunk_limit(configured: Option<u32>) -> usize {
    configured
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(WHATSAPP_CHUNK, |limit| limit.clamp(100, WHATSAPP_CHUNK))
}

impl From<GraphError> for SendError {
    fn from(error: GraphError) -> Self {
        match error {
            GraphError::RetryAfter(wait) => SendError::RetryAfter(wait),
            GraphError::Unreachable(reason) => SendError::Refused(reason),
            error @ (GraphError::OutsideWindow(_) | GraphError::Refused(_)) => {
                SendError::Rejected(error.to_string())
            }
            // A revoked token: the reply waits until the token is fixed.
            error @ (GraphError::Auth(_) | GraphError::Server(..) | GraphError::Transport(_)) => {
                SendError::Transient(error.to_string())
            }
        }
    }
}

/// Where a delivery goes: a group's id has letters (WhatsApp ids of people are digits).
fn recipient(to: &Delivery) -> Recipient<'_> {
    if to.chat_id.chars().all(|c| c.is_ascii_digit()) {
        Recipient::Person(&to.chat_id)
    } else {
        Recipient::Group(&to.chat_id)
    }
}

impl Transport for Account {
    fn chunk_limit(&self) -> usize {
        self.chunk_limit
    }

    fn spacing(&self, _to: &Delivery) -> Duration {
        // The pair rate limit allows bursts; Meta answers 131056 when it is passed.
        Duration::from_millis(200)
    }

    fn global_spacing(&self) -> Duration {
        // 80 messages a second per number by default.
        Duration::from_millis(13)
    }

    async fn send(
        &self,
        to: &Delivery,
        text: &str,
        _key: &str,
        reply_to: Option<&str>,
    ) -> Result<String, SendError> {
        let recipient = recipient(to);
        if let Recipient::Person(chat) = recipient
            && let Some(reason) = self.windows.closed(chat, pincer_clock::now_secs()).await
        {
            tracing::warn!(chat, "whatsapp reply not sent: outside the 24-hour window");
            return Err(SendError::Rejected(reason));
        }
        Ok(self
            .graph
            .send_text(recipient, &render::to_whatsapp(text), reply_to)
            .await?)
    }

    async fn edit(&self, _to: &Delivery, _message_id: &str, _text: &str) -> Result<(), SendError> {
        // No previews are shown on WhatsApp, so nothing is ever edited.
        Err(SendError::Rejected(
            "WhatsApp messages cannot be edited".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_digits_and_groups_are_not() {
        let to = |chat: &str| Delivery {
            channel: "whatsapp".into(),
            account: "default".into(),
            chat_id: chat.into(),
            thread_id: None,
            reply_to_message_id: None,
        };
        assert_eq!(
            recipient(&to("16505551234")),
            Recipient::Person("16505551234")
        );
        assert_eq!(
            recipient(&to("Y2FmZS1ncm91cA")),
            Recipient::Group("Y2FmZS1ncm91cA")
        );
        assert_eq!(chunk_limit(None), 4096);
        assert_eq!(chunk_limit(Some(10_000)), 4096);
    }
}
