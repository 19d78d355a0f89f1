//! The checks the Anthropic Messages API makes before running a model, so a client (or the
//! router) that would get a 400 from Anthropic gets the same 400 here.
//!
//! Messages are worded like the real API's where known (`<field>: <problem>`).

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::request::{ChatRequest, RequestError};
use crate::wire_error::Dialect;

/// First API version without sampling parameters; later dates compare greater as text.
const SAMPLING_REMOVED_IN: &str = "2026-10-21";
/// Body fields removed in [`SAMPLING_REMOVED_IN`].
const SAMPLING_FIELDS: &[&str] = &["temperature", "top_p", "top_k"];

/// Why an Anthropic request was refused (answered with 400 `invalid_request_error`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AnthropicRequestError {
    #[error("anthropic-version: header is required")]
    MissingVersion,
    #[error(transparent)]
    Body(#[from] RequestError),
    #[error("{0}: Extra inputs are not permitted")]
    RemovedField(&'static str),
    #[error("max_tokens: Field required")]
    MissingMaxTokens,
    #[error("max_tokens: Input should be a positive integer")]
    BadMaxTokens,
    #[error("system: Input should be a valid string or a list of text blocks")]
    BadSystem,
    #[error("thinking.type: Input should be 'enabled' or 'disabled'")]
    BadThinkingType,
    #[error("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")]
    SmallThinkingBudget,
    #[error("`max_tokens` must be greater than `thinking.budget_tokens`")]
    BudgetOverMaxTokens,
    #[error("messages: at least one message is required")]
    NoMessages,
    #[error(
        "messages.{0}: Unexpected role \"system\". The Messages API accepts a top-level \
         `system` parameter, not \"system\" as an input message role."
    )]
    SystemRole(usize),
    #[error("messages.{index}.role: Input should be 'user' or 'assistant'")]
    BadRole { index: usize },
    #[error("messages.{index}.content: Input should be a valid string or list of blocks")]
    BadContent { index: usize },
    #[error("messages.{index}.content.{block}: {problem}")]
    BadBlock {
        index: usize,
        block: usize,
        problem: &'static str,
    },
    #[error("messages.{index}.content.{block}: `tool_use` ids must be unique")]
    DuplicateToolUseId { index: usize, block: usize },
    #[error(
        "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found \
         `{found}`. When `thinking` is enabled, a final `assistant` message must start with a \
         thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). \
         To avoid this requirement, disable `thinking`."
    )]
    MissingThinking { index: usize, found: String },
    #[error("messages.{index}.content.{block}: Invalid `signature` in `thinking` block")]
    BadSignature { index: usize, block: usize },
    #[error("tool_use ids were found without tool_result blocks immediately after: {0}")]
    UnansweredToolUse(String),
    #[error(
        "unexpected tool_use_id found in tool_result blocks: {0}. Each tool_result block must \
         have a corresponding tool_use block in the previous message."
    )]
    UnexpectedToolResult(String),
}

type Checked<T> = Result<T, AnthropicRequestError>;

/// Checks the version header and the body, and parses it.
pub(crate) fn parse(headers: &HeaderMap, bytes: &[u8]) -> Checked<ChatRequest> {
    let version = headers
        .get("anthropic-version")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
        .filter(|version| !version.is_empty())
        .ok_or(AnthropicRequestError::MissingVersion)?;
    let request = ChatRequest::parse(bytes, Dialect::Anthropic)?;
    let Value::Object(body) = &request.body else {
        return Err(RequestError::NotAnObject.into());
    };
    check_body(&version, body)?;
    Ok(request)
}

fn check_body(version: &str, body: &Map<String, Value>) -> Checked<()> {
    if version >= SAMPLING_REMOVED_IN
        && let Some(field) = SAMPLING_FIELDS.iter().find(|f| body.contains_key(**f))
    {
        return Err(AnthropicRequestError::RemovedField(field));
    }
    match body.get("max_tokens") {
        None | Some(Value::Null) => return Err(AnthropicRequestError::MissingMaxTokens),
        Some(value) if value.as_u64().is_none_or(|n| n == 0) => {
            return Err(AnthropicRequestError::BadMaxTokens);
        }
        Some(_) => {}
    }
    if let Some(thinking) = body.get("thinking") {
        let max_tokens = body.get("max_tokens").and_then(Value::as_u64).unwrap_or(0);
        check_thinking(thinking, max_tokens)?;
    }
    check_system(body.get("system"))?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if messages.is_empty() {
        return Err(AnthropicRequestError::NoMessages);
    }
    let tools = messages
        .iter()
        .enumerate()
        .map(|(index, message)| checked_message(index, message))
        .collect::<Checked<Vec<_>>>()?;
    check_unique_ids(messages)?;
    check_tool_pairing(&tools)?;
    crate::anthropic_thinking::check(body, messages)
}

