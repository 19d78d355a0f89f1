//! A real router on a loopback port, fake providers that speak the real wire formats, and a gRPC
//! client that collects what a call produced.

use std::net::SocketAddr;
use std::time::Duration;

use pincer_fake_provider::{Failure, FakeProvider, Knobs, RunningFake};
use pincer_llm_router::RetryPolicy;
use pincer_proto::llm::v1 as pb;
use pincer_proto::llm::v1::llm_router_client::LlmRouterClient;
use prost::Message as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Fast retries, so failure tests take milliseconds, not seconds.
pub fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        retries_per_model: 1,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_inline_wait: Duration::from_secs(3),
        probe_lease: Duration::from_secs(30),
    }
}

/// A fake provider on a free loopback port.
pub async fn fake(knobs: Knobs) -> RunningFake {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    FakeProvider::start(knobs, addr).await.expect("fake starts")
}

/// Knobs that fail every chat request with `status`.
pub fn failing(status: u16) -> Knobs {
    Knobs {
        fail: Some(Failure {
            status,
            ..Failure::default()
        }),
        ..Knobs::default()
    }
}

/// A running router.
pub struct Router {
    pub client: LlmRouterClient<Channel>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Router {
    /// Starts a router over the `models` section `models`, with health in memory.
    pub async fn start(models: Value) -> Self {
        Self::start_with(models, None, quick_policy()).await
    }

    /// Starts a router with health shared through NATS at `nats_url`.
    pub async fn start_with(models: Value, nats_url: Option<String>, retry: RetryPolicy) -> Self {
        pincer_test_support::init_tracing();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = pincer_llm_router::Config {
            models: serde_json::from_value(models).expect("models section parses"),
            default_call_timeout: Duration::from_secs(20),
            ollama_base_url: None,
            nats_url,
            nats_credentials: None,
            token: None,
            namespace: pincer_bus::Namespace::default(),
            retry,
        };
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            pincer_llm_router::run(config, listener, token)
                .await
                .expect("router runs");
        });
        let endpoint = format!("http://{addr}");
        let client = pincer_test_support::eventually(
            "the router to accept connections",
            Duration::from_secs(10),
            || {
                let endpoint = endpoint.clone();
                async move { LlmRouterClient::connect(endpoint).await.ok() }
            },
        )
        .await;
        Self {
            client,
            shutdown,
            task,
        }
    }

    /// Runs one call and collects everything it produced.
    pub async fn chat(&self, request: pb::ChatRequest) -> Outcome {
        let mut client = self.client.clone();
        let mut outcome = Outcome::default();
        let mut stream = match client.chat(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                outcome.fail(&status);
                return outcome;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(event)) => match event.event {
                    Some(pb::chat_event::Event::Delta(delta)) => outcome.text.push_str(&delta.text),
                    Some(pb::chat_event::Event::ToolCall(call)) => outcome.tool_calls.push(call),
                    Some(pb::chat_event::Event::Reasoning(reasoning)) => {
                        outcome.reasoning = Some(reasoning.blocks_json);
                    }
                    Some(pb::chat_event::Event::Done(done)) => outcome.done = Some(done),
                    None => {}
                },
                Ok(None) => return outcome,
                Err(status) => {
                    outcome.fail(&status);
                    return outcome;
                }
            }
        }
    }

    /// The router's status.
    pub async fn status(&self) -> pb::StatusResponse {
        self.status_probed(false).await
    }

    /// The router's status, with every provider asked now when `probe`.
    pub async fn status_probed(&self, probe: bool) -> pb::StatusResponse {
        self.client
            .clone()
            .status(pb::StatusRequest { probe })
            .await
            .expect("status")
            .into_inner()
    }

    /// The router's model list.
    pub async fn models(&self) -> Vec<pb::ModelInfo> {
        self.client
            .clone()
            .list_models(pb::ListModelsRequest {})
            .await
            .expect("list models")
            .into_inner()
            .models
    }

    /// Stops the router.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// What one call produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub text: String,
    pub tool_calls: Vec<pb::ToolCall>,
    pub reasoning: Option<String>,
    pub done: Option<pb::Done>,
    pub code: Option<tonic::Code>,
    pub failure: Option<pb::ChatFailure>,
}

impl Outcome {
    fn fail(&mut self, status: &tonic::Status) {
        self.code = Some(status.code());
        self.failure = Some(
            pb::ChatFailure::decode(status.details()).expect("every failure carries ChatFailure"),
        );
    }

    /// The `Done` event, or a panic naming the failure.
    pub fn done(&self) -> &pb::Done {
        self.done
            .as_ref()
            .unwrap_or_else(|| panic!("expected success, got {:?}", self.failure))
    }

    /// The failure, or a panic.
    pub fn failure(&self) -> &pb::ChatFailure {
        self.failure
            .as_ref()
            .unwrap_or_else(|| panic!("expected a failure, got {:?}", self.done))
    }

    /// The failure's kind.
    pub fn kind(&self) -> pb::ErrorKind {
        pb::ErrorKind::try_from(self.failure().kind).expect("known kind")
    }
}

/// A one-message request for `model` with `fallbacks`.
pub fn request(model: &str, fallbacks: &[&str]) -> pb::ChatRequest {
    pb::ChatRequest {
        model: model.to_owned(),
        fallbacks: fallbacks.iter().map(|f| (*f).to_owned()).collect(),
        messages: vec![user("hi")],
        ..Default::default()
    }
}

/// A user message.
pub fn user(text: &str) -> pb::Message {
    pb::Message {
        role: pb::Role::User.into(),
        content: text.to_owned(),
        ..Default::default()
    }
}

/// The kind of a failed attempt.
pub fn attempt_kind(attempt: &pb::FailedAttempt) -> pb::ErrorKind {
    pb::ErrorKind::try_from(attempt.kind).expect("known kind")
}

/// Chat requests a fake received.
pub fn chats(fake: &RunningFake) -> usize {
    fake.requests().len()
}
