//! Delegation tools, OpenClaw's names: `sessions_spawn` (a task for a child session of this or an
//! allowed agent; its answer is the result), `sessions_send` (a message to another session, and
//! its answer), `sessions_list`, `sessions_history`, `agents_list`. Limits come from
//! `agents.defaults.subagents`: depth, children per run, allowed agents, the wait.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Deserialize;

use super::{CallContext, ToolError, args};
use crate::subagents::{self, ChildTask};

/// Longest `sessions_history` answer, in messages.
const MAX_HISTORY: usize = 50;
/// Characters of one message shown by `sessions_history`.
const MESSAGE_CHARS: usize = 2_000;

fn limits(context: &CallContext<'_>) -> pincer_config::Subagents {
    context
        .turn
        .and_then(|(turn, _)| turn.agents.config().defaults.subagents.clone())
        .unwrap_or_default()
}

fn unavailable() -> ToolError {
    ToolError::Invalid("delegation needs a turn on the bus; none here".into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpawnArgs {
    task: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    run_timeout_seconds: Option<u64>,
    /// OpenClaw's `delete`/`keep`: accepted; children's sessions are kept like any other.
    #[serde(default, rename = "cleanup")]
    _cleanup: Option<String>,
}

/// The agent a call may reach, or why not.
fn allowed_agent(
    context: &CallContext<'_>,
    own: &str,
    asked: Option<&str>,
) -> Result<String, ToolError> {
    let (turn, _) = context.turn.ok_or_else(unavailable)?;
    let target = asked
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or(own);
    let resolved = turn
        .agents
        .get(target)
        .map_err(|e| ToolError::Invalid(e.to_string()))?;
    let target = resolved.resolved.id.clone();
    if !limits(context).allows(own, &target) {
        return Err(ToolError::Denied(format!(
            "agent {target:?} is not in agents.defaults.subagents.allowAgents"
        )));
    }
    Ok(target)
}

/// Takes the next child slot of the run, or says the limit is reached.
fn next_child(context: &CallContext<'_>) -> Result<usize, ToolError> {
    let limit = limits(context).max_children() as usize;
    let counter = context.children.ok_or_else(unavailable)?;
    let index = counter.fetch_add(1, Ordering::SeqCst);
    if index >= limit {
        return Err(ToolError::Denied(format!(
            "this run already started {limit} sub-agents (agents.defaults.subagents.maxChildrenPerAgent)"
        )));
    }
    Ok(index)
}

/// Adds a child's tokens and cost to the run's.
fn count_usage(context: &CallContext<'_>, answer: &subagents::ChildAnswer) {
    if let Some(sink) = context.child_usage
        && let Ok(mut usage) = sink.lock()
    {
        usage.add(&answer.usage);
    }
}

fn timeout(context: &CallContext<'_>, asked: Option<u64>) -> Duration {
    asked
        .filter(|s| *s > 0)
        .map_or_else(|| limits(context).run_timeout(), Duration::from_secs)
}

/// `sessions_spawn`.
pub async fn spawn(
    context: &CallContext<'_>,
    own: &str,
    arguments: &str,
) -> Result<String, ToolError> {
    let SpawnArgs {
        task,
        agent_id,
        label,
        model,
        run_timeout_seconds,
        _cleanup: _,
    } = args(arguments)?;
    if task.trim().is_empty() {
        return Err(ToolError::Invalid("task is empty".into()));
    }
    let (turn, request) = context.turn.ok_or_else(unavailable)?;
    let max_depth = limits(context).max_spawn_depth();
    if request.spawn_depth + 1 > max_depth {
        return Err(ToolError::Denied(format!(
            "sub-agents at depth {} cannot start more (depth limit {max_depth}, agents.defaults.subagents.maxSpawnDepth)",
            request.spawn_depth
        )));
    }
    let agent = allowed_agent(context, own, agent_id.as_deref())?;
    let index = next_child(context)?;
    let model = model.or_else(|| limits(context).model);
    let answer = subagents::run_child(
        turn,
        request,
        ChildTask {
            agent: &agent,
            session_key: None,
            text: &task,
            model,
            index,
            timeout: timeout(context, run_timeout_seconds),
        },
    )
    .await
    .map_err(|e| ToolError::Host(e.to_string()))?;
    count_usage(context, &answer);
    let label = label.map(|l| format!(" ({l})")).unwrap_or_default();
    Ok(format!(
        "sub-agent {agent}{label} answered:\n{}",
        answer.content
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SendArgs {
    session_key: String,
    message: String,
    #[serde(default)]
    timeout_seconds: Option<u64>,
}

/// The agent a session key belongs to (`agent:<id>:...`).
fn agent_of(session_key: &str) -> Option<&str> {
    let rest = session_key.strip_prefix("agent:")?;
    rest.split(':').next().filter(|id| !id.is_empty())
}

/// `sessions_send`: a message to another session of an allowed agent, and its answer.
pub async fn send(
    context: &CallContext<'_>,
    own: &str,
    arguments: &str,
) -> Result<String, ToolError> {
    let SendArgs {
        session_key,
        message,
        timeout_seconds,
    } = args(arguments)?;
    let (turn, request) = context.turn.ok_or_else(unavailable)?;
    if session_key == request.session_key {
        return Err(ToolError::Invalid("that is this session".into()));
    }
    let target = agent_of(&session_key).ok_or_else(|| {
        ToolError::Invalid(format!(
            "{session_key:?} is not a session key (agent:<id>:...)"
        ))
    })?;
    let agent = allowed_agent(context, own, Some(target))?;
    let index = next_child(context)?;
    let answer = subagents::run_child(
        turn,
        request,
        ChildTask {
            agent: &agent,
            session_key: Some(&session_key),
            text: &message,
            model: None,
            index,
            timeout: timeout(context, timeout_seconds),
        },
    )
    .await
    .map_err(|e| ToolError::Host(e.to_string()))?;
    count_usage(context, &answer);
    Ok(format!("{session_key} answered:\n{}", answer.content))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListArgs {
    #[serde(default)]
    limit: Option<usize>,
}

/// `sessions_list`: the sessions of the agents this one may reach, newest first.
pub async fn list(
    context: &CallContext<'_>,
    own: &str,
    arguments: &str,
) -> Result<String, ToolError> {
    let ListArgs { limit } = args(arguments)?;
    let (turn, _) = context.turn.ok_or_else(unavailable)?;
    let rules = limits(context);
    let mut sessions = turn
        .sessions
        .list()
        .await
        .map_err(|e| ToolError::Host(e.to_string()))?;
    sessions.retain(|s| agent_of(&s.session_key).is_some_and(|agent| rules.allows(own, agent)));
    sessions.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
    let lines: Vec<String> = sessions
        .iter()
        .take(limit.unwrap_or(20).clamp(1, 100))
        .map(|s| {
            format!(
                "{} ({} messages, updated {})",
                s.session_key,
                s.messages,
                pincer_clock::rfc3339(Duration::from_millis(s.updated_ms))
            )
        })
        .collect();
    Ok(if lines.is_empty() {
        "no sessions".to_owned()
    } else {
        lines.join("\n")
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HistoryArgs {
    session_key: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// `sessions_history`: the last messages of a session of an allowed agent.
pub async fn history(
    context: &CallContext<'_>,
    own: &str,
    arguments: &str,
) -> Result<String, ToolError> {
    let HistoryArgs { session_key, limit } = args(arguments)?;
    let (turn, _) = context.turn.ok_or_else(unavailable)?;
    let target = agent_of(&session_key).ok_or_else(|| {
        ToolError::Invalid(format!(
            "{session_key:?} is not a session key (agent:<id>:...)"
        ))
    })?;
    allowed_agent(context, own, Some(target))?;
    let loaded = turn
        .sessions
        .load(&session_key)
        .await
        .map_err(|e| ToolError::Host(e.to_string()))?;
    let messages = &loaded.transcript.messages;
    if messages.is_empty() {
        return Ok(format!("{session_key} has no messages"));
    }
    let take = limit.unwrap_or(20).clamp(1, MAX_HISTORY);
    Ok(messages[messages.len().saturating_sub(take)..]
        .iter()
        .filter(|m| !m.content.trim().is_empty())
        .map(|m| {
            let role = serde_json::to_value(m.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let text: String = m.content.chars().take(MESSAGE_CHARS).collect();
            format!("{role}: {text}")
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `agents_list`: the agents this one may delegate to.
pub fn agents(context: &CallContext<'_>, own: &str) -> Result<String, ToolError> {
    let (turn, _) = context.turn.ok_or_else(unavailable)?;
    let rules = limits(context);
    let ids: Vec<String> = turn
        .agents
        .ids()
        .into_iter()
        .filter(|id| rules.allows(own, id))
        .map(|id| if id == own { format!("{id} (you)") } else { id })
        .collect();
    Ok(ids.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_name_their_agent() {
        assert_eq!(agent_of("agent:ops:subagent:abc"), Some("ops"));
        assert_eq!(agent_of("agent::x"), None);
        assert_eq!(agent_of("telegram:42"), None);
    }
}
