//! Anthropic Messages (`POST /v1/messages`, SSE). The conversation is re-shaped into Anthropic's
//! form: system text goes to the top-level `system`, tool calls become `tool_use` blocks with object
//! input, and tool results become `tool_result` blocks at the front of the next user message.
//!
//! API version `2026-10-21` rejects `temperature`, `top_p` and `top_k` with a 400, so a caller's
//! temperature is only sent to a provider that pins an older version with
//! `headers: {"anthropic-version": "2023-06-01"}` (clamped to that API's 0 to 1).

mod thinking;

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use serde_json::{Value, json};

use super::Deployment;
use super::lines::lines;
use super::{
    CallRequest, ErrorKind, EventStream, Message, ProviderError, ProviderEvent, Role, ToolCall,
    Usage,
};

/// The API version sent unless the provider's headers say otherwise.
pub const API_VERSION: &str = "2026-10-21";
/// Extended thinking's token budget for `level` (`None`: no thinking block; Anthropic's minimum
/// budget is 1,024).
fn thinking_budget(level: pincer_config::ThinkingLevel) -> Option<u32> {
    use pincer_config::ThinkingLevel as Level;
    match level {
        Level::Off => None,
        Level::Minimal => Some(1_024),
        Level::Low => Some(4_096),
        Level::Medium => Some(10_000),
        Level::High => Some(20_000),
        Level::Xhigh => Some(32_000),
    }
}

/// What asks for JSON where a caller's `response_format` does: the Messages API has no such
/// field, so the system prompt says it (with the schema, when there is one).
fn json_instruction(sampling: &super::Sampling) -> Option<String> {
    sampling.response_format.as_ref()?;
    Some(match sampling.response_schema() {
        Some(schema) => format!(
            "Answer with one JSON value and nothing else (no prose, no code fence). It must match this JSON Schema: {schema}"
        ),
        None => {
            "Answer with one JSON object and nothing else (no prose, no code fence).".to_owned()
        }
    })
}

/// Anthropic requires `max_tokens`; used when neither the caller nor the config sets one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Builds the JSON body for `/v1/messages`.
pub fn request_body(deployment: &Deployment, request: &CallRequest) -> Value {
    let json_only = json_instruction(&request.sampling);
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System && !m.content.is_empty())
        .map(|m| m.content.as_str())
        .chain(json_only.as_deref())
        .collect();
    let mut max_tokens = super::output_cap(deployment, request).unwrap_or(DEFAULT_MAX_TOKENS);
    let budget = request
        .thinking_for(deployment, false)
        .and_then(thinking_budget)
        .filter(|_| {
            let can = thinking::can_think(&request.messages);
            if !can {
                tracing::debug!("thinking off for this call: its tool loop began without it");
            }
            can
        });
    if let Some(budget) = budget {
        // Anthropic wants max_tokens above the budget, with room for the answer itself.
        max_tokens = max_tokens.max(budget + DEFAULT_MAX_TOKENS);
    }
    let mut body = json!({
        "model": deployment.model,
        "max_tokens": max_tokens,
        "messages": messages(&request.messages, budget.is_some()),
        "stream": true,
    });
    if let Some(budget) = budget {
        body["thinking"] = json!({ "type": "enabled", "budget_tokens": budget });
    }
    // Extended thinking refuses any temperature but 1, so a thinking call keeps the default.
    if let Some(temperature) = request.temperature.filter(|_| budget.is_none())
        && pins_version_before_2026(deployment)
    {
        body["temperature"] = json!(temperature.min(1.0));
    }
    // top_p goes where temperature does, but not with it: newer Claude models refuse both at
    // once. Anthropic takes no seed or penalties.
    if let Some(top_p) = request.sampling.top_p.filter(|_| budget.is_none())
        && request.temperature.is_none()
        && pins_version_before_2026(deployment)
    {
        body["top_p"] = json!(top_p);
    }
    if !request.sampling.stop.is_empty() {
        body["stop_sequences"] = json!(request.sampling.stop);
    }
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                let schema = serde_json::from_str::<Value>(&tool.parameters)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
                json!({ "name": tool.name, "description": tool.description, "input_schema": schema })
            })
            .collect();
    }
    body
}

