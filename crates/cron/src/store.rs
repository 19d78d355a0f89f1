//! Jobs in the cron KV bucket, one key per job (`job.<id>`), changed only by compare-and-set on
//! the revision read, so two writers (two gateways, or a gateway and the agent's tool) never
//! overwrite each other.

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use pincer_bus::Namespace;

use crate::job::Job;

/// Cron store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The bucket could not be opened.
    #[error("cron bucket unavailable: {0}")]
    Open(String),
    /// NATS did not answer as expected.
    #[error("cron store {op} failed: {reason}")]
    Bus {
        /// The operation.
        op: &'static str,
        /// What NATS said.
        reason: String,
    },
    /// No such job.
    #[error("no job {0:?}")]
    NotFound(String),
    /// A job made by the config.
    #[error(
        "job {0:?} is the heartbeat of agents.defaults.heartbeat: change the config to stop it"
    )]
    FromConfig(String),
}

fn bus(op: &'static str) -> impl Fn(String) -> StoreError {
    move |reason| StoreError::Bus { op, reason }
}

/// A job as read, with the revision to update it against.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The job.
    pub job: Job,
    /// Its KV revision.
    pub revision: u64,
}

/// The cron bucket.
#[derive(Clone, Debug)]
pub struct JobStore {
    kv: kv::Store,
}

fn key(id: &str) -> String {
    format!("job.{}", pincer_bus::subjects::key_token(id))
}

impl JobStore {
    /// Opens (creating if needed) the bucket under `ns`.
    pub async fn open(js: &jetstream::Context, ns: &Namespace) -> Result<Self, StoreError> {
        let kv = pincer_bus::setup::cron_bucket(js, ns)
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Self { kv })
    }

    /// Every job, by next firing.
    pub async fn list(&self) -> Result<Vec<Stored>, StoreError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| bus("keys")(e.to_string()))?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            names.push(key.map_err(|e| bus("keys")(e.to_string()))?);
        }
        let mut jobs = Vec::new();
        for name in names.iter().filter(|k| k.starts_with("job.")) {
            if let Some(stored) = self.entry(name).await? {
                jobs.push(stored);
            }
        }
        jobs.sort_by_key(|s| {
            (
                s.job.state.next_run_at_ms.unwrap_or(u64::MAX),
                s.job.created_at_ms,
            )
        });
        Ok(jobs)
    }

    /// The job `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        self.entry(&key(id)).await
    }

    async fn entry(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let Some(entry) = self
            .kv
            .entry(key)
            .await
            .map_err(|e| bus("get")(e.to_string()))?
        else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        match serde_json::from_slice::<Job>(&entry.value) {
            Ok(job) => Ok(Some(Stored {
                job,
                revision: entry.revision,
            })),
            Err(error) => {
                tracing::warn!(key, %error, "ignoring an unreadable cron job");
                Ok(None)
            }
        }
    }

    /// Stores a new job; `false` when the id is taken.
    pub async fn create(&self, job: &Job) -> Result<bool, StoreError> {
        match self.kv.create(key(&job.id), encode(job)).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(bus("create")(e.to_string())),
        }
    }

    /// Replaces the job read at `revision`; `None` when someone changed it since.
    pub async fn update(&self, job: &Job, revision: u64) -> Result<Option<u64>, StoreError> {
        match self.kv.update(key(&job.id), encode(job), revision).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(bus("update")(e.to_string())),
        }
    }

    /// Changes the job `id` with `change`, retrying when another writer got there first.
    /// `change` returns `false` to leave it as it is. The job as stored after, or `NotFound`.
    pub async fn modify(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Job) -> bool,
    ) -> Result<Job, StoreError> {
        for _ in 0..10 {
            let Some(Stored { mut job, revision }) = self.get(id).await? else {
                return Err(StoreError::NotFound(id.to_owned()));
            };
            if !change(&mut job) {
                return Ok(job);
            }
            if self.update(&job, revision).await?.is_some() {
                return Ok(job);
            }
        }
        Err(bus("update")(
            "kept changing under concurrent writers".into(),
        ))
    }

    /// Removes the job `id` (a person's or the agent's; a heartbeat is refused).
    pub async fn remove(&self, id: &str) -> Result<Job, StoreError> {
        let Some(Stored { job, revision }) = self.get(id).await? else {
            return Err(StoreError::NotFound(id.to_owned()));
        };
        if job.from_config {
            return Err(StoreError::FromConfig(id.to_owned()));
        }
        self.remove_at(id, revision).await?;
        Ok(job)
    }

    /// Removes the job `id` if it is still at `revision` (the scheduler, after a one-shot).
    pub async fn remove_at(&self, id: &str, revision: u64) -> Result<bool, StoreError> {
        match self
            .kv
            .delete_expect_revision(key(id), Some(revision))
            .await
        {
            Ok(()) => Ok(true),
            Err(e)
                if e.to_string()
                    .to_ascii_lowercase()
                    .contains("wrong last sequence") =>
            {
                Ok(false)
            }
            Err(e) => Err(bus("delete")(e.to_string())),
        }
    }

    /// Changes to any job as they happen (the scheduler's wake-up).
    pub async fn watch(&self) -> Result<kv::Watch, StoreError> {
        self.kv
            .watch("job.>")
            .await
            .map_err(|e| bus("watch")(e.to_string()))
    }
}

fn encode(job: &Job) -> bytes::Bytes {
    serde_json::to_vec(job).unwrap_or_default().into()
}
