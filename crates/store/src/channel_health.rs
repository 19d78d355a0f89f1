//! How each channel account's connection is doing, as the channel-bridge last saw it: what the
//! gateway's `channels.status`, the Control UI and `pincer doctor` show. One value per account in
//! the channel state bucket, written on every change and refreshed while connected.

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

/// An account's connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Signing in or reconnecting.
    Connecting,
    /// Receiving events.
    Connected,
    /// Lost; trying again with backoff.
    Retrying,
    /// Stopped for good until the config changes (a revoked token, an intent not granted).
    Failed,
    /// The bridge stopped it (shutdown).
    Stopped,
}

/// What is known of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// The state.
    pub state: State,
    /// Why (the last error, or how it is connected), safe to show.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Since when, in Unix milliseconds.
    pub since_ms: u64,
    /// When the last event arrived from the platform, in Unix milliseconds (0: none yet).
    #[serde(default)]
    pub last_event_ms: u64,
    /// The bot's own name on the platform, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<String>,
}

/// Errors of the health records.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The bucket could not be written or read.
    #[error("channel state bucket: {0}")]
    Bucket(String),
    /// A stored value is not a health record.
    #[error("unreadable health record {key}: {reason}")]
    Unreadable {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The key of `account`'s record on `channel`.
pub fn key(channel: &str, account: &str) -> String {
    format!("{channel}.{}.health", pincer_bus::key_token(account))
}

/// Writes `account`'s record.
pub async fn put(
    store: &kv::Store,
    channel: &str,
    account: &str,
    health: &Health,
) -> Result<(), HealthError> {
    let value = serde_json::to_vec(health).map_err(|e| HealthError::Bucket(e.to_string()))?;
    store
        .put(key(channel, account), value.into())
        .await
        .map(|_| ())
        .map_err(|e| HealthError::Bucket(e.to_string()))
}

/// Reads `account`'s record, if the bridge wrote one.
pub async fn get(
    store: &kv::Store,
    channel: &str,
    account: &str,
) -> Result<Option<Health>, HealthError> {
    let key = key(channel, account);
    let Some(bytes) = store
        .get(&key)
        .await
        .map_err(|e| HealthError::Bucket(e.to_string()))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| HealthError::Unreadable {
            key,
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_with_camel_case_keys() {
        let health = Health {
            state: State::Failed,
            detail: "4004 authentication failed".into(),
            since_ms: 1,
            last_event_ms: 0,
            bot: Some("pincer".into()),
        };
        let json = serde_json::to_value(&health).expect("json");
        assert_eq!(json["state"], "failed");
        assert_eq!(json["sinceMs"], 1);
        let back: Health = serde_json::from_value(json).expect("back");
        assert_eq!(back, health);
        assert_eq!(
            key("discord", "a b"),
            format!("discord.{}.health", pincer_bus::key_token("a b"))
        );
    }
}
