//! Parsing OpenAI chat requests (with field-precise errors) and building OpenAI responses.

use pincer_bus::messages::{ChatMessage, Role, Sampling, ToolCall, Usage};
use serde_json::{Value, json};

use super::ApiError;

/// A validated `/v1/chat/completions` request.
#[derive(Debug, PartialEq)]
pub struct ChatCall {
    /// The `model` string as sent.
    pub model: String,
    /// Agent id selected by `model`.
    pub agent_id: String,
    /// Messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// `stream: true`.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// `user`, the session selector.
    pub user: Option<String>,
    /// `reasoning_effort` (`none`, `minimal`, `low`, `medium`, `high`, `xhigh`): this turn's
    /// thinking level.
    pub thinking: Option<pincer_config::ThinkingLevel>,
    /// `temperature`, `max_completion_tokens` (or the older `max_tokens`), `top_p`, `stop`, `seed`,
    /// `presence_penalty` and `frequency_penalty`.
    pub sampling: Sampling,
    /// The pictures of each message (`image_url` parts), one list per message.
    pub images: Vec<Vec<super::images::InlineImage>>,
    /// `tools`: the client's own functions (none under `tool_choice: "none"`).
    pub client_tools: Vec<pincer_bus::messages::ClientTool>,
}

/// Parses and validates a request body.
pub fn parse(body: &[u8]) -> Result<ChatCall, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| ApiError::BadRequest {
        message: format!("request body is not valid JSON: {error}"),
        param: None,
    })?;
    let Value::Object(object) = value else {
        return Err(ApiError::BadRequest {
            message: "request body must be a JSON object".to_owned(),
            param: None,
        });
    };
    let model = match object.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.trim().to_owned(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "model",
                "`model` is required (e.g. \"pincer/default\")",
            ));
        }
        Some(other) => return Err(type_error("model", "a string", other)),
    };
    let messages = match object.get("messages") {
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(ApiError::bad_request(
                "messages",
                "`messages` must not be empty",
            ));
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| parse_message(index, item))
            .collect::<Result<Vec<(ChatMessage, Vec<super::images::InlineImage>)>, _>>()?,
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("messages", "`messages` is required"));
        }
        Some(other) => return Err(type_error("messages", "an array", other)),
    };
    let stream = optional_bool(&object, "stream")?.unwrap_or(false);
    let include_usage = match object.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => match options.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                return Err(type_error(
                    "stream_options.include_usage",
                    "a boolean",
                    other,
                ));
            }
        },
        Some(other) => return Err(type_error("stream_options", "an object", other)),
    };
    let user = match object.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(user)) if user.trim().is_empty() => None,
        Some(Value::String(user)) => Some(user.clone()),
        Some(other) => return Err(type_error("user", "a string", other)),
    };
    let thinking = match object.get("reasoning_effort") {
        None | Some(Value::Null) => None,
        Some(Value::String(effort)) => {
            Some(pincer_config::ThinkingLevel::parse(effort).ok_or_else(|| {
                ApiError::bad_request(
                    "reasoning_effort",
                    "`reasoning_effort` must be one of none, minimal, low, medium, high, xhigh",
                )
            })?)
        }
        Some(other) => return Err(type_error("reasoning_effort", "a string", other)),
    };
    let sampling = sampling(&object)?;
    match object.get("n") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        // One agent, one answer: silently answering once would look like a provider's choice.
        Some(_) => {
            return Err(ApiError::bad_request(
                "n",
                "`n` must be 1: an agent gives one answer per turn",
            ));
        }
    }
    let client_tools = super::client_tools::parse(&object)?;
    let agent_id = agent_of(&model).ok_or_else(|| ApiError::ModelNotFound {
        message: format!("model {model:?} is not of the form pincer/<agentId>"),
    })?;
    let (messages, images) = messages.into_iter().unzip();
    Ok(ChatCall {
        model,
        agent_id,
        messages,
        images,
        stream,
        include_usage,
        user,
        thinking,
        sampling,
        client_tools,
    })
}

