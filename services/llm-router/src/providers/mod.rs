//! Provider adapters. Each turns a [`CallRequest`] into a stream of [`ProviderEvent`]s and maps the
//! provider's failures into one [`ProviderError`] taxonomy, so failover never matches on strings.

pub mod anthropic;
mod deployment;
pub mod embed;
mod error;
pub mod lines;
pub mod ollama;
pub mod openai;
pub mod text_tools;
mod whole;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use pincer_config::Api;

pub use deployment::Deployment;
pub use error::{ErrorKind, ProviderError};

/// What the adapters need from a chat request, independent of the gRPC types.
#[derive(Clone, Debug, Default)]
pub struct CallRequest {
    /// Conversation, oldest first.
    pub messages: Vec<Message>,
    /// Tools offered to the model.
    pub tools: Vec<Tool>,
    /// Output cap requested by the caller (0 = none).
    pub max_tokens: u32,
    /// How hard the model thinks (`None`: the provider's default, nothing sent).
    pub thinking: Option<pincer_config::ThinkingLevel>,
    /// Sampling temperature chosen by the caller (`None`: the model's default, nothing sent).
    pub temperature: Option<f64>,
    /// The caller's other sampling choices (each unset: nothing sent).
    pub sampling: Sampling,
}

/// A caller's sampling choices besides the temperature, as OpenAI names them; each provider
/// gets those its API takes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sampling {
    /// Nucleus sampling, 0 to 1.
    pub top_p: Option<f64>,
    /// Sequences that end the answer.
    pub stop: Vec<String>,
    /// Best-effort repeatable sampling.
    pub seed: Option<i64>,
    /// -2 to 2.
    pub presence_penalty: Option<f64>,
    /// -2 to 2.
    pub frequency_penalty: Option<f64>,
    /// OpenAI's `response_format` asking for JSON (`json_object`, or `json_schema` with its
    /// `json_schema` object).
    pub response_format: Option<serde_json::Value>,
}

impl Sampling {
    /// The choices OpenAI-compatible APIs take at the top of the body and Ollama in `options`,
    /// under the same names: `top_p`, the penalties, `seed` and `stop`, each only when set.
    #[must_use]
    pub fn openai_fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        let numbers = [
            ("top_p", self.top_p),
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ];
        let mut fields: Vec<(&'static str, serde_json::Value)> = numbers
            .into_iter()
            .filter_map(|(field, value)| Some((field, serde_json::json!(value?))))
            .collect();
        if let Some(seed) = self.seed {
            fields.push(("seed", serde_json::json!(seed)));
        }
        if !self.stop.is_empty() {
            fields.push(("stop", serde_json::json!(self.stop)));
        }
        fields
    }

    /// The JSON Schema a `json_schema` response format names, if any.
    #[must_use]
    pub fn response_schema(&self) -> Option<&serde_json::Value> {
        self.response_format
            .as_ref()?
            .pointer("/json_schema/schema")
            .filter(|schema| schema.is_object())
    }
}

impl CallRequest {
    /// The thinking level to send to `deployment`: none for a model whose entry says
    /// `reasoning: false`, and, where `needs_declared` (Ollama refuses `think` for models that
    /// cannot), none unless the entry says `reasoning: true`.
    #[must_use]
    pub fn thinking_for(
        &self,
        deployment: &Deployment,
        needs_declared: bool,
    ) -> Option<pincer_config::ThinkingLevel> {
        match deployment.reasoning {
            Some(false) => None,
            None if needs_declared => None,
            _ => self.thinking,
        }
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// Instructions.
    System,
    /// The person.
    #[default]
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// The name OpenAI, Ollama and Anthropic use (Anthropic has no `system` or `tool` messages:
    /// its adapter maps those).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One conversation message.
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Calls made by an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// For tool results.
    pub tool_call_id: String,
    /// For tool results (Ollama wants the name).
    pub tool_name: String,
    /// Pictures sent with a user message.
    pub images: Vec<Image>,
    /// An assistant message's reasoning blocks as its provider sent them
    /// ([`ProviderEvent::Reasoning`]); empty when there were none.
    pub reasoning: String,
}

/// A picture in a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// `image/png`, ...
    pub mime_type: String,
    /// The file's bytes.
    pub data: Vec<u8>,
}

