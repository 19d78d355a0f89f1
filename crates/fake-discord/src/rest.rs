//! REST v10: the routes a bridge uses (`/gateway/bot`, `/users/@me`, channels, messages, edits,
//! typing), the `Authorization: Bot <token>` check, body validation with Discord's error codes,
//! `enforce_nonce` deduplication and the message buckets.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use crate::errors::{self, Refusal};
use crate::message::{Draft, Reply, bot_user_json, parse_mentions};
use crate::ratelimit;
use crate::records::{Edit, SentMessage};
use crate::routes::AppState;
use crate::snowflake::{iso8601, next_id, now_ms};
use crate::state::{DmChannel, Inner, Place, StoredMessage};

/// Discord's longest message.
const MAX_CONTENT_CHARS: usize = 2000;
/// Discord's longest nonce.
const MAX_NONCE_CHARS: usize = 25;

/// The REST routes, mounted under `/api/v10` and at the root.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/gateway/bot", get(gateway_bot))
        .route("/users/@me", get(users_me))
        .route("/oauth2/applications/@me", get(application))
        .route("/channels/{channel}", get(get_channel))
        .route("/channels/{channel}/messages", post(create_message))
        .route(
            "/channels/{channel}/messages/{message}",
            patch(edit_message).get(get_message),
        )
        .route("/channels/{channel}/typing", post(typing))
}

/// The token of `Authorization: Bot <token>`, if it names a declared, unrevoked bot.
fn authenticated(inner: &Inner, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bot ")?;
    inner
        .bots
        .get(token)
        .filter(|bot| !bot.revoked)
        .map(|_| token.to_owned())
}

/// `GET /gateway` (no auth): the gateway URL.
pub async fn gateway(State(app): State<AppState>) -> Response {
    let inner = app.world.lock();
    Json(json!({ "url": format!("{}/gateway", inner.ws_base()) })).into_response()
}

async fn gateway_bot(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let inner = app.world.lock();
    let Some(token) = authenticated(&inner, &headers) else {
        return errors::unauthorized();
    };
    let identifies = inner.bots.get(&token).map_or(0, |bot| bot.identifies);
    Json(json!({
        "url": format!("{}/gateway", inner.ws_base()), "shards": 1,
        "session_start_limit": { "total": 1000, "remaining": 1000u32.saturating_sub(identifies),
                                 "reset_after": 14_400_000, "max_concurrency": 1 },
    }))
    .into_response()
}

async fn users_me(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let inner = app.world.lock();
    let Some(bot) = authenticated(&inner, &headers).and_then(|token| inner.bots.get(&token)) else {
        return errors::unauthorized();
    };
    let mut user = bot_user_json(&bot.user);
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["flags"] = json!(0);
    user["locale"] = json!("en-US");
    Json(user).into_response()
}

async fn application(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let inner = app.world.lock();
    let Some(bot) = authenticated(&inner, &headers).and_then(|token| inner.bots.get(&token)) else {
        return errors::unauthorized();
    };
    Json(
        json!({ "id": bot.user.application_id, "name": bot.user.username, "bot_public": true,
                 "bot_require_code_grant": false, "flags": 0, "bot": bot_user_json(&bot.user) }),
    )
    .into_response()
}

async fn get_channel(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(channel_id): Path<String>,
) -> Response {
    let inner = app.world.lock();
    if authenticated(&inner, &headers).is_none() {
        return errors::unauthorized();
    }
    let last_message_id = inner
        .messages
        .iter()
        .filter(|(_, m)| m.channel_id == channel_id)
        .map(|(id, _)| id.parse::<u64>().unwrap_or(0))
        .max()
        .map(|id| id.to_string());
    match inner.place(&channel_id) {
        Some(Place::Guild { guild_id, channel }) => {
            let mut body = json!({ "id": channel.id, "type": channel.kind, "name": channel.name, "guild_id": guild_id,
                                   "position": 0, "permission_overwrites": [], "nsfw": false,
                                   "rate_limit_per_user": 0, "last_message_id": last_message_id, "flags": 0 });
            if let Some(parent) = &channel.parent_id {
                body["parent_id"] = json!(parent);
            }
            if matches!(channel.kind, 10..=12) {
                body["thread_metadata"] = json!({ "archived": false, "auto_archive_duration": 1440,
                                                  "archive_timestamp": "2024-01-01T00:00:00.000000+00:00", "locked": false });
                body["message_count"] = json!(0);
                body["member_count"] = json!(1);
            }
            Json(body).into_response()
        }
        Some(Place::Dm(dm)) => Json(json!({ "id": channel_id, "type": 1, "last_message_id": last_message_id,
                                            "recipients": [inner.user_json(&dm.recipient)], "flags": 0 }))
        .into_response(),
        None => errors::unknown_channel(),
    }
}

async fn get_message(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((channel_id, message_id)): Path<(String, String)>,
) -> Response {
    let inner = app.world.lock();
    if authenticated(&inner, &headers).is_none() {
        return errors::unauthorized();
    }
    match inner
        .messages
        .get(&message_id)
        .filter(|m| m.channel_id == channel_id)
    {
        Some(message) => Json(message.body.clone()).into_response(),
        None => errors::unknown_message(),
    }
}

