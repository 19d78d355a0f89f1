//! The JetStream consumer loop.
//!
//! `maxConcurrent` is global: the durable consumer all replicas share lets at most that many turns
//! be unacknowledged at once, so two replicas together run no more than one would.
//! A replica pulls only as many turns as it has free slots (`maxConcurrent`): a turn pulled but
//! left waiting here is one another replica could be running, and its `ack_wait` would be ticking.
//! Each pulled turn holds its slot until it is acked. Turns are dispatched to one FIFO worker per
//! session (so a session never runs two turns at once and keeps its order). Acks happen only after
//! the turn's outcome is stored; on shutdown, turns not yet started are handed back with a NAK so
//! another replica (or this one after restart) runs them.
//!
//! `ack_wait` is short (6 s by default) so a dead runner's turns come back within seconds: from
//! the moment a turn is pulled until it is acked, a keepalive reports progress three times per
//! `ack_wait`, whether the turn is running or queued behind another turn of its session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use pincer_bus::messages::TurnRequest;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::Error;
use crate::turn::{self, Disposition, TurnContext};

/// After this many deliveries a turn is left in the stream for inspection instead of retried.
const MAX_DELIVER: i64 = 10;

/// How long one pull waits on an empty queue before it is asked again. Short enough that a lost
/// connection is noticed soon; each pull is one small request, so an idle replica costs little.
const PULL_WAIT: Duration = Duration::from_secs(5);

/// A delivered turn with its payload decoded once, at dispatch, the slot it holds, and its
/// keepalive.
type Queued = (
    jetstream::Message,
    TurnRequest,
    OwnedSemaphorePermit,
    Keepalive,
);

/// Reports progress on a pulled turn every `every` until dropped, so JetStream redelivers it only
/// when this process stops doing so (it died, or lost the bus for a whole `ack_wait`).
struct Keepalive(tokio::task::JoinHandle<()>);

impl Keepalive {
    fn start(message: &jetstream::Message, every: Duration) -> Self {
        let message = message.clone();
        Self(tokio::spawn(async move {
            let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                progress.tick().await;
                if let Err(error) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(%error, "progress ack failed; retrying at the next tick");
                }
            }
        }))
    }
}

impl Drop for Keepalive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Workers = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Queued>>>>;

/// Which turns a consumer takes: people's and jobs' (`maxConcurrent`), or sub-agents'
/// (`subagents.maxConcurrent`), each through its own durable consumer.
#[derive(Clone, Debug)]
pub struct Lane {
    /// The durable consumer's name.
    pub durable: String,
    /// The subjects it takes.
    pub filter: String,
}

impl Lane {
    /// Turns asked by people, hooks and jobs.
    pub fn main(ns: &pincer_bus::Namespace) -> Self {
        Self {
            durable: ns.turns_consumer(),
            filter: ns.turns_filter(),
        }
    }

    /// Turns of sub-agents.
    pub fn subagents(ns: &pincer_bus::Namespace) -> Self {
        Self {
            durable: ns.subagent_turns_consumer(),
            filter: ns.subagent_turns_filter(),
        }
    }
}

/// Consumes `lane`'s turns until `shutdown`, then drains for at most `grace`.
///
/// `ack_wait` is how long an unacknowledged turn waits before redelivery (a crashed runner's turns
/// come back after it); running turns report progress three times per `ack_wait`.
pub async fn consume(
    js: &jetstream::Context,
    context: Arc<TurnContext>,
    lane: Lane,
    max_concurrent: usize,
    ack_wait: Duration,
    grace: Duration,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let ns = context.namespace.clone();
    let stream = js
        .get_stream(ns.turns_stream())
        .await
        .map_err(|e| Error::Consumer(e.to_string()))?;
    let consumer = stream
        // Create or update: an `ack_wait` changed in the environment takes effect on the durable
        // consumer an earlier version made.
        .create_consumer(pull::Config {
            durable_name: Some(lane.durable.clone()),
            filter_subject: lane.filter.clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait,
            max_deliver: MAX_DELIVER,
            // `maxConcurrent` holds across replicas: the consumer is shared, and JetStream hands
            // out no more unacknowledged turns than this to all of them together.
            max_ack_pending: i64::try_from(max_concurrent.max(1)).unwrap_or(i64::MAX),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Consumer(e.to_string()))?;

    let slots = Arc::new(Semaphore::new(max_concurrent.max(1)));
    let workers: Workers = Arc::default();
    let tracker = TaskTracker::new();
    tracing::info!(max_concurrent, lane = %lane.durable, "consuming turns");

    'outer: while !shutdown.is_cancelled() {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break 'outer,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        // The semaphore is never closed.
        let Ok(first) = first else { break 'outer };
        let mut held = vec![first];
        while let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
            held.push(slot);
        }
        let pull = consumer
            .batch()
            .max_messages(held.len())
            .expires(PULL_WAIT)
            .messages();
        let pulled = tokio::select! {
            _ = shutdown.cancelled() => break 'outer,
            pulled = pull => pulled,
        };
        let mut batch = match pulled {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "cannot pull turns, retrying");
                drop(held);
                tokio::select! {
                    _ = shutdown.cancelled() => break 'outer,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue 'outer,
                }
            }
        };
        // Slots left unused when the pull ends are released by dropping `held`.
        while !held.is_empty() {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                next = batch.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    let Some(slot) = held.pop() else { break };
                    dispatch(
                        message,
                        slot,
                        &workers,
                        &tracker,
                        &context,
                        ack_wait / 3,
                        &shutdown,
                    );
                }
                Some(Err(error)) => tracing::warn!(%error, "pull error (will pull again)"),
                None => break,
            }
        }
    }

    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            ?grace,
            "turns still running after the grace period; they will be redelivered"
        );
    }
    Ok(())
}

