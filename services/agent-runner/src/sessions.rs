//! Session transcripts and leases in JetStream KV.
//!
//! A transcript is one KV value per session, written with optimistic concurrency (`update` with the
//! revision that was read), so a lost race is detected instead of silently overwriting. A lease is
//! a KV key created atomically by the runner that works on the session; it carries an expiry so a
//! crashed holder blocks its session only briefly.

use std::time::Duration;

use async_nats::jetstream::{self, kv};

use crate::released_leases::ReleasedLeases;

pub use pincer_store::transcript::{Transcript, TurnOutcome, TurnRecord, kv_key};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A KV operation failed.
    #[error("session store {op} failed: {reason}")]
    Kv {
        /// Operation.
        op: &'static str,
        /// Server or client answer.
        reason: String,
    },
    /// Another writer updated the transcript since it was read.
    #[error("transcript changed concurrently")]
    Conflict,
    /// A stored value is not a transcript.
    #[error("stored transcript is corrupt: {0}")]
    Corrupt(String),
    /// The session lease could not be taken or kept.
    #[error(transparent)]
    Lease(#[from] pincer_bus::lease::LeaseError),
}

/// Transcripts and leases.
#[derive(Clone, Debug)]
pub struct SessionStore {
    transcripts: kv::Store,
    leases: kv::Store,
    lease_ttl: Duration,
    /// To create the leases bucket again: on one NATS server it lives in memory and a restarted
    /// server has none (see `pincer_bus::setup::leases_bucket`).
    js: jetstream::Context,
    namespace: pincer_bus::Namespace,
    /// Where this runner gave leases back, to take them again in one request.
    released: std::sync::Arc<ReleasedLeases>,
}

/// A session in brief.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    /// Its key.
    pub session_key: String,
    /// Messages in its history.
    pub messages: usize,
    /// Last written (unix ms).
    pub updated_ms: u64,
}

/// A transcript with the revision it was read at (0 = not stored yet).
#[derive(Debug)]
pub struct Loaded {
    /// The transcript.
    pub transcript: Transcript,
    /// KV revision.
    pub revision: u64,
    /// Set when the stored value could not be read: it was set aside and the session starts over;
    /// the reason is told to the user.
    pub damaged: Option<String>,
}

impl SessionStore {
    /// Opens the buckets (created by `pincer_bus::setup`). A lease not refreshed for `lease_ttl`
    /// is considered abandoned by a crashed holder and may be taken over.
    pub async fn open(
        js: &jetstream::Context,
        ns: &pincer_bus::Namespace,
        lease_ttl: Duration,
    ) -> Result<Self, pincer_bus::Error> {
        Ok(Self {
            transcripts: pincer_bus::setup::sessions_bucket(js, ns).await?,
            leases: pincer_bus::setup::leases_bucket(js, ns).await?,
            lease_ttl,
            js: js.clone(),
            namespace: ns.clone(),
            released: Default::default(),
        })
    }