/// `temperature` (0 to 2) and the output cap, as OpenAI bounds them.
fn sampling(object: &serde_json::Map<String, Value>) -> Result<Sampling, ApiError> {
    let temperature = number_within(object, "temperature", 0.0, 2.0)?;
    // `max_tokens` is the older spelling; the newer one wins when a client sends both.
    let mut max_tokens = None;
    for field in ["max_tokens", "max_completion_tokens"] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Number(number)) => {
                let cap = number
                    .as_u64()
                    .filter(|cap| *cap > 0)
                    .and_then(|cap| u32::try_from(cap).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            field,
                            format!("`{field}` must be a positive integer, got {number}"),
                        )
                    })?;
                max_tokens = Some(cap);
            }
            Some(other) => return Err(type_error(field, "a positive integer", other)),
        }
    }
    Ok(Sampling {
        temperature,
        max_tokens,
        top_p: number_within(object, "top_p", 0.0, 1.0)?,
        stop: stop_sequences(object)?,
        seed: match object.get("seed") {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => {
                Some(number.as_i64().ok_or_else(|| {
                    type_error("seed", "an integer", &Value::Number(number.clone()))
                })?)
            }
            Some(other) => return Err(type_error("seed", "an integer", other)),
        },
        presence_penalty: number_within(object, "presence_penalty", -2.0, 2.0)?,
        frequency_penalty: number_within(object, "frequency_penalty", -2.0, 2.0)?,
        response_format: response_format(object)?,
    })
}

/// `response_format` when it asks for JSON: `{"type":"json_object"}`, or `{"type":"json_schema",
/// "json_schema":{"name","schema"?,"strict"?}}` as OpenAI takes it; `text` (or none) is free text.
fn response_format(object: &serde_json::Map<String, Value>) -> Result<Option<Value>, ApiError> {
    const PARAM: &str = "response_format";
    let format = match object.get(PARAM) {
        None | Some(Value::Null) => return Ok(None),
        Some(format @ Value::Object(_)) => format,
        Some(other) => return Err(type_error(PARAM, "an object", other)),
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(serde_json::json!({ "type": "json_object" }))),
        Some("json_schema") => {
            let spec = format
                .get("json_schema")
                .filter(|spec| spec.is_object())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "response_format.json_schema",
                        "a json_schema response format needs the `json_schema` object",
                    )
                })?;
            if !spec.get("name").is_some_and(Value::is_string) {
                return Err(ApiError::bad_request(
                    "response_format.json_schema.name",
                    "`json_schema.name` is required",
                ));
            }
            if spec.get("schema").is_some_and(|schema| !schema.is_object()) {
                return Err(ApiError::bad_request(
                    "response_format.json_schema.schema",
                    "`json_schema.schema` must be a JSON Schema object",
                ));
            }
            Ok(Some(
                serde_json::json!({ "type": "json_schema", "json_schema": spec }),
            ))
        }
        _ => Err(ApiError::bad_request(
            "response_format.type",
            "`response_format.type` must be text, json_object or json_schema",
        )),
    }
}

/// The number `field` when it lies within `low..=high`, as OpenAI bounds it.
fn number_within(
    object: &serde_json::Map<String, Value>,
    field: &str,
    low: f64,
    high: f64,
) -> Result<Option<f32>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => match number.as_f64() {
            #[allow(clippy::cast_possible_truncation)] // within a small range
            Some(value) if (low..=high).contains(&value) => Ok(Some(value as f32)),
            _ => Err(ApiError::bad_request(
                field,
                format!("`{field}` must be between {low} and {high}, got {number}"),
            )),
        },
        Some(other) => Err(type_error(field, "a number", other)),
    }
}

/// `stop`: a string or up to four of them, as OpenAI takes it.
fn stop_sequences(object: &serde_json::Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let stops = match object.get("stop") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(stop) => Ok(stop.clone()),
                other => Err(type_error("stop", "a string or an array of strings", other)),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(type_error("stop", "a string or an array of strings", other)),
    };
    if stops.len() > 4 || stops.iter().any(String::is_empty) {
        return Err(ApiError::bad_request(
            "stop",
            "`stop` takes at most 4 sequences, none of them empty",
        ));
    }
    Ok(stops)
}

/// `pincer/<id>` (or OpenClaw's `openclaw/<id>`) → `<id>`; a bare prefix means the default agent.
pub fn agent_of(model: &str) -> Option<String> {
    match model.split_once('/') {
        Some(("pincer" | "openclaw", id)) if !id.is_empty() && !id.contains('/') => {
            Some(id.to_owned())
        }
        None if model == "pincer" || model == "openclaw" => Some("default".to_owned()),
        _ => None,
    }
}