fn dispatch(
    message: jetstream::Message,
    slot: OwnedSemaphorePermit,
    workers: &Workers,
    tracker: &TaskTracker,
    context: &Arc<TurnContext>,
    progress_every: Duration,
    shutdown: &CancellationToken,
) {
    let request: TurnRequest = match serde_json::from_slice(&message.payload) {
        Ok(request) => request,
        Err(error) => {
            tracing::error!(subject = %message.subject, %error, "dropping malformed turn");
            tracker.spawn(async move {
                let _ = message.ack_with(AckKind::Term).await;
                drop(slot);
            });
            return;
        }
    };
    let session_key = request.session_key.clone();
    let keepalive = Keepalive::start(&message, progress_every);
    let mut queued = (message, request, slot, keepalive);
    let mut map = workers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(queue) = map.get(&session_key) {
        match queue.send(queued) {
            Ok(()) => return,
            // The worker just exited: take the turn back and start a new one.
            Err(mpsc::error::SendError(back)) => queued = back,
        }
    }
    let (queue, inbox) = mpsc::unbounded_channel();
    let _ = queue.send(queued);
    map.insert(session_key.clone(), queue);
    tracker.spawn(session_worker(
        session_key,
        inbox,
        Arc::clone(workers),
        Arc::clone(context),
        shutdown.clone(),
    ));
}

/// Runs a session's turns one after another; exits (and unregisters) when its queue is empty.
async fn session_worker(
    session_key: String,
    mut inbox: mpsc::UnboundedReceiver<Queued>,
    workers: Workers,
    context: Arc<TurnContext>,
    shutdown: CancellationToken,
) {
    loop {
        let (message, request, _slot, _keepalive) = {
            // The same lock guards dispatch, so no message can arrive between "empty" and "removed".
            let mut map = workers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match inbox.try_recv() {
                Ok(queued) => queued,
                Err(_) => {
                    map.remove(&session_key);
                    return;
                }
            }
        };
        if shutdown.is_cancelled() {
            hand_back(&message).await;
            continue;
        }
        run_one(&context, message, request).await;
    }
}

async fn hand_back(message: &jetstream::Message) {
    if let Err(error) = message.ack_with(AckKind::Nak(None)).await {
        tracing::debug!(%error, "nak on shutdown failed; the turn will be redelivered after ack_wait");
    }
}

