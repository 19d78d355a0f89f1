//! `GET /v1/models`: the agents, named the way `model` selects them.

use axum::Json;
use axum::extract::State;
use serde_json::json;

use super::{ApiError, AppState};

pub(super) async fn list(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<crate::auth::ClientAddr>,
    headers: http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.authorize(&headers, &client)?;
    let data: Vec<serde_json::Value> = state
        .inner
        .agents
        .ids()
        .into_iter()
        .map(|id| json!({ "id": format!("pincer/{id}"), "object": "model", "created": 0, "owned_by": "pincer" }))
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}
