//! Handing a turn to the agent-runners and following it.
//!
//! The gateway registers for the turn's events (on its one run-event subscription, see
//! [`crate::run_events`]) *before* publishing the turn, so no event can be missed; the publish
//! waits for JetStream's ack, so an accepted turn is durable even if every agent-runner is down (it
//! runs when one comes back).

use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use pincer_bus::Namespace;
use pincer_bus::demux::Registration;
use pincer_bus::messages::{RunEvent, TurnRequest};

use crate::metrics::{Metrics, TurnLabels, TurnTimer};
use crate::run_events::RunEvents;

/// Publish and subscribe plumbing for turns.
#[derive(Clone, Debug)]
pub struct Turns {
    client: async_nats::Client,
    js: jetstream::Context,
    namespace: Namespace,
    events: RunEvents,
    pickup_timeout: Duration,
    metrics: Metrics,
}

/// Why a turn could not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS refused or did not confirm.
    #[error("message bus unavailable: {0}")]
    Bus(String),
}

/// A submitted turn's live events.
pub struct Submitted {
    events: Registration,
    pickup_timeout: Duration,
    started: bool,
    /// Whether the runner announces `started` (only for turns with live events).
    announces_start: bool,
    /// Its latency and outcome, for the metrics.
    timer: TurnTimer,
}

/// One step of a followed turn.
#[derive(Debug)]
pub enum Next {
    /// An event from the runner.
    Event(RunEvent),
    /// No runner picked the turn up in time (it stays queued).
    NotPickedUp(Duration),
    /// The runner went silent for longer than the turn may take.
    Stalled(Duration),
    /// A turn without live events produced no outcome in time (queued or still running).
    NoAnswer(Duration),
}

/// A new single-message turn (control-plane chat, hooks).
#[derive(Debug)]
pub struct TurnSpec<'a> {
    /// Which agent answers.
    pub agent_id: &'a str,
    /// The session.
    pub session_key: String,
    /// The user's message.
    pub text: &'a str,
    /// `control`, `hook`, ...
    pub source: &'a str,
    /// Same key in the same session → same turn, run once.
    pub idempotency_key: Option<&'a str>,
    /// Announce `started` and deltas.
    pub live: bool,
}

/// `model` as the model a turn calls first (`provider/model`), or why not, naming `field` (the
/// header or the hook field that asked for it).
pub fn model_choice(field: &str, model: &str) -> Result<String, String> {
    let model = model.trim();
    match pincer_config::parse_model_ref(model) {
        Some(_) => Ok(model.to_owned()),
        None => Err(format!(
            "`{field}` must name a model as provider/model (e.g. ollama/llama3.1:8b), got {model:?}"
        )),
    }
}

/// The id of a new turn in `session_key`. Same session + same idempotency key → same turn id → the
/// runner answers a retry from the stored outcome instead of running it again; without a key (or
/// with a blank one) every turn is new.
pub fn turn_id(session_key: &str, idempotency_key: Option<&str>) -> String {
    match idempotency_key.map(str::trim).filter(|key| !key.is_empty()) {
        Some(key) => stable_turn_id(session_key, key),
        None => uuid::Uuid::new_v4().simple().to_string(),
    }
}

fn stable_turn_id(session_key: &str, idempotency_key: &str) -> String {
    pincer_store::ids::derived(&format!("{session_key}\n{idempotency_key}"))
}

impl Turns {
    /// Builds a persisted single-message turn.
    pub fn new_turn(&self, spec: TurnSpec<'_>) -> TurnRequest {
        let turn_id = turn_id(&spec.session_key, spec.idempotency_key);
        TurnRequest {
            reply_subject: self.reply_subject(&turn_id),
            live_deltas: spec.live,
            turn_id,
            agent_id: spec.agent_id.to_owned(),
            session_key: spec.session_key,
            persist: true,
            messages: vec![pincer_bus::messages::ChatMessage::text(
                pincer_bus::messages::Role::User,
                spec.text,
            )],
            source: spec.source.to_owned(),
            accepted_at_ms: pincer_clock::now_ms(),
            deliver: None,
            thinking: None,
            model: None,
            spawn_depth: 0,
            parent_turn_id: None,
            sampling: Default::default(),
            client_tools: Vec::new(),
            timeout_secs: None,
            record_only: false,
        }
    }

    /// Asks the runner of `turn_id` to stop it. Core NATS: if no runner has it, nothing happens.
    pub async fn abort(&self, turn_id: &str) -> Result<(), Error> {
        self.client
            .publish(self.namespace.run_abort(turn_id), Bytes::new())
            .await
            .map_err(|e| Error::Bus(e.to_string()))?;
        self.client
            .flush()
            .await
            .map_err(|e| Error::Bus(e.to_string()))
    }

