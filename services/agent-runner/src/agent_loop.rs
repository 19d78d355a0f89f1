//! The agent loop of one turn: call the model with the agent's tools, run the tool calls it makes,
//! feed the results back, until it answers, `maxIterations` is reached or the run's time is up.
//! Each of those ends says so to the user; a turn never ends in silence.

use std::time::Instant;

use pincer_bus::messages::{ChatMessage, ErrorCode, Role, Usage};
use pincer_proto::llm::v1 as pb;

use crate::agents::Agent;
use crate::compaction::{self, Windows};
use crate::model_call::{self, LiveSink};
use crate::prompt;
use crate::router::RouterClient;
use crate::sessions::TurnOutcome;

/// A router timeout this close to the run's deadline is the run's time running out.
const DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_millis(500);

/// What the loop needs beyond the agent.
pub struct LoopInput<'a> {
    /// The router.
    pub router: &'a RouterClient,
    /// Context windows, for compaction.
    pub windows: &'a Windows,
    /// Live deltas, when someone watches.
    pub live: Option<&'a LiveSink>,
    /// The session's history.
    pub history: &'a [ChatMessage],
    /// This turn's messages.
    pub new_messages: &'a [ChatMessage],
    /// The model to call first (the session's `/model`, else the agent's).
    pub model: &'a str,
    /// Conversation id for the router's logs.
    pub session_key: &'a str,
}

/// The loop's result: the outcome, and the history replaced by compaction if it happened.
#[derive(Debug)]
pub struct LoopResult {
    /// The outcome to record.
    pub outcome: TurnOutcome,
    /// The compacted history that replaces `LoopInput::history`.
    pub compacted: Option<Vec<ChatMessage>>,
}

/// Runs the loop.
pub async fn run(agent: &Agent, input: LoopInput<'_>) -> LoopResult {
    let resolved = &agent.resolved;
    let deadline = Instant::now() + resolved.timeout;
    let tools = agent.tools.specs();
    let tool_chars: usize = tools
        .iter()
        .map(|t| t.description.len() + t.parameters_json.len())
        .sum();
    let parts = agent
        .prompt
        .parts(agent.tools.workspace(), agent.caps)
        .await;
    let (sections, skills) = (&parts.0, &parts.1);
    let system = prompt::system_prompt(
        sections,
        skills,
        &pincer_clock::Date::today().to_string(),
        &agent.tools.outages(),
    );

    let mut history: std::borrow::Cow<'_, [ChatMessage]> = input.history.into();
    let mut compacted = None;
    let mut steps: Vec<ChatMessage> = Vec::new();
    let mut usage = Usage::default();
    let mut overflow_compacted = false;
    let mut iteration = 0;
    while iteration < resolved.max_iterations {
        let messages = prompt::build(&system, &history, input.new_messages, &steps);
        let window = input.windows.of(input.router, input.model).await;
        if let Some(window) = window
            && compaction::needed(prompt::chars(&messages) + tool_chars, window)
            && !history.is_empty()
            && compacted.is_none()
        {
            match compact(input.router, resolved, input.model, &history, window).await {
                Ok(new_history) => {
                    history = new_history.clone().into();
                    compacted = Some(new_history);
                    continue;
                }
                Err(message) => return fail(ErrorCode::ContextOverflow, message, steps, compacted),
            }
        }
        let Some(remaining) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return timed_out(resolved, iteration, steps, compacted);
        };
        let request = pb::ChatRequest {
            model: input.model.to_owned(),
            fallbacks: resolved.fallbacks.clone(),
            messages,
            tools: tools.clone(),
            max_tokens: 0,
            session_key: input.session_key.to_owned(),
            timeout_ms: u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
        };
        let call = model_call::call(input.router, request, input.live);
        let reply = match tokio::time::timeout(remaining, call).await {
            Err(_) => return timed_out(resolved, iteration, steps, compacted),
            Ok(Err(failure))
                if failure.code() == ErrorCode::Timeout
                    && deadline.saturating_duration_since(Instant::now()) < DEADLINE_SLACK =>
            {
                // The router's share of the run's deadline ran out: the run's time is up.
                return timed_out(resolved, iteration, steps, compacted);
            }
            Ok(Err(failure)) => {
                // The window estimate was off (or unknown): compact once and try again.
                if failure.kind() == Some(pb::ErrorKind::ContextOverflow)
                    && !overflow_compacted
                    && !history.is_empty()
                {
                    overflow_compacted = true;
                    let window = window.unwrap_or(estimate_window(&history));
                    match compact(input.router, resolved, input.model, &history, window).await {
                        Ok(new_history) => {
                            history = new_history.clone().into();
                            compacted = Some(new_history);
                            continue;
                        }
                        Err(message) => {
                            return fail(ErrorCode::ContextOverflow, message, steps, compacted);
                        }
                    }
                }
                return fail(
                    failure.code(),
                    failure.message().to_owned(),
                    steps,
                    compacted,
                );
            }
            Ok(Ok(reply)) => reply,
        };
        usage.add(&reply.usage);
        iteration += 1;
        if reply.tool_calls.is_empty() {
            return LoopResult {
                outcome: TurnOutcome::Answered {
                    content: reply.content,
                    tool_calls: Vec::new(),
                    model: reply.model,
                    finish_reason: reply.finish_reason,
                    usage,
                    steps,
                },
                compacted,
            };
        }
        let calls = reply.tool_calls;
        steps.push(ChatMessage {
            tool_calls: calls.clone(),
            ..ChatMessage::text(Role::Assistant, reply.content)
        });
        for (index, call) in calls.into_iter().enumerate() {
            let id = if call.id.is_empty() {
                format!("call_{iteration}_{index}")
            } else {
                call.id
            };
            let started = Instant::now();
            let result = agent.tools.call(&call.name, &call.arguments).await;
            let ok = result.is_ok();
            tracing::info!(tool = %call.name, ok, elapsed_ms = started.elapsed().as_millis() as u64, "tool call");
            let content = match result {
                Ok(text) => text,
                Err(error) => format!("error: {error}"),
            };
            steps.push(ChatMessage::tool_result(id, call.name, content));
        }
    }
    let limit = resolved.max_iterations;
    LoopResult {
        outcome: TurnOutcome::Answered {
            content: format!(
                "I stopped after {limit} steps without finishing (the limit is agents.defaults.maxIterations = {limit}). \
                 Say \"continue\" and I will pick up from here."
            ),
            tool_calls: Vec::new(),
            model: input.model.to_owned(),
            finish_reason: "max_iterations".to_owned(),
            usage,
            steps,
        },
        compacted,
    }
}

