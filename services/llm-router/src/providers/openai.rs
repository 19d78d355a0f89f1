//! OpenAI-compatible Chat Completions (OpenAI, OpenRouter, vLLM, LM Studio, Ollama's `/v1`).
//! Always streams upstream (SSE) so failures surface early and deltas flow through.

use pincer_config::ThinkingLevel;
use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Value, json};

use super::Deployment;
use super::lines::lines;
use super::{
    CallRequest, ErrorKind, EventStream, ProviderError, ProviderEvent, Role, ToolCall, Usage,
};

/// Builds the JSON body for `/chat/completions`.
pub fn request_body(deployment: &Deployment, request: &CallRequest) -> Value {
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
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": { "name": call.name, "arguments": call.arguments },
                        })
                    })
                    .collect();
                if message.content.is_empty() {
                    out["content"] = Value::Null;
                }
            }
            if message.role == Role::Tool {
                out["tool_call_id"] = json!(message.tool_call_id);
            }
            if !message.images.is_empty() {
                // Pictures make the content a list of parts.
                let mut parts = vec![json!({ "type": "text", "text": message.content })];
                parts.extend(message.images.iter().map(|image| {
                    json!({ "type": "image_url", "image_url": { "url": image.data_url() } })
                }));
                out["content"] = Value::Array(parts);
            }
            out
        })
        .collect();
    let mut body = json!({
        "model": deployment.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if !request.tools.is_empty() {
        body["tools"] = super::tools_json(&request.tools);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    let sampling = &request.sampling;
    for (field, value) in sampling.openai_fields() {
        body[field] = value;
    }
    if let Some(format) = &sampling.response_format {
        body["response_format"] = format.clone();
    }
    if let Some(cap) = super::output_cap(deployment, request) {
        // max_tokens is deprecated and refused by reasoning models; max_completion_tokens is not.
        body["max_completion_tokens"] = json!(cap);
    }
    if let Some(level) = request.thinking_for(deployment, false) {
        if deployment.builtin == Some(pincer_config::BuiltinProvider::OpenRouter) {
            // OpenRouter normalises every model's reasoning behind one field.
            let effort = match level {
                ThinkingLevel::Off => "none",
                other => other.as_str(),
            };
            body["reasoning"] = json!({ "effort": effort });
        } else if level != ThinkingLevel::Off {
            // `off` sends nothing: older reasoning models refuse "none", and the others do not
            // reason unless asked.
            body["reasoning_effort"] = json!(level.as_str());
        }
    }
    body
}

/// Sends the request and returns the event stream.
pub async fn start(
    deployment: &Deployment,
    request: &CallRequest,
) -> Result<EventStream, ProviderError> {
    let url = format!("{}/chat/completions", deployment.base_url);
    let mut builder = deployment
        .http
        .post(&url)
        .headers(super::common_headers(deployment))
        .header("accept", "text/event-stream")
        .json(&request_body(deployment, request));
    if let Some(key) = &deployment.api_key {
        builder = builder.bearer_auth(key.expose());
    }
    if deployment.builtin == Some(pincer_config::BuiltinProvider::OpenRouter) {
        builder = builder
            .header("HTTP-Referer", "https://github.com/pincer-agent/pincer")
            .header("X-Title", "Pincer")
            .header("X-OpenRouter-Title", "Pincer");
    }
    let response = super::send(builder, deployment).await?;
    if super::whole::is_whole(&response) {
        let completion = super::whole::read(response, deployment.first_token_timeout).await?;
        let lines = super::whole::openai_lines(&completion);
        return Ok(Box::pin(events(super::whole::as_stream(lines))));
    }
    Ok(Box::pin(events(lines(response.bytes_stream()))))
}

/// Tool-call fragments accumulated by `index` until the stream says they are complete.
#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

pub fn events(
    lines: impl futures::Stream<Item = Result<String, String>> + Send + 'static,
) -> impl futures::Stream<Item = Result<ProviderEvent, ProviderError>> + Send {
    async_stream::stream! {
        let mut lines = Box::pin(lines);
        let mut calls: BTreeMap<u64, PartialCall> = BTreeMap::new();
        let mut finish: Option<String> = None;
        let mut usage = Usage::default();
        let mut done = false;
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(line) => line,
                Err(error) => {
                    yield Err(ProviderError::new(ErrorKind::StreamBroken, format!("stream read failed: {error}")));
                    return;
                }
            };
            // SSE: only `data:` lines matter; comments (": OPENROUTER PROCESSING"), event names and
            // blank separators are skipped.
            let Some(data) = line.strip_prefix("data:") else { continue };
            let data = data.trim();
            if data == "[DONE]" {
                done = true;
                break;
            }
            let chunk: Value = match serde_json::from_str(data) {
                Ok(chunk) => chunk,
                Err(error) => {
                    yield Err(ProviderError::new(ErrorKind::StreamBroken, format!("malformed SSE chunk: {error}")));
                    return;
                }
            };
            // OpenAI/OpenRouter put an `error` object in a 200 stream; vLLM sends {"object":"error"}.
            if let Some(error) = chunk.get("error") {
                yield Err(ProviderError::in_stream(error));
                return;
            }
            if chunk.get("object").and_then(Value::as_str) == Some("error") {
                yield Err(ProviderError::in_stream(&chunk));
                return;
            }
            if let Some(reported) = chunk.get("usage").filter(|u| !u.is_null()) {
                usage.prompt_tokens = reported.get("prompt_tokens").and_then(Value::as_u64).map(saturate);
                usage.completion_tokens = reported.get("completion_tokens").and_then(Value::as_u64).map(saturate);
                usage.cached_tokens = reported
                    .pointer("/prompt_tokens_details/cached_tokens")
                    .and_then(Value::as_u64)
                    .map(saturate);
            }
            let choices = chunk.get("choices").and_then(Value::as_array).cloned().unwrap_or_default();
            for choice in choices {
                let delta = choice.get("delta").cloned().unwrap_or(Value::Null);
                if let Some(text) = delta.get("content").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    yield Ok(ProviderEvent::Text(text.to_owned()));
                }
                for fragment in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    let index = fragment.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let call = calls.entry(index).or_default();
                    if let Some(id) = fragment.get("id").and_then(Value::as_str) {
                        call.id = id.to_owned();
                    }
                    if let Some(function) = fragment.get("function") {
                        if let Some(name) = function.get("name").and_then(Value::as_str) {
                            call.name.push_str(name);
                        }
                        if let Some(arguments) = function.get("arguments").and_then(Value::as_str) {
                            call.arguments.push_str(arguments);
                        }
                    }
                }
                if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                    if reason == "error" {
                        yield Err(ProviderError::new(ErrorKind::StreamBroken, "provider ended the stream with finish_reason=error"));
                        return;
                    }
                    finish = Some(reason.to_owned());
                }
            }
        }
        if !done && finish.is_none() {
            yield Err(ProviderError::new(ErrorKind::StreamBroken, "stream ended without a finish reason"));
            return;
        }
        for call in std::mem::take(&mut calls).into_values() {
            let id = if call.id.is_empty() { super::minted_call_id() } else { call.id };
            let arguments = if call.arguments.trim().is_empty() { "{}".to_owned() } else { call.arguments };
            yield Ok(ProviderEvent::ToolCall(ToolCall { id, name: call.name, arguments }));
        }
        yield Ok(ProviderEvent::Finish { reason: finish.unwrap_or_else(|| "stop".to_owned()), usage });
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
    fn accumulates_text_tool_calls_by_index_and_usage() {
        let out = run(&[
            ": OPENROUTER PROCESSING",
            r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}"#,
            "",
            r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"ls","arguments":""}}]}}]}"#,
            r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"read","arguments":"{\"p\":"}}]}}]}"#,
            r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#,
            "data: [DONE]",
        ]);
        let out: Vec<ProviderEvent> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(out[0], ProviderEvent::Text("Hi".into()));
        assert_eq!(
            out[1],
            ProviderEvent::ToolCall(ToolCall {
                id: "a".into(),
                name: "read".into(),
                arguments: r#"{"p":1}"#.into()
            })
        );
        assert_eq!(
            out[2],
            ProviderEvent::ToolCall(ToolCall {
                id: "b".into(),
                name: "ls".into(),
                arguments: "{}".into()
            })
        );
        assert_eq!(
            out[3],
            ProviderEvent::Finish {
                reason: "tool_calls".into(),
                usage: Usage {
                    prompt_tokens: Some(5),
                    completion_tokens: Some(7),
                    ..Usage::default()
                }
            }
        );
    }

    #[test]
    fn eof_without_finish_is_a_broken_stream() {
        let out = run(&[r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#]);
        assert!(matches!(out.last(), Some(Err(e)) if e.kind == ErrorKind::StreamBroken));
    }

    #[test]
    fn mid_stream_error_payload_is_reported() {
        let out = run(&[
            r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"data: {"error":{"message":"upstream died","code":502}}"#,
        ]);
        assert!(
            matches!(out.last(), Some(Err(e)) if e.message.contains("upstream died") && e.kind == ErrorKind::Upstream)
        );
    }

    #[test]
    fn openrouter_rate_limit_inside_a_200_stream_is_a_rate_limit() {
        let out = run(&[
            ": OPENROUTER PROCESSING",
            r#"data: {"error":{"code":429,"message":"Rate limit exceeded: free-models-per-min"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#,
        ]);
        assert!(matches!(out.last(), Some(Err(e)) if e.kind == ErrorKind::RateLimited));
    }

    #[test]
    fn cached_tokens_come_from_prompt_tokens_details() {
        let out = run(&[
            r#"data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}"#,
            r#"data: {"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":64}}}"#,
            "data: [DONE]",
        ]);
        assert!(matches!(
            out.last(),
            Some(Ok(ProviderEvent::Finish { usage, .. })) if usage.cached_tokens == Some(64) && usage.prompt_tokens == Some(100)
        ));
    }
}
