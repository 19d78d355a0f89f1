//! The scheduler: fires due jobs from the cron bucket as turns, exactly once across gateway
//! replicas and restarts.
//!
//! Every replica runs one. Each pass reads the jobs and, for a due one, re-reads it, publishes
//! its turn under a message id and a turn id both derived from the job and the scheduled time,
//! and then records the firing by compare-and-set on the revision it read. Two replicas racing
//! publish the same message (JetStream stores it once) and only one records; a replica that dies
//! between publishing and recording leaves the job due, and whoever fires it next publishes the
//! same turn again, which the agent-runner answers from its record. A pass runs when a job
//! changes (a KV watch), when the next firing is due, and at least every [`MAX_SLEEP`].
//!
//! A run's outcome goes to a subject every gateway's scheduler hears (not to the publisher's
//! own), so it is recorded on the job whichever gateway's publish JetStream kept, and even if
//! that gateway died meanwhile.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pincer_bus::messages::{ChatMessage, Role, RunEvent, TurnRequest};
use pincer_cron::firing::{self, Decision};
use pincer_cron::{Job, JobStore, Payload, RunStatus, Stored};
use tokio_util::sync::CancellationToken;

use crate::control::ChannelAccount;
use crate::turns::Turns;

/// Longest wait between two passes (a missed watch event costs at most this).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// How long an outcome may wait for its firing to be recorded (the outcome of a very fast run
/// can arrive before the compare-and-set that records the firing).
const RECORD_PATIENCE: Duration = Duration::from_secs(5);

/// The scheduler's settings and handles.
#[derive(Clone)]
pub struct Scheduler {
    store: JobStore,
    turns: Turns,
    client: async_nats::Client,
    namespace: pincer_bus::Namespace,
    accounts: Arc<Vec<ChannelAccount>>,
    grace: Duration,
}

impl Scheduler {
    /// A scheduler over `store`, firing through `turns`.
    pub fn new(
        store: JobStore,
        turns: Turns,
        client: async_nats::Client,
        namespace: pincer_bus::Namespace,
        accounts: Vec<ChannelAccount>,
        grace: Duration,
    ) -> Self {
        Self {
            store,
            turns,
            client,
            namespace,
            accounts: Arc::new(accounts),
            grace,
        }
    }