async fn typing(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(channel_id): Path<String>,
) -> Response {
    let mut inner = app.world.lock();
    let Some(bot) = authenticated(&inner, &headers).and_then(|token| inner.bots.get_mut(&token))
    else {
        return errors::unauthorized();
    };
    if bot.knobs.forbidden_channels.contains(&channel_id) {
        return errors::missing_permissions();
    }
    *bot.typing.entry(channel_id).or_default() += 1;
    StatusCode::NO_CONTENT.into_response()
}

/// Checks every send and edit shares: permission, forced failures, then the bucket.
fn admit(
    inner: &mut Inner,
    token: &str,
    route: &'static str,
    channel_id: &str,
) -> Result<HeaderMap, Refusal> {
    let Some(bot) = inner.bots.get_mut(token) else {
        return Err(errors::unauthorized().into());
    };
    if bot.knobs.forbidden_channels.iter().any(|c| c == channel_id) {
        bot.rejected_sends += 1;
        return Err(errors::missing_permissions().into());
    }
    if let Some(refusal) = ratelimit::forced(bot, route) {
        return Err(refusal.into());
    }
    ratelimit::take(bot, route, channel_id)
}

/// A JSON object body, or Discord's 50109.
fn json_body(body: &[u8]) -> Result<Value, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(errors::invalid_json().into()),
    }
}

/// The `content` of a request, checked for length.
fn content_of(request: &Value) -> Result<Option<String>, Refusal> {
    let Some(content) = request.get("content").and_then(Value::as_str) else {
        return Ok(None);
    };
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(errors::invalid_field(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        )
        .into());
    }
    Ok(Some(content.to_owned()))
}

/// The request carries something besides text (so empty content is fine).
fn has_non_text(request: &Value) -> bool {
    ["embeds", "sticker_ids", "components", "attachments", "poll"]
        .iter()
        .any(|key| match request.get(*key) {
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        })
}

/// A nonce as a string (Discord accepts integers and strings).
fn nonce_of(request: &Value) -> Result<Option<String>, Refusal> {
    match request.get("nonce") {
        Some(Value::String(nonce)) if nonce.chars().count() > MAX_NONCE_CHARS => {
            Err(errors::invalid_field(
                "nonce",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            )
            .into())
        }
        Some(Value::String(nonce)) => Ok(Some(nonce.clone())),
        Some(Value::Number(nonce)) => Ok(Some(nonce.to_string())),
        _ => Ok(None),
    }
}

/// User ids the message really mentions: those in the content that `allowed_mentions` lets ping.
fn pinged_users(content: &str, allowed: Option<&Value>) -> Result<Vec<String>, Refusal> {
    let (users, _) = parse_mentions(content);
    let Some(allowed) = allowed.filter(|a| a.is_object()) else {
        return Ok(users);
    };
    let parse: Vec<&str> = allowed
        .get("parse")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(bad) = parse
        .iter()
        .find(|p| !matches!(**p, "users" | "roles" | "everyone"))
    {
        return Err(errors::invalid_field(
            "allowed_mentions",
            "ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
            &format!("Value \"{bad}\" is not a valid enum value."),
        )
        .into());
    }
    let listed: Vec<&str> = allowed
        .get("users")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(users
        .into_iter()
        .filter(|id| parse.contains(&"users") || listed.contains(&id.as_str()))
        .collect())
}