async fn compact(
    router: &RouterClient,
    agent: &pincer_config::ResolvedAgent,
    model: &str,
    history: &[ChatMessage],
    window: u32,
) -> Result<Vec<ChatMessage>, String> {
    let split = compaction::split_point(history, window);
    tracing::info!(
        messages = history.len(),
        summarised = split,
        window,
        "compacting the session"
    );
    compaction::compact(router, model, &agent.fallbacks, history, split, window)
        .await
        .map_err(|reason| {
            format!(
                "The conversation no longer fits the model's context window and compacting it failed ({reason}). \
                 Send /new to start a fresh session."
            )
        })
}

/// A window guess from a history the provider said is too long for it.
fn estimate_window(history: &[ChatMessage]) -> u32 {
    let chars: usize = history.iter().map(|m| m.content.len()).sum();
    u32::try_from(chars / compaction::CHARS_PER_TOKEN / 2)
        .unwrap_or(u32::MAX)
        .max(1024)
}

fn fail(
    code: ErrorCode,
    message: String,
    steps: Vec<ChatMessage>,
    compacted: Option<Vec<ChatMessage>>,
) -> LoopResult {
    LoopResult {
        outcome: TurnOutcome::Failed {
            code,
            message,
            steps,
        },
        compacted,
    }
}

fn timed_out(
    agent: &pincer_config::ResolvedAgent,
    steps_done: u32,
    steps: Vec<ChatMessage>,
    compacted: Option<Vec<ChatMessage>>,
) -> LoopResult {
    fail(
        ErrorCode::Timeout,
        format!(
            "The run hit its time limit of {}s (agents.defaults.timeoutSeconds) after {steps_done} model calls. \
             What was done so far is kept; ask me to continue.",
            agent.timeout.as_secs()
        ),
        steps,
        compacted,
    )
}
