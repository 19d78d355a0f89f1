//! Provider adapters. Each turns a [`CallRequest`] into a stream of [`ProviderEvent`]s and maps the
//! provider's failures into one [`ProviderError`] taxonomy, so failover never matches on strings.

mod error;
mod lines;
pub mod ollama;
pub mod openai;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use pincer_config::Api;

pub use error::{ErrorKind, ProviderError};

use crate::catalog::Deployment;

/// What the adapters need from a chat request, independent of the gRPC types.
#[derive(Clone, Debug, Default)]
pub struct CallRequest {
    /// Conversation, oldest first.
    pub messages: Vec<Message>,
    /// Tools offered to the model.
    pub tools: Vec<Tool>,
    /// Output cap requested by the caller (0 = none).
    pub max_tokens: u32,
}

/// One conversation message.
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// Text.
    pub content: String,
    /// Calls made by an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// For tool results.
    pub tool_call_id: String,
    /// For tool results (Ollama wants the name).
    pub tool_name: String,
}

/// A tool call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCall {
    /// Call id (synthesised when the provider gives none).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// JSON object text.
    pub arguments: String,
}

/// A tool definition.
#[derive(Clone, Debug, Default)]
pub struct Tool {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// JSON Schema text.
    pub parameters: String,
}

/// Token counts reported by a provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, if reported.
    pub prompt_tokens: Option<u32>,
    /// Completion tokens, if reported.
    pub completion_tokens: Option<u32>,
}

/// What a provider stream yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderEvent {
    /// Assistant text.
    Text(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// The end of a successful response.
    Finish {
        /// Normalised finish reason (`stop`, `length`, `tool_calls`, ...).
        reason: String,
        /// Token counts.
        usage: Usage,
    },
}

/// A boxed stream of provider events.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent, ProviderError>> + Send>>;

/// Builds the shared HTTP client for provider calls (rustls with ring, connection pooling).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    // Several services may race to install; the first wins and the rest are fine with it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
}

/// Starts a streaming call on `deployment`. Errors before the first byte come back here; later ones
/// arrive in the stream.
pub async fn start(
    http: &reqwest::Client,
    deployment: &Deployment,
    request: &CallRequest,
) -> Result<EventStream, ProviderError> {
    match deployment.api {
        Api::OpenaiCompletions => openai::start(http, deployment, request).await,
        Api::Ollama => ollama::start(http, deployment, request).await,
        other => Err(ProviderError::new(
            ErrorKind::Unsupported,
            format!(
                "provider api {:?} is not supported by this build yet",
                crate::catalog::api_name(other)
            ),
        )),
    }
}

/// Adds the current trace context and the configured extra headers to a provider request.
fn common_headers(deployment: &Deployment) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    pincer_telemetry::propagation::inject_current(&mut pincer_telemetry::propagation::HttpHeaders(
        &mut headers,
    ));
    for (name, value) in &deployment.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers
}
