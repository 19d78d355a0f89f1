//! `GET /` (the Control UI page, or the control WebSocket when the request upgrades) and `GET /ws`.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::response::{Html, IntoResponse, Response};

use super::{ApiError, AppState};
use crate::auth::ClientAddr;
use crate::control::connection;
use crate::control::handshake::HandshakeSlot;
use crate::control::limits::MAX_PAYLOAD_BYTES;

/// Read buffer per control connection (frames larger than this are read in several steps).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The dashboard: one self-contained page (no CDN, works offline).
const CONTROL_UI: &str = include_str!("../../ui/index.html");

/// `/`: the control socket, and the page unless it lives under `gateway.controlUi.basePath`.
pub(super) async fn root(
    state: State<AppState>,
    client: axum::Extension<ClientAddr>,
    headers: http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Err(_) if state.inner.control_ui_base.is_some() => ApiError::NotFound(
            "the Control UI is served under gateway.controlUi.basePath".to_owned(),
        )
        .into_response(),
        upgrade => page(state, client, headers, upgrade).await,
    }
}

/// The Control UI page (or the control socket when the request upgrades).
pub(super) async fn page(
    state: State<AppState>,
    client: axum::Extension<ClientAddr>,
    headers: http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => accept(&state, client.0, headers, upgrade),
        Err(_) if state.inner.control_ui => {
            let mut response = Html(CONTROL_UI).into_response();
            let headers = response.headers_mut();
            // The page loads nothing from elsewhere and must not be framed by other sites.
            headers.insert(
                http::header::CONTENT_SECURITY_POLICY,
                http::HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                ),
            );
            headers.insert(
                http::header::X_FRAME_OPTIONS,
                http::HeaderValue::from_static("DENY"),
            );
            headers.insert(
                http::header::REFERRER_POLICY,
                http::HeaderValue::from_static("no-referrer"),
            );
            headers.insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(_) => {
            ApiError::NotFound("the Control UI is disabled (gateway.controlUi.enabled)".to_owned())
                .into_response()
        }
    }
}

pub(super) async fn socket(
    state: State<AppState>,
    client: axum::Extension<ClientAddr>,
    headers: http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => accept(&state, client.0, headers, upgrade),
        Err(rejection) => rejection.into_response(),
    }
}

/// Checks the origin before upgrading (a refused page never gets a socket), then serves it.
fn accept(
    state: &AppState,
    client: ClientAddr,
    headers: http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(refusal) = state.inner.guard.check_origin(&headers) {
        tracing::warn!(client = %client.ip, "control websocket refused: origin not allowed");
        return super::refusal(refusal).into_response();
    }
    let handshake = match HandshakeSlot::reserve(&state.inner.control, client.ip) {
        Ok(slot) => slot,
        Err(reason) => {
            tracing::warn!(client = %client.ip, "control websocket refused: {reason}");
            return ApiError::Unavailable(reason.to_owned()).into_response();
        }
    };
    let services = Arc::clone(&state.inner.control);
    let guard = Arc::clone(&state.inner.guard);
    // tungstenite's defaults (128 KiB read buffer, 128 KiB write buffer) would cost ~150 KiB per
    // idle connection; control frames are small.
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(MAX_PAYLOAD_BYTES)
        .max_frame_size(MAX_PAYLOAD_BYTES)
        .on_upgrade(move |socket| {
            connection::serve(socket, services, guard, client, headers, handshake)
        })
}
