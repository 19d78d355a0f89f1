//! Admission from the headers, before any body is read: an unauthenticated client cannot make the
//! gateway buffer its upload. Each route layer checks the credential its endpoint takes and counts
//! failures in the per-address lockout.

use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::auth::ClientAddr;
use crate::webhooks::{SECRET_HEADER, WebhookError};

fn client_of(request: &Request) -> Option<ClientAddr> {
    request.extensions().get::<ClientAddr>().cloned()
}

/// A platform's call whose headers were checked (`checked`): counted in the caller's lockout, then
/// let through, or refused with `refused` (429 while the caller is locked out).
async fn admit_checked(
    state: &AppState,
    client: &ClientAddr,
    what: &'static str,
    checked: bool,
    refused: http::StatusCode,
    request: Request,
    next: Next,
) -> Response {
    match state.inner.guard.admit_other(client, what, || checked) {
        Ok(()) => next.run(request).await,
        Err(crate::auth::guard::Refusal::RateLimited(wait)) => {
            super::refusal(crate::auth::guard::Refusal::RateLimited(wait)).into_response()
        }
        Err(_) => refused.into_response(),
    }
}

/// The OpenAI-compatible API: the gateway's token, password or trusted proxy.
pub(super) async fn api(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(client) = client_of(&request) else {
        return ApiError::Internal("no client address".into()).into_response();
    };
    if let Err(error) = state.authorize(request.headers(), &client) {
        return error.into_response();
    }
    next.run(request).await
}

/// `/hooks/*`: the hooks token, never in the URL.
pub(super) async fn hook(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(client) = client_of(&request) else {
        return ApiError::Internal("no client address".into()).into_response();
    };
    let Some(settings) = &state.inner.hooks else {
        return ApiError::NotFound("hooks are disabled".to_owned()).into_response();
    };
    if request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("token=")))
    {
        return ApiError::bad_request(
            "token",
            "tokens in the URL are refused (they end up in logs): send Authorization: Bearer <hooks.token>",
        )
        .into_response();
    }
    let headers = request.headers();
    if let Err(refusal) = state
        .inner
        .guard
        .admit_other(&client, "hook", || settings.presented_by(headers))
    {
        return super::refusal(refusal).into_response();
    }
    next.run(request).await
}

/// Telegram's webhook calls: the account's secret header. Failures count in the lockout like any
/// other credential.
pub(super) async fn telegram_webhook(
    State(state): State<AppState>,
    Path(account): Path<String>,
    request: Request,
    next: Next,
) -> Response {
    let Some(client) = client_of(&request) else {
        return ApiError::Internal("no client address".into()).into_response();
    };
    let secret = request
        .headers()
        .get(SECRET_HEADER)
        .and_then(|value| value.to_str().ok());
    let checked = state.inner.webhooks.check_secret(&account, secret);
    if let Err(WebhookError::UnknownAccount(_)) = checked {
        return http::StatusCode::NOT_FOUND.into_response();
    }
    let unauthorized = http::StatusCode::UNAUTHORIZED;
    admit_checked(
        &state,
        &client,
        "telegram-webhook",
        checked.is_ok(),
        unauthorized,
        request,
        next,
    )
    .await
}

/// Slack's Events API calls: a known path, a fresh timestamp and a signature present (the
/// signature itself needs the body, and is checked by the handler). Failures are refused without
/// counting in a lockout: an HMAC cannot be guessed, and counting them would let junk sent to the
/// public URL (from behind the same proxy, say) hold genuine events off.
pub(super) async fn slack_events(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    use crate::slack_events::{SIGNATURE_HEADER, SlackEventsError, TIMESTAMP_HEADER};
    let Some(client) = client_of(&request) else {
        return ApiError::Internal("no client address".into()).into_response();
    };
    let checked = {
        let headers = request.headers();
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let now = i64::try_from(pincer_clock::now_secs()).unwrap_or(i64::MAX);
        state
            .inner
            .slack
            .check_headers(
                request.uri().path(),
                header(TIMESTAMP_HEADER),
                header(SIGNATURE_HEADER),
                now,
            )
            .map(|_| ())
    };
    match checked {
        Ok(()) => next.run(request).await,
        Err(SlackEventsError::UnknownPath(_)) => http::StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::warn!(client = %client.ip, %error, "slack event refused");
            http::StatusCode::UNAUTHORIZED.into_response()
        }
    }
}

/// WhatsApp's webhook: for a verification (`GET`) the verify token, whose failures count in the
/// lockout of secrets; for a notification (`POST`) a signature of the right shape, the body's HMAC
/// being checked once it is read, refused without counting (as Slack's). An unknown account is a
/// plain 404.
pub(super) async fn whatsapp_webhook(
    State(state): State<AppState>,
    Path(account): Path<String>,
    request: Request,
    next: Next,
) -> Response {
    use crate::whatsapp_webhook::{SIGNATURE_HEADER, WhatsAppWebhookError};
    let Some(client) = client_of(&request) else {
        return ApiError::Internal("no client address".into()).into_response();
    };
    let whatsapp = &state.inner.whatsapp;
    let checked = if request.method() == http::Method::GET {
        let query =
            axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(
                request.uri(),
            )
            .map(|query| query.0)
            .unwrap_or_default();
        let param = |name: &str| query.get(name).map(String::as_str);
        whatsapp
            .verify(
                &account,
                param("hub.mode"),
                param("hub.verify_token"),
                param("hub.challenge"),
            )
            .map(|_| ())
    } else {
        let signature = request
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok());
        whatsapp.check_headers(&account, signature)
    };
    if let Err(WhatsAppWebhookError::UnknownAccount(_)) = checked {
        return http::StatusCode::NOT_FOUND.into_response();
    }
    if request.method() != http::Method::GET {
        return match checked {
            Ok(()) => next.run(request).await,
            Err(error) => {
                tracing::warn!(client = %client.ip, %error, "whatsapp notification refused");
                http::StatusCode::UNAUTHORIZED.into_response()
            }
        };
    }
    // A refused verification is Meta's 403.
    admit_checked(
        &state,
        &client,
        "whatsapp-verification",
        checked.is_ok(),
        http::StatusCode::FORBIDDEN,
        request,
        next,
    )
    .await
}

/// BlueBubbles' webhook: the server password, from the URL or a header. Failures count in the
/// lockout; an unknown account is a plain 404.
pub(super) async fn bluebubbles_webhook(
    State(state): State<AppState>,
    Path(account): Path<String>,
    request: Request,
    next: Next,
) -> Response {
    use crate::bluebubbles_webhook::{BlueBubblesWebhookError, presented};
    let Some(client) = client_of(&request) else {
        return ApiError::Internal("no client address".into()).into_response();
    };
    let password = presented(request.uri(), request.headers());
    let checked = state
        .inner
        .bluebubbles
        .check_password(&account, password.as_deref());
    if let Err(BlueBubblesWebhookError::UnknownAccount(_)) = checked {
        return http::StatusCode::NOT_FOUND.into_response();
    }
    let unauthorized = http::StatusCode::UNAUTHORIZED;
    admit_checked(
        &state,
        &client,
        "bluebubbles-webhook",
        checked.is_ok(),
        unauthorized,
        request,
        next,
    )
    .await
}
