//! The axum application.

mod admit;
mod chat;
mod client_tools;
mod control;
mod error;
mod health;
mod hook;
pub mod images;
mod metrics;
mod models;
pub mod openai;
mod tool_results;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tracing::Instrument;

use crate::auth::ClientAddr;
use crate::auth::guard::{Guard, Refusal};
use crate::readiness::Readiness;
use crate::turns::Turns;
use crate::webhooks::{SECRET_HEADER, WebhookError, Webhooks};

pub use error::ApiError;

/// How long a request body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where platforms push their events: Telegram webhooks and Slack's Events API.
pub struct Ingress {
    /// Telegram webhook secrets and their stream.
    pub telegram: Webhooks,
    /// Slack apps in `http` mode.
    pub slack: crate::slack_events::SlackEvents,
    /// WhatsApp Cloud API numbers.
    pub whatsapp: crate::whatsapp_webhook::WhatsAppWebhooks,
    /// BlueBubbles servers.
    pub bluebubbles: crate::bluebubbles_webhook::BlueBubblesWebhooks,
    /// The media object store, for pictures sent to the OpenAI API.
    pub media: Option<async_nats::jetstream::object_store::ObjectStore>,
}

/// Shared request state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    guard: Arc<Guard>,
    agents: pincer_config::Agents,
    turns: Turns,
    readiness: Readiness,
    max_body_bytes: usize,
    webhooks: Webhooks,
    slack: crate::slack_events::SlackEvents,
    whatsapp: crate::whatsapp_webhook::WhatsAppWebhooks,
    bluebubbles: crate::bluebubbles_webhook::BlueBubblesWebhooks,
    hooks: Option<crate::hooks::Settings>,
    /// The configured channel accounts (where a hook may deliver).
    channel_accounts: Vec<crate::control::ChannelAccount>,
    control: Arc<crate::control::Services>,
    control_ui: bool,
    /// `gateway.controlUi.basePath` (the page is then served there, not at `/`).
    control_ui_base: Option<String>,
    /// `gateway.http.endpoints.chatCompletions.enabled`.
    chat_api: bool,
    /// Where pictures of API requests go (`None` while it cannot be opened: they are refused).
    media: Option<async_nats::jetstream::object_store::ObjectStore>,
}

impl AppState {
    /// Bundles the state.
    pub fn new(
        config: &crate::Config,
        guard: Arc<Guard>,
        turns: Turns,
        readiness: Readiness,
        ingress: Ingress,
        control: Arc<crate::control::Services>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                guard,
                agents: config.agents.clone(),
                turns,
                readiness,
                max_body_bytes: config.max_body_bytes,
                webhooks: ingress.telegram,
                slack: ingress.slack,
                whatsapp: ingress.whatsapp,
                bluebubbles: ingress.bluebubbles,
                hooks: config.hooks.clone(),
                channel_accounts: config.channel_accounts.clone(),
                control,
                control_ui: config.control_ui,
                control_ui_base: config.control_ui_base.clone(),
                chat_api: config.chat_api,
                media: ingress.media,
            }),
        }
    }

    /// Admits an API request: origin, lockout, credentials.
    fn authorize(&self, headers: &http::HeaderMap, client: &ClientAddr) -> Result<(), ApiError> {
        self.inner
            .guard
            .admit_http(client, headers, "api")
            .map(|_| ())
            .map_err(refusal)
    }
}

/// A refusal as an HTTP error.
pub(crate) fn refusal(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unauthorized => ApiError::Unauthorized,
        Refusal::RateLimited(wait) => ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        },
        Refusal::Forbidden(reason) => ApiError::Forbidden(reason),
    }
}

