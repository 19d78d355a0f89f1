//! `GET /v1/models`: the agents, named the way `model` selects them.

use axum::Json;
use axum::extract::State;
use serde_json::json;

use super::{ApiError, AppState};

/// Admitted by [`super::admit::api`].
pub(super) async fn list(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let data: Vec<serde_json::Value> = state
        .inner
        .agents
        .ids()
        .into_iter()
        .map(|id| json!({ "id": format!("pincer/{id}"), "object": "model", "created": 0, "owned_by": "pincer" }))
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}
