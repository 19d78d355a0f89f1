//! The REST API under `/api/v1`, with BlueBubbles' answer shape (`{status, message, data}` or
//! `{status, message, error: {type, message}}`) and its password check on every call.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::state::{SentText, World};

type Params = Query<HashMap<String, String>>;

/// The routes.
pub fn router(world: World) -> Router {
    Router::new()
        .route("/api/v1/ping", get(ping))
        .route("/api/v1/server/info", get(server_info))
        .route("/api/v1/message/text", post(send_text))
        .route("/api/v1/message/query", post(query))
        .route("/api/v1/attachment/{guid}/download", get(download))
        .route("/api/v1/chat/{guid}/typing", post(typing).delete(typing))
        .route("/api/v1/chat/{guid}/read", post(read))
        .with_state(world)
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"status": status.as_u16(), "message": message,
                    "error": {"type": kind, "message": message}})),
    )
        .into_response()
}

fn ok(message: &str, data: Value) -> Response {
    Json(json!({"status": 200, "message": message, "data": data})).into_response()
}

/// The password check every route makes.
fn authorized(world: &World, params: &Params) -> bool {
    let presented = params.get("password").or_else(|| params.get("guid"));
    presented.is_some_and(|p| *p == world.lock().password)
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "Authentication Error",
        "You are not authorized to access this resource",
    )
}

async fn ping(State(world): State<World>, params: Params) -> Response {
    if !authorized(&world, &params) {
        return unauthorized();
    }
    ok("Ping received!", json!("pong"))
}

async fn server_info(State(world): State<World>, params: Params) -> Response {
    if !authorized(&world, &params) {
        return unauthorized();
    }
    let private_api = world.lock().knobs.private_api;
    ok(
        "Successfully fetched metadata",
        json!({"os_version": "15.1", "server_version": "1.9.9", "private_api": private_api,
               "helper_connected": private_api, "detected_icloud": "bot@icloud.com",
               "detected_imessage": "bot@icloud.com"}),
    )
}

async fn send_text(
    State(world): State<World>,
    params: Params,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&world, &params) {
        return unauthorized();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Validation Error",
            "Body is not JSON",
        );
    };
    let (Some(chat), Some(text)) = (request["chatGuid"].as_str(), request["message"].as_str())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "Validation Error",
            "chatGuid and message are required",
        );
    };
    let Some(temp_guid) = request["tempGuid"].as_str().filter(|t| !t.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Validation Error",
            "A tempGuid is required",
        );
    };
    let method = request["method"].as_str().unwrap_or("apple-script");
    let reply_to = request["selectedMessageGuid"].as_str().map(str::to_owned);
    let private_api = world.lock().knobs.private_api;
    if (method == "private-api" || reply_to.is_some()) && !private_api {
        return error(
            StatusCode::BAD_REQUEST,
            "Validation Error",
            "iMessage Private API is not enabled!",
        );
    }
    let known_chat = world
        .lock()
        .messages
        .iter()
        .any(|m| m["chats"][0]["guid"] == chat);
    if !known_chat {
        return error(
            StatusCode::BAD_REQUEST,
            "Database Error",
            "Chat does not exist!",
        );
    }
    if text.trim().is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "Validation Error",
            "Message is empty",
        );
    }
    let (guid, created) = world.stamp();
    let record = json!({
        "guid": guid, "text": text, "handle": null, "isFromMe": true,
        "dateCreated": created, "dateDelivered": 0, "dateRead": 0, "itemType": 0,
        "associatedMessageType": null, "threadOriginatorGuid": reply_to,
        "attachments": [], "chats": [world.chat(chat, "")], "tempGuid": temp_guid,
    });
    {
        let mut state = world.lock();
        state.messages.push(record.clone());
        state.sent.push(SentText {
            guid,
            chat: chat.to_owned(),
            text: text.to_owned(),
            method: method.to_owned(),
            reply_to,
            temp_guid: temp_guid.to_owned(),
        });
    }
    let (world2, mut receipt) = (world, record.clone());
    tokio::spawn(async move {
        world2.post_webhook("new-message", &receipt).await;
        receipt["dateDelivered"] = json!(created + 1);
        world2.post_webhook("updated-message", &receipt).await;
        receipt["dateRead"] = json!(created + 2);
        world2.post_webhook("updated-message", &receipt).await;
    });
    ok("Message sent!", record)
}

async fn query(State(world): State<World>, params: Params, body: axum::body::Bytes) -> Response {
    if !authorized(&world, &params) {
        return unauthorized();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let after = request["after"].as_u64().unwrap_or(0);
    let limit = request["limit"].as_u64().unwrap_or(100).min(1000) as usize;
    let mut found: Vec<Value> = world
        .lock()
        .messages
        .iter()
        // `after` is inclusive, as BlueBubbles queries `date >= after`.
        .filter(|m| m["dateCreated"].as_u64().unwrap_or(0) >= after)
        .cloned()
        .collect();
    if request["sort"].as_str() == Some("DESC") {
        found.reverse();
    }
    found.truncate(limit);
    ok("Success", Value::Array(found))
}

async fn download(
    State(world): State<World>,
    Path(guid): Path<String>,
    params: Params,
) -> Response {
    if !authorized(&world, &params) {
        return unauthorized();
    }
    match world.lock().attachments.get(&guid) {
        Some((mime, bytes)) => (
            [(axum::http::header::CONTENT_TYPE, mime.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "Attachment does not exist!",
        ),
    }
}

async fn typing(State(world): State<World>, Path(_chat): Path<String>, params: Params) -> Response {
    private_api_call(&world, &params, "Typing indicator sent")
}

async fn read(State(world): State<World>, Path(_chat): Path<String>, params: Params) -> Response {
    private_api_call(&world, &params, "Chat marked read")
}

fn private_api_call(world: &World, params: &Params, done: &str) -> Response {
    if !authorized(world, params) {
        return unauthorized();
    }
    let mut state = world.lock();
    if !state.knobs.private_api {
        return error(
            StatusCode::BAD_REQUEST,
            "Validation Error",
            "iMessage Private API is not enabled!",
        );
    }
    state.typing_calls += 1;
    ok(done, Value::Null)
}