fn parse_message(
    index: usize,
    item: &Value,
) -> Result<(ChatMessage, Vec<super::images::InlineImage>), ApiError> {
    let path = |field: &str| format!("messages[{index}].{field}");
    let Value::Object(message) = item else {
        return Err(type_error(&format!("messages[{index}]"), "an object", item));
    };
    let role = match message.get("role") {
        Some(Value::String(role)) => match role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => {
                return Err(ApiError::bad_request(
                    path("role"),
                    format!(
                        "unknown role {other:?}; expected system, developer, user, assistant or tool"
                    ),
                ));
            }
        },
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(path("role"), "`role` is required"));
        }
        Some(other) => return Err(type_error(&path("role"), "a string", other)),
    };
    let (content, images) = match message.get("content") {
        None | Some(Value::Null) => (String::new(), Vec::new()),
        Some(Value::String(text)) => (text.clone(), Vec::new()),
        Some(Value::Array(parts)) => content_parts(index, role, parts)?,
        Some(other) => {
            return Err(type_error(
                &path("content"),
                "a string or an array of parts",
                other,
            ));
        }
    };
    let tool_calls = match message.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(call_index, call)| parse_tool_call(index, call_index, call))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(type_error(&path("tool_calls"), "an array", other)),
    };
    let tool_call_id = match message.get("tool_call_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => return Err(type_error(&path("tool_call_id"), "a string", other)),
    };
    if role == Role::User && content.is_empty() && images.is_empty() {
        return Err(ApiError::bad_request(
            path("content"),
            "a user message needs content",
        ));
    }
    let message = ChatMessage {
        role,
        content,
        tool_calls,
        tool_call_id,
        name: None,
        attachments: Vec::new(),
        images: Vec::new(),
        reasoning: String::new(),
    };
    Ok((message, images))
}

/// The text of a list of content parts, and the pictures of a user's.
fn content_parts(
    index: usize,
    role: Role,
    parts: &[Value],
) -> Result<(String, Vec<super::images::InlineImage>), ApiError> {
    let mut text = String::new();
    let mut images = Vec::new();
    for (part_index, part) in parts.iter().enumerate() {
        let path = format!("messages[{index}].content[{part_index}]");
        match (part.get("type").and_then(Value::as_str), part.get("text")) {
            (Some("text"), Some(Value::String(piece))) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(piece);
            }
            (Some("text"), _) => {
                return Err(ApiError::bad_request(
                    path,
                    "a text part needs a string `text`",
                ));
            }
            (Some("image_url"), _) if role == Role::User => {
                images.push(super::images::parse_part(&path, part)?);
            }
            (Some(other), _) => {
                return Err(ApiError::bad_request(
                    path,
                    format!(
                        "content parts of type {other:?} are not supported here; send text (and image_url in user messages)"
                    ),
                ));
            }
            (None, _) => return Err(ApiError::bad_request(path, "a content part needs a `type`")),
        }
    }
    Ok((text, images))
}

fn parse_tool_call(index: usize, call_index: usize, call: &Value) -> Result<ToolCall, ApiError> {
    let path = format!("messages[{index}].tool_calls[{call_index}]");
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let function = call.get("function").ok_or_else(|| {
        ApiError::bad_request(format!("{path}.function"), "`function` is required")
    })?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request(format!("{path}.function.name"), "`name` must be a string")
        })?
        .to_owned();
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(text)) => text.clone(),
        // Tolerate object arguments (Ollama-style clients) by re-encoding them.
        Some(other) => other.to_string(),
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

fn optional_bool(
    object: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<bool>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(other) => Err(type_error(field, "a boolean", other)),
    }
}

fn type_error(param: &str, expected: &str, got: &Value) -> ApiError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ApiError::bad_request(param, format!("`{param}` must be {expected}, got {kind}"))
}

/// `reason` (why the agent's turn ended) as one of OpenAI's `finish_reason` values, which typed
/// clients hold as a closed set: the agent's own reasons (`max_iterations`: it ran out of model
/// calls, so the reply is cut short as by a token limit; `tool_loop`: it stopped repeating a tool
/// call) become the nearest of them.
fn openai_finish_reason(reason: &str) -> &'static str {
    match reason {
        "length" | "max_iterations" => "length",
        "tool_calls" => "tool_calls",
        "content_filter" => "content_filter",
        "function_call" => "function_call",
        _ => "stop",
    }
}

