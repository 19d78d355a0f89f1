//! `POST /v1/chat/completions`.
//!
//! The `user` field (or `x-pincer-session-key`) selects a stored conversation: only the messages
//! after the last assistant message are new, the rest of the history comes from the session. Without
//! a session key the request is a one-off and carries its whole history, as plain OpenAI clients
//! expect.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use pincer_bus::messages::{ErrorCode, Role, RunEvent, TurnRequest};
use serde_json::json;

use super::openai::{self, ChatCall};
use super::{ApiError, AppState};
use crate::turns::{Next, Submitted};

/// Headers that name a session explicitly (OpenClaw's spelling accepted for existing clients).
const SESSION_HEADERS: [&str; 2] = ["x-pincer-session-key", "x-openclaw-session-key"];
/// Retrying with the same key never runs the turn twice.
const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Extra time over the agent's own timeout before the gateway gives up waiting.
const TIMEOUT_SLACK: Duration = Duration::from_secs(15);

/// Admitted by [`super::admit::api`] before the body is read.
pub(super) async fn completions(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge {
            limit: state.inner.max_body_bytes,
        },
        _ => ApiError::BadRequest {
            message: format!("cannot read the request body: {rejection}"),
            param: None,
        },
    })?;
    let call = openai::parse(&body)?;
    let agent = state
        .inner
        .agents
        .resolve(&call.agent_id)
        .map_err(|error| match error {
            pincer_config::AgentError::UnknownAgent { valid, .. } => ApiError::ModelNotFound {
                message: format!(
                    "unknown model {:?}; valid models: {}",
                    call.model,
                    valid
                        .iter()
                        .map(|id| format!("pincer/{id}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            other => ApiError::Internal(other.to_string()),
        })?;
    let session_key = session_key(&headers, &call, &agent.id);
    let turn = build_turn(&state, &headers, &call, &agent.id, session_key)?;
    let submitted = state
        .inner
        .turns
        .submit(&turn)
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?;
    let turn_timeout = agent.timeout + TIMEOUT_SLACK;
    tracing::info!(turn_id = %turn.turn_id, agent = %agent.id, stream = call.stream, "turn accepted");
    if call.stream {
        Ok(stream_response(submitted, call, turn.turn_id, turn_timeout))
    } else {
        complete_response(submitted, &call, &turn.turn_id, turn_timeout).await
    }
}

fn session_key(headers: &http::HeaderMap, call: &ChatCall, agent_id: &str) -> Option<String> {
    let explicit = SESSION_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if let Some(key) = explicit {
        return Some(format!("agent:{agent_id}:explicit:{key}"));
    }
    call.user
        .as_ref()
        .map(|user| format!("agent:{agent_id}:openai-user:{user}"))
}

fn build_turn(
    state: &AppState,
    headers: &http::HeaderMap,
    call: &ChatCall,
    agent_id: &str,
    session_key: Option<String>,
) -> Result<TurnRequest, ApiError> {
    let (persist, session_key, messages) = match session_key {
        Some(key) => {
            // The session holds the history; the new turn is what follows the last assistant reply.
            let start = call
                .messages
                .iter()
                .rposition(|m| m.role == Role::Assistant)
                .map_or(0, |index| index + 1);
            let new_messages = call.messages[start..].to_vec();
            if new_messages.is_empty() {
                return Err(ApiError::bad_request(
                    "messages",
                    "the last message must not be from the assistant: there is nothing to answer",
                ));
            }
            (true, key, new_messages)
        }
        None => (
            false,
            format!("agent:{agent_id}:oneoff:{}", uuid::Uuid::new_v4().simple()),
            call.messages.clone(),
        ),
    };
    let idempotency_key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok());
    let turn_id = crate::turns::turn_id(&session_key, idempotency_key);
    Ok(TurnRequest {
        reply_subject: state.inner.turns.reply_subject(&turn_id),
        live_deltas: call.stream,
        turn_id,
        agent_id: agent_id.to_owned(),
        session_key,
        persist,
        messages,
        source: "http".to_owned(),
        accepted_at_ms: pincer_clock::now_ms(),
        deliver: None,
    })
}

async fn complete_response(
    mut submitted: Submitted,
    call: &ChatCall,
    turn_id: &str,
    turn_timeout: Duration,
) -> Result<Response, ApiError> {
    loop {
        match submitted.next(turn_timeout).await {
            Next::Event(RunEvent::Started | RunEvent::Delta { .. }) => {}
            Next::Event(RunEvent::Done {
                content,
                tool_calls,
                finish_reason,
                usage,
                ..
            }) => {
                let body = openai::completion(
                    &format!("chatcmpl-{turn_id}"),
                    pincer_clock::now_secs(),
                    &call.model,
                    &content,
                    &tool_calls,
                    &finish_reason,
                    usage,
                );
                return Ok(Json(body).into_response());
            }
            Next::Event(RunEvent::Error { code, message }) => return Err(error_for(code, message)),
            Next::NotPickedUp(waited) => {
                return Err(ApiError::Unavailable(format!(
                    "no agent-runner picked the turn up within {}s; it stays queued and will run when one is available",
                    waited.as_secs()
                )));
            }
            Next::Stalled(waited) => {
                return Err(ApiError::Timeout(format!(
                    "the agent sent nothing for {}s; the turn may still complete and be stored",
                    waited.as_secs()
                )));
            }
            Next::NoAnswer(waited) => {
                return Err(ApiError::Timeout(format!(
                    "no answer within {}s; the turn stays queued or running and its outcome will be stored",
                    waited.as_secs()
                )));
            }
        }
    }
}

fn error_for(code: ErrorCode, message: String) -> ApiError {
    match code {
        ErrorCode::BadRequest => ApiError::BadRequest {
            message,
            param: None,
        },
        ErrorCode::ContextOverflow => ApiError::BadRequest {
            message,
            param: Some("messages".to_owned()),
        },
        ErrorCode::ProviderUnavailable | ErrorCode::ProviderRejected => {
            ApiError::BadGateway(message)
        }
        ErrorCode::Timeout => ApiError::Timeout(message),
        ErrorCode::Aborted => ApiError::Conflict(message),
        ErrorCode::Internal => ApiError::Internal(message),
    }
}

fn stream_response(
    submitted: Submitted,
    call: ChatCall,
    turn_id: String,
    turn_timeout: Duration,
) -> Response {
    let id = format!("chatcmpl-{turn_id}");
    let created = pincer_clock::now_secs();
    let events = async_stream_events(submitted, call, id, created, turn_timeout);
    Sse::new(events).into_response()
}

fn async_stream_events(
    mut submitted: Submitted,
    call: ChatCall,
    id: String,
    created: u64,
    turn_timeout: Duration,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    let model = call.model;
    let data =
        |value: serde_json::Value| Ok::<_, Infallible>(Event::default().data(value.to_string()));
    async_stream::stream! {
        let mut sent_role = false;
        loop {
            let failure = match submitted.next(turn_timeout).await {
                Next::Event(RunEvent::Started) => continue,
                Next::Event(RunEvent::Delta { text }) => {
                    let delta = if sent_role {
                        json!({ "content": text })
                    } else {
                        json!({ "role": "assistant", "content": text })
                    };
                    sent_role = true;
                    yield data(openai::chunk(&id, created, &model, delta, None));
                    continue;
                }
                Next::Event(RunEvent::Done { tool_calls, finish_reason, usage, .. }) => {
                    let mut delta = if sent_role { json!({}) } else { json!({ "role": "assistant", "content": "" }) };
                    if !tool_calls.is_empty() {
                        delta["tool_calls"] = openai::tool_calls_json(&tool_calls, true);
                    }
                    yield data(openai::chunk(&id, created, &model, delta, Some(&finish_reason)));
                    if call.include_usage {
                        yield data(openai::usage_chunk(&id, created, &model, usage));
                    }
                    yield Ok(Event::default().data("[DONE]"));
                    break;
                }
                Next::Event(RunEvent::Error { code, message }) => error_for(code, message),
                Next::NotPickedUp(waited) => ApiError::Unavailable(format!(
                    "no agent-runner picked the turn up within {}s; it stays queued",
                    waited.as_secs()
                )),
                Next::Stalled(waited) | Next::NoAnswer(waited) => {
                    ApiError::Timeout(format!("the agent sent nothing for {}s", waited.as_secs()))
                }
            };
            // Errors after the 200 header travel in the stream, as OpenAI does.
            yield data(failure.body());
            yield Ok(Event::default().data("[DONE]"));
            break;
        }
    }
}
