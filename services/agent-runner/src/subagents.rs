//! Delegation: a run hands a task to a child session as a turn on the bus, in the sub-agent lane
//! (any replica's sub-agent consumer may run it), and waits for its outcome.
//!
//! - The child's turn id comes from the parent's turn id and the spawn's place in the run, and its
//!   session from the child's turn id: a parent redelivered after a crash asks for the same child,
//!   which is answered from its record instead of run again.
//! - The parent listens on the child's event subject before publishing, so no outcome is missed.
//! - If the parent stops waiting (aborted, timed out), the child is told to stop. If the parent's
//!   replica dies, the child finishes; the parent, run again, reads its recorded answer.
//! - The trace context travels with the published turn, so the child's spans sit under the
//!   parent's; its usage is added to the parent's.

use std::time::Duration;

use futures::StreamExt;
use pincer_bus::messages::{ChatMessage, Role, RunEvent, TurnRequest, Usage};
use pincer_store::transcript::TurnOutcome;

use crate::turn::TurnContext;

/// The turn source of a child.
pub const SOURCE: &str = "subagent";

/// Why a child gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The bus refused the child's turn or its subscription.
    #[error("the sub-agent could not be started: {0}")]
    Bus(String),
    /// The child failed.
    #[error("the sub-agent failed: {0}")]
    Failed(String),
    /// No outcome in time.
    #[error("the sub-agent did not answer within {0}s (it was told to stop)")]
    TimedOut(u64),
}

/// A child's answer.
#[derive(Debug)]
pub struct ChildAnswer {
    /// The answer's text.
    pub content: String,
    /// Its tokens and cost.
    pub usage: Usage,
}

/// What to ask of whom.
pub struct ChildTask<'a> {
    /// The agent that runs it.
    pub agent: &'a str,
    /// Its session (`None`: a new `agent:<agent>:subagent:<turn>` session).
    pub session_key: Option<&'a str>,
    /// The task.
    pub text: &'a str,
    /// The model to call first.
    pub model: Option<String>,
    /// The spawn's number in the parent's run (from 0).
    pub index: usize,
    /// How long the parent waits.
    pub timeout: Duration,
}

/// The child's turn id: the parent's turn and the spawn's number in it.
pub fn child_turn_id(parent_turn_id: &str, index: usize) -> String {
    pincer_store::ids::derived(&format!("subagent\n{parent_turn_id}\n{index}"))
}

/// Tells the child to stop unless disarmed (the parent got its answer).
struct AbortOnDrop {
    client: async_nats::Client,
    subject: String,
    armed: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let (client, subject) = (self.client.clone(), std::mem::take(&mut self.subject));
            tracing::info!(%subject, "telling a sub-agent to stop");
            tokio::spawn(async move {
                let _ = client.publish(subject, bytes::Bytes::new()).await;
                let _ = client.flush().await;
            });
        }
    }
}

/// Runs `task` as a child of `parent` and waits for its answer.
pub async fn run_child(
    context: &TurnContext,
    parent: &TurnRequest,
    task: ChildTask<'_>,
) -> Result<ChildAnswer, ChildError> {
    let turn_id = child_turn_id(&parent.turn_id, task.index);
    let session_key = task.session_key.map_or_else(
        || format!("agent:{}:subagent:{turn_id}", task.agent),
        str::to_owned,
    );
    // A parent run again after a crash: the child may already have answered.
    if let Ok(loaded) = context.sessions.load(&session_key).await
        && let Some(outcome) = loaded.transcript.outcome_of(&turn_id)
    {
        return answer_of(outcome);
    }
    let reply_subject = context.namespace.run_events(&turn_id);
    let mut events = context
        .client
        .subscribe(reply_subject.clone())
        .await
        .map_err(|e| ChildError::Bus(e.to_string()))?;
    let child = TurnRequest {
        turn_id: turn_id.clone(),
        agent_id: task.agent.to_owned(),
        session_key: session_key.clone(),
        persist: true,
        messages: vec![ChatMessage::text(Role::User, task.text)],
        reply_subject,
        live_deltas: false,
        source: SOURCE.to_owned(),
        accepted_at_ms: pincer_clock::now_ms(),
        deliver: None,
        thinking: None,
        model: task.model,
        spawn_depth: parent.spawn_depth + 1,
        parent_turn_id: Some(parent.turn_id.clone()),
        sampling: Default::default(),
        client_tools: Vec::new(),
        timeout_secs: None,
        record_only: false,
    };
    let mut guard = AbortOnDrop {
        client: context.client.clone(),
        subject: context.namespace.run_abort(&turn_id),
        armed: true,
    };
    let js = async_nats::jetstream::new(context.client.clone());
    pincer_bus::publish::durable_json(
        &js,
        context.namespace.subagent_turn(task.agent),
        &format!("subagent-{turn_id}"),
        &child,
    )
    .await
    .map_err(|e| ChildError::Bus(e.to_string()))?;
    tracing::info!(child = %turn_id, agent = %task.agent, session = %session_key, "sub-agent started");
    let waited = tokio::time::timeout(task.timeout, async {
        while let Some(message) = events.next().await {
            match serde_json::from_slice::<RunEvent>(&message.payload) {
                Ok(RunEvent::Done { content, usage, .. }) => {
                    return Ok(ChildAnswer { content, usage });
                }
                Ok(RunEvent::Error { message, .. }) => return Err(ChildError::Failed(message)),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "ignoring a malformed sub-agent event"),
            }
        }
        Err(ChildError::Bus("the event subscription ended".into()))
    })
    .await;
    let result = waited.unwrap_or(Err(ChildError::TimedOut(task.timeout.as_secs())));
    // An answer (or the child's own failure) ends it; anything else leaves it to be stopped.
    guard.armed = matches!(result, Err(ChildError::TimedOut(_) | ChildError::Bus(_)));
    result
}

fn answer_of(outcome: &TurnOutcome) -> Result<ChildAnswer, ChildError> {
    match outcome {
        TurnOutcome::Answered { content, .. } => Ok(ChildAnswer {
            content: content.clone(),
            // Already counted when the parent's first run received it.
            usage: Usage::default(),
        }),
        TurnOutcome::Command { reply } => Ok(ChildAnswer {
            content: reply.clone(),
            usage: Usage::default(),
        }),
        TurnOutcome::Failed { message, .. } => Err(ChildError::Failed(message.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_named_by_its_parent_and_place() {
        assert_eq!(child_turn_id("t1", 0), child_turn_id("t1", 0));
        assert_ne!(child_turn_id("t1", 0), child_turn_id("t1", 1));
        assert_ne!(child_turn_id("t1", 0), child_turn_id("t2", 0));
        assert_eq!(child_turn_id("t1", 0).len(), 32);
    }
}
