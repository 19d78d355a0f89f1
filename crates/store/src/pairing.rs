//! DM pairing: an unknown sender gets an 8-character single-use code valid for an hour (at most
//! [`MAX_PENDING`] pending per channel account); an operator approves it (CLI, WebSocket or Control
//! UI) and the sender may then talk to the agent. Kept in a KV bucket so every bridge replica, the
//! gateway and the CLI see the same state.
//!
//! Keys: `<channel>.<account>.pending.<CODE>` and `<channel>.<account>.approved.<sender id>`.

use std::time::Duration;

use pincer_clock::now_ms;

use async_nats::jetstream::kv;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

/// Codes waiting at most, per channel account.
pub const MAX_PENDING: usize = 3;
/// How long a code is valid.
pub const CODE_TTL: Duration = Duration::from_secs(3600);
/// Code alphabet: no 0/O or 1/I to misread.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A pending request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The code.
    pub code: String,
    /// Sender id on the channel.
    pub sender_id: String,
    /// Sender's username, when known.
    #[serde(default)]
    pub username: Option<String>,
    /// Created (unix ms).
    pub created_ms: u64,
}

impl Pending {
    fn expired(&self, now: u64) -> bool {
        now >= self.created_ms + CODE_TTL.as_millis() as u64
    }
}

/// An approved sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approved {
    /// Sender id.
    pub sender_id: String,
    /// Username at approval time.
    #[serde(default)]
    pub username: Option<String>,
    /// Approved (unix ms).
    pub approved_ms: u64,
}

/// Pairing failures.
#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    /// Too many codes are waiting.
    #[error("{MAX_PENDING} pairing requests are already pending; approve or reject them first")]
    TooManyPending,
    /// No such code (never issued, already used or rejected).
    #[error("no pending pairing request with code {0}")]
    UnknownCode(String),
    /// The code is over an hour old.
    #[error("pairing code {0} has expired; the sender must write again for a new one")]
    Expired(String),
    /// The KV store failed.
    #[error("pairing store: {0}")]
    Store(String),
}

/// The pairing state of one channel account.
#[derive(Clone, Debug)]
pub struct Pairing {
    store: kv::Store,
    prefix: String,
}

fn store_error(error: impl std::fmt::Display) -> PairingError {
    PairingError::Store(error.to_string())
}

/// A KV-safe form of an id (`[-_=.A-Za-z0-9]`).
fn token(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The channel accounts that have pending requests, as `(channel, account)` (KV-safe forms).
pub async fn accounts_with_pending(
    store: &kv::Store,
) -> Result<Vec<(String, String)>, PairingError> {
    let mut keys = store.keys().await.map_err(store_error)?;
    let mut out: Vec<(String, String)> = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(store_error)?;
        let mut parts = key.splitn(4, '.');
        if let (Some(channel), Some(account), Some("pending"), Some(_code)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            let pair = (channel.to_owned(), account.to_owned());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    Ok(out)
}

impl Pairing {
    /// Pairing for `channel`/`account` in `store` (the pairing bucket).
    pub fn new(store: kv::Store, channel: &str, account: &str) -> Self {
        Self {
            store,
            prefix: format!("{}.{}", token(channel), token(account)),
        }
    }

    /// Whether `sender_id` was approved.
    pub async fn is_approved(&self, sender_id: &str) -> Result<bool, PairingError> {
        let key = format!("{}.approved.{}", self.prefix, token(sender_id));
        Ok(self.store.get(key).await.map_err(store_error)?.is_some())
    }

    /// The code for `sender_id`: its pending one if still valid (`false`), else a new one (`true`).
    pub async fn request(
        &self,
        sender_id: &str,
        username: Option<&str>,
    ) -> Result<(Pending, bool), PairingError> {
        let now = now_ms();
        let pending = self.pending().await?;
        if let Some(existing) = pending.iter().find(|p| p.sender_id == sender_id) {
            return Ok((existing.clone(), false));
        }
        if pending.len() >= MAX_PENDING {
            return Err(PairingError::TooManyPending);
        }
        let request = Pending {
            code: new_code()?,
            sender_id: sender_id.to_owned(),
            username: username.map(str::to_owned),
            created_ms: now,
        };
        let key = format!("{}.pending.{}", self.prefix, request.code);
        let value = serde_json::to_vec(&request).map_err(store_error)?;
        self.store
            .create(key, value.into())
            .await
            .map_err(store_error)?;
        Ok((request, true))
    }

    /// Valid pending requests, oldest first; expired ones are deleted on the way.
    pub async fn pending(&self) -> Result<Vec<Pending>, PairingError> {
        let now = now_ms();
        let prefix = format!("{}.pending.", self.prefix);
        let mut keys = self.store.keys().await.map_err(store_error)?;
        let mut out = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(store_error)?;
            if !key.starts_with(&prefix) {
                continue;
            }
            let Some(bytes) = self.store.get(&key).await.map_err(store_error)? else {
                continue;
            };
            match serde_json::from_slice::<Pending>(&bytes) {
                Ok(pending) if !pending.expired(now) => out.push(pending),
                _ => {
                    let _ = self.store.delete(&key).await;
                }
            }
        }
        out.sort_by_key(|p| p.created_ms);
        Ok(out)
    }

    /// Approves `code` (single use): the sender may talk to the agent from now on.
    pub async fn approve(&self, code: &str) -> Result<Approved, PairingError> {
        let pending = self.take(code).await?;
        let approved = Approved {
            sender_id: pending.sender_id.clone(),
            username: pending.username,
            approved_ms: now_ms(),
        };
        let key = format!("{}.approved.{}", self.prefix, token(&pending.sender_id));
        let value = serde_json::to_vec(&approved).map_err(store_error)?;
        self.store
            .put(key, value.into())
            .await
            .map_err(store_error)?;
        Ok(approved)
    }

    /// Rejects `code`.
    pub async fn reject(&self, code: &str) -> Result<Pending, PairingError> {
        self.take(code).await
    }

    /// Removes a pending code, checking it exists and is valid.
    async fn take(&self, code: &str) -> Result<Pending, PairingError> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 8 || !code.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(PairingError::UnknownCode(code));
        }
        let key = format!("{}.pending.{code}", self.prefix);
        let Some(entry) = self.store.entry(&key).await.map_err(store_error)? else {
            return Err(PairingError::UnknownCode(code));
        };
        if entry.operation != kv::Operation::Put {
            return Err(PairingError::UnknownCode(code));
        }
        let pending: Pending = serde_json::from_slice(&entry.value).map_err(store_error)?;
        // Deleting at the read revision makes the code single-use even with two approvers.
        self.store
            .delete_expect_revision(&key, Some(entry.revision))
            .await
            .map_err(|_| PairingError::UnknownCode(code.clone()))?;
        if pending.expired(now_ms()) {
            return Err(PairingError::Expired(code));
        }
        Ok(pending)
    }
}

fn new_code() -> Result<String, PairingError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PairingError::Store("no system randomness".to_owned()))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for _ in 0..100 {
            let code = new_code().expect("code");
            assert_eq!(code.len(), 8);
            assert!(!code.contains(['0', 'O', '1', 'I']), "{code}");
        }
    }

    #[test]
    fn expiry_is_an_hour() {
        let p = Pending {
            code: "X".into(),
            sender_id: "1".into(),
            username: None,
            created_ms: 1_000,
        };
        assert!(!p.expired(1_000 + 3_599_999));
        assert!(p.expired(1_000 + 3_600_000));
    }
}