/// No two `tool_use` blocks of the conversation share an id.
fn check_unique_ids(messages: &[Value]) -> Checked<()> {
    let mut seen = std::collections::HashSet::new();
    for (index, message) in messages.iter().enumerate() {
        let blocks = message
            .get("content")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (block, content) in blocks.iter().enumerate() {
            if content.get("type").and_then(Value::as_str) == Some("tool_use")
                && let Some(id) = content.get("id").and_then(Value::as_str)
                && !seen.insert(id)
            {
                return Err(AnthropicRequestError::DuplicateToolUseId { index, block });
            }
        }
    }
    Ok(())
}

/// Extended thinking: `{"type": "enabled", "budget_tokens": >= 1024 and < max_tokens}` or
/// `{"type": "disabled"}`.
fn check_thinking(thinking: &Value, max_tokens: u64) -> Checked<()> {
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(()),
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if budget < 1024 {
                return Err(AnthropicRequestError::SmallThinkingBudget);
            }
            if max_tokens <= budget {
                return Err(AnthropicRequestError::BudgetOverMaxTokens);
            }
            Ok(())
        }
        _ => Err(AnthropicRequestError::BadThinkingType),
    }
}

/// `system` is absent, a string, or a list of text blocks.
fn check_system(system: Option<&Value>) -> Checked<()> {
    let ok = match system {
        None | Some(Value::Null | Value::String(_)) => true,
        Some(Value::Array(blocks)) => blocks.iter().all(|block| {
            block.get("type").and_then(Value::as_str) == Some("text")
                && block.get("text").is_some_and(Value::is_string)
        }),
        Some(_) => false,
    };
    ok.then_some(()).ok_or(AnthropicRequestError::BadSystem)
}

/// What the tool pairing check needs from one message.
struct MessageTools<'a> {
    assistant: bool,
    tool_use_ids: Vec<&'a str>,
    tool_result_ids: Vec<&'a str>,
}

/// Checks a message's role and blocks; returns its tool ids.
fn checked_message(index: usize, message: &Value) -> Checked<MessageTools<'_>> {
    let assistant = match message.get("role").and_then(Value::as_str) {
        Some("user") => false,
        Some("assistant") => true,
        Some("system") => return Err(AnthropicRequestError::SystemRole(index)),
        _ => return Err(AnthropicRequestError::BadRole { index }),
    };
    let mut tools = MessageTools {
        assistant,
        tool_use_ids: Vec::new(),
        tool_result_ids: Vec::new(),
    };
    let blocks = match message.get("content") {
        Some(Value::String(_)) => return Ok(tools),
        Some(Value::Array(blocks)) => blocks,
        _ => return Err(AnthropicRequestError::BadContent { index }),
    };
    for (block_index, block) in blocks.iter().enumerate() {
        let bad = |problem| AnthropicRequestError::BadBlock {
            index,
            block: block_index,
            problem,
        };
        match block_kind(block).map_err(bad)? {
            Block::ToolUse(id) if assistant => tools.tool_use_ids.push(id),
            Block::ToolResult(id) if !assistant => tools.tool_result_ids.push(id),
            Block::ToolUse(_) => {
                return Err(bad(
                    "tool_use blocks are only allowed in assistant messages",
                ));
            }
            Block::ToolResult(_) => {
                return Err(bad("tool_result blocks are only allowed in user messages"));
            }
            Block::Other => {}
        }
    }
    Ok(tools)
}

