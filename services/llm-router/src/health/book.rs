//! The health book: every target's [`HealthRecord`], in memory for the hot path and mirrored in a
//! NATS KV bucket when one is attached. Writes are compare-and-set on the KV revision, so failures
//! reported by several replicas add up instead of overwriting each other, and only one replica wins a
//! half-open probe. A watcher applies other replicas' writes to the local copy.
//!
//! Without NATS (or while it is unreachable) the book keeps working from memory: health sharing is
//! an improvement, never a dependency of serving a call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::record::{Admission, HealthRecord};
use pincer_clock::now_ms;

use super::Target;
use crate::providers::ErrorKind;

/// Patience for one KV operation; a slow NATS must not slow model calls down.
const KV_TIMEOUT: Duration = Duration::from_secs(2);
/// Compare-and-set attempts before giving up on a contended record.
const CAS_ATTEMPTS: usize = 4;

#[derive(Clone, Debug, Default)]
struct Cached {
    record: HealthRecord,
    revision: u64,
}

struct Inner {
    local: Mutex<HashMap<String, Cached>>,
    store: OnceLock<kv::Store>,
}

/// Shared handle to the health of every target.
#[derive(Clone)]
pub struct HealthBook {
    inner: Arc<Inner>,
}

impl Default for HealthBook {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthBook {
    /// A book kept in memory until [`HealthBook::attach`] connects it to KV.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                local: Mutex::new(HashMap::new()),
                store: OnceLock::new(),
            }),
        }
    }

    /// Whether the book is mirrored in NATS KV.
    pub fn is_shared(&self) -> bool {
        self.inner.store.get().is_some()
    }

    /// Mirrors the book in `store`: loads what other replicas recorded and follows their writes
    /// until `shutdown`.
    pub fn attach(&self, store: kv::Store, shutdown: CancellationToken) {
        if self.inner.store.set(store.clone()).is_err() {
            return;
        }
        let book = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = book.follow(&store) => {}
                }
                // The watch ended (NATS restarted); resubscribe after a short pause.
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    async fn follow(&self, store: &kv::Store) {
        let mut watch = match store.watch_with_history(">").await {
            Ok(watch) => watch,
            Err(error) => {
                tracing::debug!(%error, "cannot watch the model health bucket");
                return;
            }
        };
        while let Some(entry) = watch.next().await {
            let Ok(entry) = entry else { return };
            let name = unescape(&entry.key);
            let mut local = self.lock();
            match entry.operation {
                kv::Operation::Put => {
                    let Ok(record) = serde_json::from_slice::<HealthRecord>(&entry.value) else {
                        tracing::warn!(target = %name, "ignoring an unreadable health record");
                        continue;
                    };
                    let cached = local.entry(name).or_default();
                    if entry.revision > cached.revision {
                        *cached = Cached {
                            record,
                            revision: entry.revision,
                        };
                    }
                }
                kv::Operation::Delete | kv::Operation::Purge => {
                    local.remove(&name);
                }
            }
        }
    }

    /// The current record of `target` (default = healthy).
    pub fn get(&self, target: &Target) -> HealthRecord {
        self.lock()
            .get(&target.name())
            .map(|c| c.record.clone())
            .unwrap_or_default()
    }

    /// Every known record by target name, sorted.
    pub fn snapshot(&self) -> Vec<(String, HealthRecord)> {
        let mut out: Vec<_> = self
            .lock()
            .iter()
            .map(|(name, cached)| (name.clone(), cached.record.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether `target` may be used now. A half-open target admits one probe across all replicas
    /// (the claim is a compare-and-set on the shared record).
    pub async fn admit(&self, target: &Target, probe_lease: Duration) -> Admission {
        let name = target.name();
        for _ in 0..CAS_ATTEMPTS {
            let (admission, claimed, revision) = {
                let mut local = self.lock();
                let cached = local.entry(name.clone()).or_default();
                let mut record = cached.record.clone();
                let admission = record.admit(now_ms(), probe_lease);
                if admission == Admission::Probe {
                    cached.record = record.clone();
                }
                (admission, record, cached.revision)
            };
            let Some(store) = self.inner.store.get() else {
                return admission;
            };
            if admission != Admission::Probe {
                return admission;
            }
            match write(store, &name, &claimed, revision).await {
                Write::Done(revision) => {
                    self.remember(&name, claimed, revision);
                    return Admission::Probe;
                }
                Write::Conflict => self.refresh(store, &name).await,
                Write::Unavailable => return Admission::Probe,
            }
        }
        // Persistently contended: another replica is busy with this target; let it probe.
        Admission::Cooling {
            until_ms: now_ms().saturating_add(1000),
        }
    }

    /// Records a failure of `target` after retries were spent.
    pub async fn fail(
        &self,
        target: &Target,
        kind: ErrorKind,
        reason: &str,
        retry_after: Option<Duration>,
    ) {
        let now = now_ms();
        self.modify(target, |record| record.fail(kind, reason, retry_after, now))
            .await;
    }

    /// Records a success of `target`; free when the target is already healthy.
    pub async fn succeed(&self, target: &Target) {
        if self.get(target).is_clean() {
            return;
        }
        let now = now_ms();
        self.modify(target, |record| record.succeed(now)).await;
    }

    /// Gives up a probe claim without a verdict.
    pub async fn release_probe(&self, target: &Target) {
        if self.get(target).probe_until_ms == 0 {
            return;
        }
        self.modify(target, HealthRecord::release_probe).await;
    }

    async fn modify(&self, target: &Target, change: impl Fn(&mut HealthRecord)) {
        let name = target.name();
        {
            let mut local = self.lock();
            change(&mut local.entry(name.clone()).or_default().record);
        }
        let Some(store) = self.inner.store.get() else {
            return;
        };
        for _ in 0..CAS_ATTEMPTS {
            let Ok((mut record, revision)) = read(store, &name).await else {
                return;
            };
            change(&mut record);
            match write(store, &name, &record, revision).await {
                Write::Done(revision) => {
                    self.remember(&name, record, revision);
                    return;
                }
                Write::Conflict => continue,
                Write::Unavailable => return,
            }
        }
        tracing::warn!(target = %name, "health record stayed contended; kept the local view");
    }

    async fn refresh(&self, store: &kv::Store, name: &str) {
        if let Ok((record, revision)) = read(store, name).await {
            self.remember(name, record, revision);
        }
    }

    fn remember(&self, name: &str, record: HealthRecord, revision: u64) {
        let mut local = self.lock();
        let cached = local.entry(name.to_owned()).or_default();
        if revision >= cached.revision {
            *cached = Cached { record, revision };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A panic while holding the lock cannot leave a record half-written (records are replaced
        // whole), so a poisoned lock is still usable.
        self.inner
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

enum Write {
    Done(u64),
    Conflict,
    Unavailable,
}

async fn read(store: &kv::Store, name: &str) -> Result<(HealthRecord, u64), ()> {
    match tokio::time::timeout(KV_TIMEOUT, store.entry(escape(name))).await {
        Ok(Ok(Some(entry))) if entry.operation == kv::Operation::Put => Ok((
            serde_json::from_slice(&entry.value).unwrap_or_default(),
            entry.revision,
        )),
        Ok(Ok(Some(entry))) => Ok((HealthRecord::default(), entry.revision)),
        Ok(Ok(None)) => Ok((HealthRecord::default(), 0)),
        Ok(Err(error)) => {
            tracing::debug!(%error, "cannot read a health record");
            Err(())
        }
        Err(_) => Err(()),
    }
}

async fn write(store: &kv::Store, name: &str, record: &HealthRecord, revision: u64) -> Write {
    let Ok(value) = serde_json::to_vec(record) else {
        return Write::Unavailable;
    };
    let key = escape(name);
    let result = if revision == 0 {
        tokio::time::timeout(KV_TIMEOUT, store.create(&key, value.into()))
            .await
            .map(|r| {
                r.map_err(|e| {
                    matches!(e.kind(), kv::CreateErrorKind::AlreadyExists)
                        .then_some(())
                        .ok_or_else(|| e.to_string())
                })
            })
    } else {
        tokio::time::timeout(KV_TIMEOUT, store.update(&key, value.into(), revision))
            .await
            .map(|r| {
                r.map_err(|e| {
                    matches!(e.kind(), kv::UpdateErrorKind::WrongLastRevision)
                        .then_some(())
                        .ok_or_else(|| e.to_string())
                })
            })
    };
    match result {
        Ok(Ok(revision)) => Write::Done(revision),
        Ok(Err(Ok(()))) => Write::Conflict,
        Ok(Err(Err(error))) => {
            tracing::debug!(%error, "cannot write a health record");
            Write::Unavailable
        }
        Err(_) => Write::Unavailable,
    }
}

/// KV keys allow `[-/_=.a-zA-Z0-9]` and `.` separates subject tokens; model ids have `:` and more.
/// Everything else (and `=` and `.`) is written as `=XX` per byte.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("={byte:02X}"));
        }
    }
    out
}

fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(byte) = key
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_and_round_trip() {
        for name in [
            "model/openrouter/google/gemma-3-4b-it:free",
            "model/ollama/llama3.2:3b",
            "key/openai/0a1b2c3d",
            "model/x/a=b.c é",
        ] {
            let key = escape(name);
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-/_=".contains(&b)),
                "{key}"
            );
            assert_eq!(unescape(&key), name);
        }
    }

    #[tokio::test]
    async fn in_memory_book_cools_and_recovers() {
        let book = HealthBook::new();
        let target = Target::Model("a/b".into());
        assert_eq!(
            book.admit(&target, Duration::from_secs(1)).await,
            Admission::Go
        );
        book.fail(&target, ErrorKind::Overloaded, "503", None).await;
        assert!(matches!(
            book.admit(&target, Duration::from_secs(1)).await,
            Admission::Cooling { .. }
        ));
        book.succeed(&target).await;
        assert_eq!(
            book.admit(&target, Duration::from_secs(1)).await,
            Admission::Go
        );
        assert!(!book.is_shared());
    }
}