    /// Runs passes until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(grace = ?self.grace, "cron scheduler running");
        tokio::spawn(outcomes(
            self.store.clone(),
            self.client.clone(),
            self.namespace.cron_run_events_all(),
            shutdown.clone(),
        ));
        while !shutdown.is_cancelled() {
            let mut watch = match self.store.watch().await {
                Ok(watch) => Some(watch),
                Err(error) => {
                    tracing::warn!(%error, "cannot watch the cron bucket; passes on a timer only");
                    None
                }
            };
            loop {
                let wake = self.pass().await;
                let sleep = tokio::time::sleep(wake);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = sleep => {}
                    change = next_change(&mut watch) => {
                        if change.is_none() {
                            // The watch ended (NATS reconnected): open a new one.
                            break;
                        }
                    }
                }
            }
        }
    }

    /// One pass over every job; how long until the next one is due.
    async fn pass(&self) -> Duration {
        let jobs = match self.store.list().await {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::warn!(%error, "cannot read the cron jobs");
                return Duration::from_secs(1);
            }
        };
        let mut wake = MAX_SLEEP;
        for stored in jobs {
            let now = pincer_clock::now_ms();
            let retry = match firing::decide(&stored.job, now, millis(self.grace)) {
                Decision::WaitUntil(at) => {
                    wake = wake.min(Duration::from_millis(at.saturating_sub(now)));
                    continue;
                }
                Decision::Idle => continue,
                Decision::Fire(scheduled) => self.fire(stored, scheduled).await,
                Decision::Skip(scheduled, why) => self.skip(stored, scheduled, &why).await,
            };
            if retry {
                wake = wake.min(Duration::from_secs(1));
            }
        }
        wake
    }

    /// Fires the run of `stored` scheduled at `scheduled`; `true` when it should be tried again.
    async fn fire(&self, stored: Stored, scheduled: u64) -> bool {
        // Re-read: another replica may have fired it since the list was read.
        let Stored { job, revision } = match self.store.get(&stored.job.id).await {
            Ok(Some(fresh)) if fresh.revision == stored.revision => fresh,
            Ok(_) => return false,
            Err(error) => {
                tracing::warn!(%error, job = %stored.job.id, "cannot re-read a due job");
                return true;
            }
        };
        let now = pincer_clock::now_ms();
        let turn_id = firing::turn_id(&job.id, scheduled);
        let deliver = match self.delivery(&job) {
            Ok(deliver) => deliver,
            Err(why) => {
                let failed = firing::skipped(&job, scheduled, now, &why);
                let mut failed = failed;
                failed.state.last_status = Some(RunStatus::Error);
                if let Err(error) = self.store.update(&failed, revision).await {
                    tracing::warn!(%error, job = %job.id, "cannot record a failed firing");
                }
                tracing::warn!(job = %job.id, %why, "cron job not run");
                return false;
            }
        };
        let turn = self.turn(&job, scheduled, &turn_id, now, deliver);
        let span = tracing::info_span!("cron.fire", job = %job.id, turn_id = %turn_id, scheduled);
        let _entered = span.enter();
        if let Err(error) = self
            .turns
            .publish_as(&turn, &format!("cron-{turn_id}"))
            .await
        {
            tracing::warn!(%error, "cannot hand the job's turn over; retrying");
            return true;
        }
        let fired = firing::fired(&job, scheduled, now, &turn_id);
        match self.store.update(&fired, revision).await {
            Ok(Some(_)) => {
                tracing::info!(next = ?fired.state.next_run_at_ms, "cron job fired");
                false
            }
            // Another replica recorded the same firing: its turn is the one just published.
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(%error, "fired, but the record failed; the same turn is published again");
                true
            }
        }
    }

    async fn skip(&self, stored: Stored, scheduled: u64, why: &str) -> bool {
        let now = pincer_clock::now_ms();
        let skipped = firing::skipped(&stored.job, scheduled, now, why);
        match self.store.update(&skipped, stored.revision).await {
            Ok(_) => {
                tracing::info!(job = %stored.job.id, %why, "cron firing skipped");
                false
            }
            Err(error) => {
                tracing::warn!(%error, job = %stored.job.id, "cannot record a skipped firing");
                true
            }
        }
    }

    /// Where the answer goes, or why the job cannot run.
    fn delivery(&self, job: &Job) -> Result<Option<pincer_bus::messages::Delivery>, String> {
        let Some((channel, to, account)) = job.delivery.as_ref().and_then(|d| d.target()) else {
            return Ok(None);
        };
        crate::hooks::deliver_to(&self.accounts, channel, to, Some(account))
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn turn(
        &self,
        job: &Job,
        scheduled: u64,
        turn_id: &str,
        now: u64,
        deliver: Option<pincer_bus::messages::Delivery>,
    ) -> TurnRequest {
        let source = match job.payload {
            Payload::Heartbeat { .. } => "heartbeat",
            _ => "cron",
        };
        TurnRequest {
            turn_id: turn_id.to_owned(),
            agent_id: job.agent_id.clone(),
            session_key: firing::session_key(job, scheduled),
            persist: true,
            messages: vec![ChatMessage::text(Role::User, job.payload.text())],
            reply_subject: self.namespace.cron_run_events(&job.id, turn_id),
            live_deltas: false,
            source: source.to_owned(),
            accepted_at_ms: now,
            deliver,
            thinking: job.payload.thinking().map(str::to_owned),
            model: None,
            spawn_depth: 0,
            parent_turn_id: None,
            sampling: Default::default(),
            client_tools: Vec::new(),
            timeout_secs: None,
            record_only: false,
        }
    }

    /// Runs job `id` now, whatever its schedule (`cron.run`); the turn id.
    pub async fn run_now(&self, id: &str) -> Result<String, pincer_cron::StoreError> {
        let Some(Stored { job, .. }) = self.store.get(id).await? else {
            return Err(pincer_cron::StoreError::NotFound(id.to_owned()));
        };
        let now = pincer_clock::now_ms();
        // A manual run is its own firing: keyed by the moment it was asked for.
        let turn_id = firing::turn_id(&format!("{}:manual", job.id), now);
        let deliver = self
            .delivery(&job)
            .map_err(|reason| pincer_cron::StoreError::Bus { op: "run", reason })?;
        let turn = self.turn(&job, now, &turn_id, now, deliver);
        self.turns
            .publish_as(&turn, &format!("cron-{turn_id}"))
            .await
            .map_err(|e| pincer_cron::StoreError::Bus {
                op: "run",
                reason: e.to_string(),
            })?;
        self.store
            .modify(id, |job| {
                job.state.last_run_at_ms = Some(now);
                job.state.last_status = Some(RunStatus::Started);
                job.state.last_error = None;
                job.state.last_turn_id = Some(turn_id.clone());
                job.state.runs += 1;
                true
            })
            .await?;
        Ok(turn_id)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn next_change(watch: &mut Option<async_nats::jetstream::kv::Watch>) -> Option<()> {
    match watch {
        Some(watch) => watch.next().await.map(drop),
        None => std::future::pending().await,
    }
}

/// Records the outcomes of every gateway's firings: each arrives on
/// `<prefix>.run.cron.<job>.<turn>`, and is written to the job if its last firing is that turn.
async fn outcomes(
    store: JobStore,
    client: async_nats::Client,
    subject: String,
    shutdown: CancellationToken,
) {
    let mut events = match client.subscribe(subject).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "cannot hear cron outcomes: jobs will show `started`");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            message = events.next() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let mut tokens = message.subject.rsplitn(3, '.');
        let (Some(turn_id), Some(job_id)) = (tokens.next(), tokens.next()) else {
            continue;
        };
        let outcome = match serde_json::from_slice::<RunEvent>(&message.payload) {
            Ok(RunEvent::Done { finish_reason, .. })
                if finish_reason == pincer_bus::messages::HEARTBEAT_SKIPPED =>
            {
                (
                    RunStatus::Skipped,
                    Some("HEARTBEAT.md is missing or empty".to_owned()),
                )
            }
            Ok(RunEvent::Done { .. }) => (RunStatus::Ok, None),
            Ok(RunEvent::Error { message, .. }) => (RunStatus::Error, Some(message)),
            Ok(_) | Err(_) => continue,
        };
        let (store, job_id, turn_id) = (store.clone(), job_id.to_owned(), turn_id.to_owned());
        tokio::spawn(async move { record(&store, &job_id, &turn_id, outcome).await });
    }
}

