//! Answers that arrive whole. The router always asks for a stream, but some OpenAI-compatible
//! servers and proxies (older llama.cpp builds, caching proxies, API gateways) ignore `stream: true`
//! and send one JSON object. Rather than failing such a provider as "stream ended without a finish",
//! the object is rewritten into the equivalent stream lines and read by the adapter's own parser, so
//! both shapes produce the same events and the same error handling.

use serde_json::{Value, json};

use super::{ErrorKind, ProviderError};

/// Largest whole answer read; a chat completion is far smaller than this.
pub const MAX_WHOLE_BODY: usize = 16 * 1024 * 1024;

/// Whether a successful response carries one JSON document instead of an event stream.
pub fn is_whole(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"))
}

/// Reads the whole body (bounded in size and in time) as JSON.
pub async fn read(
    response: reqwest::Response,
    patience: std::time::Duration,
) -> Result<Value, ProviderError> {
    use futures::StreamExt;
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    let read = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|error| {
                ProviderError::new(
                    ErrorKind::StreamBroken,
                    format!("response body read failed: {error}"),
                )
            })?;
            body.extend_from_slice(&chunk);
            if body.len() > MAX_WHOLE_BODY {
                return Err(ProviderError::new(
                    ErrorKind::StreamBroken,
                    format!("response body larger than {MAX_WHOLE_BODY} bytes"),
                ));
            }
        }
        Ok(())
    };
    tokio::time::timeout(patience, read).await.map_err(|_| {
        ProviderError::new(
            ErrorKind::Timeout,
            format!("response body not complete within {patience:?}"),
        )
    })??;
    serde_json::from_slice(&body).map_err(|error| {
        ProviderError::new(
            ErrorKind::StreamBroken,
            format!("malformed JSON response: {error}"),
        )
    })
}

/// A `chat.completion` object as the SSE lines of the same answer: one chunk whose delta is the
/// whole message (tool calls indexed as in a stream), then `[DONE]`. An `error` object passes
/// through unchanged, so the stream parser reports it as it would mid-stream.
pub fn openai_lines(completion: &Value) -> Vec<String> {
    if completion.get("error").is_some() || completion.get("object") == Some(&json!("error")) {
        return vec![format!("data: {completion}")];
    }
    let choices: Vec<Value> = completion
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|choice| {
            let message = choice.get("message").cloned().unwrap_or(Value::Null);
            let mut delta = json!({ "role": "assistant" });
            if let Some(text) = message.get("content").and_then(Value::as_str) {
                delta["content"] = json!(text);
            }
            if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
                let indexed: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(index, call)| {
                        let mut call = call.clone();
                        call["index"] = json!(index);
                        call
                    })
                    .collect();
                delta["tool_calls"] = Value::Array(indexed);
            }
            json!({
                "index": choice.get("index").cloned().unwrap_or(json!(0)),
                "delta": delta,
                "finish_reason": choice.get("finish_reason").cloned().unwrap_or(json!("stop")),
            })
        })
        .collect();
    let chunk = json!({
        "choices": choices,
        "usage": completion.get("usage").cloned().unwrap_or(Value::Null),
    });
    vec![format!("data: {chunk}"), "data: [DONE]".to_owned()]
}

/// An Anthropic `message` object as the SSE events of the same answer. An `{"type":"error"}`
/// object becomes the `error` event.
pub fn anthropic_lines(message: &Value) -> Vec<String> {
    if message.get("type").and_then(Value::as_str) == Some("error") {
        return vec![format!("data: {message}")];
    }
    let mut lines = Vec::new();
    let start = json!({
        "type": "message_start",
        "message": { "usage": message.get("usage").cloned().unwrap_or(Value::Null) },
    });
    lines.push(format!("data: {start}"));
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (index, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            // Thinking blocks come whole, signature included, as the stream's start would.
            Some("text" | "thinking" | "redacted_thinking") => {
                let start = json!({ "type": "content_block_start", "index": index, "content_block": block });
                lines.push(format!("data: {start}"));
            }
            Some("tool_use") => {
                let open = json!({
                    "type": "content_block_start",
                    "index": index,
                    "content_block": { "type": "tool_use", "id": block.get("id"), "name": block.get("name"), "input": {} },
                });
                let input = block.get("input").cloned().unwrap_or(json!({}));
                let delta = json!({
                    "type": "content_block_delta",
                    "index": index,
                    "delta": { "type": "input_json_delta", "partial_json": input.to_string() },
                });
                lines.push(format!("data: {open}"));
                lines.push(format!("data: {delta}"));
            }
            _ => continue,
        }
        let stop = json!({ "type": "content_block_stop", "index": index });
        lines.push(format!("data: {stop}"));
    }
    let delta = json!({
        "type": "message_delta",
        "delta": { "stop_reason": message.get("stop_reason").cloned().unwrap_or(Value::Null) },
        "usage": { "output_tokens": message.pointer("/usage/output_tokens").cloned().unwrap_or(Value::Null) },
    });
    lines.push(format!("data: {delta}"));
    lines.push(r#"data: {"type":"message_stop"}"#.to_owned());
    lines
}

