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
use pincer_bus::messages::{ChatMessage, ErrorCode, Role, RunEvent, TurnRequest};
use serde_json::json;

use super::openai::{self, ChatCall};
use super::{ApiError, AppState};
use crate::turns::{Next, Submitted};

/// Headers that name a session explicitly (OpenClaw's spelling accepted for existing clients).
const SESSION_HEADERS: [&str; 2] = ["x-pincer-session-key", "x-openclaw-session-key"];
/// Retrying with the same key never runs the turn twice.
const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The backend model for this turn instead of the agent's (OpenClaw's header, and ours).
const MODEL_HEADERS: [&str; 2] = ["x-pincer-model", "x-openclaw-model"];
/// Extra time over the agent's own timeout before the gateway gives up waiting.
const TIMEOUT_SLACK: Duration = Duration::from_secs(15);

/// Admitted by [`super::admit::api`] before the body is read.
pub(super) async fn completions(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = super::error::read_body(body, state.inner.max_body_bytes)?;
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
    let mut turn = build_turn(&state, &headers, &call, &agent.id, session_key)?;
    attach_images(&state, &call, &mut turn).await?;
    let submitted = state
        .inner
        .turns
        .submit(&turn)
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?;
    let turn_timeout = agent.timeout + TIMEOUT_SLACK;
    tracing::info!(turn_id = %turn.turn_id, agent = %agent.id, stream = call.stream, "turn accepted");
    // OpenAI's request id header (the SDKs expose it as `_request_id`): here the turn's id, the
    // one the services' logs and traces carry.
    let request_id = http::HeaderValue::from_str(&turn.turn_id).ok();
    let mut response = if call.stream {
        stream_response(submitted, call, turn.turn_id, turn_timeout).await
    } else {
        complete_response(submitted, &call, &turn.turn_id, turn_timeout).await
    }
    .unwrap_or_else(IntoResponse::into_response);
    if let Some(id) = request_id {
        response.headers_mut().insert("x-request-id", id);
    }
    Ok(response)
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
    let idempotency_key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty());
    super::tool_results::check(&call.messages, session_key.is_some())?;
    let (persist, session_key, messages) = match (session_key, idempotency_key) {
        (Some(key), _) => (true, key, new_messages(&call.messages)?),
        // A one-off with a key is stored as a session of its own, named by the key: its retry is
        // the same turn of the same session, answered from the record instead of run again.
        (None, Some(key)) => (
            true,
            format!(
                "agent:{agent_id}:oneoff:{}",
                pincer_store::ids::derived(&format!("idempotency\n{key}"))
            ),
            call.messages.clone(),
        ),
        (None, None) => (
            false,
            format!("agent:{agent_id}:oneoff:{}", uuid::Uuid::new_v4().simple()),
            call.messages.clone(),
        ),
    };
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
        thinking: call.thinking.map(|level| level.as_str().to_owned()),
        model: model_override(headers)?,
        spawn_depth: 0,
        parent_turn_id: None,
        sampling: call.sampling.clone(),
        client_tools: call.client_tools.clone(),
        timeout_secs: None,
        record_only: false,
    })
}

/// The model a `MODEL_HEADERS` header asks for (`provider/model`), called first for this turn in
/// place of the agent's primary; its fallbacks still follow.
fn model_override(headers: &http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some((name, value)) = MODEL_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    let model = value.to_str().unwrap_or_default();
    crate::turns::model_choice(name, model)
        .map(Some)
        .map_err(|message| ApiError::bad_request(name, message))
}

/// Stores the request's pictures and attaches them to the turn's messages (the last ones of the
/// request: a stored session's turn carries only those).
async fn attach_images(
    state: &AppState,
    call: &ChatCall,
    turn: &mut TurnRequest,
) -> Result<(), ApiError> {
    let skipped = call.messages.len() - turn.messages.len();
    for (message, images) in turn.messages.iter_mut().zip(&call.images[skipped..]) {
        message.attachments = super::images::store(state.inner.media.as_ref(), images).await?;
    }
    Ok(())
}

