//! [`Options::lost_session_400`](crate::Options::lost_session_400): the sessions this server
//! started, and the TypeScript SDK's answer to any other.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

const SESSION_HEADER: &str = "mcp-session-id";

/// Session ids this server handed out.
#[derive(Clone, Default)]
pub(crate) struct Started(Arc<Mutex<HashSet<String>>>);

impl Started {
    fn knows(&self, id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    fn add(&self, id: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }
}

/// Passes requests in a session this server started (or in none) on; answers the others with
/// the TypeScript SDK's 400.
pub(crate) async fn answer_400(started: Started, request: Request, next: Next) -> Response {
    let asked = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = asked
        && !started.knows(&id)
    {
        let body = r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}"#;
        return (
            StatusCode::BAD_REQUEST,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    let response = next.run(request).await;
    if let Some(id) = response
        .headers()
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
    {
        started.add(id.to_owned());
    }
    response
}