    /// How often a holder must refresh its lease.
    pub fn lease_refresh_interval(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// Reads a session's transcript.
    pub async fn load(&self, session_key: &str) -> Result<Loaded, Error> {
        let key = kv_key(session_key);
        let entry = self.transcripts.entry(&key).await.map_err(|e| Error::Kv {
            op: "get",
            reason: e.to_string(),
        })?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                match serde_json::from_slice(&entry.value) {
                    Ok(transcript) => Ok(Loaded {
                        transcript,
                        revision: entry.revision,
                        damaged: None,
                    }),
                    Err(error) => {
                        // Keep the unreadable value for inspection instead of losing it, and let
                        // the session go on from an empty history rather than fail forever.
                        let aside = format!("{key}.unreadable");
                        if let Err(put) = self.transcripts.put(&aside, entry.value.clone()).await {
                            tracing::warn!(error = %put, "cannot set the unreadable transcript aside");
                        }
                        tracing::warn!(%error, "stored transcript is unreadable, starting over");
                        Ok(Loaded {
                            transcript: Transcript::default(),
                            revision: entry.revision,
                            damaged: Some(error.to_string()),
                        })
                    }
                }
            }
            Some(entry) => Ok(Loaded {
                transcript: Transcript::default(),
                revision: entry.revision,
                damaged: None,
            }),
            None => Ok(Loaded {
                transcript: Transcript::default(),
                revision: 0,
                damaged: None,
            }),
        }
    }

    /// Every stored session in brief (`sessions_list`). Reads each transcript: fine for a
    /// personal gateway's hundreds of sessions, and only when the agent asks.
    pub async fn list(&self) -> Result<Vec<SessionSummary>, Error> {
        use futures::StreamExt;
        let kv_error = |op: &'static str| {
            move |e: &dyn std::fmt::Display| Error::Kv {
                op,
                reason: e.to_string(),
            }
        };
        let mut keys = self
            .transcripts
            .keys()
            .await
            .map_err(|e| kv_error("keys")(&e))?;
        let mut out = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| kv_error("keys")(&e))?;
            if key.contains('.') {
                // `<hash>.unreadable` and other side entries.
                continue;
            }
            let Some(entry) = self
                .transcripts
                .get(&key)
                .await
                .map_err(|e| kv_error("get")(&e))?
            else {
                continue;
            };
            if let Ok(transcript) = serde_json::from_slice::<Transcript>(&entry) {
                if transcript.session_key.is_empty() {
                    continue;
                }
                out.push(SessionSummary {
                    session_key: transcript.session_key,
                    messages: transcript.messages.len(),
                    updated_ms: transcript.updated_ms,
                });
            }
        }
        Ok(out)
    }

    /// Writes `transcript` if the stored revision is still `revision`.
    pub async fn save(
        &self,
        session_key: &str,
        transcript: &mut Transcript,
        revision: u64,
    ) -> Result<u64, Error> {
        let key = kv_key(session_key);
        let bytes = transcript
            .encode()
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        if revision == 0 {
            self.transcripts
                .create(&key, bytes.into())
                .await
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => Error::Conflict,
                    _ => Error::Kv {
                        op: "create",
                        reason: e.to_string(),
                    },
                })
        } else {
            self.transcripts
                .update(&key, bytes.into(), revision)
                .await
                .map_err(|e| match e.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => Error::Conflict,
                    _ => Error::Kv {
                        op: "update",
                        reason: e.to_string(),
                    },
                })
        }
    }

    /// Tries to take the session's lease for `holder` (`None` while another live holder has it;
    /// a lease whose holder died is taken over once it expired).
    pub async fn acquire_lease(
        &self,
        session_key: &str,
        holder: &str,
    ) -> Result<Option<Lease>, Error> {
        let key = kv_key(session_key);
        let taken = match self.released.take(&key) {
            Some(revision) => {
                pincer_bus::lease::reacquire(&self.leases, &key, holder, self.lease_ttl, revision)
                    .await
            }
            None => pincer_bus::lease::acquire(&self.leases, &key, holder, self.lease_ttl).await,
        };
        match taken {
            Ok(lease) => Ok(lease),
            Err(error) => {
                // A restarted NATS server comes back without the in-memory leases bucket (every
                // lease it held is gone with it). Create it again (a no-op when it exists) and try
                // once more; the handle names the bucket, so it works again as it is.
                tracing::info!(%error, "taking a lease failed; opening the leases bucket again");
                pincer_bus::setup::leases_bucket(&self.js, &self.namespace)
                    .await
                    .map_err(|e| Error::Kv {
                        op: "open leases",
                        reason: e.to_string(),
                    })?;
                Ok(pincer_bus::lease::acquire(&self.leases, &key, holder, self.lease_ttl).await?)
            }
        }
    }

    /// Extends a held lease.
    pub async fn refresh_lease(&self, lease: &mut Lease, holder: &str) -> Result<(), Error> {
        Ok(lease.refresh(&self.leases, holder, self.lease_ttl).await?)
    }

    /// Gives a lease back (harmless if it fails: the lease expires on its own).
    pub async fn release_lease(&self, lease: Lease) {
        let key = lease.key().to_owned();
        if let Some(revision) = lease.release(&self.leases).await {
            self.released.remember(&key, revision);
        }
    }
}

