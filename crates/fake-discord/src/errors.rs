//! Discord's JSON error answers (`{"message", "code", "errors"?}`), as REST v10 sends them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer on its way out (boxed: a `Response` is large for an `Err`).
pub type Refusal = Box<Response>;

/// 401 for a missing, unknown or revoked token.
pub fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")
}

/// 404 for a route the fake does not serve.
pub fn no_route() -> Response {
    error(StatusCode::NOT_FOUND, 0, "404: Not Found")
}

/// 404 10003.
pub fn unknown_channel() -> Response {
    error(StatusCode::NOT_FOUND, 10_003, "Unknown Channel")
}

/// 404 10008.
pub fn unknown_message() -> Response {
    error(StatusCode::NOT_FOUND, 10_008, "Unknown Message")
}

/// 403 50013.
pub fn missing_permissions() -> Response {
    error(StatusCode::FORBIDDEN, 50_013, "Missing Permissions")
}

/// 403 50005.
pub fn not_your_message() -> Response {
    error(
        StatusCode::FORBIDDEN,
        50_005,
        "Cannot edit a message authored by another user",
    )
}

/// 400 50006.
pub fn empty_message() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        50_006,
        "Cannot send an empty message",
    )
}

/// 400 50109.
pub fn invalid_json() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        50_109,
        "The request body contains invalid JSON.",
    )
}

/// 500.
pub fn server_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        0,
        "500: Internal Server Error",
    )
}

/// 400 50035 with one field error, in Discord's nested `errors` shape.
pub fn invalid_field(field: &str, code: &str, message: &str) -> Response {
    let body = json!({ "code": 50_035, "message": "Invalid Form Body",
                       "errors": { field: { "_errors": [{ "code": code, "message": message }] } } });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body: Value = json!({ "message": message, "code": code });
    (status, Json(body)).into_response()
}
