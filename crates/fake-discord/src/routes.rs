//! The HTTP surface in one router: REST under `/api/v10` and (leniently) at the root, the gateway
//! WebSocket at `/gateway` and its resume twin at `/resume` (a different path, so tests can see
//! which one a client used), attachment downloads, and the control API.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::records::AttachmentDownload;
use crate::state::World;
use crate::{control, errors, gateway, rest};

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The fake's state.
    pub world: World,
    /// Ends gateway connections when the fake stops.
    pub shutdown: CancellationToken,
}

/// The whole fake.
pub fn router(world: World, shutdown: CancellationToken) -> axum::Router {
    axum::Router::new()
        .nest(
            "/api/v10",
            rest::routes().route("/gateway", get(rest::gateway)),
        )
        .merge(rest::routes())
        .route("/gateway", get(gateway_or_url))
        .route("/gateway/", get(gateway_or_url))
        .route("/resume", get(socket_only))
        .route("/resume/", get(socket_only))
        .route("/", get(socket_only))
        .route("/attachments/{id}/{filename}", get(attachment))
        .route("/media/attachments/{id}/{filename}", get(attachment))
        .nest("/control", control::routes())
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async { errors::no_route() })
        .with_state(AppState { world, shutdown })
}

/// The path as recorded: without a trailing slash, except for the root.
fn dialled(uri: &Uri) -> (String, String) {
    let path = uri.path();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    (path.to_owned(), uri.query().unwrap_or_default().to_owned())
}

/// `/gateway`: a WebSocket upgrade is a gateway connection; a plain GET is REST's `GET /gateway`.
async fn gateway_or_url(
    state: State<AppState>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(ws) => {
            let (path, query) = dialled(&uri);
            gateway::accept(ws, path, query, state.world.clone(), state.shutdown.clone())
        }
        Err(_) => rest::gateway(state).await,
    }
}

/// `/resume` and `/`: gateway connections only.
async fn socket_only(
    State(app): State<AppState>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(ws) => {
            let (path, query) = dialled(&uri);
            gateway::accept(ws, path, query, app.world, app.shutdown)
        }
        Err(_) => errors::no_route(),
    }
}

/// An attachment's bytes, as the CDN serves them (no auth; the client's header is recorded).
async fn attachment(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((id, filename)): Path<(String, String)>,
) -> Response {
    let mut inner = app.world.lock();
    let Some(file) = inner
        .attachments
        .get(&id)
        .filter(|f| f.filename == filename)
        .cloned()
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    inner.downloads.push(AttachmentDownload {
        attachment_id: id,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let content_type = file
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    ([(header::CONTENT_TYPE, content_type)], file.data).into_response()
}
