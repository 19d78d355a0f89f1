//! WhatsApp's 24-hour customer service window, as the bridge sees it: when each person last wrote
//! (kept in the channel state, so any replica knows), and the delivery statuses of the bot's
//! messages. A reply to someone whose last message is more than 24 hours old is refused before it
//! is sent, with an error that says why (Meta would refuse it with code 131047 anyway).

use std::time::Duration;

use async_nats::jetstream::kv;

use super::notification::Status;
use crate::channel::key_token;

/// How long after a person's last message free-form replies may go out.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// One account's window records.
#[derive(Clone)]
pub struct Windows {
    state: kv::Store,
    account: String,
}

impl Windows {
    /// The records of `account`.
    pub fn new(state: kv::Store, account: &str) -> Self {
        Self {
            state,
            account: key_token(account),
        }
    }

    fn key(&self, what: &str, id: &str) -> String {
        format!("whatsapp.{}.{what}.{}", self.account, key_token(id))
    }

    /// `chat` wrote at `sent_at` (Unix seconds); an older record never replaces a newer one.
    pub async fn wrote(&self, chat: &str, sent_at: u64) -> Result<(), kv::PutError> {
        let key = self.key("window", chat);
        if self
            .last_message(chat)
            .await
            .is_some_and(|last| last >= sent_at)
        {
            return Ok(());
        }
        self.state
            .put(key, sent_at.to_string().into())
            .await
            .map(|_| ())
    }

    /// When `chat` last wrote, if known.
    pub async fn last_message(&self, chat: &str) -> Option<u64> {
        let bytes = self
            .state
            .get(self.key("window", chat))
            .await
            .ok()
            .flatten()?;
        std::str::from_utf8(&bytes).ok()?.parse().ok()
    }

    /// Why a reply to `chat` may not go out now (`None`: it may, or nothing is known).
    pub async fn closed(&self, chat: &str, now_secs: u64) -> Option<String> {
        let last = self.last_message(chat).await?;
        let age = now_secs.saturating_sub(last);
        (age > WINDOW.as_secs()).then(|| {
            format!(
                "outside WhatsApp's 24-hour customer service window: {chat} last wrote {} hours ago, and after 24 hours WhatsApp only allows template messages; the reply was not sent",
                age / 3600
            )
        })
    }

    /// Records a status of one of the bot's messages.
    pub async fn record(&self, status: &Status) -> Result<(), kv::PutError> {
        let record = serde_json::json!({
            "status": status.status,
            "recipient": status.recipient,
            "at": status.at,
            "error": status.error,
        });
        self.state
            .put(
                self.key("status", &status.message_id),
                record.to_string().into(),
            )
            .await
            .map(|_| ())
    }

    /// The last recorded status of message `message_id` (`sent`, `delivered`, `read`, `failed`).
    pub async fn status(&self, message_id: &str) -> Option<serde_json::Value> {
        let bytes = self
            .state
            .get(self.key("status", message_id))
            .await
            .ok()
            .flatten()?;
        serde_json::from_slice(&bytes).ok()
    }
}