impl Image {
    /// The bytes in base64, as every provider's JSON carries them.
    #[must_use]
    pub fn base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.data)
    }

    /// A `data:` URL (OpenAI's `image_url`).
    #[must_use]
    pub fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.mime_type, self.base64())
    }
}

/// `request` as `deployment` may see it: a model that does not read images gets a note in place
/// of each message's pictures, so it can say it cannot see them instead of answering blind.
fn for_model<'r>(
    request: &'r CallRequest,
    deployment: &Deployment,
    images: bool,
) -> std::borrow::Cow<'r, CallRequest> {
    if images || request.messages.iter().all(|m| m.images.is_empty()) {
        return std::borrow::Cow::Borrowed(request);
    }
    let mut stripped = request.clone();
    for message in &mut stripped.messages {
        let count = std::mem::take(&mut message.images).len();
        if count > 0 {
            // First, like the other attachment notes: the person's own words stay last.
            message.content = format!(
                "[{count} image(s) attached, not shown: {} does not read images (its entry in models.providers has no input: [\"text\", \"image\"])]\n{}",
                deployment.reference, message.content
            );
        }
    }
    std::borrow::Cow::Owned(stripped)
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

/// Token counts reported by a provider, normalised: prompt tokens include cached ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, if reported.
    pub prompt_tokens: Option<u32>,
    /// Completion tokens, if reported.
    pub completion_tokens: Option<u32>,
    /// Prompt tokens read from the provider's cache.
    pub cached_tokens: Option<u32>,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_tokens: Option<u32>,
}

/// Per-call adjustments learned from the provider rather than from the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Ollama `options.num_ctx`: without it Ollama silently cuts the prompt at 4096 tokens.
    pub num_ctx: Option<u32>,
    /// False when the provider said the model cannot call tools; tools are then not offered.
    pub tools_supported: bool,
    /// The model reads images (its entry's `input`, or Ollama's `vision` capability); without
    /// it a message's images become a note.
    pub images: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            num_ctx: None,
            tools_supported: true,
            images: false,
        }
    }
}

