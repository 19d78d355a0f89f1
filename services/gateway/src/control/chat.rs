//! `chat.send` (the run's events stream to the connection as `chat` events) and `chat.abort`.

use std::sync::Arc;
use std::time::Duration;

use pincer_bus::messages::RunEvent;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Services;
use super::conn::Conn;
use super::frame::{self, Code, ErrorShape};
use super::resolve::agent_and_session;
use crate::turns::{Next, TurnSpec};

/// Longest message accepted.
const MAX_MESSAGE_CHARS: usize = 60_000;
/// How long a started run may go silent before its events stop being followed.
const SILENCE: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SendParams {
    message: String,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    idempotency_key: String,
    /// This message's thinking level (`off` … `xhigh`), over the session's `/think`.
    #[serde(default)]
    thinking: Option<String>,
    /// Accepted for OpenClaw clients; control-plane runs are not delivered to channels.
    #[serde(default)]
    deliver: Option<Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

pub(super) async fn send(
    services: &Services,
    conn: &Arc<Conn>,
    params: &Value,
) -> Result<Value, ErrorShape> {
    let params: SendParams = frame::params(params)?;
    let _ = (&params.deliver, params.timeout_ms);
    let thinking = match params.thinking.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(pincer_config::ThinkingLevel::parse(name).ok_or_else(|| {
            ErrorShape::invalid("thinking must be one of off, minimal, low, medium, high, xhigh")
        })?),
    };
    if params.message.trim().is_empty() {
        return Err(ErrorShape::invalid("message is empty"));
    }
    if params.message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ErrorShape::invalid(format!(
            "message is longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    if params.idempotency_key.trim().is_empty() {
        return Err(ErrorShape::invalid(
            "idempotencyKey is required for chat.send",
        ));
    }
    // Without an agentId, a full session key's own agent runs it.
    let (agent, session_key) = agent_and_session(
        services,
        params.agent_id.as_deref(),
        params.session_key.as_deref(),
    )?;
    let mut turn = services.turns.new_turn(TurnSpec {
        agent_id: &agent,
        session_key: session_key.clone(),
        text: &params.message,
        source: "control",
        idempotency_key: Some(&params.idempotency_key),
        live: true,
    });
    turn.thinking = thinking.map(|level| level.as_str().to_owned());
    let run_id = turn.turn_id.clone();
    let accepted = json!({ "runId": run_id, "sessionKey": session_key, "status": "accepted" });
    // The same key is the same run: one this connection relays (or relayed) already is not sent
    // or relayed again.
    if !conn.relays.start(&run_id, &session_key) {
        return Ok(accepted);
    }
    let submitted = match services.turns.submit(&turn).await {
        Ok(submitted) => submitted,
        Err(error) => {
            conn.relays.finish(&run_id);
            return Err(ErrorShape::new(Code::Unavailable, error.to_string()));
        }
    };
    let conn = Arc::clone(conn);
    tokio::spawn(async move {
        forward(&conn, submitted, &run_id, session_key).await;
        conn.relays.finish(&run_id);
    });
    Ok(accepted)
}

/// Relays a run's events as `chat` events until it ends or the connection closes.
async fn forward(
    conn: &Conn,
    mut submitted: crate::turns::Submitted,
    run_id: &str,
    session_key: String,
) {
    let mut text = String::new();
    let mut seq = 0u64;
    let mut emit = |state: &str, extra: Value| {
        seq += 1;
        let mut payload =
            json!({ "runId": run_id, "sessionKey": session_key, "seq": seq, "state": state });
        if let (Some(target), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
            target.extend(extra.clone());
        }
        conn.event("chat", &payload)
    };
    loop {
        let next = tokio::select! {
            next = submitted.next(SILENCE) => next,
            () = conn.closed.cancelled() => return,
        };
        let alive = match next {
            Next::Event(RunEvent::Started) => true,
            Next::Event(RunEvent::Delta { text: delta }) => {
                text.push_str(&delta);
                emit(
                    "delta",
                    json!({ "deltaText": delta, "message": { "role": "assistant", "content": text } }),
                )
            }
            Next::Event(RunEvent::Done {
                content,
                model,
                usage,
                finish_reason,
                ..
            }) => {
                // OpenClaw's final event: no fields beside these; the model that answered
                // travels in the message.
                emit(
                    "final",
                    json!({
                        "message": { "role": "assistant", "content": content, "model": model },
                        "stopReason": finish_reason,
                        "usage": usage,
                    }),
                );
                return;
            }
            Next::Event(RunEvent::Error { code, message }) => {
                let state = if code == pincer_bus::messages::ErrorCode::Aborted {
                    "aborted"
                } else {
                    "error"
                };
                emit(state, json!({ "errorMessage": message }));
                return;
            }
            Next::NotPickedUp(waited) => {
                emit(
                    "error",
                    json!({ "errorMessage": format!("no agent-runner picked the run up within {}s; it stays queued and its answer will be in the session history", waited.as_secs()) }),
                );
                return;
            }
            Next::Stalled(waited) | Next::NoAnswer(waited) => {
                emit(
                    "error",
                    json!({ "errorMessage": format!("the agent sent nothing for {}s", waited.as_secs()) }),
                );
                return;
            }
        };
        if !alive {
            return;
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AbortParams {
    /// The run; without it, the runs of `sessionKey` this connection started (OpenClaw's form).
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
}

pub(super) async fn abort(
    services: &Services,
    conn: &Conn,
    params: &Value,
) -> Result<Value, ErrorShape> {
    let params: AbortParams = frame::params(params)?;
    let runs = match (params.run_id, params.session_key.as_deref()) {
        (Some(run_id), _) => {
            if run_id.is_empty() || run_id.len() > 128 {
                return Err(ErrorShape::invalid("runId must be 1 to 128 characters"));
            }
            vec![run_id]
        }
        (None, Some(key)) => {
            let (_, session) = agent_and_session(services, params.agent_id.as_deref(), Some(key))?;
            conn.relays.running_in(&session)
        }
        (None, None) => return Err(ErrorShape::invalid("runId or sessionKey is required")),
    };
    for run_id in &runs {
        services
            .turns
            .abort(run_id)
            .await
            .map_err(|e| ErrorShape::new(Code::Unavailable, e.to_string()))?;
    }
    let mut answer = json!({ "abortRequested": !runs.is_empty(), "runIds": runs });
    if let [run_id] = runs.as_slice() {
        answer["runId"] = json!(run_id);
    }
    Ok(answer)
}
