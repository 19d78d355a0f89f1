//! `/healthz` (the process is alive) and `/readyz` (a turn can be served now).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use super::AppState;

pub(super) async fn live() -> Json<serde_json::Value> {
    Json(json!({ "ok": true, "status": "live" }))
}

/// Public (load balancers and compose ask it): which checks pass, never why one fails (internal
/// addresses and errors are for the logs and the signed-in control plane's `health`).
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let report = state.inner.readiness.check().await;
    for (name, check) in [
        ("nats", &report.nats),
        ("llm-router", &report.llm_router),
        ("agent-runner", &report.agent_runner),
    ] {
        if let Some(error) = &check.error {
            tracing::debug!(check = name, %error, "not ready");
        }
    }
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ok": report.ok,
        "nats": { "ok": report.nats.ok },
        "llm_router": { "ok": report.llm_router.ok },
        "agent_runner": { "ok": report.agent_runner.ok },
    });
    (status, Json(body)).into_response()
}
