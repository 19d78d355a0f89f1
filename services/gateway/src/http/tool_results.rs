//! Results of a client's function calls (`role: "tool"` messages): each must answer a call the
//! assistant made, as OpenAI requires ("messages with role 'tool' must be a response to a
//! preceding message with 'tool_calls'"). One that answers nothing was dropped before the model
//! saw it, and the model then answered something else.

use pincer_bus::messages::{ChatMessage, Role};

use super::ApiError;

/// Refuses a tool result without a `tool_call_id`, or one that answers no call made before it.
/// `stored_session`: the conversation is stored, so a result that no assistant message of the
/// request precedes may answer a call the session holds (a client sends only its new messages).
pub fn check(messages: &[ChatMessage], stored_session: bool) -> Result<(), ApiError> {
    for (index, message) in messages.iter().enumerate() {
        if message.role != Role::Tool {
            continue;
        }
        let param = format!("messages[{index}].tool_call_id");
        let Some(id) = message.tool_call_id.as_deref().filter(|id| !id.is_empty()) else {
            return Err(ApiError::bad_request(
                param,
                "a message with role 'tool' needs the `tool_call_id` of the call it answers",
            ));
        };
        let earlier = &messages[..index];
        let answered = earlier
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .any(|m| m.tool_calls.iter().any(|call| call.id == id));
        let in_the_session = stored_session && !earlier.iter().any(|m| m.role == Role::Assistant);
        if !answered && !in_the_session {
            return Err(ApiError::bad_request(
                param,
                format!(
                    "messages with role 'tool' must be a response to a preceding message with \
                     'tool_calls': no call has the id {id:?}"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use pincer_bus::messages::ToolCall;

    use super::*;

    fn result(id: Option<&str>) -> ChatMessage {
        ChatMessage {
            tool_call_id: id.map(str::to_owned),
            ..ChatMessage::text(Role::Tool, "42")
        }
    }

    fn calling(id: &str) -> ChatMessage {
        ChatMessage {
            tool_calls: vec![ToolCall {
                id: id.to_owned(),
                name: "weather".to_owned(),
                arguments: "{}".to_owned(),
            }],
            ..ChatMessage::text(Role::Assistant, "")
        }
    }

    #[test]
    fn a_result_answers_a_call_made_before_it() {
        let user = ChatMessage::text(Role::User, "weather?");
        assert!(check(&[user, calling("c1"), result(Some("c1"))], false).is_ok());
        // Only the new messages of a stored session: the session holds the call.
        assert!(check(&[result(Some("c1"))], true).is_ok());
    }

    #[test]
    fn a_result_that_answers_nothing_is_refused_naming_it() {
        let refused = |messages: &[ChatMessage], stored| match check(messages, stored) {
            Err(ApiError::BadRequest {
                message,
                param: Some(param),
            }) => format!("{param}: {message}"),
            other => panic!("not refused with a field: {other:?}"),
        };
        let user = ChatMessage::text(Role::User, "weather?");
        assert!(refused(&[result(Some("bogus"))], false).contains("\"bogus\""));
        assert!(refused(&[user.clone(), calling("c1"), result(Some("c2"))], true).contains("c2"));
        assert!(refused(&[result(Some("c1")), calling("c1")], false).contains("messages[0]"));
        assert!(refused(&[user, calling("c1"), result(None)], false).contains("tool_call_id"));
    }
}
