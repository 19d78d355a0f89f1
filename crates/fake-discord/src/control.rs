//! The control API under `/control`, for a fake running in a container: the same operations as
//! the library handle, as JSON over HTTP.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::knobs::{GatewayConfig, Knobs};
use crate::routes::AppState;
use crate::spec::{BotSpec, Channel, Guild, Incoming};
use crate::state::FakeError;

/// A scripted gateway event for every live connection of a bot.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum GatewayAction {
    Reconnect,
    InvalidSession {
        #[serde(default)]
        resumable: bool,
    },
    Heartbeat,
    Close {
        code: u16,
        #[serde(default)]
        reason: String,
    },
    Drop,
    StopAcks,
    Silent,
    Invalidate,
    Revoke,
}

/// The routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/bots", post(add_bot))
        .route("/guilds", post(add_guild))
        .route("/guilds/{guild}/channels", post(add_channel))
        .route("/gateway", post(set_gateway))
        .route("/bots/{token}/messages", post(user_says))
        .route("/bots/{token}/sent", get(sent))
        .route("/bots/{token}/status", get(status))
        .route("/bots/{token}/knobs", post(set_knobs))
        .route("/bots/{token}/gateway", post(gateway_action))
}

fn refused(error: FakeError) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": error.to_string() })),
    )
        .into_response()
}

async fn add_bot(State(app): State<AppState>, Json(spec): Json<BotSpec>) -> Response {
    match app.world.add_bot(&spec) {
        Ok(user) => Json(user).into_response(),
        Err(error) => refused(error),
    }
}

async fn add_guild(State(app): State<AppState>, Json(guild): Json<Guild>) -> Response {
    app.world.add_guild(guild);
    Json(json!({})).into_response()
}

async fn add_channel(
    State(app): State<AppState>,
    Path(guild): Path<String>,
    Json(channel): Json<Channel>,
) -> Response {
    match app.world.add_channel(&guild, channel) {
        Ok(()) => Json(json!({})).into_response(),
        Err(error) => refused(error),
    }
}

async fn set_gateway(State(app): State<AppState>, Json(config): Json<GatewayConfig>) -> Response {
    app.world.set_gateway_config(config);
    Json(json!({})).into_response()
}

async fn user_says(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Json(incoming): Json<Incoming>,
) -> Response {
    match app.world.user_says(&token, &incoming) {
        Ok(injected) => Json(injected).into_response(),
        Err(error) => refused(error),
    }
}

async fn sent(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    Json(app.world.sent(&token)).into_response()
}

async fn status(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    let world = &app.world;
    let counters = world.read_bot(&token, |bot| (bot.deduplicated_sends, bot.rejected_sends));
    let Ok((deduplicated_sends, rejected_sends)) = counters else {
        return refused(FakeError::UnknownBot);
    };
    Json(json!({
        "edits": world.edits(&token), "typing": world.typing(&token),
        "connections": world.connections(&token), "sessions": world.sessions(&token),
        "deduplicated_sends": deduplicated_sends, "rejected_sends": rejected_sends,
    }))
    .into_response()
}

async fn set_knobs(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Json(knobs): Json<Knobs>,
) -> Response {
    match app.world.set_knobs(&token, knobs) {
        Ok(()) => Json(json!({})).into_response(),
        Err(error) => refused(error),
    }
}

async fn gateway_action(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Json(action): Json<GatewayAction>,
) -> Response {
    let world = &app.world;
    let affected = match action {
        GatewayAction::Reconnect => world.send_reconnect(&token),
        GatewayAction::InvalidSession { resumable } => {
            world.send_invalid_session(&token, resumable)
        }
        GatewayAction::Heartbeat => world.request_heartbeat(&token),
        GatewayAction::Close { code, reason } => world.close(&token, code, &reason),
        GatewayAction::Drop => world.drop_connections(&token),
        GatewayAction::StopAcks => world.stop_heartbeat_acks(&token),
        GatewayAction::Silent => world.go_silent(&token),
        GatewayAction::Invalidate => world.invalidate_sessions(&token),
        GatewayAction::Revoke => match world.revoke_token(&token) {
            Ok(()) => 1,
            Err(error) => return refused(error),
        },
    };
    Json(json!({ "affected": affected })).into_response()
}