/// A content block, reduced to what the checks need.
enum Block<'a> {
    ToolUse(&'a str),
    ToolResult(&'a str),
    /// Text, or a kind the fake accepts unchecked (image, document, thinking, ...).
    Other,
}

/// Checks one block's required fields.
fn block_kind(block: &Value) -> Result<Block<'_>, &'static str> {
    let text = |key: &str| block.get(key).and_then(Value::as_str);
    match text("type") {
        None => Err("Input should be an object with a string `type`"),
        Some("text") => text("text")
            .map(|_| Block::Other)
            .ok_or("text.text: Field required"),
        Some("tool_use") => {
            let id = text("id").ok_or("tool_use.id: Field required")?;
            text("name").ok_or("tool_use.name: Field required")?;
            match block.get("input") {
                Some(Value::Object(_)) => Ok(Block::ToolUse(id)),
                _ => Err("tool_use.input: Input should be a valid dictionary"),
            }
        }
        Some("tool_result") => {
            let id = text("tool_use_id").ok_or("tool_result.tool_use_id: Field required")?;
            if !matches!(
                block.get("content"),
                None | Some(Value::String(_) | Value::Array(_))
            ) {
                return Err("tool_result.content: Input should be a valid string or list");
            }
            if !matches!(block.get("is_error"), None | Some(Value::Bool(_))) {
                return Err("tool_result.is_error: Input should be a valid boolean");
            }
            Ok(Block::ToolResult(id))
        }
        Some(_) => Ok(Block::Other),
    }
}

/// Every `tool_use` of an assistant message must be answered by a `tool_result` in the very
/// next (user) message, and every `tool_result` must answer one in the message before.
fn check_tool_pairing(messages: &[MessageTools<'_>]) -> Checked<()> {
    for (index, message) in messages.iter().enumerate() {
        let previous_uses = index
            .checked_sub(1)
            .and_then(|i| messages.get(i))
            .filter(|previous| previous.assistant)
            .map_or(&[][..], |previous| previous.tool_use_ids.as_slice());
        let unexpected: Vec<&str> = message
            .tool_result_ids
            .iter()
            .filter(|id| !previous_uses.contains(id))
            .copied()
            .collect();
        if !unexpected.is_empty() {
            return Err(AnthropicRequestError::UnexpectedToolResult(
                unexpected.join(", "),
            ));
        }
        let next_results = messages
            .get(index + 1)
            .map_or(&[][..], |next| next.tool_result_ids.as_slice());
        let unanswered: Vec<&str> = message
            .tool_use_ids
            .iter()
            .filter(|id| !next_results.contains(id))
            .copied()
            .collect();
        if !unanswered.is_empty() {
            return Err(AnthropicRequestError::UnansweredToolUse(
                unanswered.join(", "),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(version: &str, body: Value) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", version.parse().unwrap());
        parse(&headers, body.to_string().as_bytes())
            .map(|_| ())
            .map_err(|err| err.to_string())
    }

    fn user(content: Value) -> Value {
        json!({"role": "user", "content": content})
    }

    fn with(messages: Value) -> Value {
        json!({"model": "claude", "max_tokens": 64, "messages": messages})
    }

    fn tool_use(id: &str) -> Value {
        json!({"type": "tool_use", "id": id, "name": "get_weather", "input": {"city": "Oslo"}})
    }

    fn tool_result(id: &str) -> Value {
        json!({"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": "9C"}]})
    }

    #[test]
    fn version_header_is_required() {
        let err = parse(
            &HeaderMap::new(),
            with(json!([user(json!("hi"))])).to_string().as_bytes(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "anthropic-version: header is required");
    }

    #[test]
    fn sampling_fields_are_refused_from_2026_10_21() {
        let mut body = with(json!([user(json!("hi"))]));
        body["top_k"] = json!(5);
        body["temperature"] = json!(1.0);
        assert_eq!(check("2023-06-01", body.clone()), Ok(()));
        assert_eq!(
            check("2026-10-21", body.clone()),
            Err("temperature: Extra inputs are not permitted".to_owned())
        );
        body.as_object_mut().unwrap().remove("temperature");
        assert_eq!(
            check("2027-01-01", body),
            Err("top_k: Extra inputs are not permitted".to_owned())
        );
    }

    #[test]
    fn thinking_needs_a_budget_of_1024_under_max_tokens() {
        let mut body = with(json!([user(json!("hi"))]));
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
        assert_eq!(
            check("2023-06-01", body.clone()),
            Err("`max_tokens` must be greater than `thinking.budget_tokens`".to_owned())
        );
        body["max_tokens"] = json!(8192);
        assert_eq!(check("2023-06-01", body.clone()), Ok(()));
        body["thinking"]["budget_tokens"] = json!(100);
        assert!(check("2023-06-01", body.clone()).is_err_and(|e| e.contains("1024")));
        body["thinking"] = json!({"type": "adaptive"});
        assert!(check("2023-06-01", body).is_err());
    }

    #[test]
    fn required_fields_and_roles() {
        let no_max = json!({"model": "claude", "messages": [user(json!("hi"))]});
        assert_eq!(
            check("2026-10-21", no_max),
            Err("max_tokens: Field required".to_owned())
        );
        let system = with(json!([{"role": "system", "content": "be brief"}, user(json!("hi"))]));
        assert!(
            check("2026-10-21", system)
                .unwrap_err()
                .starts_with("messages.0: Unexpected role \"system\"")
        );
        assert_eq!(
            check("2026-10-21", with(json!([]))),
            Err("messages: at least one message is required".to_owned())
        );
        let mut top_level_system = with(json!([user(json!("hi"))]));
        top_level_system["system"] = json!([{"type": "text", "text": "be brief"}]);
        assert_eq!(check("2026-10-21", top_level_system), Ok(()));
    }

    #[test]
    fn tool_use_needs_a_result_in_the_next_message() {
        let answered = with(json!([
            user(json!("weather?")),
            {"role": "assistant", "content": [{"type": "text", "text": "checking"}, tool_use("toolu_1")]},
            user(json!([tool_result("toolu_1"), {"type": "text", "text": "thanks"}])),
        ]));
        assert_eq!(check("2026-10-21", answered), Ok(()));
        let late = with(json!([
            user(json!("weather?")),
            {"role": "assistant", "content": [tool_use("toolu_1"), tool_use("toolu_2")]},
            user(json!([tool_result("toolu_2")])),
        ]));
        assert_eq!(
            check("2026-10-21", late),
            Err(
                "tool_use ids were found without tool_result blocks immediately after: toolu_1"
                    .to_owned()
            )
        );
        let stray = with(json!([user(json!([tool_result("toolu_9")]))]));
        assert!(
            check("2026-10-21", stray)
                .unwrap_err()
                .starts_with("unexpected tool_use_id found in tool_result blocks: toolu_9.")
        );
    }

    #[test]
    fn tool_use_input_must_be_an_object() {
        let body = with(json!([
            user(json!("weather?")),
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": "{\"city\":\"Oslo\"}"}]},
            user(json!([tool_result("toolu_1")])),
        ]));
        assert_eq!(
            check("2023-06-01", body),
            Err(
                "messages.1.content.0: tool_use.input: Input should be a valid dictionary"
                    .to_owned()
            )
        );
    }

    #[test]
    fn tool_use_ids_are_unique_in_the_conversation() {
        let turn = |id: &str| {
            [
                json!({"role": "assistant", "content": [tool_use(id)]}),
                user(json!([tool_result(id)])),
            ]
        };
        let mut messages = vec![user(json!("weather?"))];
        messages.extend(turn("call_0"));
        messages.push(json!({"role": "assistant", "content": "Sunny."}));
        messages.push(user(json!("and tomorrow?")));
        messages.extend(turn("call_0"));
        assert_eq!(
            check("2026-10-21", with(Value::Array(messages))),
            Err("messages.5.content.0: `tool_use` ids must be unique".to_owned())
        );
    }

    #[test]
    fn a_thinking_tool_loop_brings_its_signed_block_back() {
        use crate::anthropic_thinking::{THOUGHT, signature};
        let thinking = |body: Value| {
            let mut body = body;
            body["max_tokens"] = json!(8192);
            body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
            body
        };
        let loop_with = |first: Value| {
            with(json!([
                user(json!("weather?")),
                {"role": "assistant", "content": [first, tool_use("toolu_1")]},
                user(json!([tool_result("toolu_1")])),
            ]))
        };
        let block =
            json!({"type": "thinking", "thinking": THOUGHT, "signature": signature(THOUGHT)});
        assert_eq!(
            check("2026-10-21", thinking(loop_with(block.clone()))),
            Ok(())
        );
        let missing = check(
            "2026-10-21",
            thinking(loop_with(json!({"type": "text", "text": "Looking."}))),
        );
        assert!(
            missing.as_ref().is_err_and(|e| e.starts_with(
                "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`"
            )),
            "{missing:?}"
        );
        let mut edited = block;
        edited["thinking"] = json!("Something else.");
        assert_eq!(
            check("2026-10-21", loop_with(edited)),
            Err("messages.1.content.0: Invalid `signature` in `thinking` block".to_owned())
        );
    }
}
