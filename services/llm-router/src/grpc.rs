//! The `pincer.llm.v1.LlmRouter` gRPC service.

use pincer_config::ThinkingLevel;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::Map;
use pincer_proto::llm::v1 as pb;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::failover::events::{Attempt, CallFailure, Done, Event};
use crate::failover::{self, Call, Engine};
use crate::gathered::Gathered;
use crate::providers::{
    CallRequest, ErrorKind, Image, Message, Role, Sampling, Tool, ToolCall, Usage,
};
use crate::{embeddings, status};

/// What the engine reports, as it goes out on the wire.
type Item = Result<Event, CallFailure>;

/// Service state: the shared call engine.
#[derive(Clone)]
pub struct Router {
    engine: Arc<Engine>,
    default_timeout: Duration,
}

impl Router {
    /// Creates the service.
    pub fn new(engine: Arc<Engine>, default_timeout: Duration) -> Self {
        Self {
            engine,
            default_timeout,
        }
    }
}

#[tonic::async_trait]
impl pb::llm_router_server::LlmRouter for Router {
    type ChatStream =
        Gathered<Map<ReceiverStream<Item>, fn(Item) -> Result<pb::ChatEvent, Status>>>;

    async fn chat(
        &self,
        request: Request<pb::ChatRequest>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let span = tracing::info_span!(
            "llm.chat",
            model = tracing::field::Empty,
            session = tracing::field::Empty
        );
        pincer_telemetry::propagation::set_parent(
            &span,
            &pincer_telemetry::propagation::GrpcMetadataRef(request.metadata()),
        );
        let request = request.into_inner();
        if request.model.trim().is_empty() {
            return Err(status_of(CallFailure::refused(
                &request.model,
                "model is required (provider/model)",
            )));
        }
        if request.messages.is_empty() {
            return Err(status_of(CallFailure::refused(
                &request.model,
                "messages must not be empty",
            )));
        }
        span.record("model", request.model.as_str());
        span.record("session", request.session_key.as_str());

        let timeout = if request.timeout_ms == 0 {
            self.default_timeout
        } else {
            Duration::from_millis(request.timeout_ms)
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut candidates = vec![request.model.clone()];
        for fallback in &request.fallbacks {
            if !fallback.trim().is_empty() && !candidates.contains(fallback) {
                candidates.push(fallback.clone());
            }
        }
        let call = Call {
            requested: request.model.clone(),
            candidates,
            deadline,
            request: call_request(request),
        };

        let (sink, events) = mpsc::channel(64);
        let engine = self.engine.clone();
        tokio::spawn(
            async move {
                failover::run(&engine, &call, &sink).await;
            }
            .instrument(span),
        );
        let translate: fn(Item) -> Result<pb::ChatEvent, Status> = |item| match item {
            Ok(event) => Ok(chat_event(event)),
            Err(failure) => Err(status_of(failure)),
        };
        Ok(Response::new(Gathered::new(
            ReceiverStream::new(events).map(translate),
        )))
    }

    async fn list_models(
        &self,
        _request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        Ok(Response::new(pb::ListModelsResponse {
            models: status::models(&self.engine).await,
        }))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let probe = request.into_inner().probe;
        Ok(Response::new(status::status(&self.engine, probe).await))
    }

    async fn embed(
        &self,
        request: Request<pb::EmbedRequest>,
    ) -> Result<Response<pb::EmbedResponse>, Status> {
        let span = tracing::info_span!(
            "llm.embed",
            model = tracing::field::Empty,
            inputs = tracing::field::Empty
        );
        pincer_telemetry::propagation::set_parent(
            &span,
            &pincer_telemetry::propagation::GrpcMetadataRef(request.metadata()),
        );
        let request = request.into_inner();
        span.record("model", request.model.as_str());
        span.record("inputs", request.inputs.len());
        let timeout = if request.timeout_ms == 0 {
            self.default_timeout
        } else {
            Duration::from_millis(request.timeout_ms)
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let embedded = embeddings::run(&self.engine, &request.model, &request.inputs, deadline)
            .instrument(span)
            .await
            .map_err(status_of)?;
        let dims = embedded.vectors.first().map_or(0, Vec::len);
        Ok(Response::new(pb::EmbedResponse {
            embeddings: embedded
                .vectors
                .into_iter()
                .map(|values| pb::Embedding { values })
                .collect(),
            model: request.model,
            dims: u32::try_from(dims).unwrap_or(u32::MAX),
        }))
    }
}

fn call_request(request: pb::ChatRequest) -> CallRequest {
    let messages = request
        .messages
        .into_iter()
        .map(|message| Message {
            role: match pb::Role::try_from(message.role).unwrap_or(pb::Role::User) {
                pb::Role::System => Role::System,
                pb::Role::Assistant => Role::Assistant,
                pb::Role::Tool => Role::Tool,
                pb::Role::User | pb::Role::Unspecified => Role::User,
            },
            content: message.content,
            tool_calls: message
                .tool_calls
                .into_iter()
                .map(|call| ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments: call.arguments_json,
                })
                .collect(),
            tool_call_id: message.tool_call_id,
            tool_name: message.tool_name,
            reasoning: message.reasoning_json,
            images: message
                .images
                .into_iter()
                .map(|image| Image {
                    mime_type: image.mime_type,
                    data: image.data,
                })
                .collect(),
        })
        .collect();
    let tools = request
        .tools
        .into_iter()
        .map(|tool| Tool {
            name: tool.name,
            description: tool.description,
            parameters: tool.parameters_json,
        })
        .collect();
    let thinking = match pb::Thinking::try_from(request.thinking).unwrap_or_default() {
        pb::Thinking::Unspecified => None,
        pb::Thinking::Off => Some(ThinkingLevel::Off),
        pb::Thinking::Minimal => Some(ThinkingLevel::Minimal),
        pb::Thinking::Low => Some(ThinkingLevel::Low),
        pb::Thinking::Medium => Some(ThinkingLevel::Medium),
        pb::Thinking::High => Some(ThinkingLevel::High),
        pb::Thinking::Xhigh => Some(ThinkingLevel::Xhigh),
    };
    CallRequest {
        messages,
        tools,
        max_tokens: request.max_tokens,
        thinking,
        temperature: within(request.temperature, 0.0, 2.0),
        sampling: Sampling {
            top_p: within(request.top_p, 0.0, 1.0),
            stop: request
                .stop
                .into_iter()
                .filter(|stop| !stop.is_empty())
                .take(4)
                .collect(),
            seed: request.seed,
            presence_penalty: within(request.presence_penalty, -2.0, 2.0),
            frequency_penalty: within(request.frequency_penalty, -2.0, 2.0),
            response_format: serde_json::from_str::<serde_json::Value>(
                &request.response_format_json,
            )
            .ok()
            .filter(serde_json::Value::is_object),
        },
    }
}

/// `value` as the number the client wrote, when it lies within `low..=high`.
fn within(value: Option<f32>, low: f32, high: f32) -> Option<f64> {
    value
        .filter(|v| v.is_finite() && (low..=high).contains(v))
        .map(decimal)
}

/// The wire's 32-bit `value` as the 64-bit number its shortest decimal form names: the client
/// sent `0.3`, and `f64::from` would hand the provider `0.30000001192092896`.
fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

fn chat_event(event: Event) -> pb::ChatEvent {
    use pb::chat_event::Event as Wire;
    let event = match event {
        Event::Text(text) => Wire::Delta(pb::TextDelta { text }),
        Event::ToolCall(call) => Wire::ToolCall(pb::ToolCall {
            id: call.id,
            name: call.name,
            arguments_json: call.arguments,
        }),
        Event::Reasoning(blocks_json) => Wire::Reasoning(pb::Reasoning { blocks_json }),
        Event::Done(done) => Wire::Done(done_message(done)),
    };
    pb::ChatEvent { event: Some(event) }
}

fn done_message(done: Done) -> pb::Done {
    pb::Done {
        model: done.model,
        finish_reason: done.finish_reason,
        usage: Some(usage_message(done.usage)),
        failed_attempts: done.failed_attempts.iter().map(failed_attempt).collect(),
        requested_model: done.requested_model,
        cost_usd: done.cost_usd,
    }
}

fn usage_message(usage: Usage) -> pb::Usage {
    pb::Usage {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        cached_tokens: usage.cached_tokens,
        cache_write_tokens: usage.cache_write_tokens,
    }
}

fn failed_attempt(attempt: &Attempt) -> pb::FailedAttempt {
    pb::FailedAttempt {
        model: attempt.model.clone(),
        reason: attempt.error.to_string(),
        kind: attempt.error.kind.to_proto().into(),
        tries: attempt.tries,
    }
}

/// The status that ends a failed call. Its details always carry a [`pb::ChatFailure`] (the
/// router's word, which tells a caller it was reached); its code reflects the deciding failure, so
/// plain gRPC clients can still tell "fix your request or keys" from "try later".
fn status_of(failure: CallFailure) -> Status {
    let code = if failure.after_output {
        tonic::Code::Unavailable
    } else if failure.attempts.is_empty() || failure.kind.is_terminal() {
        tonic::Code::InvalidArgument
    } else if failure.all_failed_with(&[ErrorKind::Auth, ErrorKind::QuotaExhausted]) {
        tonic::Code::PermissionDenied
    } else if failure.all_failed_with(&[ErrorKind::Timeout]) {
        tonic::Code::DeadlineExceeded
    } else {
        tonic::Code::Unavailable
    };
    let details = pb::ChatFailure {
        kind: failure.kind.to_proto().into(),
        message: failure.message.clone(),
        after_output: failure.after_output,
        attempts: failure.attempts.iter().map(failed_attempt).collect(),
        // 0 on the wire: not cooling.
        retry_at_unix_ms: failure.retry_at_ms.unwrap_or(0),
        requested_model: failure.requested_model,
    };
    Status::with_details(code, failure.message, details.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderError;

    #[test]
    fn a_temperature_reaches_the_provider_as_the_client_wrote_it() {
        for (sent, json) in [(0.3_f32, "0.3"), (0.7, "0.7"), (1.0, "1.0"), (0.05, "0.05")] {
            assert_eq!(serde_json::json!(decimal(sent)).to_string(), json);
        }
    }

    #[test]
    fn every_failure_status_carries_the_routers_word() {
        let refused = status_of(CallFailure::refused("", "model is required"));
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        let details = pb::ChatFailure::decode(refused.details()).expect("details");
        assert_eq!(details.kind, pb::ErrorKind::BadRequest as i32);

        let keys = CallFailure::new(
            "a/1",
            vec![Attempt::skipped(
                "a/1",
                ProviderError::new(ErrorKind::Auth, "401"),
            )],
            None,
        );
        assert_eq!(status_of(keys).code(), tonic::Code::PermissionDenied);
        let cooling = CallFailure::new(
            "a/1",
            vec![Attempt {
                cooling_until_ms: Some(42),
                ..Attempt::skipped("a/1", ProviderError::new(ErrorKind::CoolingDown, "c"))
            }],
            None,
        );
        let status = status_of(cooling);
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let details = pb::ChatFailure::decode(status.details()).expect("details");
        assert_eq!(details.retry_at_unix_ms, 42);
    }
}
