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

pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let report = state.inner.readiness.check().await;
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}
