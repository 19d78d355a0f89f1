//! One streamed call to the llm-router: relays text deltas live (when someone watches) and
//! collects the reply, or the typed failure.

use std::time::Duration;

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
    /// The model that served.
    pub model: String,
    /// Finish reason.
    pub finish_reason: String,
    /// Tokens and cost.
    pub usage: Usage,
}

/// A failed model call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What the client is told.
    pub code: ErrorCode,
    /// Why, safe to show.
    pub message: String,
    /// The router's kind, when it said (decides compaction).
    pub kind: Option<pb::ErrorKind>,
}

/// Where live deltas go, if anywhere.
#[derive(Clone, Debug)]
pub struct LiveSink {
    /// NATS client.
    pub client: async_nats::Client,
    /// The turn's event subject.
    pub subject: String,
}

impl LiveSink {
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

/// Waits before each repeat of a call that failed because the llm-router itself could not be
/// reached (a restart under compose's restart policy takes a few seconds). A provider failure, which
/// the router reports with typed details, is never repeated here: the router already fell back.
const ROUTER_RETRY_WAITS: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

impl Failure {
    /// The router did not answer at all (no typed failure): it is down or restarting.
    pub fn router_unreachable(&self) -> bool {
        self.kind.is_none() && self.code == ErrorCode::ProviderUnavailable
    }
}

/// Runs `request`, relaying deltas to `live`; repeats it while the router is unreachable.
pub async fn call(
    router: &RouterClient,
    request: pb::ChatRequest,
    live: Option<&LiveSink>,
) -> Result<Reply, Failure> {
    let mut waits = ROUTER_RETRY_WAITS.iter();
    loop {
        match call_once(router, request.clone(), live).await {
            Err(failure) if failure.router_unreachable() => match waits.next() {
                Some(wait) => {
                    tracing::warn!(message = %failure.message, ?wait, "llm-router unreachable, calling again");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(failure),
            },
            outcome => return outcome,
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
        .map_err(|s| failure_from_status(&s))?;
    let mut reply = Reply::default();
    loop {
        match stream.message().await {
            Ok(Some(pb::ChatEvent {
                event: Some(Event::Delta(delta)),
            })) => {
                if let Some(live) = live {
                    live.publish(&RunEvent::Delta {
                        text: delta.text.clone(),
                    })
                    .await;
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
                return Err(Failure {
                    code: ErrorCode::ProviderUnavailable,
                    message: "the llm-router ended the stream without an answer".to_owned(),
                    kind: None,
                });
            }
            Err(status) => return Err(failure_from_status(&status)),
        }
    }
}

/// Maps a gRPC status (with the router's `ChatFailure` details when present) to a failure.
pub fn failure_from_status(status: &tonic::Status) -> Failure {
    use prost::Message as _;
    use tonic::Code;
    // The router puts a typed ChatFailure in the details; the status code is the fallback for
    // anything else that can fail a gRPC call (transport, router down).
    // Empty details decode as a default ChatFailure: only a non-empty detail is the router's word.
    let failure = (!status.details().is_empty())
        .then(|| pb::ChatFailure::decode(status.details()).ok())
        .flatten();
    let kind = failure
        .as_ref()
        .and_then(|f| pb::ErrorKind::try_from(f.kind).ok());
    let code = match (kind, status.code()) {
        (Some(pb::ErrorKind::ContextOverflow), _) => ErrorCode::ContextOverflow,
        (Some(pb::ErrorKind::BadRequest), _) => ErrorCode::BadRequest,
        (Some(pb::ErrorKind::Auth | pb::ErrorKind::QuotaExhausted), _) => {
            ErrorCode::ProviderRejected
        }
        (Some(pb::ErrorKind::Timeout), _) => ErrorCode::Timeout,
        (Some(_), _) => ErrorCode::ProviderUnavailable,
        (None, code) => match code {
            Code::InvalidArgument => ErrorCode::BadRequest,
            Code::PermissionDenied | Code::Unauthenticated | Code::ResourceExhausted => {
                ErrorCode::ProviderRejected
            }
            Code::DeadlineExceeded => ErrorCode::Timeout,
            _ => ErrorCode::ProviderUnavailable,
        },
    };
    let message = if status.message().is_empty() {
        format!("llm-router unavailable ({})", status.code())
    } else {
        status.message().to_owned()
    };
    tracing::warn!(?code, %message, "model call failed");
    Failure {
        code,
        message,
        kind,
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn a_status_without_details_is_the_router_being_unreachable() {
        let gone = failure_from_status(&tonic::Status::unavailable("h2 protocol error"));
        assert!(gone.router_unreachable(), "{gone:?}");
        let typed = pb::ChatFailure {
            kind: pb::ErrorKind::Overloaded as i32,
            message: "all providers down".into(),
            ..Default::default()
        };
        let status = tonic::Status::with_details(
            tonic::Code::Unavailable,
            "all providers down",
            prost::Message::encode_to_vec(&typed).into(),
        );
        assert!(!failure_from_status(&status).router_unreachable());
    }
}
