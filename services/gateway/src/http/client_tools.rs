//! An OpenAI request's `tools` and `tool_choice`: the functions the client runs itself. The agent
//! offers them to the model beside its own tools; a reply that calls one ends the turn with
//! `finish_reason: "tool_calls"`, and the client answers with `role: "tool"` messages in its next
//! request, as with OpenAI.

use pincer_bus::messages::ClientTool;
use serde_json::{Map, Value};

use super::ApiError;

/// OpenAI's limit on a function's name.
const MAX_NAME_CHARS: usize = 64;

/// The client's functions, none when `tool_choice` is `"none"`.
pub(super) fn parse(object: &Map<String, Value>) -> Result<Vec<ClientTool>, ApiError> {
    let tools = match object.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| tool(index, item))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "tools",
                "`tools` must be an array of {\"type\": \"function\", \"function\": {...}}",
            ));
        }
    };
    for (index, tool) in tools.iter().enumerate() {
        if tools[..index].iter().any(|seen| seen.name == tool.name) {
            return Err(ApiError::bad_request(
                format!("tools[{index}].function.name"),
                format!("two tools are named `{}`", tool.name),
            ));
        }
    }
    match object.get("tool_choice") {
        None | Some(Value::Null) => Ok(tools),
        Some(Value::String(choice)) if choice == "auto" => Ok(tools),
        Some(Value::String(choice)) if choice == "none" => Ok(Vec::new()),
        // The agent decides when to answer; it cannot be made to call a given function.
        Some(_) => Err(ApiError::bad_request(
            "tool_choice",
            "`tool_choice` must be \"auto\" or \"none\": the agent decides which tools it calls",
        )),
    }
}

fn tool(index: usize, item: &Value) -> Result<ClientTool, ApiError> {
    let param = |field: &str| format!("tools[{index}].{field}");
    let shape = || {
        ApiError::bad_request(
            param("type"),
            "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
        )
    };
    let Value::Object(item) = item else {
        return Err(shape());
    };
    if item.get("type").and_then(Value::as_str) != Some("function") {
        return Err(shape());
    }
    let Some(Value::Object(function)) = item.get("function") else {
        return Err(ApiError::bad_request(
            param("function"),
            "`function` must be an object with a `name`",
        ));
    };
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| valid_name(name))
        .ok_or_else(|| {
            ApiError::bad_request(
                param("function.name"),
                "a function's name must be 1 to 64 letters, digits, `_` or `-`",
            )
        })?;
    let description = match function.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                param("function.description"),
                "`description` must be a string",
            ));
        }
    };
    let parameters = match function.get("parameters") {
        // OpenAI's default: a function without arguments.
        None | Some(Value::Null) => serde_json::json!({ "type": "object", "properties": {} }),
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                param("function.parameters"),
                "`parameters` must be a JSON Schema object",
            ));
        }
    };
    Ok(ClientTool {
        name: name.to_owned(),
        description,
        parameters_json: parameters.to_string(),
    })
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(body: Value) -> Result<Vec<ClientTool>, ApiError> {
        let Value::Object(object) = body else {
            unreachable!()
        };
        parse(&object)
    }

    fn param(result: Result<Vec<ClientTool>, ApiError>) -> Option<String> {
        match result {
            Err(ApiError::BadRequest { param, .. }) => param,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn functions_are_read_with_their_schema() {
        let tools = parsed(json!({"tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "ping"}},
        ]}))
        .expect("valid tools");
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[0].name, "get_weather");
        assert_eq!(tools[0].description, "Weather now");
        assert!(tools[0].parameters_json.contains("city"));
        assert_eq!(
            tools[1].parameters_json,
            r#"{"properties":{},"type":"object"}"#
        );
        assert!(parsed(json!({})).expect("none").is_empty());
    }

    #[test]
    fn tool_choice_none_offers_none_and_forcing_a_call_is_refused() {
        let one = json!([{"type": "function", "function": {"name": "ping"}}]);
        assert!(
            parsed(json!({"tools": one, "tool_choice": "none"}))
                .expect("none")
                .is_empty()
        );
        assert_eq!(
            parsed(json!({"tools": one, "tool_choice": "auto"}))
                .expect("auto")
                .len(),
            1
        );
        assert_eq!(
            param(parsed(json!({"tools": one, "tool_choice": "required"}))).as_deref(),
            Some("tool_choice")
        );
    }

    #[test]
    fn malformed_tools_name_the_field() {
        for (body, field) in [
            (json!({"tools": {}}), "tools"),
            (json!({"tools": [{"type": "code"}]}), "tools[0].type"),
            (
                json!({"tools": [{"type": "function"}]}),
                "tools[0].function",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "a b"}}]}),
                "tools[0].function.name",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "x", "parameters": []}}]}),
                "tools[0].function.parameters",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "x"}},
                                 {"type": "function", "function": {"name": "x"}}]}),
                "tools[1].function.name",
            ),
        ] {
            assert_eq!(
                param(parsed(body.clone())).as_deref(),
                Some(field),
                "{body}"
            );
        }
    }
}