/// What a provider stream yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderEvent {
    /// Assistant text.
    Text(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// Reasoning blocks the provider wants back unchanged with the reply when the tool loop goes
    /// on (Anthropic's signed thinking): a JSON array, sent once before `Finish`.
    Reasoning(String),
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

/// Builds an HTTP client for provider calls (rustls with ring, connection pooling). It follows no
/// redirect: every request carries a key (`Authorization`, Anthropic's `x-api-key`), and a
/// redirect would hand it to whatever host the answer names.
pub fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // Several services may race to install; the first wins and the rest are fine with it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Starts a streaming call on `deployment`. Errors before the first byte come back here; later ones
/// arrive in the stream.
pub async fn start(
    deployment: &Deployment,
    request: &CallRequest,
    tuning: Tuning,
) -> Result<EventStream, ProviderError> {
    let request = &*for_model(request, deployment, tuning.images);
    let stream = match deployment.api {
        Api::OpenaiCompletions => openai::start(deployment, request).await,
        Api::Ollama => ollama::start(deployment, request, tuning).await,
        Api::AnthropicMessages => anthropic::start(deployment, request).await,
        other => Err(ProviderError::new(
            ErrorKind::Unsupported,
            format!(
                "provider api {:?} is not supported by this build yet",
                other.as_str()
            ),
        )),
    }?;
    if request.tools.is_empty() {
        return Ok(coalesced(stream));
    }
    let names = request.tools.iter().map(|tool| tool.name.clone()).collect();
    Ok(coalesced(text_tools::promote(stream, names)))
}

/// Merges text deltas that are already waiting into one, without ever waiting for more: a fast
/// provider's burst of one-token chunks becomes one message per hop instead of one per token.
pub fn coalesced(mut inner: EventStream) -> EventStream {
    use futures::{FutureExt, StreamExt};
    Box::pin(async_stream::stream! {
        let mut pending: Option<Result<ProviderEvent, ProviderError>> = None;
        loop {
            let item = match pending.take() {
                Some(item) => item,
                None => match inner.next().await {
                    Some(item) => item,
                    None => break,
                },
            };
            let Ok(ProviderEvent::Text(mut text)) = item else {
                yield item;
                continue;
            };
            while let Some(Some(next)) = inner.next().now_or_never() {
                match next {
                    Ok(ProviderEvent::Text(more)) => text.push_str(&more),
                    other => {
                        pending = Some(other);
                        break;
                    }
                }
            }
            yield Ok(ProviderEvent::Text(text));
        }
    })
}

/// An id for a tool call its provider sent without one (Ollama never sends one). It is unique
/// across the session, not only within the reply: the calls stay in the history, and Anthropic
/// refuses a conversation in which two `tool_use` blocks share an id, so `call_0` in every turn
/// broke a session that later went to Anthropic.
pub(crate) fn minted_call_id() -> String {
    format!("call_{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..))
}

/// Tools in OpenAI's function format (Ollama accepts the same shape). A schema that is not valid
/// JSON degrades to an empty object schema instead of failing the call.
fn tools_json(tools: &[Tool]) -> serde_json::Value {
    tools
        .iter()
        .map(|tool| {
            let parameters: serde_json::Value = serde_json::from_str(&tool.parameters)
                .unwrap_or_else(|_| serde_json::json!({ "type": "object", "properties": {} }));
            serde_json::json!({
                "type": "function",
                "function": { "name": tool.name, "description": tool.description, "parameters": parameters },
            })
        })
        .collect()
}

/// The output cap: the caller's, else the model's configured `maxTokens`.
fn output_cap(deployment: &Deployment, request: &CallRequest) -> Option<u32> {
    if request.max_tokens > 0 {
        Some(request.max_tokens)
    } else {
        deployment.max_tokens
    }
}

/// Longest error body read from a failed response; enough for any provider's error object.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends a provider request, bounded by the first-token timeout until the headers arrive, and turns
/// a non-2xx answer into a classified error.
async fn send(
    builder: reqwest::RequestBuilder,
    deployment: &Deployment,
) -> Result<reqwest::Response, ProviderError> {
    let patience = deployment.first_token_timeout;
    let response = tokio::time::timeout(patience, builder.send())
        .await
        .map_err(|_| {
            ProviderError::new(
                ErrorKind::Timeout,
                format!("first-byte timeout: no response headers within {patience:?}"),
            )
        })?
        .map_err(|error| ProviderError::from_transport(&error))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let retry_after = error::retry_after(response.headers());
        let body = bounded_body(response, patience).await;
        return Err(ProviderError::from_status(status, &body, retry_after));
    }
    Ok(response)
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error response within `patience`.
async fn bounded_body(response: reqwest::Response, patience: Duration) -> String {
    use futures::StreamExt;
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = chunks.next().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY {
                body.truncate(MAX_ERROR_BODY);
                break;
            }
        }
    };
    let _ = tokio::time::timeout(patience, read).await;
    String::from_utf8_lossy(&body).into_owned()
}

/// Adds the current trace context and the configured extra headers to a provider request.
pub(crate) fn common_headers(deployment: &Deployment) -> http::HeaderMap {
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

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[test]
    fn coalescing_merges_ready_text_and_keeps_order() {
        let items: Vec<Result<ProviderEvent, ProviderError>> = vec![
            Ok(ProviderEvent::Text("a".into())),
            Ok(ProviderEvent::Text("b".into())),
            Ok(ProviderEvent::ToolCall(ToolCall::default())),
            Ok(ProviderEvent::Text("c".into())),
            Err(ProviderError::new(ErrorKind::StreamBroken, "x")),
        ];
        let out: Vec<_> = futures::executor::block_on(
            coalesced(Box::pin(futures::stream::iter(items))).collect::<Vec<_>>(),
        );
        assert_eq!(out.len(), 4);
        assert_eq!(out[0], Ok(ProviderEvent::Text("ab".into())));
        assert_eq!(out[1], Ok(ProviderEvent::ToolCall(ToolCall::default())));
        assert_eq!(out[2], Ok(ProviderEvent::Text("c".into())));
        assert!(out[3].is_err());
    }
}

