//! The control API under `/control`, for a fake running in a container: the same operations as
//! the library handle, as JSON over HTTP.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::events_http;
use crate::knobs::{Forced, HttpRetryPolicy, Knobs};
use crate::routes::AppState;
use crate::spec::{AppSpec, ChannelKind, Incoming};
use crate::state::FakeError;

#[derive(Debug, Deserialize)]
struct ChannelDeclaration {
    id: String,
    #[serde(default)]
    kind: ChannelKind,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct DisconnectRequest {
    reason: String,
}

#[derive(Debug, Deserialize)]
struct RevokeRequest {
    token: String,
}

#[derive(Debug, Deserialize)]
struct HttpRequest {
    url: String,
    signing_secret: String,
    incoming: Incoming,
}

/// The routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/apps", post(add_app))
        .route("/channels", post(add_channel))
        .route("/revoke", post(revoke))
        .route("/http_retries", post(set_http_retries))
        .route("/apps/{app}/messages", post(user_says))
        .route("/apps/{app}/http", post(deliver_http))
        .route("/apps/{app}/status", get(status))
        .route("/apps/{app}/knobs", post(set_knobs))
        .route("/apps/{app}/forced/{method}", post(set_forced))
        .route("/apps/{app}/disconnect", post(disconnect))
        .route("/apps/{app}/drop", post(drop_sockets))
}

fn refused(error: &FakeError) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": error.to_string() })),
    )
        .into_response()
}

fn answer<T: serde::Serialize>(result: Result<T, FakeError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => refused(&error),
    }
}

async fn add_app(State(app): State<AppState>, Json(spec): Json<AppSpec>) -> Response {
    answer(app.world.add_app(&spec))
}

async fn add_channel(
    State(app): State<AppState>,
    Json(channel): Json<ChannelDeclaration>,
) -> Response {
    app.world
        .add_channel(&channel.id, channel.kind, &channel.name);
    Json(json!({})).into_response()
}

async fn revoke(State(app): State<AppState>, Json(request): Json<RevokeRequest>) -> Response {
    app.world.revoke_token(&request.token);
    Json(json!({})).into_response()
}

async fn set_http_retries(
    State(app): State<AppState>,
    Json(policy): Json<HttpRetryPolicy>,
) -> Response {
    app.world.set_http_retry_policy(policy);
    Json(json!({})).into_response()
}

async fn user_says(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Json(incoming): Json<Incoming>,
) -> Response {
    answer(app.world.user_says(&token, &incoming))
}

async fn deliver_http(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Json(request): Json<HttpRequest>,
) -> Response {
    let payloads = match app.world.http_payloads(&token, &request.incoming) {
        Ok(payloads) => payloads,
        Err(error) => return refused(&error),
    };
    let client = match events_http::client() {
        Ok(client) => client,
        Err(error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response();
        }
    };
    let policy = app.world.http_retry_policy();
    let mut deliveries = Vec::new();
    for payload in &payloads {
        deliveries.push(
            events_http::deliver(
                &client,
                &request.url,
                &request.signing_secret,
                payload,
                &policy,
            )
            .await,
        );
    }
    Json(deliveries).into_response()
}

async fn status(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    let world = &app.world;
    let counters = world.read_app(&token, |app| (app.max_sockets, app.connections_opened));
    let Ok((max_sockets, connections_opened)) = counters else {
        return refused(&FakeError::UnknownApp);
    };
    Json(json!({
        "posted": world.posted(&token), "updates": world.updates(&token), "envelopes": world.envelopes(&token),
        "acks": world.acks(&token), "sockets": world.sockets(&token), "disconnects": world.disconnects(&token),
        "max_concurrent_sockets": max_sockets, "connections_opened": connections_opened,
    }))
    .into_response()
}

async fn set_knobs(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Json(knobs): Json<Knobs>,
) -> Response {
    answer(app.world.change_app(&token, |app| app.knobs = knobs))
}

async fn set_forced(
    State(app): State<AppState>,
    Path((token, method)): Path<(String, String)>,
    Json(forced): Json<Forced>,
) -> Response {
    answer(app.world.change_app(&token, |app| {
        app.forced.insert(method, forced);
    }))
}

async fn disconnect(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Json(request): Json<DisconnectRequest>,
) -> Response {
    answer(app.world.disconnect(&token, &request.reason))
}

async fn drop_sockets(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    Json(json!({ "affected": app.world.drop_sockets(&token) })).into_response()
}
