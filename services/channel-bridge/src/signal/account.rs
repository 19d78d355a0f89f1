//! One Signal number: take its lease (one event stream per number across replicas: signal-cli
//! hands every event to every open stream, so two replicas would each answer it), keep its event
//! stream open, and hand each message to the channel core in order, before reading the next.
//!
//! signal-cli has no acknowledgement: an event is gone from the daemon once written to the stream.
//! So a message read is retried until JetStream has it, and a stop leaves a short grace for that;
//! what signal-cli delivers again (after its own crash) is recognised by the message's id. A
//! stream that ends, fails or falls silent is opened again with backoff; an account the daemon
//! does not have stops the number with a visible reason.

use std::time::Duration;

use async_nats::jetstream::kv;
use pincer_bus::messages::TurnRequest;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::envelope::{self, Me};
use super::events::{self, StreamError};
use super::rpc::{Rpc, Target};
use super::typing::Indicator;
use crate::channel::health::AccountHealth;
use crate::channel::inbound::{Inbound, MediaRef};
use crate::channel::ingest::{self, Platform};
use crate::channel::{key_token, lease};

/// Lease life of a number's event stream; refreshed every third of it.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// A stream without a byte for this long is dead: signal-cli writes a keep-alive every 15 s.
const SILENCE: Duration = Duration::from_secs(60);
/// Pause before the first reconnect; doubled up to [`MAX_BACKOFF`] while attempts fail.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest pause between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A stream that stayed open this long was healthy: the next reconnect starts quick again.
const HEALTHY_STREAM: Duration = Duration::from_secs(60);
/// After a stop or a lost lease, how long a message already read may still try to reach JetStream.
const HANDOFF_GRACE: Duration = Duration::from_secs(5);

/// What Signal adds around a turn: attachment downloads and the typing indicator.
pub struct Signal {
    /// The number's JSON-RPC client.
    pub rpc: Rpc,
    /// Its typing indicators.
    pub typing: Indicator,
}

impl Platform for Signal {
    type Watch = Option<async_nats::Subscriber>;

    fn label(&self) -> &'static str {
        "Signal"
    }

    async fn download(&self, media: &MediaRef, limit: u64) -> Result<Vec<u8>, String> {
        let (chat, id) = envelope::parse_locator(&media.locator)
            .ok_or_else(|| format!("not a signal attachment: {:?}", media.locator))?;
        self.rpc
            .attachment(id, Target::of(chat), limit)
            .await
            .map_err(|error| error.to_string())
    }

    async fn prepare(
        &self,
        client: &async_nats::Client,
        _message: &Inbound,
        turn: &TurnRequest,
    ) -> Self::Watch {
        client.subscribe(turn.reply_subject.clone()).await.ok()
    }

    fn working(&self, message: &Inbound, _turn: &TurnRequest, ended: Self::Watch) {
        self.typing.start(&message.chat, ended);
    }
}

/// How following a stream ended.
enum Stopped {
    /// Shutdown or a lost lease.
    Cancelled,
    /// Never works as configured.
    Fatal(String),
}

/// Runs one number until `shutdown` or a fatal error.
pub async fn run(
    ingest: ingest::Ingest<Signal>,
    state: kv::Store,
    holder: String,
    health: AccountHealth,
    shutdown: CancellationToken,
) {
    let lease_key = format!("signal.{}.events", key_token(&ingest.account));
    let mut me = Me {
        number: ingest.platform.rpc.account().to_owned(),
        uuid: None,
    };
    // The health record is the number's, whichever replica reads it: only the lease holder
    // writes it, so a replica waiting for the lease never hides the reader's state.
    while !shutdown.is_cancelled() {
        let what = "signal event stream";
        let Some(lease) =
            lease::acquire(&state, &lease_key, &holder, LEASE_TTL, what, &shutdown).await
        else {
            return;
        };
        health.connecting("opening the event stream").await;
        let connection = shutdown.child_token();
        let stopped = lease::while_held(
            &state,
            lease,
            &holder,
            LEASE_TTL,
            what,
            &connection,
            follow(&ingest, &mut me, &health, &connection),
        )
        .await;
        if let Stopped::Fatal(reason) = stopped {
            health.failed(&reason).await;
            return;
        }
        if shutdown.is_cancelled() {
            health.stopped().await;
            return;
        }
        // The lease was lost: another replica reads the stream now; wait for it to lapse again.
    }
}

