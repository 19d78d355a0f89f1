//! The Web API at `/api/{method}`: bearer (or `token` argument) auth with Slack's errors
//! (`not_authed`, `invalid_auth`, `token_revoked`, `not_allowed_token_type`), forced 429s and
//! 500s, and the methods a bridge calls. Slack answers `ok:false` errors with HTTP 200.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::params;
use crate::routes::AppState;
use crate::state::Inner;

/// A method's outcome: the fields of an `ok:true` answer, or an error code.
pub type Outcome = Result<Value, &'static str>;

/// `POST|GET /api/{method}`.
pub async fn call(
    State(app): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // Slack reads JSON bodies for write methods only: a read method given one sees none of its
    // arguments (and answers as if no channel had been named).
    let reads_json_body =
        !(method.starts_with("conversations.") && content_type.is_some_and(|t| t.contains("json")));
    let body = if reads_json_body { &body[..] } else { &[][..] };
    let params = match params::parse(content_type, uri.query(), body) {
        Ok(params) => params,
        Err(error) => return failure(&error),
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = bearer.or_else(|| params::non_empty(&params, "token")) else {
        return failure("not_authed");
    };
    let response = {
        let mut inner = app.world.lock();
        if inner.revoked.contains(&token) {
            return failure("token_revoked");
        }
        let Some(app_token) = inner.app_of(&token) else {
            return failure("invalid_auth");
        };
        if let Some(refusal) = forced(&mut inner, &app_token, &method) {
            return refusal;
        }
        let is_app_token = token == app_token;
        dispatch(&mut inner, &app_token, is_app_token, &method, &params)
    };
    // A post may have queued an echo envelope.
    app.world.wake.notify_one();
    response
}

fn dispatch(
    inner: &mut Inner,
    app_token: &str,
    is_app_token: bool,
    method: &str,
    params: &Map<String, Value>,
) -> Response {
    let outcome = match method {
        "auth.test" => auth_test(inner, app_token, is_app_token),
        "apps.connections.open" if is_app_token => connections_open(inner, app_token),
        "apps.connections.open" => Err("not_allowed_token_type"),
        _ if is_app_token => Err("not_allowed_token_type"),
        "chat.postMessage" => inner.post_message(app_token, params),
        "chat.update" => inner.update_message(app_token, params),
        "conversations.history" => inner.history(params),
        "conversations.replies" => inner.replies(params),
        "conversations.info" => inner.info(params),
        "users.info" => inner.user_info(app_token, params),
        _ => {
            let body = json!({ "ok": false, "error": "unknown_method", "req_method": method });
            return (StatusCode::NOT_FOUND, Json(body)).into_response();
        }
    };
    match outcome {
        Ok(Value::Object(mut fields)) => {
            fields.insert("ok".to_owned(), Value::Bool(true));
            Json(Value::Object(fields)).into_response()
        }
        Ok(_) => Json(json!({ "ok": true })).into_response(),
        Err(error) => failure(error),
    }
}

/// An `ok:false` answer (HTTP 200, as Slack does).
pub fn failure(error: &str) -> Response {
    Json(json!({ "ok": false, "error": error })).into_response()
}

/// A failure a test forced on this method, if one is due.
fn forced(inner: &mut Inner, app_token: &str, method: &str) -> Option<Response> {
    let forced = inner.apps.get_mut(app_token)?.forced.get_mut(method)?;
    if forced.rate_limit_next > 0 {
        forced.rate_limit_next -= 1;
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "ok": false, "error": "ratelimited" })),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&forced.retry_after_secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Some(response);
    }
    if forced.fail_next > 0 {
        forced.fail_next -= 1;
        let body = json!({ "ok": false, "error": "internal_error" });
        return Some((StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response());
    }
    if forced.error_next > 0 {
        forced.error_next -= 1;
        return Some(Json(json!({ "ok": false, "error": forced.error })).into_response());
    }
    None
}

fn auth_test(inner: &Inner, app_token: &str, is_app_token: bool) -> Outcome {
    let app = &inner.apps.get(app_token).ok_or("invalid_auth")?.identity;
    let url = format!("{}/", inner.public_base);
    if is_app_token {
        // App-level tokens belong to the app, not to a user.
        return Ok(
            json!({ "url": url, "team": app.team_name, "team_id": app.team_id, "app_id": app.app_id,
                          "is_enterprise_install": false }),
        );
    }
    Ok(
        json!({ "url": url, "team": app.team_name, "user": app.bot_name, "team_id": app.team_id,
               "user_id": app.bot_user_id, "bot_id": app.bot_id, "app_id": app.app_id,
               "is_enterprise_install": false }),
    )
}

/// A single-use Socket Mode URL.
fn connections_open(inner: &mut Inner, app_token: &str) -> Outcome {
    let ticket = uuid::Uuid::new_v4().to_string();
    inner.tickets.insert(ticket.clone(), app_token.to_owned());
    let ws_base = inner.ws_base();
    let app = inner.apps.get_mut(app_token).ok_or("invalid_auth")?;
    app.connections_opened += 1;
    Ok(json!({ "url": format!("{ws_base}/link/?ticket={ticket}&app_id={}", app.identity.app_id) }))
}