#[cfg(test)]
mod thinking_tests {
    use pincer_config::ThinkingLevel;
    use serde_json::{Value, json};

    use super::*;

    /// The JSON body `reference`'s provider (declared in `models`) gets for `request`, after
    /// [`for_model`] with `images` as the model's image support.
    fn body_for(models: &str, reference: &str, request: &CallRequest, images: bool) -> Value {
        let catalog =
            crate::catalog::Catalog::new(serde_json::from_str(models).expect("models"), None)
                .expect("catalog");
        let deployment = catalog.resolve(reference).expect("resolves");
        let request = for_model(request, &deployment, images);
        match deployment.api {
            Api::AnthropicMessages => anthropic::request_body(&deployment, &request),
            Api::Ollama => ollama::request_body(&deployment, &request, Tuning::default()),
            _ => openai::request_body(&deployment, &request),
        }
    }

    fn body(models: &str, reference: &str, level: ThinkingLevel) -> Value {
        let request = CallRequest {
            messages: vec![Message {
                content: "hi".into(),
                ..Message::default()
            }],
            thinking: Some(level),
            ..CallRequest::default()
        };
        body_for(models, reference, &request, false)
    }

    /// A request with `temperature` and a cap, as `reference`'s provider would get it.
    fn sampled(models: &str, reference: &str, temperature: f64) -> Value {
        let request = CallRequest {
            temperature: Some(temperature),
            max_tokens: 77,
            ..CallRequest::default()
        };
        body_for(models, reference, &request, false)
    }

    #[test]
    fn each_provider_gets_the_callers_temperature_in_its_own_form() {
        let openai = sampled(OPENAI, "openai/gpt-x", 0.3);
        assert_eq!(
            openai["temperature"].as_f64().map(|t| (t * 10.0).round()),
            Some(3.0)
        );
        assert_eq!(openai["max_completion_tokens"], 77);
        let ollama = sampled(
            r#"{"providers": {"ollama": {"baseUrl": "http://127.0.0.1:1"}}}"#,
            "ollama/llama3.2:3b",
            0.5,
        );
        assert_eq!(ollama["options"]["temperature"], 0.5);
        assert_eq!(ollama["options"]["num_predict"], 77);
        let current = sampled(ANTHROPIC, "anthropic/claude-x", 0.5);
        assert!(
            current.get("temperature").is_none(),
            "API version 2026-10-21 refuses temperature"
        );
        assert_eq!(current["max_tokens"], 77);
        let pinned = sampled(
            r#"{"providers": {"anthropic": {"apiKey": "k", "headers": {"anthropic-version": "2023-06-01"}}}}"#,
            "anthropic/claude-x",
            1.5,
        );
        assert_eq!(pinned["temperature"], 1.0, "clamped to that API's range");
    }