/// Anthropic alternates user and assistant turns made of content blocks. Consecutive messages that
/// map to the same role are merged, and tool results lead the user turn that follows the calls.
/// `thinking`: the call thinks, so the loop under way gets its thinking blocks back.
fn messages(history: &[Message], thinking: bool) -> Vec<Value> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    let mut ids = UniqueIds::default();
    for (at, message) in history.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::System => continue,
            Role::Assistant => {
                let mut blocks = if thinking {
                    thinking::replayed(history, at)
                } else {
                    Vec::new()
                };
                if !message.content.is_empty() {
                    blocks.push(json!({ "type": "text", "text": message.content }));
                }
                for call in &message.tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": ids.call(&call.id),
                        "name": call.name,
                        "input": input_object(&call.arguments),
                    }));
                }
                ("assistant", blocks)
            }
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": ids.result(&message.tool_call_id),
                    "content": message.content,
                })],
            ),
            Role::User if message.content.is_empty() && message.images.is_empty() => continue,
            Role::User => {
                // Pictures first, then the question about them (Anthropic's advice).
                let mut blocks: Vec<Value> = message
                    .images
                    .iter()
                    .map(|image| {
                        json!({
                            "type": "image",
                            "source": { "type": "base64", "media_type": image.mime_type, "data": image.base64() },
                        })
                    })
                    .collect();
                if !message.content.is_empty() {
                    blocks.push(json!({ "type": "text", "text": message.content }));
                }
                ("user", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last_role, last_blocks)) if last_role == role => {
                last_blocks.extend(blocks);
                // tool_result blocks must come first in a user turn.
                last_blocks.sort_by_key(|block| block["type"] != "tool_result");
            }
            _ => out.push((role.to_owned(), blocks)),
        }
    }
    out.into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect()
}

/// Anthropic ids must match `^[a-zA-Z0-9_-]+$`; ids minted by other providers are made to fit the
/// same way on both the `tool_use` and the `tool_result` side, so pairs still match.
fn block_id(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "toolu_missing".to_owned()
    } else {
        cleaned
    }
}

/// Tool-call ids as Anthropic takes them: fitted to its pattern ([`block_id`]) and unique in the
/// conversation, which it requires. A session may repeat one (older runs numbered each reply's
/// calls from 0, as do some providers); a repeat is renamed, and the results that follow name the
/// new ids, in the order of their calls (a reply may even repeat an id in itself).
#[derive(Default)]
struct UniqueIds {
    used: std::collections::HashSet<String>,
    /// The ids each call id was sent as, oldest first, until a result names them.
    sent_as: HashMap<String, std::collections::VecDeque<String>>,
}

impl UniqueIds {
    fn call(&mut self, id: &str) -> String {
        let fitted = block_id(id);
        let mut unique = fitted.clone();
        let mut repeat = 1;
        while !self.used.insert(unique.clone()) {
            repeat += 1;
            unique = format!("{fitted}_{repeat}");
        }
        self.sent_as
            .entry(id.to_owned())
            .or_default()
            .push_back(unique.clone());
        unique
    }

    fn result(&mut self, id: &str) -> String {
        self.sent_as
            .get_mut(id)
            .and_then(std::collections::VecDeque::pop_front)
            .unwrap_or_else(|| block_id(id))
    }
}

fn input_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => json!({ "value": other }),
        Err(_) if arguments.trim().is_empty() => json!({}),
        Err(_) => json!({ "raw": arguments }),
    }
}

/// Whether the provider's headers pin an API version older than [`API_VERSION`], which still
/// takes `temperature`.
fn pins_version_before_2026(deployment: &Deployment) -> bool {
    deployment.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("anthropic-version") && value.trim() < API_VERSION
    })
}

