//! The Bot API surface: `/bot<token>/<method>` with Telegram's envelopes, plus `/control/...`
//! for tests to inject user messages, read what the bot sent and set failure knobs.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::state::{Incoming, Knobs, Sent, Webhook, World, blocked};
use crate::validate;

/// Longest long poll honoured.
const MAX_POLL: Duration = Duration::from_secs(50);

/// The router.
pub fn router(world: World) -> axum::Router {
    axum::Router::new()
        .route("/{bot}/{method}", post(method).get(method_get))
        .route("/control/{token}/message", post(inject))
        .route("/control/{token}/sent", get(sent))
        .route("/control/{token}/knobs", post(set_knobs))
        .route("/control/{token}/status", get(status))
        .route("/file/{bot}/{*path}", get(download))
        .route("/health", get(|| async { "ok" }))
        .with_state(world)
}

async fn method_get(
    state: State<World>,
    path: Path<(String, String)>,
    Query(query): Query<Map<String, Value>>,
) -> Response {
    call(state, path, Value::Object(query)).await
}

async fn method(
    state: State<World>,
    path: Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let params = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: invalid JSON body",
                    None,
                );
            }
        }
    };
    call(state, path, params).await
}

async fn call(
    State(world): State<World>,
    Path((bot, name)): Path<(String, String)>,
    params: Value,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return failure(StatusCode::NOT_FOUND, "Not Found", None);
    };
    if world.with_bot(token, |_| ()).is_none() {
        return failure(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    match name.as_str() {
        "getMe" => world
            .with_bot(token, |bot| ok(json!({ "id": bot.id, "is_bot": true, "first_name": "Pincer", "username": bot.username,
                                                "can_join_groups": true, "can_read_all_group_messages": false })))
            .unwrap_or_else(unauthorized),
        "getUpdates" => get_updates(&world, token, &params).await,
        "sendMessage" => send_message(&world, token, &params),
        "editMessageText" => edit_message(&world, token, &params),
        "sendChatAction" => {
            let chat = int(&params, "chat_id").unwrap_or(0);
            let action = params.get("action").and_then(Value::as_str).unwrap_or("typing").to_owned();
            world.with_bot(token, |bot| bot.chat_actions.push((chat, action)));
            ok(json!(true))
        }
        "sendMessageDraft" => {
            let chat = int(&params, "chat_id").unwrap_or(0);
            let text = params.get("text").and_then(Value::as_str).unwrap_or_default().to_owned();
            world.with_bot(token, |bot| bot.drafts.push((chat, text)));
            ok(json!(true))
        }
        "setWebhook" => {
            let Some(url) = params.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()) else {
                return failure(StatusCode::BAD_REQUEST, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook", None);
            };
            let secret = params.get("secret_token").and_then(Value::as_str).map(str::to_owned);
            world.with_bot(token, |bot| bot.webhook = Some(Webhook { url: url.to_owned(), secret_token: secret }));
            world.arrived.notify_waiters();
            ok(json!(true))
        }
        "deleteWebhook" => {
            world.with_bot(token, |bot| {
                bot.webhook = None;
                if params.get("drop_pending_updates").and_then(Value::as_bool) == Some(true) {
                    bot.updates.clear();
                }
            });
            ok(json!(true))
        }
        "getWebhookInfo" => world
            .with_bot(token, |bot| {
                ok(json!({ "url": bot.webhook.as_ref().map(|w| w.url.clone()).unwrap_or_default(),
                           "has_custom_certificate": false, "pending_update_count": bot.updates.len() }))
            })
            .unwrap_or_else(unauthorized),
        "getFile" => {
            let Some(file_id) = params.get("file_id").and_then(Value::as_str) else {
                return failure(StatusCode::BAD_REQUEST, "Bad Request: file_id is required", None);
            };
            match world.with_bot(token, |bot| bot.files.get(file_id).copied()).flatten() {
                Some(size) => ok(json!({ "file_id": file_id, "file_unique_id": format!("u-{file_id}"),
                                         "file_size": size, "file_path": format!("photos/{file_id}.jpg") })),
                None => failure(StatusCode::BAD_REQUEST, "Bad Request: invalid file_id", None),
            }
        }
        other => failure(StatusCode::NOT_FOUND, &format!("Not Found: method {other} not found"), None),
    }
}

async fn get_updates(world: &World, token: &str, params: &Value) -> Response {
    let offset = int(params, "offset");
    let limit = int(params, "limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout =
        Duration::from_secs(int(params, "timeout").unwrap_or(0).max(0) as u64).min(MAX_POLL);
    let generation = world.with_bot(token, |bot| {
        if bot.webhook.is_some() {
            return Err("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
        }
        bot.poll_generation += 1;
        bot.polls_in_flight += 1;
        // Confirm everything before the offset.
        if let Some(offset) = offset {
            bot.updates.retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
        }
        Ok(bot.poll_generation)
    });
    let generation = match generation {
        Some(Ok(generation)) => generation,
        Some(Err(conflict)) => return failure(StatusCode::CONFLICT, conflict, None),
        None => return unauthorized(),
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let outcome = loop {
        let arrived = world.arrived.notified();
        let ready = world.with_bot(token, |bot| {
            if bot.poll_generation != generation || bot.webhook.is_some() {
                bot.conflicts += 1;
                return Some(Err(()));
            }
            let batch: Vec<Value> = bot.updates.iter().take(limit).cloned().collect();
            (!batch.is_empty()).then_some(Ok(batch))
        });
        match ready.flatten() {
            Some(result) => break result,
            None if tokio::time::Instant::now() >= deadline => break Ok(Vec::new()),
            None => {
                let _ = tokio::time::timeout_at(deadline, arrived).await;
            }
        }
    };
    world.with_bot(token, |bot| bot.polls_in_flight -= 1);
    match outcome {
        Ok(updates) => ok(Value::Array(updates)),
        Err(()) => failure(
            StatusCode::CONFLICT,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            None,
        ),
    }
}

/// Knob checks shared by every send: the response to give instead, if any.
fn refused(world: &World, token: &str, chat: i64) -> Option<Response> {
    world
        .with_bot(token, |bot| {
            if blocked(&bot.knobs).contains(&chat) {
                bot.rejected_sends += 1;
                return Some(failure(
                    StatusCode::FORBIDDEN,
                    "Forbidden: bot was blocked by the user",
                    None,
                ));
            }
            if bot.knobs.rate_limit_next > 0 {
                bot.knobs.rate_limit_next -= 1;
                bot.rejected_sends += 1;
                let secs = bot.knobs.retry_after.max(1);
                return Some(failure(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("Too Many Requests: retry after {secs}"),
                    Some(json!({ "retry_after": secs })),
                ));
            }
            if bot.knobs.fail_next > 0 {
                bot.knobs.fail_next -= 1;
                bot.rejected_sends += 1;
                return Some(failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    None,
                ));
            }
            None
        })
        .unwrap_or_else(|| Some(unauthorized()))
}

/// The `text` and `parse_mode` of a send or an edit, checked as Telegram checks them (and
/// refused under the `reject_html` knob); a refusal counts in `rejected_sends`.
fn checked_text<'a>(
    world: &World,
    token: &str,
    params: &'a Value,
) -> Result<(&'a str, Option<String>), Box<Response>> {
    let text = params
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let parse_mode = params
        .get("parse_mode")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let reject_html = world
        .with_bot(token, |bot| bot.knobs.reject_html)
        .unwrap_or(false);
    let checked = if reject_html && parse_mode.as_deref() == Some("HTML") {
        Err("Bad Request: can't parse entities: unsupported start tag at byte offset 0".to_owned())
    } else {
        validate::check(text, parse_mode.as_deref())
    };
    match checked {
        Ok(_) => Ok((text, parse_mode)),
        Err(description) => {
            world.with_bot(token, |bot| bot.rejected_sends += 1);
            Err(Box::new(failure(
                StatusCode::BAD_REQUEST,
                &description,
                None,
            )))
        }
    }
}

fn send_message(world: &World, token: &str, params: &Value) -> Response {
    let Some(chat) = int(params, "chat_id") else {
        return failure(
            StatusCode::BAD_REQUEST,
            "Bad Request: chat_id is empty",
            None,
        );
    };
    if let Some(response) = refused(world, token, chat) {
        return response;
    }
    let (text, parse_mode) = match checked_text(world, token, params) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    let reply_to = params
        .pointer("/reply_parameters/message_id")
        .and_then(Value::as_i64)
        .or_else(|| int(params, "reply_to_message_id"));
    world
        .with_bot(token, |bot| {
            let message_id = bot.next_message_id;
            bot.next_message_id += 1;
            let topic = int(params, "message_thread_id");
            bot.sent.insert(message_id, Sent { message_id, chat_id: chat, text: text.to_owned(), parse_mode, reply_to, topic, edits: 0 });
            ok(json!({ "message_id": message_id, "date": 1_764_400_001, "chat": { "id": chat, "type": if chat < 0 { "supergroup" } else { "private" } },
                       "from": { "id": bot.id, "is_bot": true, "first_name": "Pincer", "username": bot.username }, "text": text }))
        })
        .unwrap_or_else(unauthorized)
}

fn edit_message(world: &World, token: &str, params: &Value) -> Response {
    let (Some(chat), Some(message_id)) = (int(params, "chat_id"), int(params, "message_id")) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "Bad Request: message identifier is not specified",
            None,
        );
    };
    if let Some(response) = refused(world, token, chat) {
        return response;
    }
    let (text, parse_mode) = match checked_text(world, token, params) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    world
        .with_bot(token, |bot| match bot.sent.get_mut(&message_id) {
            Some(sent) if sent.chat_id == chat => {
                if sent.text == text && sent.parse_mode == parse_mode {
                    return failure(StatusCode::BAD_REQUEST, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message", None);
                }
                sent.text = text.to_owned();
                sent.parse_mode = parse_mode;
                sent.edits += 1;
                ok(json!({ "message_id": message_id, "date": 1_764_400_001, "chat": { "id": chat, "type": "private" }, "text": text }))
            }
            _ => failure(StatusCode::BAD_REQUEST, "Bad Request: message to edit not found", None),
        })
        .unwrap_or_else(unauthorized)
}

/// `GET /file/bot<token>/photos/<file_id>.jpg`: the file's bytes (a fixed pattern of its size).
async fn download(
    State(world): State<World>,
    Path((bot, path)): Path<(String, String)>,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let file_id = path
        .rsplit('/')
        .next()
        .and_then(|name| name.strip_suffix(".jpg"))
        .unwrap_or_default()
        .to_owned();
    match world
        .with_bot(token, |bot| bot.files.get(&file_id).copied())
        .flatten()
    {
        Some(size) => (StatusCode::OK, photo_content(size)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn inject(
    State(world): State<World>,
    Path(token): Path<String>,
    Json(incoming): Json<Incoming>,
) -> Response {
    match world.inject(&token, &incoming) {
        Some(update_id) => Json(json!({ "update_id": update_id })).into_response(),
        None => unauthorized(),
    }
}

async fn sent(State(world): State<World>, Path(token): Path<String>) -> Response {
    world
        .with_bot(&token, |bot| {
            Json(json!(bot.sent.values().collect::<Vec<&Sent>>())).into_response()
        })
        .unwrap_or_else(unauthorized)
}

async fn set_knobs(
    State(world): State<World>,
    Path(token): Path<String>,
    Json(knobs): Json<Knobs>,
) -> Response {
    world
        .with_bot(&token, |bot| bot.knobs = knobs)
        .map_or_else(unauthorized, |()| ok(json!(true)))
}

async fn status(State(world): State<World>, Path(token): Path<String>) -> Response {
    world
        .with_bot(&token, |bot| {
            Json(json!({ "pending_updates": bot.updates.len(), "polls_in_flight": bot.polls_in_flight,
                         "conflicts": bot.conflicts, "webhook": bot.webhook, "chat_actions": bot.chat_actions.len(),
                         "drafts": bot.drafts.len(), "rejected_sends": bot.rejected_sends }))
            .into_response()
        })
        .unwrap_or_else(unauthorized)
}

/// An integer parameter given as a number or a numeric string (Telegram accepts both).
fn int(params: &Value, name: &str) -> Option<i64> {
    match params.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn ok(result: Value) -> Response {
    Json(json!({ "ok": true, "result": result })).into_response()
}

fn failure(status: StatusCode, description: &str, parameters: Option<Value>) -> Response {
    let mut body =
        json!({ "ok": false, "error_code": status.as_u16(), "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    (status, Json(body)).into_response()
}

fn unauthorized() -> Response {
    failure(StatusCode::UNAUTHORIZED, "Unauthorized", None)
}

/// The bytes of a photo of `size` bytes the fake serves: a JPEG's first bytes (Telegram's photos
/// are JPEGs), then a pattern a test can check.
pub fn photo_content(size: u64) -> Vec<u8> {
    const JPEG: [u8; 4] = [0xFF, 0xD8, 0xFF, 0xE0];
    (0..size)
        .map(
            |i| match usize::try_from(i).ok().and_then(|i| JPEG.get(i)) {
                Some(byte) => *byte,
                None => (i % 251) as u8,
            },
        )
        .collect()
}