/// Writes `outcome` on job `job_id` once its last firing is `turn_id`; removes a one-shot job
/// that asked for it once it ran well.
async fn record(
    store: &JobStore,
    job_id: &str,
    turn_id: &str,
    outcome: (RunStatus, Option<String>),
) {
    let (status, error) = outcome;
    let deadline = tokio::time::Instant::now() + RECORD_PATIENCE;
    loop {
        let mut seen = false;
        let recorded = store
            .modify(job_id, |job| {
                seen = job.state.last_turn_id.as_deref() == Some(turn_id);
                if !seen || (job.state.last_status == Some(status) && job.state.last_error == error)
                {
                    return false;
                }
                job.state.last_status = Some(status);
                job.state.last_error.clone_from(&error);
                true
            })
            .await;
        match recorded {
            Ok(job) if seen => {
                let finished = status == RunStatus::Ok
                    && job.delete_after_run
                    && job.state.next_run_at_ms.is_none();
                if finished
                    && let Ok(Some(current)) = store.get(job_id).await
                    && let Err(error) = store.remove_at(job_id, current.revision).await
                {
                    tracing::debug!(%error, job = %job_id, "one-shot job not removed here");
                }
                return;
            }
            // Not recorded as fired yet: the outcome beat the compare-and-set.
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(_) | Err(pincer_cron::StoreError::NotFound(_)) => return,
            Err(error) => {
                tracing::warn!(%error, job = %job_id, "cannot record a cron run's outcome");
                return;
            }
        }
    }
}