/// The lines as the stream the parsers read.
pub fn as_stream(
    lines: Vec<String>,
) -> impl futures::Stream<Item = Result<String, String>> + Send + 'static {
    futures::stream::iter(lines.into_iter().map(Ok))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::providers::{ProviderEvent, ToolCall};

    fn parsed_openai(completion: Value) -> Vec<Result<ProviderEvent, ProviderError>> {
        let lines = as_stream(openai_lines(&completion));
        futures::executor::block_on(super::super::openai::events(lines).collect::<Vec<_>>())
    }

    fn parsed_anthropic(message: Value) -> Vec<Result<ProviderEvent, ProviderError>> {
        let lines = as_stream(anthropic_lines(&message));
        futures::executor::block_on(super::super::anthropic::events(lines).collect::<Vec<_>>())
    }

    #[test]
    fn a_whole_openai_completion_reads_like_its_stream() {
        let out = parsed_openai(json!({
            "id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Looking.",
                "tool_calls": [
                    { "id": "a", "type": "function", "function": { "name": "read", "arguments": "{\"p\":1}" } },
                    { "id": "b", "type": "function", "function": { "name": "ls", "arguments": "{}" } }
                ]
            }}],
            "usage": { "prompt_tokens": 9, "completion_tokens": 4 }
        }));
        let out: Vec<ProviderEvent> = out.into_iter().map(|e| e.expect("event")).collect();
        assert_eq!(out[0], ProviderEvent::Text("Looking.".into()));
        assert_eq!(
            out[1],
            ProviderEvent::ToolCall(ToolCall {
                id: "a".into(),
                name: "read".into(),
                arguments: r#"{"p":1}"#.into()
            })
        );
        assert!(matches!(&out[2], ProviderEvent::ToolCall(call) if call.id == "b"));
        assert!(matches!(
            &out[3],
            ProviderEvent::Finish { reason, usage } if reason == "tool_calls" && usage.prompt_tokens == Some(9)
        ));
    }

    #[test]
    fn a_whole_openai_error_object_is_classified() {
        let out = parsed_openai(json!({ "error": { "code": 429, "message": "slow down" } }));
        assert!(matches!(out.last(), Some(Err(e)) if e.kind == ErrorKind::RateLimited));
    }

    #[test]
    fn a_whole_anthropic_message_reads_like_its_stream() {
        let out = parsed_anthropic(json!({
            "type": "message", "role": "assistant", "stop_reason": "tool_use",
            "content": [
                { "type": "thinking", "thinking": "A file.", "signature": "EqQB" },
                { "type": "text", "text": "Reading." },
                { "type": "tool_use", "id": "toolu_1", "name": "read", "input": { "path": "a" } }
            ],
            "usage": { "input_tokens": 10, "output_tokens": 3 }
        }));
        let mut out: Vec<ProviderEvent> = out.into_iter().map(|e| e.expect("event")).collect();
        let ProviderEvent::Reasoning(blocks) = out.remove(2) else {
            panic!("the thinking block comes back before the finish: {out:?}");
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&blocks).expect("json"),
            json!([{ "type": "thinking", "thinking": "A file.", "signature": "EqQB" }])
        );
        assert_eq!(out[0], ProviderEvent::Text("Reading.".into()));
        assert_eq!(
            out[1],
            ProviderEvent::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "read".into(),
                arguments: r#"{"path":"a"}"#.into()
            })
        );
        assert!(matches!(
            &out[2],
            ProviderEvent::Finish { reason, usage } if reason == "tool_calls" && usage.completion_tokens == Some(3) && usage.prompt_tokens == Some(10)
        ));
    }

    #[test]
    fn a_whole_anthropic_error_is_classified() {
        let out = parsed_anthropic(json!({
            "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" }
        }));
        assert!(matches!(out.last(), Some(Err(e)) if e.kind == ErrorKind::Overloaded));
    }
}
