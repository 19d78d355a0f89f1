//! A lease in a KV bucket: one holder at a time for a key, with an expiry in the value so a
//! crashed holder blocks others only briefly. Used for one turn per session at a time across
//! agent-runners, and for one connection (or sender) per bot, app or number across bridges.

use std::time::Duration;

use pincer_clock::now_ms;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

/// Lease failures (the KV store did not answer as expected).
#[derive(Debug, thiserror::Error)]
#[error("lease {op} on {key} failed: {reason}")]
pub struct LeaseError {
    op: &'static str,
    key: String,
    reason: String,
}

/// A held lease.
#[derive(Debug)]
pub struct Lease {
    key: String,
    revision: u64,
}

#[derive(Serialize, Deserialize)]
struct Holder {
    holder: String,
    expires_at_ms: u64,
}

fn value(holder: &str, ttl: Duration) -> bytes::Bytes {
    let expires_at_ms = now_ms() + u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    serde_json::to_vec(&Holder {
        holder: holder.to_owned(),
        expires_at_ms,
    })
    .unwrap_or_default()
    .into()
}

/// Takes `key` for `holder` for `ttl`; `None` while another live holder has it.
pub async fn acquire(
    store: &kv::Store,
    key: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Lease>, LeaseError> {
    let error = |op: &'static str, reason: String| LeaseError {
        op,
        key: key.to_owned(),
        reason,
    };
    // An update expecting no record yet, not `create`: that reads the key again itself when it
    // has one, to take over only a deleted one, and a given-back lease is a record (`release`).
    match store.update(key, value(holder, ttl), 0).await {
        Ok(revision) => {
            return Ok(Some(Lease {
                key: key.to_owned(),
                revision,
            }));
        }
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {}
        Err(e) => return Err(error("create", e.to_string())),
    }
    let Some(entry) = store
        .entry(key)
        .await
        .map_err(|e| error("get", e.to_string()))?
    else {
        return Ok(None);
    };
    let expired = entry.operation != kv::Operation::Put
        || serde_json::from_slice::<Holder>(&entry.value).map_or(true, |held| {
            held.expires_at_ms <= now_ms() || held.holder == holder
        });
    if !expired {
        return Ok(None);
    }
    match store.update(key, value(holder, ttl), entry.revision).await {
        Ok(revision) => Ok(Some(Lease {
            key: key.to_owned(),
            revision,
        })),
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
        Err(e) => Err(error("takeover", e.to_string())),
    }
}

impl Lease {
    /// Extends the lease; an error means it was lost (someone took it over after it expired).
    pub async fn refresh(
        &mut self,
        store: &kv::Store,
        holder: &str,
        ttl: Duration,
    ) -> Result<(), LeaseError> {
        self.revision = store
            .update(&self.key, value(holder, ttl), self.revision)
            .await
            .map_err(|e| LeaseError {
                op: "refresh",
                key: self.key.clone(),
                reason: e.to_string(),
            })?;
        Ok(())
    }

    /// The key the lease holds.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Gives the lease back (best effort: it expires anyway) by writing a record that expired at
    /// once. Returns that record's revision: while it is the key's last, [`reacquire`] takes the
    /// lease again in one request instead of three (a write expecting no record, which fails on
    /// this one, a read, an update).
    pub async fn release(self, store: &kv::Store) -> Option<u64> {
        match store.update(&self.key, released(), self.revision).await {
            Ok(revision) => Some(revision),
            Err(error) => {
                tracing::debug!(%error, key = %self.key, "lease release failed");
                None
            }
        }
    }
}

/// The value a released lease leaves: nobody's, expired.
fn released() -> bytes::Bytes {
    serde_json::to_vec(&Holder {
        holder: String::new(),
        expires_at_ms: 0,
    })
    .unwrap_or_default()
    .into()
}

/// As [`acquire`], for a key whose lease this process released at `released_revision` (what
/// [`Lease::release`] returned): if nobody wrote the key since, one conditional update takes it.
/// Otherwise (taken, or released by someone else, or expired from the bucket by its age limit) it
/// is [`acquire`]. The revision must come from the same bucket: one made again counts from
/// elsewhere (`setup::leases_bucket`), so its revisions never match an old one.
pub async fn reacquire(
    store: &kv::Store,
    key: &str,
    holder: &str,
    ttl: Duration,
    released_revision: u64,
) -> Result<Option<Lease>, LeaseError> {
    match store
        .update(key, value(holder, ttl), released_revision)
        .await
    {
        Ok(revision) => Ok(Some(Lease {
            key: key.to_owned(),
            revision,
        })),
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
            acquire(store, key, holder, ttl).await
        }
        Err(e) => Err(LeaseError {
            op: "retake",
            key: key.to_owned(),
            reason: e.to_string(),
        }),
    }
}
