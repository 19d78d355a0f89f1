//! Ollama's native `/api/chat` (NDJSON streaming). Tool-call arguments are JSON objects here, not
//! strings, in both directions.

use futures::StreamExt;
use serde_json::{Value, json};

use super::Deployment;
use super::lines::lines;
use super::{
    CallRequest, ErrorKind, EventStream, ProviderError, ProviderEvent, Role, ToolCall, Tuning,
    Usage,
};

/// Builds the JSON body for `/api/chat`.
pub fn request_body(deployment: &Deployment, request: &CallRequest, tuning: Tuning) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|message| {
            let mut out = json!({ "role": message.role.as_str(), "content": message.content });
            if !message.tool_calls.is_empty() {
                out["tool_calls"] = message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        json!({ "function": { "name": call.name, "arguments": arguments_object(&call.arguments) } })
                    })
                    .collect();
            }
            if message.role == Role::Tool {
                out["tool_name"] = json!(message.tool_name);
                if !message.tool_call_id.is_empty() {
                    out["tool_call_id"] = json!(message.tool_call_id);
                }
            }
            if !message.images.is_empty() {
                out["images"] = message.images.iter().map(super::Image::base64).collect();
            }
            out
        })
        .collect();
    let mut body = json!({ "model": deployment.model, "messages": messages, "stream": true });
    if let Some(level) = request.thinking_for(deployment, true) {
        // Ollama's `think` is on or off for thinking models (gpt-oss also takes a level).
        body["think"] = json!(level != pincer_config::ThinkingLevel::Off);
    }
    if !request.tools.is_empty() && tuning.tools_supported {
        body["tools"] = super::tools_json(&request.tools);
    }
    let mut options = serde_json::Map::new();
    if let Some(cap) = super::output_cap(deployment, request) {
        options.insert("num_predict".into(), json!(cap));
    }
    if let Some(temperature) = request.temperature {
        options.insert("temperature".into(), json!(temperature));
    }
    let sampling = &request.sampling;
    for (option, value) in sampling.openai_fields() {
        options.insert(option.into(), value);
    }
    // Ollama's `format`: "json", or the JSON Schema the answer must follow.
    if sampling.response_format.is_some() {
        body["format"] = sampling
            .response_schema()
            .cloned()
            .unwrap_or_else(|| json!("json"));
    }
    if let Some(num_ctx) = tuning.num_ctx {
        options.insert("num_ctx".into(), json!(num_ctx));
        // With a known window, an oversized prompt must be an error the agent can compact on,
        // not a silent drop of the oldest messages (Ollama's default `truncate: true`).
        body["truncate"] = json!(false);
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    match &deployment.keep_alive {
        Some(pincer_config::KeepAlive::Seconds(secs)) => body["keep_alive"] = json!(secs),
        Some(pincer_config::KeepAlive::Duration(text)) => body["keep_alive"] = json!(text),
        None => {}
    }
    body
}

/// Ollama wants an object; history replayed from OpenAI-style clients has strings. Parse when we can,
/// wrap otherwise, so one bad turn never poisons the session (openclaw/openclaw#46745).
fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => json!({ "value": other }),
        Err(_) if arguments.trim().is_empty() => json!({}),
        Err(_) => json!({ "raw": arguments }),
    }
}

/// Sends the request and returns the event stream.
pub async fn start(
    deployment: &Deployment,
    request: &CallRequest,
    tuning: Tuning,
) -> Result<EventStream, ProviderError> {
    let url = format!("{}/api/chat", deployment.base_url);
    let mut builder = deployment
        .http
        .post(&url)
        .headers(super::common_headers(deployment))
        .json(&request_body(deployment, request, tuning));
    if let Some(key) = &deployment.api_key {
        // Local Ollama ignores it; hosted/proxied Ollama endpoints use bearer auth.
        builder = builder.bearer_auth(key.expose());
    }
    let response = super::send(builder, deployment).await?;
    Ok(Box::pin(events(lines(response.bytes_stream()))))
}

