//! `sessions.list`, `chat.history` and `sessions.reset`, from the transcripts the agent-runners
//! store in JetStream KV. A reset runs as the `/reset` command through the runners, so it is
//! ordered with the session's other turns and takes the session lease like any of them.

use std::time::Duration;

use futures::StreamExt;
use pincer_bus::messages::{ChatMessage, RunEvent, Usage};
use pincer_store::transcript::{Transcript, kv_key};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Services;
use super::frame::{self, Code, ErrorShape};
use crate::turns::{Next, TurnSpec};

/// Sessions listed at most.
const MAX_LISTED: usize = 500;

fn kv_error(error: impl std::fmt::Display) -> ErrorShape {
    ErrorShape::new(Code::Unavailable, format!("session store: {error}"))
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "promptTokens": usage.prompt_tokens.unwrap_or(0),
        "completionTokens": usage.completion_tokens.unwrap_or(0),
        "costUsd": usage.cost_micro_usd.unwrap_or(0) as f64 / 1e6,
    })
}

fn message_json(message: &ChatMessage) -> Value {
    let mut out = json!({ "role": message.role, "content": message.content });
    if !message.tool_calls.is_empty() {
        out["toolCalls"] = json!(
            message
                .tool_calls
                .iter()
                .map(|c| json!({ "id": c.id, "name": c.name, "arguments": c.arguments }))
                .collect::<Vec<_>>()
        );
    }
    if let Some(id) = &message.tool_call_id {
        out["toolCallId"] = json!(id);
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    limit: Option<usize>,
}

pub(super) async fn list(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let params: ListParams = frame::params(params)?;
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_LISTED);
    let mut keys = services.sessions.keys().await.map_err(kv_error)?;
    let mut sessions = Vec::new();
    let mut scanned = 0usize;
    while let Some(key) = keys.next().await {
        let key = key.map_err(kv_error)?;
        if key.contains('.') {
            // `<hash>.unreadable`: a damaged value set aside for inspection.
            continue;
        }
        scanned += 1;
        if scanned > MAX_LISTED * 4 {
            break;
        }
        let Some(bytes) = services.sessions.get(&key).await.map_err(kv_error)? else {
            continue;
        };
        let Ok(transcript) = serde_json::from_slice::<Transcript>(&bytes) else {
            continue;
        };
        if transcript.session_key.is_empty() {
            // Stored before transcripts named their session: cannot be addressed by key.
            continue;
        }
        sessions.push(json!({
            // OpenClaw's SessionRow names the key `key` and says what kind of chat it is.
            "key": transcript.session_key,
            "kind": kind_of(&transcript.session_key),
            "sessionKey": transcript.session_key,
            "agentId": transcript.agent_id,
            "messages": transcript.messages.len(),
            "updatedAt": transcript.updated_ms,
            "totals": usage_json(&transcript.totals),
            "lastModel": transcript.last_model(),
            "modelOverride": transcript.model_override,
            "compactions": transcript.compactions,
        }));
    }
    sessions.sort_by_key(|s| std::cmp::Reverse(s["updatedAt"].as_u64().unwrap_or(0)));
    sessions.truncate(limit);
    Ok(json!({ "sessions": sessions }))
}

/// OpenClaw's `kind` of a session, read from its key: a channel's group or channel chat
/// (`...:group:<id>`, `...:channel:<id>`) is a group; everything else one person's.
fn kind_of(session_key: &str) -> &'static str {
    if session_key.contains(":group:") || session_key.contains(":channel:") {
        "group"
    } else {
        "direct"
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HistoryParams {
    session_key: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

pub(super) async fn history(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let params: HistoryParams = frame::params(params)?;
    // A short key (`main`, `ui`) is the dashboard session, as `chat.send` resolves it.
    let (_, session_key) = super::resolve::agent_and_session(
        services,
        params.agent_id.as_deref(),
        Some(&params.session_key),
    )?;
    // A session nobody has written to yet has an empty history (`exists: false`).
    let stored = services
        .sessions
        .get(kv_key(&session_key))
        .await
        .map_err(kv_error)?;
    let exists = stored.is_some();
    let transcript: Transcript = match stored {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            ErrorShape::new(
                Code::Internal,
                format!("stored transcript is unreadable: {e}"),
            )
        })?,
        None => Transcript::default(),
    };
    let limit = params.limit.unwrap_or(200).clamp(1, 2000);
    let skip = transcript.messages.len().saturating_sub(limit);
    Ok(json!({
        "sessionKey": session_key,
        "exists": exists,
        "messages": transcript.messages[skip..].iter().map(message_json).collect::<Vec<_>>(),
        "totals": usage_json(&transcript.totals),
        "modelOverride": transcript.model_override,
        "compactions": transcript.compactions,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResetParams {
    /// `key` in OpenClaw's schema.
    #[serde(alias = "key")]
    session_key: String,
    #[serde(default)]
    agent_id: Option<String>,
    /// OpenClaw's `new` or `reset`: both start the session over here.
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn reset(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let params: ResetParams = frame::params(params)?;
    if let Some(reason) = params.reason.as_deref()
        && reason != "new"
        && reason != "reset"
    {
        return Err(ErrorShape::invalid("reason must be \"new\" or \"reset\""));
    }
    let (agent, session_key) = super::resolve::agent_and_session(
        services,
        params.agent_id.as_deref(),
        Some(&params.session_key),
    )?;
    let turn = services.turns.new_turn(TurnSpec {
        agent_id: &agent,
        session_key: session_key.clone(),
        text: "/reset",
        source: "control",
        idempotency_key: None,
        live: true,
    });
    let mut submitted = services
        .turns
        .submit(&turn)
        .await
        .map_err(|e| ErrorShape::new(Code::Unavailable, e.to_string()))?;
    loop {
        match submitted.next(Duration::from_secs(30)).await {
            Next::Event(RunEvent::Started | RunEvent::Delta { .. }) => {}
            Next::Event(RunEvent::Done { .. }) => {
                return Ok(json!({ "sessionKey": session_key, "reset": true }));
            }
            Next::Event(RunEvent::Error { message, .. }) => {
                return Err(ErrorShape::new(Code::Internal, message));
            }
            Next::NotPickedUp(_) | Next::Stalled(_) | Next::NoAnswer(_) => {
                return Err(ErrorShape::new(
                    Code::AgentTimeout,
                    "no agent-runner answered the reset in time; it stays queued and will apply",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_groups_are_groups_and_the_rest_direct() {
        assert_eq!(kind_of("agent:main:telegram:default:group:-100"), "group");
        assert_eq!(
            kind_of("agent:main:discord:default:channel:C1:thread:T"),
            "group"
        );
        assert_eq!(kind_of("agent:main:telegram:default:direct:42"), "direct");
        assert_eq!(kind_of("agent:main:control:ui"), "direct");
    }
}