async fn create_message(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(channel_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut inner = app.world.lock();
    let Some(token) = authenticated(&inner, &headers) else {
        return errors::unauthorized();
    };
    let limit_headers = match admit(&mut inner, &token, "messages", &channel_id) {
        Ok(limit_headers) => limit_headers,
        Err(refusal) => return *refusal,
    };
    match create(&mut inner, &token, &channel_id, &body) {
        Ok(message) => (StatusCode::OK, limit_headers, Json(message)).into_response(),
        Err(refusal) => {
            if let Some(bot) = inner.bots.get_mut(&token) {
                bot.rejected_sends += 1;
            }
            *refusal
        }
    }
}

/// Validates and creates a message (or finds the one its enforced nonce already made).
fn create(inner: &mut Inner, token: &str, channel_id: &str, body: &[u8]) -> Result<Value, Refusal> {
    let request = json_body(body)?;
    let content = content_of(&request)?.unwrap_or_default();
    if content.is_empty() && !has_non_text(&request) {
        return Err(errors::empty_message().into());
    }
    let nonce = nonce_of(&request)?;
    let enforce_nonce = request.get("enforce_nonce").and_then(Value::as_bool) == Some(true);
    let mentions = pinged_users(&content, request.get("allowed_mentions"))?;
    let Some(bot) = inner.bots.get_mut(token) else {
        return Err(errors::unauthorized().into());
    };
    let window = Duration::from_secs(bot.knobs.nonce_window_secs);
    bot.nonces.retain(|_, (_, at)| at.elapsed() <= window);
    if let Some(nonce) = nonce.as_ref().filter(|_| enforce_nonce)
        && let Some((existing, _)) = bot.nonces.get(nonce)
    {
        bot.deduplicated_sends += 1;
        let existing = existing.clone();
        return inner
            .messages
            .get(&existing)
            .map(|m| m.body.clone())
            .ok_or_else(|| errors::server_error().into());
    }
    let bot_id = bot.user.id.clone();
    let echo = bot.knobs.echo_own_messages;

    let reference = request.get("message_reference").filter(|r| r.is_object());
    let reply = match reference
        .and_then(|r| r.get("message_id"))
        .and_then(Value::as_str)
    {
        Some(id) if inner.messages.contains_key(id) => Some(Reply {
            message_id: id.to_owned(),
        }),
        Some(_)
            if reference
                .and_then(|r| r.get("fail_if_not_exists"))
                .and_then(Value::as_bool)
                != Some(false) =>
        {
            return Err(errors::invalid_field(
                "message_reference",
                "REPLIES_UNKNOWN_MESSAGE",
                "Unknown message",
            )
            .into());
        }
        _ => None,
    };
    // A channel the fake never heard of is taken as a DM the bot opened.
    let place = inner.place(channel_id).unwrap_or_else(|| {
        Place::Dm(DmChannel {
            bot: token.to_owned(),
            recipient: String::new(),
        })
    });
    let guild_id = match &place {
        Place::Guild { guild_id, .. } => Some(guild_id.clone()),
        Place::Dm(_) => None,
    };
    let id = next_id();
    let draft = Draft {
        id: &id,
        channel_id,
        guild_id: guild_id.as_deref(),
        author_id: &bot_id,
        content: &content,
        mentions: &mentions,
        mention_roles: &[],
        attachments: &[],
        reply,
        nonce: request.get("nonce").cloned(),
    };
    let message = inner.message_json(&draft);
    inner.messages.insert(
        id.clone(),
        StoredMessage {
            channel_id: channel_id.to_owned(),
            author_id: bot_id,
            body: message.clone(),
        },
    );
    if let Some(bot) = inner.bots.get_mut(token) {
        if let Some(nonce) = nonce.as_ref().filter(|_| enforce_nonce) {
            bot.nonces
                .insert(nonce.clone(), (id.clone(), Instant::now()));
        }
        bot.sent.push(SentMessage {
            id,
            channel_id: channel_id.to_owned(),
            content,
            nonce,
            enforce_nonce,
            message_reference: reference.cloned(),
            allowed_mentions: request.get("allowed_mentions").cloned(),
            edits: 0,
            request: request.clone(),
        });
    }
    if echo {
        let d = inner.gateway_message(&message, &place, None);
        inner.dispatch(token, "MESSAGE_CREATE", &d, false);
    }
    Ok(message)
}

async fn edit_message(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((channel_id, message_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let mut inner = app.world.lock();
    let Some(token) = authenticated(&inner, &headers) else {
        return errors::unauthorized();
    };
    let limit_headers = match admit(&mut inner, &token, "edits", &channel_id) {
        Ok(limit_headers) => limit_headers,
        Err(refusal) => return *refusal,
    };
    match edit(&mut inner, &token, &channel_id, &message_id, &body) {
        Ok(message) => (StatusCode::OK, limit_headers, Json(message)).into_response(),
        Err(refusal) => {
            if let Some(bot) = inner.bots.get_mut(&token) {
                bot.rejected_sends += 1;
            }
            *refusal
        }
    }
}

/// Validates and applies an edit of one of the bot's messages.
fn edit(
    inner: &mut Inner,
    token: &str,
    channel_id: &str,
    message_id: &str,
    body: &[u8],
) -> Result<Value, Refusal> {
    let request = json_body(body)?;
    let content = content_of(&request)?;
    if content.as_deref() == Some("") && !has_non_text(&request) {
        return Err(errors::empty_message().into());
    }
    let (bot_id, echo) = inner
        .bots
        .get(token)
        .map(|bot| (bot.user.id.clone(), bot.knobs.echo_own_messages))
        .ok_or_else(|| Refusal::from(errors::unauthorized()))?;
    let Some(stored) = inner
        .messages
        .get_mut(message_id)
        .filter(|m| m.channel_id == channel_id)
    else {
        return Err(errors::unknown_message().into());
    };
    if stored.author_id != bot_id {
        return Err(errors::not_your_message().into());
    }
    if let Some(content) = &content {
        stored.body["content"] = json!(content);
    }
    stored.body["edited_timestamp"] = json!(iso8601(now_ms()));
    let message = stored.body.clone();
    if let Some(bot) = inner.bots.get_mut(token) {
        if let Some(sent) = bot.sent.iter_mut().find(|s| s.id == message_id) {
            if let Some(content) = &content {
                sent.content.clone_from(content);
            }
            sent.edits += 1;
        }
        bot.edits.push(Edit {
            message_id: message_id.to_owned(),
            channel_id: channel_id.to_owned(),
            content,
            request,
        });
    }
    if echo && let Some(place) = inner.place(channel_id) {
        let d = inner.gateway_message(&message, &place, None);
        inner.dispatch(token, "MESSAGE_UPDATE", &d, false);
    }
    Ok(message)
}