/// Sends the request and returns the event stream.
pub async fn start(
    deployment: &Deployment,
    request: &CallRequest,
) -> Result<EventStream, ProviderError> {
    let base = deployment.base_url.trim_end_matches("/v1");
    let url = format!("{base}/v1/messages");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "anthropic-version",
        http::HeaderValue::from_static(API_VERSION),
    );
    // Configured headers (including a pinned anthropic-version) replace the defaults.
    for (name, value) in super::common_headers(deployment) {
        if let Some(name) = name {
            headers.insert(name, value);
        }
    }
    let mut builder = deployment
        .http
        .post(&url)
        .headers(headers)
        .header("accept", "text/event-stream")
        .json(&request_body(deployment, request));
    if let Some(key) = &deployment.api_key {
        builder = builder.header("x-api-key", key.expose());
    }
    let response = super::send(builder, deployment).await?;
    if super::whole::is_whole(&response) {
        let message = super::whole::read(response, deployment.first_token_timeout).await?;
        let lines = super::whole::anthropic_lines(&message);
        return Ok(Box::pin(events(super::whole::as_stream(lines))));
    }
    Ok(Box::pin(events(lines(response.bytes_stream()))))
}

/// A `tool_use` block whose input arrives as JSON text fragments.
#[derive(Default)]
struct PartialToolUse {
    id: String,
    name: String,
    json: String,
}

/// Parses Anthropic's SSE events. Only `data:` lines are read: each carries its event `type`.
pub fn events(
    lines: impl futures::Stream<Item = Result<String, String>> + Send + 'static,
) -> impl futures::Stream<Item = Result<ProviderEvent, ProviderError>> + Send {
    async_stream::stream! {
        let mut lines = Box::pin(lines);
        let mut tools: BTreeMap<u64, PartialToolUse> = BTreeMap::new();
        let mut thoughts = thinking::Collected::default();
        let mut usage = Usage::default();
        let mut input_tokens: Option<u32> = None;
        let mut stop_reason: Option<String> = None;
        let mut saw_tool_use = false;
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(line) => line,
                Err(error) => {
                    yield Err(ProviderError::new(ErrorKind::StreamBroken, format!("stream read failed: {error}")));
                    return;
                }
            };
            let Some(data) = line.strip_prefix("data:") else { continue };
            let event: Value = match serde_json::from_str(data.trim()) {
                Ok(event) => event,
                Err(error) => {
                    yield Err(ProviderError::new(ErrorKind::StreamBroken, format!("malformed SSE event: {error}")));
                    return;
                }
            };
            let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
            match event.get("type").and_then(Value::as_str).unwrap_or_default() {
                "message_start" => {
                    let reported = event.pointer("/message/usage").cloned().unwrap_or(Value::Null);
                    input_tokens = count(&reported, "input_tokens");
                    usage.cached_tokens = count(&reported, "cache_read_input_tokens");
                    usage.cache_write_tokens = count(&reported, "cache_creation_input_tokens");
                    usage.completion_tokens = count(&reported, "output_tokens");
                }
                "content_block_start" => {
                    let block = event.get("content_block").cloned().unwrap_or(Value::Null);
                    if thoughts.start(index, &block) {
                        continue;
                    }
                    match block.get("type").and_then(Value::as_str) {
                        Some("tool_use") => {
                            tools.insert(index, PartialToolUse {
                                id: block.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                                name: block.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                                json: String::new(),
                            });
                        }
                        Some("text") => {
                            if let Some(text) = block.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                                yield Ok(ProviderEvent::Text(text.to_owned()));
                            }
                        }
                        _ => {}
                    }
                }
                "content_block_delta" => {
                    let delta = event.get("delta").cloned().unwrap_or(Value::Null);
                    if thoughts.delta(index, &delta) {
                        continue;
                    }
                    match delta.get("type").and_then(Value::as_str) {
                        Some("text_delta") => {
                            if let Some(text) = delta.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                                yield Ok(ProviderEvent::Text(text.to_owned()));
                            }
                        }
                        Some("input_json_delta") => {
                            if let (Some(tool), Some(part)) = (tools.get_mut(&index), delta.get("partial_json").and_then(Value::as_str)) {
                                tool.json.push_str(part);
                            }
                        }
                        // Citation deltas are not forwarded.
                        _ => {}
                    }
                }
                "content_block_stop" => {
                    thoughts.stop(index);
                    if let Some(tool) = tools.remove(&index) {
                        let arguments = if tool.json.trim().is_empty() { "{}".to_owned() } else { tool.json };
                        if serde_json::from_str::<Value>(&arguments).is_err() {
                            yield Err(ProviderError::new(ErrorKind::StreamBroken, format!("tool_use {} input is not valid JSON", tool.name)));
                            return;
                        }
                        saw_tool_use = true;
                        let id = if tool.id.is_empty() { super::minted_call_id() } else { tool.id };
                        yield Ok(ProviderEvent::ToolCall(ToolCall { id, name: tool.name, arguments }));
                    }
                }
                "message_delta" => {
                    if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                        stop_reason = Some(reason.to_owned());
                    }
                    if let Some(output) = event.get("usage").and_then(|u| count(u, "output_tokens")) {
                        usage.completion_tokens = Some(output);
                    }
                }
                "message_stop" => {
                    usage.prompt_tokens = input_tokens.map(|input| {
                        input
                            .saturating_add(usage.cached_tokens.unwrap_or(0))
                            .saturating_add(usage.cache_write_tokens.unwrap_or(0))
                    });
                    let reason = match stop_reason.as_deref() {
                        _ if saw_tool_use => "tool_calls",
                        Some("max_tokens" | "model_context_window_exceeded") => "length",
                        Some("refusal") => "content_filter",
                        _ => "stop",
                    };
                    if let Some(blocks) = std::mem::take(&mut thoughts).finish() {
                        yield Ok(ProviderEvent::Reasoning(blocks));
                    }
                    yield Ok(ProviderEvent::Finish { reason: reason.to_owned(), usage });
                    return;
                }
                "error" => {
                    let error = event.get("error").cloned().unwrap_or(Value::Null);
                    yield Err(ProviderError::in_stream(&error));
                    return;
                }
                // `ping` and event types added later within the version are ignored.
                _ => {}
            }
        }
        yield Err(ProviderError::new(ErrorKind::StreamBroken, "stream ended without message_stop"));
    }
}

