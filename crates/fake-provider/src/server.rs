//! The HTTP router: provider routes plus health, stats and control.

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::record::Stats;
use crate::state::FakeState;
use crate::wire_error::{Dialect, error_response};
use crate::{anthropic, embed, ollama, openai, pull};

/// Largest request body accepted (long agent histories are big).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The fake's routes, sharing `state`. Every request is counted in the recorder and traced
/// at `info` level.
pub fn router(state: FakeState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/control", get(get_control).post(post_control))
        .route("/api/chat", post(ollama::chat))
        .route("/api/tags", get(ollama::tags))
        .route("/api/show", post(ollama::show))
        .route("/api/ps", get(ollama::ps))
        .route("/api/version", get(ollama::version))
        .route("/api/embed", post(embed::ollama))
        .route("/api/pull", post(pull::pull))
        .route("/v1/chat/completions", post(openai::chat))
        .route("/chat/completions", post(openai::chat))
        .route("/v1/embeddings", post(embed::openai))
        .route("/embeddings", post(embed::openai))
        .route("/v1/models", get(openai::models))
        .route("/models", get(openai::models))
        .route("/v1/models/{*id}", get(openai::model))
        .route("/v1/key", get(openai::key))
        .route("/key", get(openai::key))
        .route("/v1/messages", post(anthropic::messages))
        .route("/messages", post(anthropic::messages))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts the request and logs it once the response head is ready.
async fn track(State(state): State<FakeState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    state.recorder().hit(&path);
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(%method, %path, status = response.status().as_u16(), elapsed_ms, "request");
    response
}

/// `GET /`: what Ollama answers, so clients probing the base URL are satisfied.
async fn root() -> &'static str {
    "Ollama is running"
}

/// `GET /health`.
async fn health() -> Json<Value> {
    Json(json!({"ok": true}))
}

/// `GET /stats`.
async fn stats(State(state): State<FakeState>) -> Json<Stats> {
    Json(state.recorder().stats())
}

/// `POST /stats/reset`: clears counters and recorded requests (knobs are kept).
async fn reset_stats(State(state): State<FakeState>) -> Json<Value> {
    state.recorder().reset();
    Json(json!({"ok": true}))
}

/// `GET /control`: the current knobs.
async fn get_control(State(state): State<FakeState>) -> Response {
    Json(state.knobs()).into_response()
}

/// `POST /control`: replaces the knob fields given in the JSON body; answers the new knobs.
async fn post_control(State(state): State<FakeState>, bytes: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&bytes) {
        Ok(patch) => patch,
        Err(err) => {
            let message = format!("invalid JSON body: {err}");
            return error_response(Dialect::Ollama, StatusCode::BAD_REQUEST, &message);
        }
    };
    match state.update_knobs(patch) {
        Ok(knobs) => Json(knobs).into_response(),
        Err(err) => error_response(Dialect::Ollama, StatusCode::BAD_REQUEST, &err.to_string()),
    }
}

/// Unknown paths: 404 in the dialect the path looks like.
async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    let message = format!("not found: {path}");
    error_response(Dialect::of_path(path), StatusCode::NOT_FOUND, &message)
}