    #[test]
    fn each_provider_gets_the_sampling_choices_its_api_takes() {
        let request = CallRequest {
            sampling: Sampling {
                top_p: Some(0.9),
                stop: vec!["END".into()],
                seed: Some(42),
                presence_penalty: Some(0.5),
                frequency_penalty: Some(-0.5),
                response_format: None,
            },
            ..CallRequest::default()
        };
        let openai = body_for(OPENAI, "openai/gpt-x", &request, false);
        assert_eq!(
            (&openai["top_p"], &openai["stop"], &openai["seed"]),
            (&json!(0.9), &json!(["END"]), &json!(42))
        );
        assert_eq!(openai["presence_penalty"], 0.5);
        assert_eq!(openai["frequency_penalty"], -0.5);
        let ollama = body_for(
            r#"{"providers": {"ollama": {"baseUrl": "http://127.0.0.1:1"}}}"#,
            "ollama/llama3.2:3b",
            &request,
            false,
        );
        let options = &ollama["options"];
        assert_eq!(
            (&options["top_p"], &options["stop"], &options["seed"]),
            (&json!(0.9), &json!(["END"]), &json!(42))
        );
        assert_eq!(options["frequency_penalty"], -0.5);
        let current = body_for(ANTHROPIC, "anthropic/claude-x", &request, false);
        assert_eq!(current["stop_sequences"], json!(["END"]));
        for refused in ["top_p", "seed", "presence_penalty", "frequency_penalty"] {
            assert!(current.get(refused).is_none(), "{refused}");
        }
        let pinned = body_for(
            r#"{"providers": {"anthropic": {"apiKey": "k", "headers": {"anthropic-version": "2023-06-01"}}}}"#,
            "anthropic/claude-x",
            &request,
            false,
        );
        assert_eq!(pinned["top_p"], json!(0.9));
        let both = CallRequest {
            temperature: Some(0.5),
            ..request
        };
        let pinned = body_for(
            r#"{"providers": {"anthropic": {"apiKey": "k", "headers": {"anthropic-version": "2023-06-01"}}}}"#,
            "anthropic/claude-x",
            &both,
            false,
        );
        assert!(
            pinned.get("top_p").is_none(),
            "not with temperature: {pinned}"
        );
    }

    #[test]
    fn each_provider_is_asked_for_json_in_its_own_form() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let format =
            json!({"type": "json_schema", "json_schema": {"name": "place", "schema": schema}});
        let request = CallRequest {
            messages: vec![Message {
                role: Role::User,
                content: "where?".into(),
                ..Default::default()
            }],
            sampling: Sampling {
                response_format: Some(format.clone()),
                ..Sampling::default()
            },
            ..CallRequest::default()
        };
        let openai = body_for(OPENAI, "openai/gpt-x", &request, false);
        assert_eq!(openai["response_format"], format);
        let ollama = body_for(
            r#"{"providers": {"ollama": {"baseUrl": "http://127.0.0.1:1"}}}"#,
            "ollama/llama3.2:3b",
            &request,
            false,
        );
        assert_eq!(ollama["format"], schema);
        let anthropic = body_for(ANTHROPIC, "anthropic/claude-x", &request, false);
        let system = anthropic["system"].as_str().unwrap_or_default();
        assert!(
            system.contains("JSON") && system.contains("\"city\""),
            "{system}"
        );

