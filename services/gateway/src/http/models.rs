//! `GET /v1/models` and `GET /v1/models/{model}`: the agents, named the way `model` selects them.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::json;

use super::{ApiError, AppState};

/// An agent as an OpenAI model. `created` (unix seconds) is when this gateway first described
/// one: an agent has no date of its own, and typed clients sort and show the field.
fn model(id: &str) -> serde_json::Value {
    static CREATED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let created = *CREATED.get_or_init(pincer_clock::now_secs);
    json!({ "id": id, "object": "model", "created": created, "owned_by": "pincer" })
}

/// Admitted by [`super::admit::api`].
pub(super) async fn list(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let data: Vec<serde_json::Value> = state
        .inner
        .agents
        .ids()
        .into_iter()
        .map(|id| model(&format!("pincer/{id}")))
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// One agent by the name `model` takes (`pincer/<agentId>`, or `openclaw/<agentId>`), as OpenAI's
/// `GET /v1/models/{model}` describes one model. Admitted by [`super::admit::api`].
pub(super) async fn retrieve(
    State(state): State<AppState>,
    Path(asked): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ids = state.inner.agents.ids();
    match super::openai::agent_of(&asked) {
        Some(agent) if ids.contains(&agent) => Ok(Json(model(&asked))),
        _ => Err(ApiError::ModelNotFound {
            message: format!(
                "unknown model {asked:?}; valid models: {}",
                ids.iter()
                    .map(|id| format!("pincer/{id}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}
