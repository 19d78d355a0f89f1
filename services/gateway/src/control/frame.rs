//! Frames of the control protocol (OpenClaw's shape): requests in, responses and events out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Protocol version spoken.
pub const PROTOCOL: u32 = 4;

/// A client request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Always `req`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Client-chosen id, echoed in the response.
    pub id: String,
    /// Method name.
    pub method: String,
    /// Parameters (an object, or absent).
    #[serde(default)]
    pub params: Value,
    /// W3C trace context of the caller.
    #[serde(default)]
    pub traceparent: Option<String>,
}

/// Error codes (OpenClaw's base set plus the HTTP-like ones a dashboard needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// Malformed frame or params.
    InvalidRequest,
    /// Wrong or missing credentials.
    Unauthorized,
    /// Not allowed (scope, origin).
    Forbidden,
    /// No such session, run, code, method.
    NotFound,
    /// The state changed (config hash) or the operation conflicts.
    Conflict,
    /// Locked out after failed attempts.
    RateLimited,
    /// A dependency (NATS, router, runner) is not available.
    Unavailable,
    /// The agent did not answer in time.
    AgentTimeout,
    /// A bug.
    Internal,
}

/// An error response's body.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorShape {
    /// Category.
    pub code: Code,
    /// What went wrong, for a person.
    pub message: String,
    /// Extra structured detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// When to retry (rate limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    /// An error with a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after_ms: None,
        }
    }

    /// `INVALID_REQUEST`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }
}

/// Encodes a success response.
pub fn ok(id: &str, payload: Value) -> String {
    serde_json::json!({ "type": "res", "id": id, "ok": true, "payload": payload }).to_string()
}

/// Encodes an error response.
pub fn error(id: &str, error: &ErrorShape) -> String {
    serde_json::json!({ "type": "res", "id": id, "ok": false, "error": error }).to_string()
}

/// Encodes an event.
pub fn event(name: &str, payload: &Value, seq: u64) -> String {
    serde_json::json!({ "type": "event", "event": name, "payload": payload, "seq": seq })
        .to_string()
}

/// Parses a frame; the error names what is wrong.
pub fn parse(text: &str) -> Result<Request, ErrorShape> {
    let request: Request = serde_json::from_str(text)
        .map_err(|e| ErrorShape::invalid(format!("not a request frame: {e}")))?;
    if request.kind != "req" {
        return Err(ErrorShape::invalid(format!(
            "frame type {:?} is not \"req\"",
            request.kind
        )));
    }
    if !(request.params.is_object() || request.params.is_null()) {
        return Err(ErrorShape::invalid("params must be an object"));
    }
    Ok(request)
}

/// Reads a typed params object.
pub fn params<T: serde::de::DeserializeOwned>(params: &Value) -> Result<T, ErrorShape> {
    let value = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params.clone()
    };
    serde_json::from_value(value).map_err(|e| ErrorShape::invalid(format!("params: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_parse_and_bad_frames_say_why() {
        let request = parse(r#"{"type":"req","id":"1","method":"health"}"#).unwrap();
        assert_eq!(request.method, "health");
        assert!(request.params.is_null());
        let wrong_type = parse(r#"{"type":"event","id":"1","method":"x"}"#).unwrap_err();
        assert!(wrong_type.message.contains("event"));
        let no_id = parse(r#"{"type":"req","method":"x"}"#).unwrap_err();
        assert!(no_id.message.contains("id"), "{}", no_id.message);
        let array_params =
            parse(r#"{"type":"req","id":"1","method":"x","params":[1]}"#).unwrap_err();
        assert!(array_params.message.contains("object"));
    }

    #[test]
    fn responses_and_events_have_the_openclaw_shape() {
        let ok: Value = serde_json::from_str(&ok("7", serde_json::json!({"a":1}))).unwrap();
        assert_eq!(
            ok,
            serde_json::json!({"type":"res","id":"7","ok":true,"payload":{"a":1}})
        );
        let err: Value =
            serde_json::from_str(&error("8", &ErrorShape::new(Code::NotFound, "no"))).unwrap();
        assert_eq!(err["error"]["code"], "NOT_FOUND");
        let ev: Value = serde_json::from_str(&event("tick", &serde_json::json!({}), 3)).unwrap();
        assert_eq!(ev["seq"], 3);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,512}") {
            let _ = parse(&text);
        }

        #[test]
        fn arbitrary_json_values_never_panic(
            id in ".{0,16}", method in ".{0,32}", key in "[a-z]{0,8}", n in any::<i64>()
        ) {
            let frame = serde_json::json!({"type":"req","id":id,"method":method,"params":{key: n}});
            let parsed = parse(&frame.to_string()).expect("a well-formed frame parses");
            let _ = params::<std::collections::HashMap<String, i64>>(&parsed.params);
        }
    }
}