        let object = CallRequest {
            sampling: Sampling {
                response_format: Some(json!({"type": "json_object"})),
                ..Sampling::default()
            },
            ..request
        };
        let ollama = body_for(
            r#"{"providers": {"ollama": {"baseUrl": "http://127.0.0.1:1"}}}"#,
            "ollama/llama3.2:3b",
            &object,
            false,
        );
        assert_eq!(ollama["format"], "json");
    }

    /// A user message with one picture, as `reference`'s provider would get it.
    fn with_picture(models: &str, reference: &str, tuning_images: bool) -> Value {
        let request = CallRequest {
            messages: vec![Message {
                role: Role::User,
                content: "what is this?".into(),
                images: vec![Image {
                    mime_type: "image/png".into(),
                    data: b"png!".to_vec(),
                }],
                ..Message::default()
            }],
            ..CallRequest::default()
        };
        body_for(models, reference, &request, tuning_images)
    }

    #[test]
    fn pictures_reach_models_that_read_them_in_each_providers_form() {
        let encoded = "cG5nIQ==";
        let openai = with_picture(OPENAI, "openai/gpt-x", true);
        let parts = &openai["messages"][0]["content"];
        assert_eq!(
            parts[0],
            serde_json::json!({"type": "text", "text": "what is this?"})
        );
        assert_eq!(
            parts[1]["image_url"]["url"],
            format!("data:image/png;base64,{encoded}")
        );
        let ollama = with_picture(r#"{"providers": {"ollama": {}}}"#, "ollama/llava", true);
        assert_eq!(
            ollama["messages"][0]["images"],
            serde_json::json!([encoded])
        );
        assert_eq!(ollama["messages"][0]["content"], "what is this?");
        let anthropic = with_picture(ANTHROPIC, "anthropic/claude-x", true);
        let blocks = &anthropic["messages"][0]["content"];
        assert_eq!(blocks[0]["source"]["data"], encoded);
        assert_eq!(blocks[0]["source"]["media_type"], "image/png");
        assert_eq!(blocks[1]["text"], "what is this?");
    }

    #[test]
    fn a_model_that_does_not_read_images_gets_a_note_instead() {
        let ollama = with_picture(
            r#"{"providers": {"ollama": {}}}"#,
            "ollama/llama3.2:3b",
            false,
        );
        let message = &ollama["messages"][0];
        assert!(message.get("images").is_none());
        let text = message["content"].as_str().expect("text");
        assert!(
            text.ends_with("what is this?") && text.contains("does not read images"),
            "{text}"
        );
    }

    #[test]
    fn the_entrys_input_says_whether_a_model_reads_images() {
        let catalog = crate::catalog::Catalog::new(
            serde_json::from_str(
                r#"{"providers": {"ollama": {"models": [{"id": "llava", "input": ["text", "image"]}, {"id": "llama3.2:3b", "input": ["text"]}]}}}"#,
            )
            .expect("models"),
            None,
        )
        .expect("catalog");
        assert!(catalog.resolve("ollama/llava").expect("llava").input_images);
        assert!(
            !catalog
                .resolve("ollama/llama3.2:3b")
                .expect("llama")
                .input_images
        );
        assert!(
            !catalog
                .resolve("ollama/undeclared")
                .expect("any")
                .input_images
        );
    }

    const ANTHROPIC: &str = r#"{"providers": {"anthropic": {"apiKey": "k"}}}"#;
    const OPENAI: &str = r#"{"providers": {"openai": {"apiKey": "k"}}}"#;

    #[test]
    fn each_provider_gets_its_own_form_of_a_thinking_level() {
        let anthropic = body(ANTHROPIC, "anthropic/claude-x", ThinkingLevel::Medium);
        assert_eq!(anthropic["thinking"]["type"], "enabled");
        let budget = anthropic["thinking"]["budget_tokens"]
            .as_u64()
            .expect("budget");
        assert!(budget >= 1024 && anthropic["max_tokens"].as_u64().expect("cap") > budget);
        let off = body(ANTHROPIC, "anthropic/claude-x", ThinkingLevel::Off);
        assert!(off.get("thinking").is_none());

        assert_eq!(
            body(OPENAI, "openai/o4-mini", ThinkingLevel::High)["reasoning_effort"],
            "high"
        );
        let openai_off = body(OPENAI, "openai/o4-mini", ThinkingLevel::Off);
        assert!(openai_off.get("reasoning_effort").is_none());

        let openrouter = r#"{"providers": {"openrouter": {"apiKey": "k"}}}"#;
        let off = body(openrouter, "openrouter/openai/gpt-5", ThinkingLevel::Off);
        assert_eq!(off["reasoning"]["effort"], "none");

        let declared = r#"{"providers": {"ollama": {"models": [{"id": "qwen3:4b", "reasoning": true}, {"id": "llama3.2:3b"}]}}}"#;
        assert_eq!(
            body(declared, "ollama/qwen3:4b", ThinkingLevel::Low)["think"],
            true
        );
        assert_eq!(
            body(declared, "ollama/qwen3:4b", ThinkingLevel::Off)["think"],
            false
        );
        let undeclared = body(declared, "ollama/llama3.2:3b", ThinkingLevel::Low);
        assert!(
            undeclared.get("think").is_none(),
            "Ollama refuses think for models that cannot"
        );
        let not_reasoning = r#"{"providers": {"openai": {"apiKey": "k", "models": [{"id": "gpt-4o", "reasoning": false}]}}}"#;
        let refused = body(not_reasoning, "openai/gpt-4o", ThinkingLevel::High);
        assert!(refused.get("reasoning_effort").is_none());
    }
}
