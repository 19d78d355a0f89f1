//! The `pincer.llm.v1.LlmRouter` gRPC service.

use std::sync::Arc;
use std::time::Duration;

use pincer_proto::llm::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::failover::{self, Call, Engine};
use crate::providers::{CallRequest, Message, Tool, ToolCall};
use crate::status;

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
    type ChatStream = ReceiverStream<Result<pb::ChatEvent, Status>>;

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
            return Err(Status::invalid_argument(
                "model is required (provider/model)",
            ));
        }
        if request.messages.is_empty() {
            return Err(Status::invalid_argument("messages must not be empty"));
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
        Ok(Response::new(ReceiverStream::new(events)))
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
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(status::status(&self.engine).await))
    }
}

fn call_request(request: pb::ChatRequest) -> CallRequest {
    let messages = request
        .messages
        .into_iter()
        .map(|message| Message {
            role: match pb::Role::try_from(message.role).unwrap_or(pb::Role::User) {
                pb::Role::System => "system",
                pb::Role::Assistant => "assistant",
                pb::Role::Tool => "tool",
                pb::Role::User | pb::Role::Unspecified => "user",
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
    CallRequest {
        messages,
        tools,
        max_tokens: request.max_tokens,
    }
}