/// Keeps the number's stream open and its messages handed on until `connection` is cancelled.
async fn follow(
    ingest: &ingest::Ingest<Signal>,
    me: &mut Me,
    health: &AccountHealth,
    connection: &CancellationToken,
) -> Stopped {
    let rpc = &ingest.platform.rpc;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let opened = tokio::select! {
            () = connection.cancelled() => return Stopped::Cancelled,
            opened = events::open(rpc) => opened,
        };
        let problem = match opened {
            Ok(mut stream) => {
                tracing::info!(account = %ingest.account, number = %me.number, "signal event stream open");
                health.connected(&me.number, "event stream open").await;
                let since = tokio::time::Instant::now();
                let ended = loop {
                    let next = tokio::select! {
                        () = connection.cancelled() => return Stopped::Cancelled,
                        next = stream.next(SILENCE) => next,
                    };
                    match next {
                        Ok(event) => {
                            health.event().await;
                            if event.kind == "receive"
                                && !handle(ingest, me, &event.data, connection).await
                            {
                                return Stopped::Cancelled;
                            }
                        }
                        Err(error) => break error,
                    }
                };
                if since.elapsed() >= HEALTHY_STREAM {
                    backoff = FIRST_BACKOFF;
                }
                ended
            }
            Err(StreamError::UnknownAccount(number)) => {
                return Stopped::Fatal(format!(
                    "signal-cli at {} has no account {number}: register or link it there, or fix channels.signal.account",
                    rpc.base()
                ));
            }
            Err(error) => error,
        };
        // The health check tells "the daemon is down" from "the stream broke".
        let checked = tokio::select! {
            () = connection.cancelled() => return Stopped::Cancelled,
            checked = rpc.check() => checked,
        };
        let detail = match checked {
            Ok(()) => problem.to_string(),
            Err(down) => format!("signal-cli at {} is not reachable: {down}", rpc.base()),
        };
        tracing::warn!(account = %ingest.account, %detail, ?backoff, "signal event stream lost, reconnecting");
        health.retrying(&detail).await;
        let quarter = u64::try_from(backoff.as_millis() / 4).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(fastrand::u64(0..=quarter));
        tokio::select! {
            () = connection.cancelled() => return Stopped::Cancelled,
            () = tokio::time::sleep(backoff + jitter) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Hands one `receive` event's message on; `false` when it could not be before a stop.
async fn handle(
    ingest: &ingest::Ingest<Signal>,
    me: &mut Me,
    data: &str,
    connection: &CancellationToken,
) -> bool {
    let event: Value = match serde_json::from_str(data) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "unreadable signal event skipped");
            return true;
        }
    };
    if me.uuid.is_none()
        && let Some(uuid) = envelope::own_uuid(&event, me)
    {
        tracing::debug!(%uuid, "the account's own ACI learnt");
        me.uuid = Some(uuid);
    }
    let Some(message) = envelope::message(&event, me) else {
        return true;
    };
    let mut wait = Duration::from_millis(250);
    let mut give_up_at = None;
    loop {
        match ingest.handle(&message).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::warn!(%error, id = %message.id, "signal message not handed on yet, retrying");
            }
        }
        if connection.is_cancelled() {
            let deadline =
                *give_up_at.get_or_insert_with(|| tokio::time::Instant::now() + HANDOFF_GRACE);
            if tokio::time::Instant::now() >= deadline {
                // signal-cli will not deliver it again: say so where an operator looks.
                tracing::error!(id = %message.id, chat = %message.chat, "signal message lost: stopped before it reached JetStream");
                return false;
            }
            tokio::time::sleep(wait.min(HANDOFF_GRACE / 5)).await;
        } else {
            tokio::select! {
                () = connection.cancelled() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}
