//! The HTTP surface signal-cli's daemon has (`/api/v1/rpc`, `/api/v1/events`, `/api/v1/check`),
//! plus the fake's `/control` API. Like signal-cli bound to a specific address, the RPC and event
//! endpoints answer 421 to a `Host` that is not that address (or `localhost`, `127.0.0.1`, `::1`)
//! on its port: a defence against DNS rebinding the real daemon has.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::state::World;
use crate::{control, events, rpc};

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct Daemon {
    /// The state.
    pub world: World,
    /// Ends the streams when the fake stops.
    pub shutdown: CancellationToken,
    /// The address it listens on (for the `Host` check).
    pub bound: SocketAddr,
}

/// The whole fake.
pub fn router(daemon: Daemon) -> axum::Router {
    let guarded = axum::Router::new()
        .route("/api/v1/rpc", post(rpc::rpc))
        .route("/api/v1/events", get(events::events))
        .route_layer(middleware::from_fn_with_state(daemon.clone(), host_check));
    guarded
        .route("/api/v1/check", get(|| async { StatusCode::OK }))
        .nest("/control", control::routes())
        .with_state(daemon)
}

async fn host_check(State(daemon): State<Daemon>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if host_allowed(daemon.bound, host) {
        next.run(request).await
    } else {
        StatusCode::MISDIRECTED_REQUEST.into_response()
    }
}

/// Whether a `Host` header names the daemon, as signal-cli decides it.
pub fn host_allowed(bound: SocketAddr, host: &str) -> bool {
    if bound.ip().is_unspecified() {
        return true;
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => (name, Some(port)),
            _ => (host, None),
        },
    };
    let name = name.to_ascii_lowercase();
    let known = name == bound.ip().to_string()
        || matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1");
    let port_ok = port.is_none_or(|p| p.parse::<u16>().ok() == Some(bound.port()));
    !name.is_empty() && known && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_pinned_like_signal_clis() {
        let bound: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        assert!(host_allowed(bound, "127.0.0.1:8080"));
        assert!(host_allowed(bound, "localhost:8080"));
        assert!(host_allowed(bound, "localhost"));
        assert!(host_allowed(bound, "[::1]:8080"));
        assert!(!host_allowed(bound, "127.0.0.1:9090"));
        assert!(!host_allowed(bound, "evil.example:8080"));
        assert!(!host_allowed(bound, ""));
        assert!(host_allowed(
            "0.0.0.0:8080".parse().expect("addr"),
            "anything"
        ));
    }
}