    /// Creates the plumbing and subscribes to this gateway's run events.
    pub async fn start(
        client: async_nats::Client,
        js: jetstream::Context,
        namespace: Namespace,
        pickup_timeout: Duration,
    ) -> Result<Self, Error> {
        let events = RunEvents::start(&client, namespace.clone())
            .await
            .map_err(|e| Error::Bus(e.to_string()))?;
        Ok(Self {
            client,
            js,
            namespace,
            events,
            pickup_timeout,
            metrics: Metrics::new(),
        })
    }

    /// The NATS client (the metrics scrape asks the other services with it).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// This gateway's metrics (the turns it follows are counted there).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The subject a turn's events arrive on.
    pub fn reply_subject(&self, turn_id: &str) -> String {
        self.events.reply_subject(turn_id)
    }

    /// Registers for the turn's events, then enqueues it durably.
    pub async fn submit(&self, turn: &TurnRequest) -> Result<Submitted, Error> {
        let events = self.events.register(&turn.reply_subject);
        // Each HTTP request is its own delivery: a client retrying with the same Idempotency-Key gets
        // the same turn id, and the runner answers it from the stored outcome instead of re-running.
        // (JetStream de-duplication by id would swallow the retry and leave it waiting for nothing.)
        let delivery_id = format!("{}.{}", turn.turn_id, uuid::Uuid::new_v4().simple());
        self.publish_as(turn, &delivery_id).await?;
        Ok(Submitted {
            events,
            pickup_timeout: self.pickup_timeout,
            started: false,
            announces_start: turn.live_deltas,
            timer: TurnTimer::accepted(
                &self.metrics,
                TurnLabels {
                    source: turn.source.clone(),
                    agent: turn.agent_id.clone(),
                },
            ),
        })
    }

    /// Enqueues `turn` durably under `delivery_id` without following it: the same id published
    /// twice within JetStream's duplicate window is stored once (a scheduled firing raced by two
    /// gateways, whose outcome every gateway hears on the turn's own `reply_subject`).
    pub async fn publish_as(&self, turn: &TurnRequest, delivery_id: &str) -> Result<(), Error> {
        let stored = pincer_bus::publish::durable_json(
            &self.js,
            self.namespace.turn(&turn.agent_id),
            delivery_id,
            turn,
        )
        .await
        .map_err(|e| Error::Bus(e.to_string()))?;
        if stored.duplicate {
            tracing::info!(turn_id = %turn.turn_id, "jetstream already had this delivery id");
        }
        Ok(())
    }
}

impl Submitted {
    /// Waits for the next event. `turn_timeout` bounds the silence once a runner has started.
    pub async fn next(&mut self, turn_timeout: Duration) -> Next {
        let next = self.wait(turn_timeout).await;
        match &next {
            Next::Event(RunEvent::Started) => {}
            Next::Event(RunEvent::Delta { .. }) => self.timer.text(),
            Next::Event(RunEvent::Done { .. }) => self.timer.finished("done"),
            Next::Event(RunEvent::Error { code, .. }) => self.timer.finished(code.as_str()),
            Next::NotPickedUp(_) | Next::Stalled(_) | Next::NoAnswer(_) => {
                self.timer.finished("no_answer");
            }
        }
        next
    }

    async fn wait(&mut self, turn_timeout: Duration) -> Next {
        let patience = match (self.announces_start, self.started) {
            (true, false) => self.pickup_timeout,
            (true, true) => turn_timeout,
            // Only the outcome will come: allow for the pickup and the whole turn.
            (false, _) => self.pickup_timeout + turn_timeout,
        };
        loop {
            let payload = match tokio::time::timeout(patience, self.events.next()).await {
                Ok(Some(payload)) => payload,
                Ok(None) | Err(_) if !self.announces_start => return Next::NoAnswer(patience),
                Ok(None) | Err(_) if self.started => return Next::Stalled(patience),
                Ok(None) | Err(_) => return Next::NotPickedUp(patience),
            };
            match serde_json::from_slice::<RunEvent>(&payload) {
                Ok(event) => {
                    self.started = true;
                    return Next::Event(event);
                }
                Err(error) => tracing::warn!(%error, "ignoring malformed run event"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_map_to_stable_subject_safe_ids() {
        let a = stable_turn_id("agent:main:openai-user:u", "k1");
        assert_eq!(a, stable_turn_id("agent:main:openai-user:u", "k1"));
        assert_ne!(a, stable_turn_id("agent:main:openai-user:u", "k2"));
        assert_ne!(a, stable_turn_id("agent:main:openai-user:v", "k1"));
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