fn count(value: &Value, field: &str) -> Option<u32> {
    value
        .get(field)
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Tool;

    fn run(lines_in: &[&str]) -> Vec<Result<ProviderEvent, ProviderError>> {
        let owned: Vec<Result<String, String>> =
            lines_in.iter().map(|l| Ok((*l).to_owned())).collect();
        futures::executor::block_on(events(futures::stream::iter(owned)).collect::<Vec<_>>())
    }

    fn message(role: Role, content: &str) -> Message {
        Message {
            role,
            content: content.into(),
            ..Message::default()
        }
    }

    #[test]
    fn stream_yields_text_tool_use_and_normalised_usage() {
        let out = run(&[
            "event: message_start",
            r#"data: {"type":"message_start","message":{"id":"msg_1","role":"assistant","model":"claude","content":[],"usage":{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":5,"output_tokens":1}}}"#,
            "",
            r#"data: {"type":"ping"}"#,
            r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}}"#,
            r#"data: {"type":"content_block_stop","index":0}"#,
            r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"read","input":{}}}"#,
            r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}"#,
            r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"a.md\"}"}}"#,
            r#"data: {"type":"content_block_stop","index":1}"#,
            r#"data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":17}}"#,
            r#"data: {"type":"message_stop"}"#,
        ]);
        let out: Vec<ProviderEvent> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(out[0], ProviderEvent::Text("Let me look.".into()));
        assert_eq!(
            out[1],
            ProviderEvent::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "read".into(),
                arguments: r#"{"path":"a.md"}"#.into()
            })
        );
        assert_eq!(
            out[2],
            ProviderEvent::Finish {
                reason: "tool_calls".into(),
                usage: Usage {
                    prompt_tokens: Some(105),
                    completion_tokens: Some(17),
                    cached_tokens: Some(90),
                    cache_write_tokens: Some(5),
                }
            }
        );
    }

    #[test]
    fn error_event_after_200_is_classified() {
        let out = run(&[
            r#"data: {"type":"message_start","message":{"usage":{"input_tokens":1}}}"#,
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            "event: error",
            r#"data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ]);
        assert_eq!(out[0], Ok(ProviderEvent::Text("Hi".into())));
        assert!(matches!(&out[1], Err(e) if e.kind == ErrorKind::Overloaded));
    }

    #[test]
    fn eof_without_message_stop_is_a_broken_stream() {
        let out = run(&[
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        ]);
        assert!(matches!(out.last(), Some(Err(e)) if e.kind == ErrorKind::StreamBroken));
    }

    #[test]
    fn history_becomes_alternating_blocks_with_tool_results_first() {
        let catalog = crate::catalog::Catalog::new(
            serde_json::from_str(r#"{"providers": {"anthropic": {"apiKey": "k"}}}"#)
                .expect("models"),
            None,
        )
        .expect("catalog");
        let deployment = catalog.resolve("anthropic/claude-x").expect("resolves");
        let request = CallRequest {
            messages: vec![
                message(Role::System, "Be brief."),
                message(Role::User, "list files"),
                Message {
                    role: Role::Assistant,
                    content: String::new(),
                    tool_calls: vec![
                        ToolCall {
                            id: "call_0".into(),
                            name: "ls".into(),
                            arguments: r#"{"path":"."}"#.into(),
                        },
                        ToolCall {
                            id: "call.1".into(),
                            name: "ls".into(),
                            arguments: String::new(),
                        },
                    ],
                    ..Message::default()
                },
                Message {
                    role: Role::Tool,
                    content: "a.md".into(),
                    tool_call_id: "call_0".into(),
                    tool_name: "ls".into(),
                    ..Message::default()
                },
                Message {
                    role: Role::Tool,
                    content: "b.md".into(),
                    tool_call_id: "call.1".into(),
                    tool_name: "ls".into(),
                    ..Message::default()
                },
                message(Role::User, "and now?"),
            ],
            tools: vec![Tool {
                name: "ls".into(),
                description: "list".into(),
                parameters: r#"{"type":"object","properties":{"path":{"type":"string"}}}"#.into(),
            }],
            max_tokens: 0,
            thinking: None,
            temperature: None,
            sampling: Default::default(),
        };
        let body = request_body(&deployment, &request);
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert!(body.get("temperature").is_none());
        let messages = body["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(messages[1]["content"][0]["type"], "tool_use");
        assert_eq!(messages[1]["content"][0]["input"]["path"], ".");
        assert_eq!(messages[1]["content"][1]["id"], "call_1");
        assert_eq!(messages[1]["content"][1]["input"], json!({}));
        let user = messages[2]["content"].as_array().expect("blocks");
        assert_eq!(user.len(), 3);
        assert_eq!(user[0]["type"], "tool_result");
        assert_eq!(user[1]["tool_use_id"], "call_1");
        assert_eq!(user[2]["type"], "text");
        assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    }

    #[test]
    fn a_thinking_reply_hands_its_signed_blocks_back_before_the_finish() {
        let out = run(&[
            r#"data: {"type":"message_start","message":{"usage":{"input_tokens":5}}}"#,
            r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants "}}"#,
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a listing."}}"#,
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}"#,
            r#"data: {"type":"content_block_stop","index":0}"#,
            r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"list","input":{}}}"#,
            r#"data: {"type":"content_block_stop","index":1}"#,
            r#"data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}"#,
            r#"data: {"type":"message_stop"}"#,
        ]);
        let out: Vec<ProviderEvent> = out.into_iter().map(Result::unwrap).collect();
        assert!(matches!(&out[0], ProviderEvent::ToolCall(call) if call.id == "toolu_9"));
        let ProviderEvent::Reasoning(blocks) = &out[1] else {
            panic!("reasoning before the finish: {out:?}");
        };
        assert_eq!(
            serde_json::from_str::<Value>(blocks).expect("json"),
            json!([{"type": "thinking", "thinking": "The user wants a listing.", "signature": "EqQBCgIYAhIM"}])
        );
        assert!(matches!(&out[2], ProviderEvent::Finish { reason, .. } if reason == "tool_calls"));
        assert_eq!(out.len(), 3, "no thinking text reaches the answer");
    }

    fn thinking_request(messages: Vec<Message>) -> Value {
        let catalog = crate::catalog::Catalog::new(
            serde_json::from_str(r#"{"providers": {"anthropic": {"apiKey": "k"}}}"#)
                .expect("models"),
            None,
        )
        .expect("catalog");
        let deployment = catalog.resolve("anthropic/claude-x").expect("resolves");
        request_body(
            &deployment,
            &CallRequest {
                messages,
                tools: Vec::new(),
                max_tokens: 0,
                thinking: Some(pincer_config::ThinkingLevel::Low),
                temperature: None,
                sampling: Default::default(),
            },
        )
    }

    fn listing(id: &str, reasoning: &str) -> [Message; 2] {
        [
            Message {
                role: Role::Assistant,
                tool_calls: vec![ToolCall {
                    id: id.into(),
                    name: "list".into(),
                    arguments: "{}".into(),
                }],
                reasoning: reasoning.into(),
                ..Message::default()
            },
            Message {
                role: Role::Tool,
                content: "a.md".into(),
                tool_call_id: id.into(),
                tool_name: "list".into(),
                ..Message::default()
            },
        ]
    }

    #[test]
    fn a_thinking_tool_loop_sends_its_blocks_back_unchanged_and_first() {
        let signed = r#"[{"type":"thinking","thinking":"Old.","signature":"s1"}]"#;
        let now = r#"[{"type":"thinking","thinking":"List it.","signature":"s2"},{"type":"redacted_thinking","data":"EmwK"}]"#;
        let mut history = vec![message(Role::User, "first")];
        history.extend(listing("toolu_1", signed));
        history.push(message(Role::Assistant, "One file."));
        history.push(message(Role::User, "again"));
        history.extend(listing("toolu_2", now));
        let body = thinking_request(history.clone());
        assert_eq!(body["thinking"]["type"], "enabled");
        let messages = body["messages"].as_array().expect("messages");
        assert_eq!(
            messages[1]["content"][0]["type"], "tool_use",
            "an earlier turn's blocks are not sent"
        );
        let blocks = messages[5]["content"].as_array().expect("blocks");
        assert_eq!(
            blocks[..2],
            serde_json::from_str::<Vec<Value>>(now).expect("json")[..]
        );
        assert_eq!(blocks[2]["type"], "tool_use");
        // A loop that began without thinking (another provider's call) cannot think now.
        *history.last_mut().expect("result") = message(Role::Tool, "a.md");
        history.truncate(history.len() - 2);
        history.extend(listing("call_x", ""));
        let body = thinking_request(history);
        assert!(body.get("thinking").is_none(), "{body}");
        assert_eq!(body["messages"][5]["content"][0]["type"], "tool_use");
    }

    #[test]
    fn repeated_call_ids_are_renamed_with_their_results() {
        let mut history = vec![message(Role::User, "first")];
        history.extend(listing("call_0", ""));
        history.push(message(Role::User, "again"));
        history.extend(listing("call_0", ""));
        let body = thinking_request(history);
        let messages = body["messages"].as_array().expect("messages");
        assert_eq!(messages[1]["content"][0]["id"], "call_0");
        assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_0");
        assert_eq!(messages[3]["content"][0]["id"], "call_0_2");
        assert_eq!(messages[4]["content"][0]["tool_use_id"], "call_0_2");
        // The same id twice in one reply: each result names its own call.
        let mut twice = vec![message(Role::User, "both")];
        let [mut calls, first] = listing("call_0", "");
        calls.tool_calls.push(calls.tool_calls[0].clone());
        twice.extend([calls, first.clone(), first]);
        let body = thinking_request(twice);
        let messages = body["messages"].as_array().expect("messages");
        let ids: Vec<&Value> = messages[1]["content"]
            .as_array()
            .expect("calls")
            .iter()
            .map(|b| &b["id"])
            .collect();
        let results: Vec<&Value> = messages[2]["content"]
            .as_array()
            .expect("results")
            .iter()
            .map(|b| &b["tool_use_id"])
            .collect();
        assert_eq!(ids, results);
        assert_ne!(ids[0], ids[1]);
    }
}