/// A reply's `content`: null for one that only calls functions, as OpenAI sends it.
pub fn reply_content(content: &str, tool_calls: &[ToolCall]) -> Value {
    if content.is_empty() && !tool_calls.is_empty() {
        Value::Null
    } else {
        Value::from(content)
    }
}

/// `chat.completion` body.
pub fn completion(
    id: &str,
    created: u64,
    model: &str,
    content: &str,
    tool_calls: &[ToolCall],
    finish_reason: &str,
    usage: Usage,
) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": reply_content(content, tool_calls),
        "refusal": null,
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = tool_calls_json(tool_calls, false);
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": openai_finish_reason(finish_reason),
            "logprobs": null,
        }],
        "usage": usage_json(usage),
    })
}

/// One `chat.completion.chunk`.
pub fn chunk(
    id: &str,
    created: u64,
    model: &str,
    delta: Value,
    finish_reason: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "delta": delta,
            "finish_reason": finish_reason.map(openai_finish_reason),
            "logprobs": null,
        }],
    })
}

/// The trailing usage chunk (`choices: []`) sent when `include_usage` was asked for.
pub fn usage_chunk(id: &str, created: u64, model: &str, usage: Usage) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_json(usage),
    })
}

/// Tool calls as OpenAI JSON (with `index` for stream deltas).
pub fn tool_calls_json(calls: &[ToolCall], with_index: bool) -> Value {
    calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            let mut out = json!({
                "id": call.id,
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments },
            });
            if with_index {
                out["index"] = json!(index);
            }
            out
        })
        .collect()
}

