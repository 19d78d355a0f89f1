//! What the turn and consumer tests share: a real nats-server with the streams and buckets set up,
//! a scripted llm-router, and a [`TurnContext`] over both.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pincer_bus::Namespace;
use pincer_bus::messages::{ChatMessage, Role, RunEvent, TurnRequest};
use pincer_test_support::NatsServer;

use crate::agents::AgentSet;
use crate::scripted_router::{Answer, ScriptedRouter};
use crate::sessions::{SessionStore, Transcript};
use crate::turn::TurnContext;

/// A bus, a router and the context of a replica.
pub struct TestBus {
    /// The server, stopped when the test ends.
    _nats: NatsServer,
    /// The router the turns call.
    pub router: ScriptedRouter,
    /// A replica's shared state.
    pub context: TurnContext,
    /// JetStream.
    pub js: async_nats::jetstream::Context,
    _workspaces: tempfile::TempDir,
}

impl TestBus {
    /// Starts nats-server and a router that gives `answers` in order.
    pub async fn start(answers: Vec<Answer>) -> Self {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client.clone());
        let namespace = Namespace::default();
        pincer_bus::setup::ensure_all(&js, &namespace)
            .await
            .expect("streams and buckets");
        let sessions = SessionStore::open(&js, &namespace, Duration::from_secs(30))
            .await
            .expect("session store");
        let workspaces = tempfile::tempdir().expect("dir");
        let agents: pincer_config::Agents =
            serde_json::from_value(serde_json::json!({"defaults": {"model": "fake/m"}}))
                .expect("agents");
        let agents = AgentSet::open(&agents, &Default::default(), None, workspaces.path(), None)
            .expect("workspace");
        let router = ScriptedRouter::start(answers, 0).await;
        let aborts = crate::aborts::Aborts::listen(&client, &namespace)
            .await
            .expect("abort subscription");
        let context = TurnContext {
            client,
            namespace: namespace.clone(),
            agents: Arc::new(agents),
            sessions,
            router: router.client.clone(),
            windows: Arc::default(),
            media: None,
            runner_id: "runner-under-test".to_owned(),
            metrics: crate::metrics::Metrics::new("runner-under-test"),
            usage: pincer_bus::setup::usage_bucket(&js, &namespace)
                .await
                .ok()
                .map(|store| crate::usage_recorder::UsageRecorder::start(store).0),
            aborts,
            cron: pincer_cron::JobStore::open(&js, &namespace).await.ok(),
        };
        Self {
            _nats: nats,
            router,
            context,
            js,
            _workspaces: workspaces,
        }
    }

    /// A persisted turn of `session` saying `text`, answered on its own reply subject.
    pub fn turn(&self, id: &str, session: &str, text: &str) -> TurnRequest {
        TurnRequest {
            turn_id: id.to_owned(),
            agent_id: "main".to_owned(),
            session_key: session.to_owned(),
            persist: true,
            messages: vec![ChatMessage::text(Role::User, text)],
            reply_subject: self.context.namespace.run_events(id),
            live_deltas: false,
            source: "test".to_owned(),
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

    /// The stored transcript of `session`.
    pub async fn transcript(&self, session: &str) -> Transcript {
        self.context
            .sessions
            .load(session)
            .await
            .expect("transcript")
            .transcript
    }

    /// Listens for the run events of `turn`.
    pub async fn events(&self, turn: &TurnRequest) -> async_nats::Subscriber {
        self.context
            .client
            .subscribe(turn.reply_subject.clone())
            .await
            .expect("subscribe")
    }
}

/// The next run event, within a few seconds.
pub async fn next_event(events: &mut async_nats::Subscriber) -> RunEvent {
    let message = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("a run event within 10 s")
        .expect("subscription open");
    serde_json::from_slice(&message.payload).expect("a run event")
}
