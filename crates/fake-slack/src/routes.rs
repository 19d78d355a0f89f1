//! The HTTP surface in one router: the Web API under `/api`, Socket Mode at `/link/`, files'
//! `url_private`, and the control API.

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::records::FileDownload;
use crate::state::World;
use crate::{control, socket, web_api};

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The workspace.
    pub world: World,
    /// Ends sockets when the fake stops.
    pub shutdown: CancellationToken,
}

/// The whole fake.
pub fn router(world: World, shutdown: CancellationToken) -> axum::Router {
    axum::Router::new()
        .route("/api/{method}", get(web_api::call).post(web_api::call))
        .route("/link", get(link))
        .route("/link/", get(link))
        .route("/files-pri/{file}/{name}", get(file))
        .route("/files-pri/{file}/download/{name}", get(file))
        .nest("/control", control::routes())
        .route("/health", get(|| async { "ok" }))
        .with_state(AppState { world, shutdown })
}

async fn link(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let ticket = query.get("ticket").map(String::as_str).unwrap_or_default();
    socket::accept(ws, ticket, app.world, app.shutdown)
}

/// Slack's answer to a file URL fetched without the bot token: a sign-in page, with 200.
const SIGN_IN_PAGE: &str =
    "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>";

/// A file's bytes for a request carrying a bot token (`url_private` needs one).
async fn file(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let mut inner = app.world.lock();
    // `{team}-{file}`: the file id is after the last dash.
    let file_id = params
        .get("file")
        .and_then(|f| f.rsplit('-').next())
        .unwrap_or_default()
        .to_owned();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bot_token = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "));
    let authorized =
        bot_token.is_some_and(|t| inner.bot_tokens.contains_key(t) && inner.app_of(t).is_some());
    let stored = inner
        .files
        .get(&file_id)
        .filter(|f| params.get("name") == Some(&f.name))
        .cloned();
    inner.file_downloads.push(FileDownload {
        file_id,
        authorization,
        served: authorized && stored.is_some(),
    });
    match (authorized, stored) {
        (false, _) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            SIGN_IN_PAGE,
        )
            .into_response(),
        (true, None) => StatusCode::NOT_FOUND.into_response(),
        (true, Some(file)) => ([(header::CONTENT_TYPE, file.mimetype)], file.data).into_response(),
    }
}