/// The messages of a stored session's new turn: what follows the last assistant reply (the
/// session holds the rest of the history).
fn new_messages(messages: &[ChatMessage]) -> Result<Vec<ChatMessage>, ApiError> {
    let start = messages
        .iter()
        .rposition(|m| m.role == Role::Assistant)
        .map_or(0, |index| index + 1);
    if start == messages.len() {
        return Err(ApiError::bad_request(
            "messages",
            "the last message must not be from the assistant: there is nothing to answer",
        ));
    }
    Ok(messages[start..].to_vec())
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
            unanswered => return Err(no_answer(unanswered)),
        }
    }
}

/// Why a turn has no answer to give: a waiting [`Next`] that ran out, or an agent's error.
fn no_answer(next: Next) -> ApiError {
    match next {
        Next::Event(RunEvent::Error { code, message }) => error_for(code, message),
        Next::NotPickedUp(waited) => ApiError::Unavailable(format!(
            "no agent-runner picked the turn up within {}s; it stays queued and will run when one is available",
            waited.as_secs()
        )),
        Next::Stalled(waited) => ApiError::Timeout(format!(
            "the agent sent nothing for {}s; the turn may still complete and be stored",
            waited.as_secs()
        )),
        Next::NoAnswer(waited) => ApiError::Timeout(format!(
            "no answer within {}s; the turn stays queued or running and its outcome will be stored",
            waited.as_secs()
        )),
        Next::Event(event) => ApiError::Internal(format!("unexpected run event {event:?}")),
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

/// How long a streamed answer's HTTP status waits, once a runner has started the turn, for the
/// agent's first word. A failure before it (the provider refused, no runner took the turn, the
/// turn timed out) is an HTTP error with its own status, as OpenAI answers one, so clients see the
/// status and retry on it; later failures travel in the stream. A turn whose first word takes
/// longer (tools first) starts its stream at this point, and a client's wait for the status
/// stays bounded.
const STREAM_STATUS_PATIENCE: Duration = Duration::from_secs(10);

async fn stream_response(
    mut submitted: Submitted,
    call: ChatCall,
    turn_id: String,
    turn_timeout: Duration,
) -> Result<Response, ApiError> {
    let first = first_word(&mut submitted, turn_timeout).await?;
    let id = format!("chatcmpl-{turn_id}");
    let created = pincer_clock::now_secs();
    let events = async_stream_events(first, submitted, call, id, created, turn_timeout);
    Ok(Sse::new(events).into_response())
}

/// The turn's first event after `started`: `None` when [`STREAM_STATUS_PATIENCE`] ran out first;
/// an error when the turn failed (or was never taken up) before saying anything.
async fn first_word(
    submitted: &mut Submitted,
    turn_timeout: Duration,
) -> Result<Option<RunEvent>, ApiError> {
    let mut deadline = None;
    let mut started = false;
    loop {
        let next = match deadline {
            // Dropping an unfinished wait loses no event: they queue in the subscription.
            Some(deadline) => {
                match tokio::time::timeout_at(deadline, submitted.next(turn_timeout)).await {
                    Ok(next) => next,
                    Err(_) => return Ok(None),
                }
            }
            None => submitted.next(turn_timeout).await,
        };
        match next {
            Next::Event(RunEvent::Started) => {
                started = true;
                deadline = Some(tokio::time::Instant::now() + STREAM_STATUS_PATIENCE);
            }
            // Text without the start: a retry (the same Idempotency-Key) that joined the turn
            // under way hears it from the middle. It streams the whole answer once it is done
            // instead of the rest alone, which looked like a complete answer.
            Next::Event(RunEvent::Delta { .. }) if !started => {}
            Next::Event(event @ (RunEvent::Delta { .. } | RunEvent::Done { .. })) => {
                return Ok(Some(event));
            }
            failed => return Err(no_answer(failed)),
        }
    }
}

fn async_stream_events(
    first: Option<RunEvent>,
    mut submitted: Submitted,
    call: ChatCall,
    id: String,
    created: u64,
    turn_timeout: Duration,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    let model = call.model;
    let include_usage = call.include_usage;
    let data =
        |value: serde_json::Value| Ok::<_, Infallible>(Event::default().data(value.to_string()));

    async_stream::stream! {
        // With `include_usage`, OpenAI's chunks before the last carry `usage: null`.
        let chunk = |delta: serde_json::Value, finish_reason: Option<&str>| {
            let mut chunk = openai::chunk(&id, created, &model, delta, finish_reason);
            if include_usage {
                chunk["usage"] = serde_json::Value::Null;
            }
            chunk
        };
        let mut sent_role = false;
        let mut first = first;
        loop {
            let next = match first.take() {
                Some(event) => Next::Event(event),
                None => submitted.next(turn_timeout).await,
            };
            let failure = match next {
                Next::Event(RunEvent::Started) => continue,
                Next::Event(RunEvent::Delta { text }) => {
                    let delta = if sent_role {
                        json!({ "content": text })
                    } else {
                        json!({ "role": "assistant", "content": text })
                    };
                    sent_role = true;
                    yield data(chunk(delta, None));
                    continue;
                }
                Next::Event(RunEvent::Done { content, tool_calls, finish_reason, usage, .. }) => {
                    // Nothing streamed before (a retry answered from the record, a `/status`
                    // reply): the whole answer comes in one chunk. The client's function calls
                    // come in a chunk of their own too. The finish reason always comes alone,
                    // as from OpenAI: the SDKs' stream helpers read a chunk's calls only when
                    // it does not also finish the choice.
                    if !sent_role || !tool_calls.is_empty() {
                        let mut delta = if sent_role {
                            json!({})
                        } else {
                            json!({ "role": "assistant", "content": openai::reply_content(&content, &tool_calls) })
                        };
                        if !tool_calls.is_empty() {
                            delta["tool_calls"] = openai::tool_calls_json(&tool_calls, true);
                        }
                        yield data(chunk(delta, None));
                    }
                    yield data(chunk(json!({}), Some(&finish_reason)));
                    if call.include_usage {
                        yield data(openai::usage_chunk(&id, created, &model, usage));
                    }
                    yield Ok(Event::default().data("[DONE]"));
                    break;
                }
                unanswered => no_answer(unanswered),
            };
            // Errors after the 200 header travel in the stream, as OpenAI does.
            yield data(failure.body());
            yield Ok(Event::default().data("[DONE]"));
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use pincer_bus::Namespace;
    use pincer_bus::messages::Usage;
    use pincer_test_support::NatsServer;
    use serde_json::Value;

    use super::*;
    use crate::turns::Turns;

    fn call(body: Value) -> ChatCall {
        openai::parse(body.to_string().as_bytes()).expect("a valid request")
    }

    fn hello(extra: Value) -> ChatCall {
        let mut body = json!({
            "model": "pincer/default",
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": "second"},
                {"role": "user", "content": "third"},
            ],
        });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        call(body)
    }

    use crate::test_headers::headers;

    #[test]
    fn an_explicit_session_header_wins_over_the_user_field() {
        let call = hello(json!({"user": "alice"}));
        assert_eq!(
            session_key(&headers(&[("x-pincer-session-key", "desk")]), &call, "main").as_deref(),
            Some("agent:main:explicit:desk")
        );
        assert_eq!(
            session_key(
                &headers(&[("x-openclaw-session-key", "desk")]),
                &call,
                "main"
            )
            .as_deref(),
            Some("agent:main:explicit:desk"),
            "OpenClaw's spelling works for existing clients"
        );
        assert_eq!(
            session_key(&headers(&[("x-pincer-session-key", "  ")]), &call, "main").as_deref(),
            Some("agent:main:openai-user:alice"),
            "a blank header names no session"
        );
        assert_eq!(session_key(&headers(&[]), &hello(json!({})), "main"), None);
    }

    #[test]
    fn a_stored_session_sends_only_what_follows_the_last_reply() {
        let messages = new_messages(&hello(json!({})).messages).expect("new messages");
        let texts: Vec<_> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["second", "third"]);
    }

    #[test]
    fn a_stored_session_whose_last_message_is_the_assistants_is_refused() {
        let call = call(json!({
            "model": "pincer/default",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        }));
        let error = new_messages(&call.messages).expect_err("nothing to answer");
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(error.body()["error"]["param"], "messages");
    }

    #[test]
    fn every_failure_of_a_turn_has_its_http_status() {
        use http::StatusCode as S;
        for (code, status) in [
            (ErrorCode::BadRequest, S::BAD_REQUEST),
            (ErrorCode::ContextOverflow, S::BAD_REQUEST),
            (ErrorCode::ProviderUnavailable, S::BAD_GATEWAY),
            (ErrorCode::ProviderRejected, S::BAD_GATEWAY),
            (ErrorCode::Timeout, S::GATEWAY_TIMEOUT),
            (ErrorCode::Aborted, S::CONFLICT),
            (ErrorCode::Internal, S::INTERNAL_SERVER_ERROR),
        ] {
            assert_eq!(error_for(code, "why".into()).status(), status, "{code:?}");
        }
    }

    /// A turn submitted through a real nats-server, with `events` already sent by "the runner".
    async fn submitted_with(live: bool, events: &[RunEvent]) -> (NatsServer, Submitted) {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client.clone());
        let namespace = Namespace::default();
        pincer_bus::setup::ensure_all(&js, &namespace)
            .await
            .expect("streams");
        let turns = Turns::start(client.clone(), js, namespace, Duration::from_secs(10))
            .await
            .expect("turns");
        let turn = TurnRequest {
            live_deltas: live,
            ..turns.new_turn(crate::turns::TurnSpec {
                agent_id: "main",
                session_key: "agent:main:test".to_owned(),
                text: "hi",
                source: "http",
                idempotency_key: None,
                live,
            })
        };
        let submitted = turns.submit(&turn).await.expect("submitted");
        for event in events {
            let payload = serde_json::to_vec(event).expect("event");
            client
                .publish(turn.reply_subject.clone(), payload.into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        (nats, submitted)
    }

    fn done(content: &str) -> RunEvent {
        RunEvent::Done {
            content: content.to_owned(),
            tool_calls: Vec::new(),
            model: "fake/m".to_owned(),
            finish_reason: "stop".to_owned(),
            usage: Usage {
                prompt_tokens: Some(3),
                completion_tokens: Some(2),
                cost_micro_usd: None,
            },
        }
    }

    /// The `data:` payloads of the SSE answer to `call`, streamed as turn `id`.
    async fn streamed(submitted: Submitted, call: ChatCall, id: &str) -> Vec<String> {
        sse_data(
            stream_response(submitted, call, id.to_owned(), Duration::from_secs(10))
                .await
                .expect("a stream"),
        )
        .await
    }

    /// The `data:` payloads of an SSE body.
    async fn sse_data(response: Response) -> Vec<String> {
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8_lossy(&body)
            .lines()
            .filter_map(|line| line.strip_prefix("data: ").map(str::to_owned))
            .collect()
    }

    #[tokio::test]
    async fn a_streamed_turn_becomes_openai_chunks_that_end_with_done() {
        let events = [
            RunEvent::Started,
            RunEvent::Delta { text: "Hel".into() },
            RunEvent::Delta { text: "lo".into() },
            done("Hello"),
        ];
        let (_nats, submitted) = submitted_with(true, &events).await;
        let call = hello(json!({"stream": true, "stream_options": {"include_usage": true}}));

        let data = streamed(submitted, call, "t1").await;

        assert_eq!(data.len(), 5, "{data:?}");
        let chunks: Vec<Value> = data[..4]
            .iter()
            .map(|d| serde_json::from_str(d).expect("a JSON chunk"))
            .collect();
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "Hel"})
        );
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "lo"}));
        assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[3]["usage"]["prompt_tokens"], 3);
        assert!(
            chunks[..3]
                .iter()
                .all(|c| c.get("usage") == Some(&Value::Null)),
            "with include_usage, OpenAI's other chunks carry usage: null"
        );
        assert!(chunks.iter().all(|c| c["id"] == "chatcmpl-t1"));
        assert_eq!(data[4], "[DONE]");
    }

    #[tokio::test]
    async fn an_answer_that_arrives_whole_is_streamed_whole() {
        // What a retry answered from the stored outcome sends: no deltas, only the outcome.
        let (_nats, submitted) = submitted_with(true, &[RunEvent::Started, done("Stored.")]).await;
        let call = hello(json!({"stream": true}));

        let data = streamed(submitted, call, "t5").await;

        let first: Value = serde_json::from_str(&data[0]).expect("a chunk");
        assert_eq!(
            first["choices"][0]["delta"],
            json!({"role": "assistant", "content": "Stored."})
        );
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    }

    #[tokio::test]
    async fn a_retry_that_joins_a_turn_under_way_streams_the_whole_answer() {
        // The turn started before this request subscribed: its first words are gone.
        let events = [
            RunEvent::Delta {
                text: "lo, ".into(),
            },
            RunEvent::Delta {
                text: "world".into(),
            },
            done("Hello, world"),
        ];
        let (_nats, submitted) = submitted_with(true, &events).await;

        let data = streamed(submitted, hello(json!({"stream": true})), "t6").await;

        let first: Value = serde_json::from_str(&data[0]).expect("a chunk");
        assert_eq!(
            first["choices"][0]["delta"],
            json!({"role": "assistant", "content": "Hello, world"})
        );
        assert_eq!(data.len(), 3, "the answer, the finish, [DONE]: {data:?}");
    }

    #[tokio::test]
    async fn a_clients_function_calls_come_before_the_chunk_that_finishes() {
        let call = pincer_bus::messages::ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Oslo"}"#.into(),
        };
        let done = RunEvent::Done {
            content: String::new(),
            tool_calls: vec![call],
            model: "fake/m".to_owned(),
            finish_reason: "tool_calls".to_owned(),
            usage: Usage::default(),
        };
        let (_nats, submitted) = submitted_with(true, &[RunEvent::Started, done]).await;

        let data = streamed(submitted, hello(json!({"stream": true})), "t7").await;

        assert_eq!(data.len(), 3, "{data:?}");
        let calls: Value = serde_json::from_str(&data[0]).expect("a chunk");
        let delta = &calls["choices"][0]["delta"];
        assert!(delta["content"].is_null(), "{delta}");
        assert_eq!(delta["tool_calls"][0]["index"], 0);
        assert_eq!(delta["tool_calls"][0]["function"]["name"], "get_weather");
        assert!(calls["choices"][0]["finish_reason"].is_null(), "{calls}");
        let finish: Value = serde_json::from_str(&data[1]).expect("a chunk");
        assert_eq!(finish["choices"][0]["delta"], json!({}));
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(data[2], "[DONE]");
    }

    #[tokio::test]
    async fn a_failure_after_the_stream_began_travels_in_the_stream() {
        let events = [
            RunEvent::Started,
            RunEvent::Delta { text: "par".into() },
            RunEvent::Error {
                code: ErrorCode::ProviderUnavailable,
                message: "every model failed".into(),
            },
        ];
        let (_nats, submitted) = submitted_with(true, &events).await;
        let call = hello(json!({"stream": true}));

        let data = streamed(submitted, call, "t2").await;

        assert_eq!(data.len(), 3, "{data:?}");
        let error: Value = serde_json::from_str(&data[1]).expect("an error body");
        assert_eq!(error["error"]["message"], "every model failed");
        assert_eq!(data[2], "[DONE]");
    }

    #[tokio::test]
    async fn a_failure_before_the_first_word_is_an_http_error() {
        // As OpenAI answers a streamed request it cannot serve: the status tells clients (and
        // their retries) what happened, not a 200 with the error inside.
        let events = [
            RunEvent::Started,
            RunEvent::Error {
                code: ErrorCode::ProviderUnavailable,
                message: "every model failed".into(),
            },
        ];
        let (_nats, submitted) = submitted_with(true, &events).await;
        let call = hello(json!({"stream": true}));

        let refused = stream_response(submitted, call, "t6".into(), Duration::from_secs(10)).await;

        let Err(error) = refused else {
            panic!("a 200 stream for a turn that failed before its first word");
        };
        assert_eq!(error.into_response().status(), 502);
    }

    #[tokio::test]
    async fn a_complete_turn_is_one_openai_completion() {
        let (_nats, submitted) = submitted_with(false, &[done("All done.")]).await;
        let call = hello(json!({}));

        let response = complete_response(submitted, &call, "t3", Duration::from_secs(10))
            .await
            .expect("an answer");

        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["id"], "chatcmpl-t3");
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["choices"][0]["message"]["content"], "All done.");
        assert_eq!(
            body["choices"][0]["message"].get("refusal"),
            Some(&Value::Null)
        );
        assert_eq!(body["usage"]["completion_tokens"], 2);
    }

    #[tokio::test]
    async fn a_failed_turn_is_answered_with_the_status_of_its_failure() {
        let failure = RunEvent::Error {
            code: ErrorCode::Timeout,
            message: "too slow".into(),
        };
        let (_nats, submitted) = submitted_with(false, &[failure]).await;

        let error = complete_response(submitted, &hello(json!({})), "t4", Duration::from_secs(10))
            .await
            .expect_err("a failure");

        assert_eq!(error.status(), http::StatusCode::GATEWAY_TIMEOUT);
    }
}
