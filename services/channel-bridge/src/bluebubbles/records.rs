//! What the bridge remembers of one BlueBubbles account, in channel state (any replica reads it):
//! the bot's own messages with their last receipt (so a reply to one addresses the bot, and
//! operators can see what was delivered and read), and the catch-up cursor.

use async_nats::jetstream::kv;

use crate::channel::key_token;

/// One account's records.
#[derive(Clone)]
pub struct Records {
    state: kv::Store,
    account: String,
}

impl Records {
    /// The records of `account`.
    pub fn new(state: kv::Store, account: &str) -> Self {
        Self {
            state,
            account: key_token(account),
        }
    }

    fn key(&self, what: &str) -> String {
        format!("bluebubbles.{}.{what}", self.account)
    }

    /// Records `status` (`sent`, `delivered`, `read`, `failed: …`) of the bot's message `guid`.
    pub async fn status(&self, guid: &str, status: &str, at_ms: u64) -> Result<(), kv::PutError> {
        let record = serde_json::json!({"status": status, "at": at_ms});
        self.state
            .put(
                self.key(&format!("status.{}", key_token(guid))),
                record.to_string().into(),
            )
            .await
            .map(|_| ())
    }

    /// The last status of the bot's message `guid`; `None` for a message not the bot's.
    pub async fn status_of(&self, guid: &str) -> Option<serde_json::Value> {
        let bytes = self
            .state
            .get(self.key(&format!("status.{}", key_token(guid))))
            .await
            .ok()
            .flatten()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Up to when (Unix ms) messages were caught up.
    pub async fn cursor(&self) -> Option<u64> {
        let bytes = self.state.get(self.key("cursor")).await.ok().flatten()?;
        std::str::from_utf8(&bytes).ok()?.parse().ok()
    }

    /// Moves the catch-up cursor to `ms`.
    pub async fn set_cursor(&self, ms: u64) -> Result<(), kv::PutError> {
        self.state
            .put(self.key("cursor"), ms.to_string().into())
            .await
            .map(|_| ())
    }
}
