//! The Graph API as the Cloud API serves it under `/<version>/…`: a number's info, sending
//! messages (`POST /<phone-number-id>/messages`) with the checks Meta makes and its error bodies,
//! read receipts with a typing indicator, and media (`GET /<media-id>` for a short-lived URL,
//! `GET /media/<id>` for the bytes, both wanting the token).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::{ReadReceipt, SentMessage, World};
use crate::webhook;

/// The Cloud API's longest text body, in characters.
pub const MAX_TEXT: usize = 4096;
/// How long after a person's last message a free-form message may reach them.
pub const WINDOW_SECS: u64 = 24 * 3600;

/// A Graph error answer.
pub fn error(status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    let body = json!({"error": {
        "message": format!("(#{code}) {message}"),
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AfakeTraceId0",
    }});
    (status, Json(body)).into_response()
}

fn bad_parameter(details: &str) -> Response {
    error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", details)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "Invalid OAuth access token",
    )
}

/// The version segment must look like Meta's (`v23.0`).
fn version_ok(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && major.chars().all(|c| c.is_ascii_digit())
                && minor.chars().all(|c| c.is_ascii_digit())
        })
}

/// `GET /<version>/<id>`: a number's fields, or a media object's URL.
pub async fn get_object(
    State(world): State<World>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !version_ok(&version) {
        return bad_parameter("unknown API version");
    }
    let token = bearer(&headers).unwrap_or_default().to_owned();
    let state = world.lock();
    if let Some(number) = state.numbers.get(&id) {
        if number.access_token != token {
            return unauthorized();
        }
        return Json(json!({
            "display_phone_number": number.display_phone_number,
            "verified_name": number.verified_name,
            "id": number.phone_number_id,
        }))
        .into_response();
    }
    if let Some((mime, bytes)) = state.media.get(&id) {
        if !state.numbers.values().any(|n| n.access_token == token) {
            return unauthorized();
        }
        let sha = ring::digest::digest(&ring::digest::SHA256, bytes);
        let sha: String = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        return Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}/media/{id}?ext=1", world.origin),
            "mime_type": mime,
            "sha256": sha,
            "file_size": bytes.len().to_string(),
            "id": id,
        }))
        .into_response();
    }
    bad_parameter(&format!(
        "Unsupported get request. Object with ID '{id}' does not exist"
    ))
}

/// `GET /media/<id>`: the bytes, for a request with a token.
pub async fn media_bytes(
    State(world): State<World>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers).unwrap_or_default();
    let state = world.lock();
    if !state.numbers.values().any(|n| n.access_token == token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match state.media.get(&id) {
        Some((mime, bytes)) => (
            [(axum::http::header::CONTENT_TYPE, mime.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST /<version>/<phone-number-id>/messages`.
pub async fn send(
    State(world): State<World>,
    Path((version, number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !version_ok(&version) {
        return bad_parameter("unknown API version");
    }
    let token = bearer(&headers).unwrap_or_default().to_owned();
    let Some(number) = world.lock().numbers.get(&number_id).cloned() else {
        return bad_parameter(&format!("Object with ID '{number_id}' does not exist"));
    };
    if number.access_token != token {
        return unauthorized();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad_parameter("the body is not JSON");
    };
    if request["messaging_product"].as_str() != Some("whatsapp") {
        return bad_parameter("The parameter messaging_product is required.");
    }
    if request["status"].as_str() == Some("read") {
        return read_receipt(&world, &number_id, &request);
    }
    if let Some((status, code)) = {
        let mut state = world.lock();
        (!state.knobs.fail_sends.is_empty()).then(|| state.knobs.fail_sends.remove(0))
    } {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return error(
            status,
            code,
            "Injected failure",
            "the fake was told to fail",
        );
    }
    if request["type"].as_str() != Some("text") {
        return bad_parameter("Param type must be one of {text} in this fake");
    }
    let Some(text) = request["text"]["body"].as_str().filter(|t| !t.is_empty()) else {
        return bad_parameter("The parameter text['body'] is required.");
    };
    if text.chars().count() > MAX_TEXT {
        return bad_parameter(&format!(
            "Param text['body'] must be at most {MAX_TEXT} characters long."
        ));
    }
    let recipient_type = request["recipient_type"].as_str().unwrap_or("individual");
    let Some(to) = request["to"].as_str().map(str::trim) else {
        return bad_parameter("The parameter to is required.");
    };
    let reply_to = request["context"]["message_id"].as_str().map(str::to_owned);
    let (to, outcome) = match recipient_type {
        "group" => {
            let state = world.lock();
            match state.groups.get(to) {
                Some((owner, _)) if *owner == number_id => (to.to_owned(), "delivered".to_owned()),
                _ => return bad_parameter(&format!("group {to} does not exist for this number")),
            }
        }
        "individual" => {
            let person: String = to.chars().filter(char::is_ascii_digit).collect();
            if person.len() < 7 {
                return bad_parameter(&format!("{to} is not a phone number"));
            }
            let last = world
                .lock()
                .last_inbound
                .get(&(number_id.clone(), person.clone()))
                .copied();
            let now = crate::now_secs();
            // Meta accepts the request and fails the message afterwards, in a status.
            let outcome = match last {
                Some(at) if now.saturating_sub(at) <= WINDOW_SECS => "delivered".to_owned(),
                _ => "failed:131047".to_owned(),
            };
            (person, outcome)
        }
        other => return bad_parameter(&format!("recipient_type {other} is not supported")),
    };
    let id = world.next_id("wamid.HBgL");
    world.lock().sent.push(SentMessage {
        id: id.clone(),
        from_number: number_id.clone(),
        recipient_type: recipient_type.to_owned(),
        to: to.clone(),
        body: text.to_owned(),
        reply_to,
        outcome: outcome.clone(),
    });
    webhook::spawn_statuses(&world, &number_id, &id, &to, &outcome);
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": id}],
    }))
    .into_response()
}

fn read_receipt(world: &World, number_id: &str, request: &Value) -> Response {
    let Some(message_id) = request["message_id"].as_str() else {
        return bad_parameter("The parameter message_id is required.");
    };
    let mut state = world.lock();
    let known = state
        .inbound_ids
        .get(number_id)
        .is_some_and(|ids| ids.iter().any(|id| id == message_id));
    if !known {
        return bad_parameter(&format!("Invalid message_id {message_id}"));
    }
    let typing = request["typing_indicator"]["type"].as_str() == Some("text");
    state.receipts.push(ReadReceipt {
        message_id: message_id.to_owned(),
        typing,
    });
    Json(json!({"success": true})).into_response()
}
