//! One streamed call to the llm-router: relays text deltas live (when someone watches) and
//! collects the reply, or the typed failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use pincer_bus::messages::{ErrorCode, RunEvent, ToolCall, Usage};
use pincer_proto::llm::v1 as pb;

use crate::router::RouterClient;

/// A finished model call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// Text of the reply.
    pub content: String,
    /// Tool calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// Reasoning blocks to hand back with the calls (the router's `Reasoning`; empty: none).
    pub reasoning: String,
    /// The model that served.
    pub model: String,
    /// Finish reason.
    pub finish_reason: String,
    /// Tokens and cost.
    pub usage: Usage,
}

/// A failed model call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The llm-router's word (its `ChatFailure`): every candidate model failed, `kind` says how.
    Model {
        /// What the client is told.
        code: ErrorCode,
        /// Why, safe to show.
        message: String,
        /// The deciding failure (decides compaction).
        kind: pb::ErrorKind,
        /// The model broke off after part of its reply, none of which reached a watcher: the
        /// call may run again (the router counted the failure, so it may go elsewhere).
        unseen_partial: bool,
    },
    /// The llm-router could not be reached, or went away before the reply began, until the call's
    /// deadline: it is down or restarting. Repeated here, and only here, while time remains.
    RouterUnreachable {
        /// The last transport error.
        message: String,
    },
    /// The router refused the call itself (its token, a malformed request), or went away after
    /// part of the reply was relayed (never repeated: the watcher would see it twice).
    Call {
        /// What the client is told.
        code: ErrorCode,
        /// Why, safe to show.
        message: String,
    },
}

