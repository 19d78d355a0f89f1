//! One `tools/call`: bounded by the server's timeout (cancelled when it runs out), the result as
//! text, and every failure as an error the model can read.

use rmcp::ServiceError;
use rmcp::model::{CallToolRequestParams, JsonObject};

use super::call_error::CallError;
use super::result;
use super::slot::Slot;

/// Parses `arguments` (empty means `{}`) into the object `tools/call` takes.
fn arguments(text: &str) -> Result<JsonObject, CallError> {
    if text.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(CallError::Arguments("expected a JSON object".to_owned())),
        Err(error) => Err(CallError::Arguments(error.to_string())),
    }
}

/// Calls the offered tool `name` of `slot`'s server.
pub(crate) async fn call(slot: &Slot, name: &str, text: &str) -> Result<String, CallError> {
    let arguments = arguments(text)?;
    let (live, tool) = slot.lookup(name)?;
    let params = CallToolRequestParams::new(tool).with_arguments(arguments);
    let limit = slot.config.timeout();
    // Dropping the call on timeout sends `notifications/cancelled` to the server.
    let outcome = tokio::time::timeout(limit, live.peer.call_tool(params)).await;
    let server = slot.name.clone();
    match outcome {
        Ok(Ok(result)) => {
            slot.answered();
            let text = result::render(&result);
            if result.is_error == Some(true) {
                Err(CallError::Tool(text))
            } else {
                Ok(text)
            }
        }
        Ok(Err(ServiceError::McpError(error))) => {
            slot.answered();
            Err(CallError::Rejected {
                server,
                message: error.message.into_owned(),
            })
        }
        Ok(Err(ServiceError::TransportClosed)) => {
            // The supervisor sees the connection end and restarts it.
            Err(CallError::NotRunning {
                server,
                reason: "the connection closed during the call".to_owned(),
            })
        }
        Ok(Err(error @ ServiceError::TransportSend(_))) => {
            slot.unanswered(&live);
            Err(CallError::Unreachable {
                server,
                reason: error.to_string(),
            })
        }
        Ok(Err(error)) => Err(CallError::Protocol {
            server,
            reason: error.to_string(),
        }),
        Err(_) => {
            slot.unanswered(&live);
            Err(CallError::TimedOut {
                name: name.to_owned(),
                seconds: limit.as_secs(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(arguments(" ").expect("empty").len(), 0);
        assert_eq!(arguments(r#"{"a":1}"#).expect("object")["a"], 1);
        assert!(matches!(arguments("[1]"), Err(CallError::Arguments(_))));
        assert!(matches!(arguments("{"), Err(CallError::Arguments(_))));
    }
}