/// Builds the router with every route and layer.
pub fn app(state: AppState) -> Router {
    let max_body_bytes = state.inner.max_body_bytes;
    // Credentials are checked from the headers by a layer on each authenticated route, so no
    // body is read for a caller who has not proved who it is.
    let api = if state.inner.chat_api {
        Router::new()
            .route("/v1/chat/completions", post(chat::completions))
            .route("/v1/models", get(models::list))
            // Agent ids hold no `/`, but the names `model` takes do (`pincer/<agentId>`).
            .route("/v1/models/{*model}", get(models::retrieve))
            .route_layer(middleware::from_fn_with_state(state.clone(), admit::api))
    } else {
        Router::new()
            .route("/v1/chat/completions", post(chat_api_disabled))
            .route("/v1/models", get(chat_api_disabled))
            .route("/v1/models/{*model}", get(chat_api_disabled))
    };
    // Operational detail of the whole stack: the API's credential, whether or not the chat API
    // is enabled.
    let metrics = Router::new()
        .route("/metrics", get(metrics::scrape))
        .route_layer(middleware::from_fn_with_state(state.clone(), admit::api));
    let webhook = Router::new()
        .route("/telegram-webhook/{account}", post(telegram_webhook))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admit::telegram_webhook,
        ));
    let mut slack = Router::new();
    if state.inner.slack.paths().next().is_some() {
        for path in state.inner.slack.paths() {
            slack = slack.route(path, post(slack_events));
        }
        slack = slack.route_layer(middleware::from_fn_with_state(
            state.clone(),
            admit::slack_events,
        ));
    }
    let whatsapp = Router::new()
        .route(
            "/whatsapp-webhook/{account}",
            get(whatsapp_verify).post(whatsapp_notification),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admit::whatsapp_webhook,
        ));
    let bluebubbles = Router::new()
        .route("/bluebubbles-webhook/{account}", post(bluebubbles_event))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admit::bluebubbles_webhook,
        ));
    let mut router = Router::new()
        .merge(api)
        .merge(metrics)
        .merge(webhook)
        .merge(slack)
        .merge(whatsapp)
        .merge(bluebubbles)
        .route("/healthz", get(health::live))
        .route("/health", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/ready", get(health::ready))
        .route("/", get(control::root))
        .route("/ws", get(control::socket));
    if let Some(base) = &state.inner.control_ui_base {
        router = router
            .route(base, get(control::page))
            .route(&format!("{base}/"), get(control::page))
            .route(&format!("{base}/ws"), get(control::socket));
    }
    if let Some(hooks) = &state.inner.hooks {
        router = router.merge(
            Router::new()
                .route(&format!("{}/{{kind}}", hooks.path), post(hook::handle))
                .route_layer(middleware::from_fn_with_state(state.clone(), admit::hook)),
        );
    }
    router
        .fallback(|| async { ApiError::NotFound("no such route".to_owned()) })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // A body that trickles in is cut off (headers have their own deadline in `serve`).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_TIMEOUT,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), client_addr))
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

/// The OpenAI endpoint when the config turns it off: a 404 that says why, before any body is read.
async fn chat_api_disabled() -> ApiError {
    ApiError::NotFound(
        "the OpenAI-compatible API is disabled (gateway.http.endpoints.chatCompletions.enabled is false)"
            .to_owned(),
    )
}

/// Works out the client's address once per request (through trusted proxies) for the handlers.
async fn client_addr(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = ClientAddr::peer_of(request.extensions());
    let client = state.inner.guard.client(peer, request.headers());
    request.extensions_mut().insert(client);
    next.run(request).await
}

/// Telegram's webhook calls: 200 once the update is on JetStream; Telegram retries anything else.
async fn telegram_webhook(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(account): axum::extract::Path<String>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> Response {
    use axum::response::IntoResponse;
    let secret = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok());
    match state.inner.webhooks.receive(&account, secret, &body).await {
        Ok(()) => (http::StatusCode::OK, "{}").into_response(),
        Err(WebhookError::UnknownAccount(_)) => http::StatusCode::NOT_FOUND.into_response(),
        Err(WebhookError::BadSecret) => http::StatusCode::UNAUTHORIZED.into_response(),
        Err(WebhookError::NotAnUpdate(reason)) => {
            (http::StatusCode::BAD_REQUEST, reason).into_response()
        }
        Err(WebhookError::Bus(reason)) => {
            tracing::warn!(%reason, "telegram update not stored; telegram will retry");
            http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Slack's Events API calls: the challenge answered, events stored before the 200; Slack retries
/// anything else.
async fn slack_events(
    axum::extract::State(state): axum::extract::State<AppState>,
    uri: http::Uri,
    client: axum::Extension<ClientAddr>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> Response {
    use crate::slack_events::{Answer, SIGNATURE_HEADER, SlackEventsError, TIMESTAMP_HEADER};
    use axum::response::IntoResponse;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let received = state
        .inner
        .slack
        .receive(
            uri.path(),
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
        )
        .await;
    match received {
        Ok(Answer::Challenge(challenge)) => (
            http::StatusCode::OK,
            [(http::header::CONTENT_TYPE, "text/plain")],
            challenge,
        )
            .into_response(),
        Ok(Answer::Accepted) => http::StatusCode::OK.into_response(),
        Err(SlackEventsError::UnknownPath(_)) => http::StatusCode::NOT_FOUND.into_response(),
        Err(error @ (SlackEventsError::Stale | SlackEventsError::BadSignature)) => {
            // Not counted in a lockout: see `admit::slack_events`.
            tracing::warn!(client = %client.0.ip, %error, "slack event refused");
            http::StatusCode::UNAUTHORIZED.into_response()
        }
        Err(SlackEventsError::NotAnEvent(reason)) => {
            (http::StatusCode::BAD_REQUEST, reason).into_response()
        }
        Err(SlackEventsError::Bus(reason)) => {
            tracing::warn!(%reason, "slack event not stored; slack will retry");
            http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Meta's verification request: the challenge echoed as text when the verify token is right.
async fn whatsapp_verify(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(account): axum::extract::Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    use crate::whatsapp_webhook::WhatsAppWebhookError;
    use axum::response::IntoResponse;
    let param = |name: &str| query.get(name).map(String::as_str);
    match state.inner.whatsapp.verify(
        &account,
        param("hub.mode"),
        param("hub.verify_token"),
        param("hub.challenge"),
    ) {
        Ok(challenge) => (
            http::StatusCode::OK,
            [(http::header::CONTENT_TYPE, "text/plain")],
            challenge,
        )
            .into_response(),
        Err(WhatsAppWebhookError::UnknownAccount(_)) => http::StatusCode::NOT_FOUND.into_response(),
        Err(_) => http::StatusCode::FORBIDDEN.into_response(),
    }
}

/// WhatsApp notifications: 200 once the body is on JetStream; Meta retries anything else.
async fn whatsapp_notification(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(account): axum::extract::Path<String>,
    client: axum::Extension<ClientAddr>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> Response {
    use crate::whatsapp_webhook::{SIGNATURE_HEADER, WhatsAppWebhookError};
    use axum::response::IntoResponse;
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match state
        .inner
        .whatsapp
        .receive(&account, signature, &body)
        .await
    {
        Ok(()) => http::StatusCode::OK.into_response(),
        Err(WhatsAppWebhookError::UnknownAccount(_)) => http::StatusCode::NOT_FOUND.into_response(),
        Err(error @ (WhatsAppWebhookError::BadSignature | WhatsAppWebhookError::NotVerified)) => {
            // Not counted in a lockout: see `admit::whatsapp_webhook`.
            tracing::warn!(client = %client.0.ip, %error, "whatsapp notification refused");
            http::StatusCode::UNAUTHORIZED.into_response()
        }
        Err(WhatsAppWebhookError::NotANotification(reason)) => {
            (http::StatusCode::BAD_REQUEST, reason).into_response()
        }
        Err(WhatsAppWebhookError::Bus(reason)) => {
            tracing::warn!(%reason, "whatsapp notification not stored; meta will retry");
            http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// BlueBubbles' webhook calls: 200 once the event is on JetStream.
async fn bluebubbles_event(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(account): axum::extract::Path<String>,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> Response {
    use crate::bluebubbles_webhook::{BlueBubblesWebhookError, presented};
    use axum::response::IntoResponse;
    let password = presented(&uri, &headers);
    match state
        .inner
        .bluebubbles
        .receive(&account, password.as_deref(), &body)
        .await
    {
        Ok(()) => http::StatusCode::OK.into_response(),
        Err(BlueBubblesWebhookError::UnknownAccount(_)) => {
            http::StatusCode::NOT_FOUND.into_response()
        }
        Err(BlueBubblesWebhookError::BadPassword) => http::StatusCode::UNAUTHORIZED.into_response(),
        Err(BlueBubblesWebhookError::NotAnEvent(reason)) => {
            (http::StatusCode::BAD_REQUEST, reason).into_response()
        }
        Err(BlueBubblesWebhookError::Bus(reason)) => {
            tracing::warn!(%reason, "bluebubbles event not stored; the catch-up query will bring it");
            http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// One span per request, parented to the caller's `traceparent` when it sends one.
async fn trace_request(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
    );
    pincer_telemetry::propagation::set_parent(
        &span,
        &pincer_telemetry::propagation::HttpHeadersRef(request.headers()),
    );
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    response
}
