//! An llm-router for unit tests: a real gRPC server on loopback that answers each `Chat` with the
//! next scripted answer and records the requests, so the agent loop and the turn can be tested
//! through the real client, statuses and streams, without providers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt as _;
use pincer_proto::llm::v1 as pb;
use pincer_proto::llm::v1::llm_router_server::{LlmRouter, LlmRouterServer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::router::RouterClient;

/// What the router does with one `Chat` call.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Streams `text` as two deltas, then the tool calls, then `Done`.
    Reply {
        /// The reply's text.
        text: String,
        /// `(name, arguments)` of each call.
        calls: Vec<(String, String)>,
    },
    /// Fails before any output with the router's typed failure.
    Fail(pb::ErrorKind),
    /// The same, with the failure's message.
    FailSaying(pb::ErrorKind, String),
    /// Never answers (the call's deadline decides).
    Hang,
    /// A model that thinks for `after`, then replies with `text`.
    Slow {
        /// How long before the first delta.
        after: std::time::Duration,
        /// The reply's text.
        text: String,
    },
}

impl Answer {
    /// A plain text reply.
    pub fn text(text: &str) -> Self {
        Self::Reply {
            text: text.to_owned(),
            calls: Vec::new(),
        }
    }

    /// A reply that calls one tool.
    pub fn call(name: &str, arguments: &str) -> Self {
        Self::Reply {
            text: String::new(),
            calls: vec![(name.to_owned(), arguments.to_owned())],
        }
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<Answer>,
    requests: Vec<pb::ChatRequest>,
    /// Texts embedded so far.
    embedded: usize,
}

/// The running fake; stops when dropped.
pub struct ScriptedRouter {
    script: Arc<Mutex<Script>>,
    /// A client of it.
    pub client: RouterClient,
    stop: CancellationToken,
}

impl Drop for ScriptedRouter {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ScriptedRouter {
    /// Starts a router that answers with `answers` in order (then with an error: nothing left),
    /// and reports a context window of `window` tokens for every model (0: unknown).
    pub async fn start(answers: Vec<Answer>, window: u32) -> Self {
        let script = Arc::new(Mutex::new(Script {
            answers: answers.into(),
            requests: Vec::new(),
            embedded: 0,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let stop = CancellationToken::new();
        let service = Service {
            script: Arc::clone(&script),
            window,
        };
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(LlmRouterServer::new(service))
                .serve_with_incoming_shutdown(incoming, shutdown),
        );
        Self {
            script,
            client: RouterClient::connect_lazy(&url, None).expect("client"),
            stop,
        }
    }

    /// The `Chat` requests received so far.
    pub fn requests(&self) -> Vec<pb::ChatRequest> {
        self.lock().requests.clone()
    }

    /// How many texts `Embed` was asked for so far.
    pub fn embedded(&self) -> usize {
        self.lock().embedded
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Service {
    script: Arc<Mutex<Script>>,
    window: u32,
}

type EventStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::ChatEvent, tonic::Status>> + Send>,
>;

#[tonic::async_trait]
impl LlmRouter for Service {
    type ChatStream = EventStream;

    async fn chat(
        &self,
        request: tonic::Request<pb::ChatRequest>,
    ) -> Result<tonic::Response<EventStream>, tonic::Status> {
        let request = request.into_inner();
        let model = request.model.clone();
        let answer = {
            let mut script = self.script.lock().unwrap_or_else(PoisonError::into_inner);
            script.requests.push(request);
            script.answers.pop_front()
        };
        let events = match answer {
            None => return Err(failure(pb::ErrorKind::BadRequest, "the script is over")),
            Some(Answer::Fail(kind)) => return Err(failure(kind, "scripted failure")),
            Some(Answer::FailSaying(kind, message)) => return Err(failure(kind, &message)),
            Some(Answer::Hang) => {
                let pending = futures::stream::pending::<Result<pb::ChatEvent, tonic::Status>>();
                return Ok(tonic::Response::new(Box::pin(pending)));
            }
            Some(Answer::Reply { text, calls }) => reply_events(&model, &text, &calls),
            Some(Answer::Slow { after, text }) => {
                let events = reply_events(&model, &text, &[]);
                let delayed = futures::stream::once(tokio::time::sleep(after))
                    .flat_map(move |()| futures::stream::iter(events.clone().into_iter().map(Ok)));
                return Ok(tonic::Response::new(Box::pin(delayed)));
            }
        };
        Ok(tonic::Response::new(Box::pin(futures::stream::iter(
            events.into_iter().map(Ok),
        ))))
    }

    async fn list_models(
        &self,
        _request: tonic::Request<pb::ListModelsRequest>,
    ) -> Result<tonic::Response<pb::ListModelsResponse>, tonic::Status> {
        let models = ["fake/m", "fake/fallback"]
            .into_iter()
            .map(|id| pb::ModelInfo {
                id: id.to_owned(),
                context_window: self.window,
                ..Default::default()
            })
            .collect();
        Ok(tonic::Response::new(pb::ListModelsResponse { models }))
    }

    async fn status(
        &self,
        _request: tonic::Request<pb::StatusRequest>,
    ) -> Result<tonic::Response<pb::StatusResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::StatusResponse::default()))
    }

    /// Embeds with the fake provider's embedding (paraphrases land close), counting the calls;
    /// the model `fake/down` fails as an unreachable provider would.
    async fn embed(
        &self,
        request: tonic::Request<pb::EmbedRequest>,
    ) -> Result<tonic::Response<pb::EmbedResponse>, tonic::Status> {
        let request = request.into_inner();
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .embedded += request.inputs.len();
        if request.model == "fake/down" {
            return Err(failure(pb::ErrorKind::Transport, "connection refused"));
        }
        let dims = pincer_fake_provider::embedding::DEFAULT_DIMS;
        let embeddings = request
            .inputs
            .iter()
            .map(|text| pb::Embedding {
                values: pincer_fake_provider::embedding::embed(text, dims),
            })
            .collect();
        Ok(tonic::Response::new(pb::EmbedResponse {
            embeddings,
            model: request.model,
            dims: u32::try_from(dims).unwrap_or(u32::MAX),
        }))
    }
}

/// The router's typed failure, as its gRPC layer sends it.
fn failure(kind: pb::ErrorKind, message: &str) -> tonic::Status {
    let details = pb::ChatFailure {
        kind: kind as i32,
        message: message.to_owned(),
        ..Default::default()
    };
    tonic::Status::with_details(
        tonic::Code::Unavailable,
        message,
        prost::Message::encode_to_vec(&details).into(),
    )
}

fn reply_events(model: &str, text: &str, calls: &[(String, String)]) -> Vec<pb::ChatEvent> {
    use pb::chat_event::Event;
    let half = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(text.len(), |(i, _)| i);
    let mut events: Vec<pb::ChatEvent> = [&text[..half], &text[half..]]
        .into_iter()
        .filter(|part| !part.is_empty())
        .map(|part| pb::ChatEvent {
            event: Some(Event::Delta(pb::TextDelta {
                text: part.to_owned(),
            })),
        })
        .collect();
    events.extend(
        calls
            .iter()
            .enumerate()
            .map(|(index, (name, arguments))| pb::ChatEvent {
                event: Some(Event::ToolCall(pb::ToolCall {
                    id: format!("call-{index}"),
                    name: name.clone(),
                    arguments_json: arguments.clone(),
                })),
            }),
    );
    events.push(pb::ChatEvent {
        event: Some(Event::Done(pb::Done {
            model: model.to_owned(),
            finish_reason: if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .to_owned(),
            usage: Some(pb::Usage {
                prompt_tokens: Some(10),
                completion_tokens: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        })),
    });
    events
}