async fn run_one(context: &TurnContext, message: jetstream::Message, request: TurnRequest) {
    let span = tracing::info_span!(
        "turn",
        turn_id = %request.turn_id,
        agent = %request.agent_id,
        source = %request.source,
    );
    pincer_bus::headers::set_parent_from(&span, message.headers.as_ref());
    async {
        let disposition = turn::execute(context, &request).await;
        let acked = match disposition {
            Disposition::Finished => message.ack().await,
            Disposition::RetryLater(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
        };
        if let Err(error) = acked {
            tracing::warn!(%error, "ack failed; the turn may be redelivered (its outcome is stored)");
        }
    }
    .instrument(span)
    .await;
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::scripted_router::Answer;
    use crate::test_bus::TestBus;
    use pincer_test_support::eventually;

    const PATIENCE: Duration = Duration::from_secs(15);

    /// Runs a replica with `slots` until the returned token is cancelled.
    fn replica(bus: &TestBus, slots: usize) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        replica_waiting(bus, slots, Duration::from_secs(30))
    }

    /// A replica whose turns come back after `ack_wait` if it stops reporting progress.
    fn replica_waiting(
        bus: &TestBus,
        slots: usize,
        ack_wait: Duration,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (js, context, shutdown) = (bus.js.clone(), bus.context.clone(), shutdown.clone());
            let lane = Lane::main(&context.namespace);
            async move {
                consume(
                    &js,
                    Arc::new(context),
                    lane,
                    slots,
                    ack_wait,
                    Duration::from_millis(200),
                    shutdown,
                )
                .await
                .expect("consumer");
            }
        });
        (shutdown, task)
    }

    async fn enqueue(bus: &TestBus, turn: &TurnRequest) {
        let subject = bus.context.namespace.turn(&turn.agent_id);
        pincer_bus::publish::durable_json(&bus.js, subject, &turn.turn_id, turn)
            .await
            .expect("turn accepted");
    }

    async fn consumer_info(bus: &TestBus) -> jetstream::consumer::Info {
        let ns = &bus.context.namespace;
        let stream = bus.js.get_stream(ns.turns_stream()).await.expect("stream");
        let mut consumer: jetstream::consumer::PullConsumer = stream
            .get_consumer(&ns.turns_consumer())
            .await
            .expect("consumer");
        consumer.info().await.expect("info").clone()
    }

    async fn every_turn_acked(bus: &TestBus) {
        eventually("every turn acked", PATIENCE, || async {
            let info = consumer_info(bus).await;
            (info.num_ack_pending == 0 && info.num_pending == 0).then_some(())
        })
        .await;
    }

    #[tokio::test]
    async fn the_turns_of_one_session_run_one_after_another_in_order() {
        let bus = TestBus::start(vec![
            Answer::text("one"),
            Answer::text("two"),
            Answer::text("three"),
        ])
        .await;
        let session = "agent:main:test:order";
        for (id, text) in [("o1", "first"), ("o2", "second"), ("o3", "third")] {
            enqueue(&bus, &bus.turn(id, session, text)).await;
        }
        let (shutdown, task) = replica(&bus, 4);

        let transcript = eventually("three answered turns", PATIENCE, || async {
            let transcript = bus.transcript(session).await;
            (transcript.messages.len() == 6).then_some(transcript)
        })
        .await;

        let contents: Vec<_> = transcript
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(
            contents,
            ["first", "one", "second", "two", "third", "three"]
        );
        let last_request = &bus.router.requests()[2];
        assert_eq!(
            last_request.messages.len(),
            6,
            "the third call saw both earlier turns: {:?}",
            last_request.messages
        );
        every_turn_acked(&bus).await;
        shutdown.cancel();
        task.await.expect("replica");
    }

    #[tokio::test]
    async fn a_turn_queued_behind_a_long_one_is_not_redelivered_while_its_runner_lives() {
        // The first turn runs for three ack waits; the second waits behind it in its session's
        // queue. Both report progress, so JetStream delivers each exactly once.
        let ack_wait = Duration::from_secs(1);
        let bus = TestBus::start(vec![
            Answer::Slow {
                after: ack_wait * 3,
                text: "slow".to_owned(),
            },
            Answer::text("quick"),
        ])
        .await;
        let session = "agent:main:test:long";
        enqueue(&bus, &bus.turn("long-1", session, "first")).await;
        enqueue(&bus, &bus.turn("long-2", session, "second")).await;
        let (shutdown, task) = replica_waiting(&bus, 4, ack_wait);

        eventually("both turns answered", PATIENCE, || async {
            (bus.transcript(session).await.messages.len() == 4).then_some(())
        })
        .await;
        every_turn_acked(&bus).await;
        let info = consumer_info(&bus).await;
        assert_eq!(
            info.delivered.consumer_sequence, 2,
            "each turn delivered once: {info:?}"
        );
        assert_eq!(bus.router.requests().len(), 2);
        shutdown.cancel();
        task.await.expect("replica");
    }

    #[tokio::test]
    async fn a_malformed_turn_is_dropped_and_the_next_one_is_served() {
        let bus = TestBus::start(vec![Answer::text("fine")]).await;
        let subject = bus.context.namespace.turn("main");
        pincer_bus::publish::durable(
            &bus.js,
            subject,
            "garbage-1",
            Bytes::from_static(b"{not json"),
        )
        .await
        .expect("accepted");
        let good = bus.turn("good-1", "agent:main:test:good", "hi");
        enqueue(&bus, &good).await;
        let (shutdown, task) = replica(&bus, 2);

        eventually("the good turn answered", PATIENCE, || async {
            (bus.transcript(&good.session_key).await.messages.len() == 2).then_some(())
        })
        .await;
        every_turn_acked(&bus).await;
        shutdown.cancel();
        task.await.expect("replica");
    }

    #[tokio::test]
    async fn a_replica_pulls_no_more_turns_than_it_has_free_slots() {
        // The first turn never gets an answer, so it holds the only slot.
        let bus = TestBus::start(vec![Answer::Hang, Answer::text("second")]).await;
        enqueue(&bus, &bus.turn("slot-1", "agent:main:test:s1", "one")).await;
        enqueue(&bus, &bus.turn("slot-2", "agent:main:test:s2", "two")).await;
        let (shutdown, task) = replica(&bus, 1);

        eventually("the first turn running", PATIENCE, || async {
            (bus.router.requests().len() == 1).then_some(())
        })
        .await;
        let info = consumer_info(&bus).await;
        assert_eq!(info.num_ack_pending, 1, "only one turn taken: {info:?}");
        assert_eq!(
            info.num_pending, 1,
            "the other waits in the stream for any replica"
        );

        // On shutdown the running turn is left unacked: it comes back to another replica.
        shutdown.cancel();
        task.await.expect("replica");
        assert_eq!(bus.router.requests().len(), 1);
    }
}
