//! Provider-shaped error bodies and responses.
//!
//! OpenAI: `{"error":{"message","type","param","code"}}`; Ollama: `{"error":"<message>"}`;
//! Anthropic: `{"type":"error","error":{"type","message"},"request_id"}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::knobs::Failure;

/// Which provider's wire format a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Ollama,
    OpenAi,
    Anthropic,
}

impl Dialect {
    /// The dialect of an unrouted path, for its 404 body.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/api/") {
            Self::Ollama
        } else if path.starts_with("/v1/messages") || path.starts_with("/messages") {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }
}

/// The `request_id` of Anthropic error bodies (and the `request-id` response header).
pub(crate) const ANTHROPIC_REQUEST_ID: &str = "req_fake";

/// OpenAI error `type` and `code` for a status.
fn openai_kind(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("invalid_request_error", "invalid_request"),
        401 => ("authentication_error", "invalid_api_key"),
        402 => ("insufficient_quota", "insufficient_quota"),
        403 => ("permission_error", "permission_denied"),
        404 => ("not_found_error", "model_not_found"),
        408 => ("timeout_error", "timeout"),
        413 => ("invalid_request_error", "request_too_large"),
        429 => ("rate_limit_error", "rate_limit_exceeded"),
        503 => ("server_error", "server_is_overloaded"),
        500..=599 => ("server_error", "server_error"),
        _ => ("invalid_request_error", "invalid_request"),
    }
}

/// Anthropic error `type` for a status (other 4xx are `invalid_request_error`, other 5xx
/// `api_error`, as the API documents).
fn anthropic_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// Anthropic's error body with an explicit error `type`.
pub(crate) fn anthropic_error_json(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message},
           "request_id": ANTHROPIC_REQUEST_ID})
}

/// The error body for `status` and `message` in `dialect`.
pub(crate) fn error_json(dialect: Dialect, status: StatusCode, message: &str) -> Value {
    match dialect {
        Dialect::Ollama => json!({ "error": message }),
        Dialect::OpenAi => {
            let (kind, code) = openai_kind(status);
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Dialect::Anthropic => anthropic_error_json(anthropic_kind(status), message),
    }
}

/// A JSON error response.
pub(crate) fn error_response(dialect: Dialect, status: StatusCode, message: &str) -> Response {
    json_response(status, error_json(dialect, status, message).to_string())
}

/// The 401 for a missing or wrong API key, as each provider words it. The presented key is
/// never repeated (real providers echo a masked prefix; a fake has no reason to).
pub(crate) fn unauthorized_response(dialect: Dialect) -> Response {
    let body = match dialect {
        Dialect::Ollama => json!({"error": "unauthorized"}),
        Dialect::OpenAi => json!({"error": {"message": "Incorrect API key provided",
                                            "type": "invalid_request_error", "param": null,
                                            "code": "invalid_api_key"}}),
        Dialect::Anthropic => anthropic_error_json("authentication_error", "invalid x-api-key"),
    };
    json_response(StatusCode::UNAUTHORIZED, body.to_string())
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The status a failure answers with (500 if the knob holds an invalid code).
pub(crate) fn failure_status(failure: &Failure) -> StatusCode {
    StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The error payload of a failure: its custom body, or a provider-shaped one.
pub(crate) fn failure_payload(dialect: Dialect, failure: &Failure) -> String {
    if let Some(body) = &failure.body {
        return body.clone();
    }
    let status = failure_status(failure);
    let reason = match status.as_u16() {
        529 => "Overloaded",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let message = format!("fake provider failure: {} {reason}", status.as_u16());
    error_json(dialect, status, &message).to_string()
}

/// The HTTP error response of an injected failure, with `Retry-After` when set.
pub(crate) fn failure_response(dialect: Dialect, failure: &Failure) -> Response {
    let mut response = json_response(failure_status(failure), failure_payload(dialect, failure));
    if let Some(secs) = failure.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_each_provider() {
        let failure = Failure {
            status: 429,
            ..Failure::default()
        };
        let openai: Value = serde_json::from_str(&failure_payload(Dialect::OpenAi, &failure))
            .expect("openai body is JSON");
        assert_eq!(openai["error"]["type"], "rate_limit_error");
        assert_eq!(openai["error"]["code"], "rate_limit_exceeded");
        let ollama: Value = serde_json::from_str(&failure_payload(Dialect::Ollama, &failure))
            .expect("ollama body is JSON");
        assert!(ollama["error"].as_str().is_some_and(|m| m.contains("429")));
        let anthropic: Value = serde_json::from_str(&failure_payload(Dialect::Anthropic, &failure))
            .expect("anthropic body is JSON");
        assert_eq!(
            anthropic,
            json!({"type": "error", "request_id": "req_fake", "error": {
                "type": "rate_limit_error",
                "message": "fake provider failure: 429 Too Many Requests"}})
        );
    }

    #[test]
    fn anthropic_types_follow_the_status() {
        let kinds: Vec<&str> = [400, 401, 402, 403, 404, 418, 429, 500, 502, 504, 529]
            .into_iter()
            .map(|code| anthropic_kind(StatusCode::from_u16(code).unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                "invalid_request_error",
                "authentication_error",
                "billing_error",
                "permission_error",
                "not_found_error",
                "invalid_request_error",
                "rate_limit_error",
                "api_error",
                "api_error",
                "timeout_error",
                "overloaded_error"
            ]
        );
    }

    #[test]
    fn custom_body_and_retry_after() {
        let failure = Failure {
            status: 503,
            body: Some("overloaded".to_owned()),
            retry_after_secs: Some(7),
            ..Failure::default()
        };
        let response = failure_response(Dialect::Ollama, &failure);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