impl Failure {
    /// What the client is told.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Model { code, .. } | Self::Call { code, .. } => *code,
            Self::RouterUnreachable { .. } => ErrorCode::ProviderUnavailable,
        }
    }

    /// Why, safe to show.
    pub fn message(&self) -> &str {
        match self {
            Self::Model { message, .. }
            | Self::Call { message, .. }
            | Self::RouterUnreachable { message } => message,
        }
    }

    /// The router's failure kind, when it said.
    pub fn kind(&self) -> Option<pb::ErrorKind> {
        match self {
            Self::Model { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Where live deltas go, if anywhere.
#[derive(Clone, Debug)]
pub struct LiveSink {
    /// NATS client.
    client: async_nats::Client,
    /// The turn's event subject.
    subject: String,
    /// Whether a model call of this turn relayed text already (shared by clones: one turn).
    spoke: Arc<AtomicBool>,
}

/// What starts the text of a model call after one that said something (text, a tool call, then
/// the next call's text): without it a streaming client saw "Let me look.Done here.".
pub const STEP_SEPARATOR: &str = "\n\n";

impl LiveSink {
    /// Events of the turn whose event subject is `subject`.
    pub fn new(client: async_nats::Client, subject: String) -> Self {
        Self {
            client,
            subject,
            spoke: Arc::default(),
        }
    }

    /// Relays `text` from the model call under way; `opens_call`: its first text.
    pub async fn publish_text(&self, text: &str, opens_call: bool) {
        let text = if opens_call && self.spoke.swap(true, Ordering::Relaxed) {
            format!("{STEP_SEPARATOR}{text}")
        } else {
            text.to_owned()
        };
        self.publish(&RunEvent::Delta { text }).await;
    }

    /// Publishes a run event, best effort (core NATS): the outcome is stored before the final one.
    pub async fn publish(&self, event: &RunEvent) {
        let payload = match serde_json::to_vec(event) {
            Ok(payload) => Bytes::from(payload),
            Err(error) => {
                tracing::error!(%error, "cannot encode run event");
                return;
            }
        };
        if let Err(error) = self
            .client
            .publish_with_headers(
                self.subject.clone(),
                pincer_bus::headers::with_trace_context(),
                payload,
            )
            .await
        {
            tracing::warn!(%error, "cannot publish run event");
        }
    }
}

/// The waits before each repeat of a call that could not reach the llm-router (a restart under
/// compose's restart policy takes a few seconds); the last one repeats until the call's deadline.
/// A provider failure, which the router reports with typed details, is never repeated here: the
/// router already fell back.
const ROUTER_RETRY_WAITS: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// Without a deadline in the request, how long an unreachable router is waited for.
const DEFAULT_ROUTER_PATIENCE: Duration = Duration::from_secs(120);

/// Runs `request`, relaying deltas to `live`. This is the one place that repeats a call because
/// the llm-router was unreachable: until the request's deadline (`timeout_ms`), when the failure
/// is [`Failure::RouterUnreachable`].
pub async fn call(
    router: &RouterClient,
    mut request: pb::ChatRequest,
    live: Option<&LiveSink>,
) -> Result<Reply, Failure> {
    let started = Instant::now();
    let patience = match request.timeout_ms {
        0 => DEFAULT_ROUTER_PATIENCE,
        ms => Duration::from_millis(ms),
    };
    let deadline = started + patience;
    let mut waits = ROUTER_RETRY_WAITS.iter();
    let longest = ROUTER_RETRY_WAITS[ROUTER_RETRY_WAITS.len() - 1];
    let mut repeated_unseen = false;
    loop {
        let message = match call_once(router, request.clone(), live).await {
            Err(Failure::RouterUnreachable { message }) => message,
            // Nobody saw the part the model gave before it broke off (an overloaded error in
            // the middle of the stream, a dropped connection): run it once more rather than
            // fail a turn no one has seen any of.
            Err(Failure::Model {
                unseen_partial: true,
                message,
                ..
            }) if !repeated_unseen && Instant::now() < deadline => {
                tracing::warn!(%message, "the model broke off before anyone saw its reply; calling again");
                repeated_unseen = true;
                if request.timeout_ms != 0 {
                    let left = deadline.saturating_duration_since(Instant::now());
                    request.timeout_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
                }
                continue;
            }
            outcome => return outcome,
        };
        let wait = waits.next().copied().unwrap_or(longest);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining <= wait {
            return Err(Failure::RouterUnreachable {
                message: format!(
                    "the llm-router could not be reached for {}s: {message}",
                    started.elapsed().as_secs()
                ),
            });
        }
        tracing::warn!(%message, ?wait, "llm-router unreachable, calling again");
        tokio::time::sleep(wait).await;
        if request.timeout_ms != 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            request.timeout_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        }
    }
}

async fn call_once(
    router: &RouterClient,
    request: pb::ChatRequest,
    live: Option<&LiveSink>,
) -> Result<Reply, Failure> {
    use pb::chat_event::Event;
    let mut stream = router
        .chat(request)
        .await
        .map_err(|s| failure_from_status(&s, false))?;
    let mut reply = Reply::default();
    // Whether a delta went out to a watcher: from then on the call is never repeated.
    let mut relayed = false;
    loop {
        match stream.message().await {
            Ok(Some(pb::ChatEvent {
                event: Some(Event::Delta(delta)),
            })) => {
                if let Some(live) = live
                    && !delta.text.is_empty()
                {
                    live.publish_text(&delta.text, !relayed).await;
                    relayed = true;
                }
                reply.content.push_str(&delta.text);
            }
            Ok(Some(pb::ChatEvent {
                event: Some(Event::ToolCall(call)),
            })) => {
                reply.tool_calls.push(ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments: call.arguments_json,
                });
            }
            Ok(Some(pb::ChatEvent {
                event: Some(Event::Reasoning(reasoning)),
            })) => reply.reasoning = reasoning.blocks_json,
            Ok(Some(pb::ChatEvent {
                event: Some(Event::Done(done)),
            })) => {
                for attempt in &done.failed_attempts {
                    tracing::info!(model = %attempt.model, reason = %attempt.reason, "fell back from model");
                }
                let usage = done.usage.unwrap_or_default();
                reply.model = done.model;
                reply.finish_reason = done.finish_reason;
                reply.usage = Usage {
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    cost_micro_usd: done.cost_usd.map(|usd| (usd * 1e6).round().max(0.0) as u64),
                };
                return Ok(reply);
            }
            Ok(Some(pb::ChatEvent { event: None })) => {}
            Ok(None) => {
                let message = "the llm-router ended the stream without an answer".to_owned();
                return Err(if relayed {
                    Failure::Call {
                        code: ErrorCode::ProviderUnavailable,
                        message,
                    }
                } else {
                    Failure::RouterUnreachable { message }
                });
            }
            Err(status) => return Err(failure_from_status(&status, relayed)),
        }
    }
}

/// Maps a gRPC status to a failure. The router puts a typed `ChatFailure` in the details of every
/// status it returns for a call it ran; a status without one comes from the router's gRPC layer
/// (its token check, its request validation) or from the transport: the router is down,
/// restarting, or the connection broke. `relayed`: part of the reply already went to a watcher.
pub fn failure_from_status(status: &tonic::Status, relayed: bool) -> Failure {
    use prost::Message as _;
    use tonic::Code;
    // Empty details decode as a default ChatFailure: only a non-empty detail is the router's word.
    let decoded = (!status.details().is_empty())
        .then(|| pb::ChatFailure::decode(status.details()).ok())
        .flatten();
    let after_output = decoded.as_ref().is_some_and(|failure| failure.after_output);
    let typed = decoded.and_then(|failure| pb::ErrorKind::try_from(failure.kind).ok());
    let message = if status.message().is_empty() {
        format!("llm-router unavailable ({})", status.code())
    } else {
        status.message().to_owned()
    };
    let failure = match typed {
        Some(kind) => Failure::Model {
            code: code_of(kind),
            message,
            kind,
            unseen_partial: after_output && !relayed,
        },
        None => match status.code() {
            Code::InvalidArgument => Failure::Call {
                code: ErrorCode::BadRequest,
                message,
            },
            Code::PermissionDenied | Code::Unauthenticated => Failure::Call {
                code: ErrorCode::ProviderRejected,
                message: format!("the llm-router refused this runner's call: {message}"),
            },
            Code::DeadlineExceeded => Failure::Call {
                code: ErrorCode::Timeout,
                message,
            },
            _ if relayed => Failure::Call {
                code: ErrorCode::ProviderUnavailable,
                message: format!("the llm-router went away in the middle of the reply: {message}"),
            },
            _ => Failure::RouterUnreachable { message },
        },
    };
    tracing::warn!(?failure, "model call failed");
    failure
}

/// What the client is told for the router's failure kind.
fn code_of(kind: pb::ErrorKind) -> ErrorCode {
    match kind {
        pb::ErrorKind::ContextOverflow => ErrorCode::ContextOverflow,
        pb::ErrorKind::BadRequest => ErrorCode::BadRequest,
        pb::ErrorKind::Auth | pb::ErrorKind::QuotaExhausted => ErrorCode::ProviderRejected,
        pb::ErrorKind::Timeout => ErrorCode::Timeout,
        _ => ErrorCode::ProviderUnavailable,
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    fn typed(kind: pb::ErrorKind, code: tonic::Code) -> tonic::Status {
        let failure = pb::ChatFailure {
            kind: kind as i32,
            message: "from the router".into(),
            ..Default::default()
        };
        tonic::Status::with_details(
            code,
            "from the router",
            prost::Message::encode_to_vec(&failure).into(),
        )
    }

    #[test]
    fn only_a_status_without_the_routers_word_is_the_router_being_unreachable() {
        let gone = failure_from_status(&tonic::Status::unavailable("h2 protocol error"), false);
        assert!(
            matches!(gone, Failure::RouterUnreachable { .. }),
            "{gone:?}"
        );
        let unknown = failure_from_status(&tonic::Status::unknown("transport error"), false);
        assert!(matches!(unknown, Failure::RouterUnreachable { .. }));

        let overloaded = failure_from_status(
            &typed(pb::ErrorKind::Overloaded, tonic::Code::Unavailable),
            false,
        );
        assert_eq!(overloaded.kind(), Some(pb::ErrorKind::Overloaded));
        assert_eq!(overloaded.code(), ErrorCode::ProviderUnavailable);
        let overflow = failure_from_status(
            &typed(pb::ErrorKind::ContextOverflow, tonic::Code::InvalidArgument),
            false,
        );
        assert_eq!(overflow.code(), ErrorCode::ContextOverflow);
    }

    #[test]
    fn refusals_and_breaks_after_output_are_not_repeated() {
        let token = failure_from_status(&tonic::Status::unauthenticated("bad token"), false);
        assert_eq!(token.code(), ErrorCode::ProviderRejected);
        assert!(matches!(token, Failure::Call { .. }));
        let invalid = failure_from_status(&tonic::Status::invalid_argument("no model"), false);
        assert_eq!(invalid.code(), ErrorCode::BadRequest);
        let broke = failure_from_status(&tonic::Status::unavailable("reset"), true);
        assert!(matches!(broke, Failure::Call { .. }), "{broke:?}");
        assert!(broke.message().contains("middle of the reply"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_router_is_called_again_until_the_deadline() {
        // Nothing listens on this port: every attempt fails at once with a transport error.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let router = RouterClient::connect_lazy(&url, None).expect("client");
        let request = pb::ChatRequest {
            model: "fake/m".into(),
            timeout_ms: 20_000,
            ..Default::default()
        };
        let started = Instant::now();
        let failure = call(&router, request, None).await.expect_err("unreachable");
        assert!(
            matches!(failure, Failure::RouterUnreachable { .. }),
            "{failure:?}"
        );
        assert!(
            failure.message().contains("could not be reached"),
            "{failure:?}"
        );
        // Waited through the schedule (0.5 + 1 + 2 + 4 + 8 s), not past the deadline.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(15_500), "{waited:?}");
        assert!(waited <= Duration::from_secs(20), "{waited:?}");
    }
}
