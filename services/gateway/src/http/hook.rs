//! `POST /hooks/agent` and `POST /hooks/wake` (see [`crate::hooks`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use crate::hooks::{Admission, AgentHook, WakeHook, WakeMode};
use crate::turns::TurnSpec;

/// Admitted by [`super::admit::hook`] (the hooks token, from the headers) before the body is read.
pub(super) async fn handle(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = super::error::read_body(body, state.inner.max_body_bytes)?;
    let parse_error = |e: serde_json::Error| ApiError::BadRequest {
        message: format!("invalid hook body: {e}"),
        param: None,
    };
    let mut extras = crate::hooks::Extras::default();
    let (agent, session_key, text, idempotency_key) = match kind.as_str() {
        "agent" => {
            let hook: AgentHook = serde_json::from_slice(&body).map_err(parse_error)?;
            let agent = agent_of(&state, hook.agent_id.as_deref())?;
            extras.deliver = hook
                .delivery(&state.inner.channel_accounts)
                .map_err(|error| ApiError::bad_request("channel", error.to_string()))?;
            let settings = hook
                .run_settings()
                .map_err(|(param, message)| ApiError::bad_request(param, message))?;
            extras.model = settings.model;
            extras.timeout_secs = settings.timeout_secs;
            extras.thinking = settings.thinking;
            let session = hook.session_key(&agent);
            let retry = hook.idempotency_key().map(str::to_owned);
            (agent, session, hook.message, retry)
        }
        "wake" => {
            let hook: WakeHook = serde_json::from_slice(&body).map_err(parse_error)?;
            let agent = agent_of(&state, hook.agent_id.as_deref())?;
            let session = format!("agent:{agent}:main");
            extras.record_only = hook.mode == Some(WakeMode::NextHeartbeat);
            (agent, session, format!("[wake] {}", hook.text), None)
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no hook {other:?}; the hooks are agent and wake"
            )));
        }
    };
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("message", "the message is empty"));
    }
    let (run_id, admission) = crate::hooks::start(
        &state.inner.turns,
        TurnSpec {
            agent_id: &agent,
            session_key: session_key.clone(),
            text: &text,
            source: "hook",
            idempotency_key: idempotency_key.as_deref(),
            live: true,
        },
        extras,
    )
    .await
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    tracing::info!(%run_id, hook = %kind, ?admission, "hook run submitted");
    let (status, state_name) = match &admission {
        Admission::Started => (http::StatusCode::OK, "started"),
        Admission::Finished => (http::StatusCode::OK, "finished"),
        Admission::Queued => (http::StatusCode::ACCEPTED, "queued"),
        Admission::Failed(message) => return Err(ApiError::BadGateway(message.clone())),
    };
    Ok((
        status,
        Json(
            json!({ "ok": true, "runId": run_id, "sessionKey": session_key, "status": state_name }),
        ),
    )
        .into_response())
}

fn agent_of(state: &AppState, requested: Option<&str>) -> Result<String, ApiError> {
    let id = requested.unwrap_or_else(|| state.inner.agents.default_id());
    state
        .inner
        .agents
        .resolve(id)
        .map(|agent| agent.id)
        .map_err(|e| ApiError::NotFound(e.to_string()))
}