/// A held session lease.
pub use pincer_bus::lease::Lease;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pincer_test_support::{NatsServer, eventually};

    use super::{Lease, SessionStore};

    const SESSION: &str = "agent:main:a";

    /// A session store on its own connection to `nats`, and that connection.
    async fn store_on(nats: &NatsServer) -> (async_nats::Client, SessionStore) {
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client.clone());
        let store = SessionStore::open(
            &js,
            &pincer_bus::Namespace::default(),
            Duration::from_secs(30),
        )
        .await
        .expect("session store");
        (client, store)
    }

    /// `holder`'s try at the session's lease: `None` while another holds it.
    async fn try_lease(store: &SessionStore, holder: &str) -> Option<Lease> {
        store
            .acquire_lease(SESSION, holder)
            .await
            .expect("an answer")
    }

    #[tokio::test]
    async fn leases_are_taken_again_after_nats_restarts_without_its_in_memory_bucket() {
        let mut nats = NatsServer::start();
        let (_, store) = store_on(&nats).await;
        let lease = try_lease(&store, "runner-1").await.expect("free");
        store.release_lease(lease).await;

        nats.restart();
        // The restarted server has no leases bucket: the store makes it again.
        let lease = eventually("a lease after the restart", Duration::from_secs(20), || {
            let store = store.clone();
            async move {
                store
                    .acquire_lease(SESSION, "runner-1")
                    .await
                    .ok()
                    .flatten()
            }
        })
        .await;
        assert!(
            try_lease(&store, "runner-2").await.is_none(),
            "the lease taken after the restart holds"
        );
        store.release_lease(lease).await;
    }

    /// Messages `client` has published so far.
    fn published(client: &async_nats::Client) -> u64 {
        client
            .statistics()
            .out_messages
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_lease_given_back_here_is_taken_again_in_one_request_and_still_excludes_others() {
        let nats = NatsServer::start();
        let (client, here) = store_on(&nats).await;
        let (_, elsewhere) = store_on(&nats).await;

        let first = try_lease(&here, "runner-1").await.expect("free");
        here.release_lease(first).await;
        let before = published(&client);
        let again = try_lease(&here, "runner-1").await.expect("free again");
        assert_eq!(published(&client) - before, 1, "one conditional update");
        assert!(
            try_lease(&elsewhere, "runner-2").await.is_none(),
            "the lease taken again holds"
        );
        here.release_lease(again).await;
        let theirs = try_lease(&elsewhere, "runner-2")
            .await
            .expect("free for another runner");

        // This runner's hint is stale now: the full acquire answers, and says the lease is held.
        assert!(
            try_lease(&here, "runner-1").await.is_none(),
            "held by the other runner"
        );
        elsewhere.release_lease(theirs).await;
        let before = published(&client);
        assert!(
            try_lease(&here, "runner-1").await.is_some(),
            "free once the other runner gave it back"
        );
        assert_eq!(
            published(&client) - before,
            3,
            "released elsewhere: the full acquire (a write expecting no record, a read, an update)"
        );
    }

    #[tokio::test]
    async fn a_lease_given_back_before_the_bucket_was_made_again_is_not_taken_from_its_new_holder()
    {
        let nats = NatsServer::start();
        let (client, here) = store_on(&nats).await;
        let first = try_lease(&here, "runner-1").await.expect("free");
        here.release_lease(first).await;

        // What a restarted NATS server does to the in-memory bucket: it is gone, and made anew.
        async_nats::jetstream::new(client)
            .delete_stream(format!(
                "KV_{}",
                pincer_bus::Namespace::default().leases_bucket()
            ))
            .await
            .expect("bucket gone");
        let (_, elsewhere) = store_on(&nats).await;
        // Another runner holds the session there, having written it as often as this runner did
        // (take, refresh): counted from 1 again, its record would have the revision this runner
        // remembers from its release.
        let mut theirs = try_lease(&elsewhere, "runner-2")
            .await
            .expect("free in the new bucket");
        elsewhere
            .refresh_lease(&mut theirs, "runner-2")
            .await
            .expect("refresh");

        assert!(
            try_lease(&here, "runner-1").await.is_none(),
            "held by the other runner"
        );
    }
}