fn usage_json(usage: Usage) -> Value {
    let prompt = usage.prompt_tokens.unwrap_or(0);
    let completion = usage.completion_tokens.unwrap_or(0);
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(result: Result<ChatCall, ApiError>) -> Option<String> {
        match result {
            Err(ApiError::BadRequest { param, .. }) => param,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_minimal_request() {
        let call =
            parse(br#"{"model":"pincer/default","messages":[{"role":"user","content":"hi"}]}"#)
                .unwrap();
        assert_eq!(call.agent_id, "default");
        assert_eq!(call.messages, vec![ChatMessage::text(Role::User, "hi")]);
        assert!(!call.stream);
        assert_eq!(call.user, None);
    }

    #[test]
    fn accepts_openclaw_names_parts_and_developer_role() {
        let call = parse(
            br#"{"model":"openclaw/main","stream":true,"user":"u1","stream_options":{"include_usage":true},
                "messages":[{"role":"developer","content":"be brief"},
                            {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#,
        )
        .unwrap();
        assert_eq!(call.agent_id, "main");
        assert!(call.stream && call.include_usage);
        assert_eq!(call.user.as_deref(), Some("u1"));
        assert_eq!(call.messages[0].role, Role::System);
        assert_eq!(call.messages[1].content, "a\nb");
    }

    #[test]
    fn names_the_offending_field() {
        assert_eq!(param_of(parse(br#"{"messages":[]}"#)), Some("model".into()));
        assert_eq!(
            param_of(parse(br#"{"model":"pincer/x"}"#)),
            Some("messages".into())
        );
        assert_eq!(
            param_of(parse(br#"{"model":"pincer/x","messages":[]}"#)),
            Some("messages".into())
        );
        assert_eq!(
            param_of(parse(br#"{"model":1,"messages":[]}"#)),
            Some("model".into())
        );
        assert_eq!(
            param_of(parse(br#"{"model":"pincer/x","messages":"hi"}"#)),
            Some("messages".into())
        );
        assert_eq!(
            param_of(parse(
                br#"{"model":"pincer/x","messages":[{"role":"wizard","content":"x"}]}"#
            )),
            Some("messages[0].role".into())
        );
        assert_eq!(
            param_of(parse(
                br#"{"model":"pincer/x","messages":[{"role":"user","content":5}]}"#
            )),
            Some("messages[0].content".into())
        );
        assert_eq!(
            param_of(parse(br#"{"model":"pincer/x","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#)),
            Some("stream".into())
        );
        assert_eq!(
            param_of(parse(
                br#"{"model":"pincer/x","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#
            )),
            Some("messages[0].content[0].image_url.url".into())
        );
        assert_eq!(
            param_of(parse(
                br#"{"model":"pincer/x","messages":[{"role":"user","content":[{"type":"input_audio"}]}]}"#
            )),
            Some("messages[0].content[0]".into())
        );
    }

    #[test]
    fn rejects_non_json_and_non_objects() {
        assert!(matches!(
            parse(b"{not json"),
            Err(ApiError::BadRequest { param: None, .. })
        ));
        assert!(matches!(
            parse(b"[1,2]"),
            Err(ApiError::BadRequest { param: None, .. })
        ));
        assert!(matches!(parse(b""), Err(ApiError::BadRequest { .. })));
    }

    #[test]
    fn temperature_and_the_output_cap_are_the_callers() {
        let request = |extra: &str| {
            parse(
                format!(
                    r#"{{"model":"pincer/x","messages":[{{"role":"user","content":"x"}}]{extra}}}"#
                )
                .as_bytes(),
            )
        };
        assert_eq!(request("").unwrap().sampling, Sampling::default());
        let call = request(r#","temperature":0.2,"max_tokens":64"#).unwrap();
        assert_eq!(call.sampling.temperature, Some(0.2));
        assert_eq!(call.sampling.max_tokens, Some(64));
        let both = request(r#","max_tokens":64,"max_completion_tokens":128"#).unwrap();
        assert_eq!(
            both.sampling.max_tokens,
            Some(128),
            "the newer spelling wins"
        );
        for (extra, param) in [
            (r#","temperature":2.5"#, "temperature"),
            (r#","temperature":"hot""#, "temperature"),
            (r#","max_tokens":0"#, "max_tokens"),
            (r#","max_tokens":1.5"#, "max_tokens"),
            (r#","max_completion_tokens":-3"#, "max_completion_tokens"),
            (
                r#","max_completion_tokens":99999999999"#,
                "max_completion_tokens",
            ),
            (r#","top_p":1.5"#, "top_p"),
            (r#","stop":["a","b","c","d","e"]"#, "stop"),
            (r#","stop":[""]"#, "stop"),
            (r#","stop":7"#, "stop"),
            (r#","seed":1.5"#, "seed"),
            (r#","presence_penalty":3"#, "presence_penalty"),
            (r#","frequency_penalty":"lots""#, "frequency_penalty"),
            (
                r#","response_format":{"type":"xml"}"#,
                "response_format.type",
            ),
            (
                r#","response_format":{"type":"json_schema"}"#,
                "response_format.json_schema",
            ),
            (
                r#","response_format":{"type":"json_schema","json_schema":{"schema":{}}}"#,
                "response_format.json_schema.name",
            ),
            (r#","response_format":"json""#, "response_format"),
        ] {
            assert_eq!(param_of(request(extra)), Some(param.into()), "{extra}");
        }
        let call = request(
            r#","top_p":0.9,"stop":"END","seed":7,"presence_penalty":-1,"frequency_penalty":0.5"#,
        )
        .unwrap();
        assert_eq!(call.sampling.top_p, Some(0.9));
        assert_eq!(call.sampling.stop, ["END"]);
        assert_eq!(call.sampling.seed, Some(7));
        assert_eq!(call.sampling.presence_penalty, Some(-1.0));
        assert_eq!(call.sampling.frequency_penalty, Some(0.5));
        let stops = request(r#","stop":["a","b"]"#).unwrap();
        assert_eq!(stops.sampling.stop, ["a", "b"]);
        let text = request(r#","response_format":{"type":"text"}"#).unwrap();
        assert_eq!(text.sampling.response_format, None);
        let schema = request(
            r#","response_format":{"type":"json_schema","json_schema":{"name":"p","strict":true,"schema":{"type":"object"}}}"#,
        )
        .unwrap();
        assert_eq!(
            schema.sampling.response_format,
            Some(
                serde_json::json!({"type": "json_schema", "json_schema": {"name": "p", "strict": true, "schema": {"type": "object"}}})
            )
        );
    }

    #[test]
    fn foreign_models_are_not_agents() {
        assert!(matches!(
            parse(br#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#),
            Err(ApiError::ModelNotFound { .. })
        ));
        assert_eq!(agent_of("pincer"), Some("default".into()));
        assert_eq!(agent_of("pincer/a/b"), None);
    }

    #[test]
    fn one_choice_only() {
        let body = |n: &str| {
            format!(
                r#"{{"model":"pincer/default","messages":[{{"role":"user","content":"hi"}}],"n":{n}}}"#
            )
        };
        assert!(parse(body("1").as_bytes()).is_ok());
        assert!(parse(body("null").as_bytes()).is_ok());
        assert_eq!(param_of(parse(body("2").as_bytes())).as_deref(), Some("n"));
        assert_eq!(
            param_of(parse(body("\"1\"").as_bytes())).as_deref(),
            Some("n")
        );
    }

    #[test]
    fn finish_reasons_are_openai_s() {
        let usage = Usage::default();
        for (agent, openai) in [
            ("stop", "stop"),
            ("length", "length"),
            ("tool_calls", "tool_calls"),
            ("max_iterations", "length"),
            ("tool_loop", "stop"),
        ] {
            let body = completion("id", 0, "m", "x", &[], agent, usage);
            assert_eq!(body["choices"][0]["finish_reason"], openai, "{agent}");
            let delta = chunk("id", 0, "m", json!({}), Some(agent));
            assert_eq!(delta["choices"][0]["finish_reason"], openai, "{agent}");
        }
        assert!(chunk("id", 0, "m", json!({}), None)["choices"][0]["finish_reason"].is_null());
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    use super::parse;

    /// JSON tokens and OpenAI field names: bodies made of them reach deep into the parser.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"model\"",
        "\"messages\"",
        "\"role\"",
        "\"content\"",
        "\"user\"",
        "\"stream\"",
        "\"tool_calls\"",
        "\"function\"",
        "\"type\"",
        "\"text\"",
        "\"pincer/default\"",
        "\"assistant\"",
        "\"tool\"",
        "null",
        "true",
        "1e999",
        "-0",
        "\"\\ud800\"",
        "\"é\"",
        "{}",
        "[]",
    ];

    /// A well-formed message, each field of a wrong type now and then.
    fn message() -> impl Strategy<Value = serde_json::Value> {
        let value = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::json!([{"type": "text", "text": "x"}, null])),
            Just(serde_json::json!([{"function": {"name": 1}}])),
        ];
        (
            prop::sample::select(vec!["user", "assistant", "system", "tool", "developer", ""]),
            value.clone(),
            value,
        )
            .prop_map(|(role, content, extra)| {
                serde_json::json!({"role": role, "content": content, "tool_calls": extra})
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        #[test]
        fn token_soup_never_makes_the_parser_panic(
            pieces in prop::collection::vec(prop::sample::select(PIECES), 0..40)
        ) {
            let _ = parse(pieces.concat().as_bytes());
        }

        #[test]
        fn bytes_never_make_the_parser_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&body);
        }

        #[test]
        fn wrong_shapes_at_every_level_are_refused_or_parsed_never_a_panic(
            model in prop::sample::select(vec!["pincer/default", "pincer/", "openclaw/main", "gpt-4o", ""]),
            messages in prop::collection::vec(message(), 0..4),
            stream in prop_oneof![Just(serde_json::Value::Null), any::<bool>().prop_map(serde_json::Value::from), Just(serde_json::json!([]))],
        ) {
            let body = serde_json::json!({"model": model, "messages": messages, "stream": stream});
            let _ = parse(body.to_string().as_bytes());
        }
    }

    #[test]
    fn structured_near_misses_are_refused() {
        for body in [
            r#"{"model":"pincer/default","messages":[null]}"#,
            r#"{"model":"pincer/default","messages":[{"role":"user","content":[null]}]}"#,
            r#"{"model":"pincer/default","messages":[{"role":"assistant","tool_calls":[{}]}]}"#,
            r#"{"model":"pincer/default","messages":[{"role":"assistant","tool_calls":[{"function":{"name":1}}]}]}"#,
            r#"{"model":"pincer/default","messages":[{"role":"user","content":"x"}],"stream_options":[]}"#,
            r#"{"model":"pincer/","messages":[{"role":"user","content":"x"}]}"#,
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body}");
        }
    }
}
