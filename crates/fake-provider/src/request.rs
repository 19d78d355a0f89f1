//! Parsing and checking a chat request body, for either wire dialect.

use serde_json::Value;

use crate::wire_error::Dialect;

/// Why a chat body was refused (answered with 400 and a provider-shaped error body).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("invalid JSON body: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("model is required")]
    MissingModel,
    #[error("missing required parameter: 'messages'")]
    MissingMessages,
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// A checked chat request: the raw body plus the few facts the fake needs from it.
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest {
    /// The whole parsed body, as recorded.
    pub body: Value,
    pub model: String,
    /// Whether to answer as a stream (dialect default applied).
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    /// Names of the offered tools, in order.
    pub tool_names: Vec<String>,
}

impl ChatRequest {
    /// Parses `bytes` as a chat body in `dialect`.
    ///
    /// Ollama streams when `stream` is absent and treats missing `messages` as empty (a model
    /// load); OpenAI does not stream by default and requires `messages`.
    pub fn parse(bytes: &[u8], dialect: Dialect) -> Result<Self, RequestError> {
        let body: Value = serde_json::from_slice(bytes).map_err(RequestError::InvalidJson)?;
        let Value::Object(object) = &body else {
            return Err(RequestError::NotAnObject);
        };
        let model = match object.get("model") {
            Some(Value::String(model)) if !model.is_empty() => model.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(RequestError::MissingModel);
            }
            Some(_) => return Err(wrong("model", "a string")),
        };
        match object.get("messages") {
            Some(Value::Array(_)) => {}
            None | Some(Value::Null) if dialect == Dialect::Ollama => {}
            None | Some(Value::Null) => return Err(RequestError::MissingMessages),
            Some(_) => return Err(wrong("messages", "an array")),
        }
        let stream = match object.get("stream") {
            Some(Value::Bool(stream)) => *stream,
            None | Some(Value::Null) => dialect == Dialect::Ollama,
            Some(_) => return Err(wrong("stream", "a boolean")),
        };
        let include_usage = match object.get("stream_options") {
            Some(Value::Object(options)) => options
                .get("include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            None | Some(Value::Null) => false,
            Some(_) => return Err(wrong("stream_options", "an object")),
        };
        let tool_names = match object.get("tools") {
            Some(Value::Array(tools)) => tools.iter().map(tool_name).collect(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(wrong("tools", "an array")),
        };
        Ok(Self {
            model,
            stream,
            include_usage,
            tool_names,
            body,
        })
    }

    /// The `messages` array (empty if absent).
    pub fn messages(&self) -> &[Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The text of Anthropic's top-level `system` prompt (empty on the other wires, which carry
    /// it as a message).
    pub fn system_text(&self) -> String {
        text_of(self.body.get("system"))
    }
}

fn wrong(field: &'static str, expected: &'static str) -> RequestError {
    RequestError::WrongType { field, expected }
}

/// Name of an offered tool: `{"function":{"name"}}` (both dialects) or a bare `{"name"}`.
fn tool_name(tool: &Value) -> String {
    tool.get("function")
        .unwrap_or(tool)
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The role of a message, lower-cased (Ollama lower-cases roles too).
pub(crate) fn role(message: &Value) -> String {
    message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The text of a message: a string `content`, or the `text` parts of a content array joined
/// with spaces.
pub(crate) fn content_text(message: &Value) -> String {
    text_of(message.get("content"))
}

/// Whether a message carries tool results: an OpenAI/Ollama `tool` (or legacy `function`)
/// message, or an Anthropic user message with `tool_result` blocks.
pub(crate) fn is_tool_result(message: &Value) -> bool {
    matches!(role(message).as_str(), "tool" | "function")
        || message
            .get("content")
            .and_then(Value::as_array)
            .is_some_and(|blocks| {
                blocks
                    .iter()
                    .any(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"))
            })
}

/// A string, or the `text` parts of an array joined with spaces.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value, dialect: Dialect) -> Result<ChatRequest, RequestError> {
        ChatRequest::parse(body.to_string().as_bytes(), dialect)
    }

    #[test]
    fn stream_defaults_differ_by_dialect() {
        let body = json!({"model": "m", "messages": []});
        assert!(parse(body.clone(), Dialect::Ollama).unwrap().stream);
        assert!(!parse(body, Dialect::OpenAi).unwrap().stream);
    }

    #[test]
    fn errors_name_the_problem() {
        let err = ChatRequest::parse(b"{nope", Dialect::OpenAi).unwrap_err();
        assert!(err.to_string().starts_with("invalid JSON body"), "{err}");
        let err = parse(json!({"messages": []}), Dialect::Ollama).unwrap_err();
        assert_eq!(err.to_string(), "model is required");
        let err = parse(json!({"model": "m"}), Dialect::OpenAi).unwrap_err();
        assert_eq!(err.to_string(), "missing required parameter: 'messages'");
        let err = parse(json!({"model": "m", "messages": {}}), Dialect::Ollama).unwrap_err();
        assert_eq!(err.to_string(), "`messages` must be an array");
        assert!(parse(json!({"model": "m"}), Dialect::Ollama).is_ok());
    }

    #[test]
    fn reads_tools_usage_and_content_parts() {
        let request = parse(
            json!({"model": "m", "messages": [], "stream": true,
                   "stream_options": {"include_usage": true},
                   "tools": [{"type": "function", "function": {"name": "a"}}, {"name": "b"}]}),
            Dialect::OpenAi,
        )
        .unwrap();
        assert!(request.include_usage);
        assert_eq!(request.tool_names, ["a", "b"]);
        let message = json!({"role": "User", "content": [{"type": "text", "text": "hi"},
                                                         {"type": "text", "text": "there"}]});
        assert_eq!(role(&message), "user");
        assert_eq!(content_text(&message), "hi there");
    }

    #[test]
    fn tool_results_on_every_wire() {
        assert!(is_tool_result(&json!({"role": "tool", "content": "42"})));
        assert!(is_tool_result(&json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]})));
        assert!(!is_tool_result(&json!({"role": "user", "content": [
            {"type": "text", "text": "tool_result"}]})));
        assert!(!is_tool_result(&json!({"role": "user", "content": "tool"})));
    }
}