pub fn events(
    lines: impl futures::Stream<Item = Result<String, String>> + Send + 'static,
) -> impl futures::Stream<Item = Result<ProviderEvent, ProviderError>> + Send {
    async_stream::stream! {
        let mut lines = Box::pin(lines);
        let mut calls: Vec<ToolCall> = Vec::new();
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(line) => line,
                Err(error) => {
                    yield Err(ProviderError::new(ErrorKind::StreamBroken, format!("stream read failed: {error}")));
                    return;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let chunk: Value = match serde_json::from_str(&line) {
                Ok(chunk) => chunk,
                Err(error) => {
                    yield Err(ProviderError::new(ErrorKind::StreamBroken, format!("malformed NDJSON line: {error}")));
                    return;
                }
            };
            // Mid-stream failures keep HTTP 200 and end with {"error": "..."}.
            if let Some(error) = chunk.get("error") {
                yield Err(ProviderError::in_stream(error));
                return;
            }
            let message = chunk.get("message").cloned().unwrap_or(Value::Null);
            if let Some(text) = message.get("content").and_then(Value::as_str)
                && !text.is_empty()
            {
                yield Ok(ProviderEvent::Text(text.to_owned()));
            }
            // Tool calls come whole, possibly spread over several chunks: collect them all and emit
            // at the end, never stopping at the first done:true before merging.
            for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let function = call.get("function").cloned().unwrap_or(Value::Null);
                let arguments = match function.get("arguments") {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => "{}".to_owned(),
                };
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .map_or_else(super::minted_call_id, str::to_owned);
                calls.push(ToolCall {
                    id,
                    name: function.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    arguments,
                });
            }
            if chunk.get("done").and_then(Value::as_bool) == Some(true) {
                let usage = Usage {
                    // Missing on cached prompts (ollama/ollama#2068): unknown, not zero.
                    prompt_tokens: chunk.get("prompt_eval_count").and_then(Value::as_u64).map(saturate),
                    completion_tokens: chunk.get("eval_count").and_then(Value::as_u64).map(saturate),
                    ..Usage::default()
                };
                let has_calls = !calls.is_empty();
                for call in std::mem::take(&mut calls) {
                    yield Ok(ProviderEvent::ToolCall(call));
                }
                let reason = match chunk.get("done_reason").and_then(Value::as_str) {
                    _ if has_calls => "tool_calls".to_owned(),
                    Some(reason) => reason.to_owned(),
                    None => "stop".to_owned(),
                };
                yield Ok(ProviderEvent::Finish { reason, usage });
                return;
            }
        }
        yield Err(ProviderError::new(ErrorKind::StreamBroken, "stream ended without done:true"));
    }
}

fn saturate(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines_in: &[&str]) -> Vec<Result<ProviderEvent, ProviderError>> {
        let owned: Vec<Result<String, String>> =
            lines_in.iter().map(|l| Ok((*l).to_owned())).collect();
        futures::executor::block_on(events(futures::stream::iter(owned)).collect::<Vec<_>>())
    }

    #[test]
    fn merges_tool_calls_seen_before_done() {
        let out = run(&[
            r#"{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"ls","arguments":{"path":"."}}}]},"done":false}"#,
            r#"{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":3}"#,
        ]);
        let out: Vec<ProviderEvent> = out.into_iter().map(Result::unwrap).collect();
        let ProviderEvent::ToolCall(call) = &out[0] else {
            panic!("a call: {out:?}");
        };
        assert_eq!(
            (call.name.as_str(), call.arguments.as_str()),
            ("ls", r#"{"path":"."}"#)
        );
        // Ollama gives no id: the one made up is unique, not the reply's "call_0" again.
        let again = run(&[
            r#"{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"ls","arguments":{}}}]},"done":true,"done_reason":"stop"}"#,
        ]);
        assert!(
            matches!(&again[0], Ok(ProviderEvent::ToolCall(other)) if other.id != call.id && other.id.starts_with("call_")),
            "{again:?} after {call:?}"
        );
        assert_eq!(
            out[1],
            ProviderEvent::Finish {
                reason: "tool_calls".into(),
                usage: Usage {
                    prompt_tokens: None,
                    completion_tokens: Some(3),
                    ..Usage::default()
                }
            }
        );
    }

    #[test]
    fn error_line_after_content_breaks_the_stream() {
        let out = run(&[
            r#"{"message":{"role":"assistant","content":"Hel"},"done":false}"#,
            r#"{"error":"model runner crashed"}"#,
        ]);
        assert_eq!(out[0].clone().unwrap(), ProviderEvent::Text("Hel".into()));
        assert!(
            matches!(&out[1], Err(e) if e.kind == ErrorKind::StreamBroken && e.message.contains("crashed"))
        );
    }

    #[test]
    fn body_carries_num_ctx_keep_alive_and_drops_tools_the_model_cannot_call() {
        let catalog = crate::catalog::Catalog::new(
            serde_json::from_str(r#"{"providers": {"ollama": {"keepAlive": "24h"}}}"#)
                .expect("models"),
            None,
        )
        .expect("catalog");
        let deployment = catalog.resolve("ollama/qwen2.5:7b").expect("resolves");
        let request = CallRequest {
            messages: vec![super::super::Message {
                role: Role::User,
                content: "hi".into(),
                ..Default::default()
            }],
            tools: vec![super::super::Tool {
                name: "ls".into(),
                ..Default::default()
            }],
            max_tokens: 0,
            thinking: None,
            temperature: None,
            sampling: Default::default(),
        };
        let body = request_body(
            &deployment,
            &request,
            Tuning {
                num_ctx: Some(32_768),
                tools_supported: false,
                images: false,
            },
        );
        assert_eq!(body["options"]["num_ctx"], 32_768);
        assert_eq!(body["truncate"], false);
        assert_eq!(body["keep_alive"], "24h");
        assert!(body.get("tools").is_none());
        let body = request_body(&deployment, &request, Tuning::default());
        assert!(body.get("options").is_none());
        assert_eq!(body["tools"][0]["function"]["name"], "ls");
    }

    #[test]
    fn string_arguments_from_history_become_objects() {
        assert_eq!(arguments_object(r#"{"a":1}"#), json!({"a":1}));
        assert_eq!(arguments_object(""), json!({}));
        assert_eq!(arguments_object("not json"), json!({"raw":"not json"}));
    }
}
