//! Compaction: when the next prompt would not fit the model's window, older turns are summarised
//! through the router and replaced by the summary; the latest turns stay verbatim and the current
//! message is never touched. A failed compaction is reported to the user, never retried in a loop.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pincer_bus::messages::{ChatMessage, Role};
use pincer_proto::llm::v1 as pb;

use crate::model_call;
use crate::router::RouterClient;

/// Estimated characters per token: low on purpose, so the estimate errs towards compacting early.
pub const CHARS_PER_TOKEN: usize = 3;
/// Share of the window the prompt may fill before compaction (the rest is room for the answer).
const FILL_PERCENT: usize = 80;
/// Share of the window the verbatim tail may take after compaction.
const TAIL_PERCENT: usize = 25;
/// How long a model's window from the router's catalogue is trusted.
const WINDOW_TTL: Duration = Duration::from_secs(300);
/// Each message is cut to this many characters in the text to summarise.
const MESSAGE_CHARS: usize = 2_000;

const INSTRUCTIONS: &str = "You compact a conversation between a user and their assistant. \
Write a concise summary the assistant can continue from: facts about the user, decisions, open \
tasks and questions, names, numbers, file paths and tool results that still matter. No preamble.";

/// The prefix that marks a summary in the history.
pub const SUMMARY_PREFIX: &str = "Summary of the earlier conversation (compacted):";

/// Context windows by model ref, from the router's catalogue.
#[derive(Debug, Default)]
pub struct Windows {
    known: Mutex<HashMap<String, (Option<u32>, Instant)>>,
}

impl Windows {
    /// The window of `model` in tokens; `None` when the router does not know it (or is down).
    pub async fn of(&self, router: &RouterClient, model: &str) -> Option<u32> {
        if let Some((window, at)) = self.lock().get(model)
            && at.elapsed() < WINDOW_TTL
        {
            return *window;
        }
        let models = match router.list_models().await {
            Ok(models) => models,
            Err(status) => {
                tracing::debug!(%status, "model catalogue unavailable");
                return None;
            }
        };
        let now = Instant::now();
        let mut known = self.lock();
        for info in &models {
            let window = (info.context_window > 0).then_some(info.context_window);
            known.insert(info.id.clone(), (window, now));
        }
        let entry = known.entry(model.to_owned()).or_insert((None, now));
        entry.0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<u32>, Instant)>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a prompt of `chars` characters needs compaction for `window` tokens.
pub fn needed(chars: usize, window: u32) -> bool {
    chars / CHARS_PER_TOKEN > window as usize * FILL_PERCENT / 100
}

/// Where the verbatim tail starts: the latest messages within [`TAIL_PERCENT`] of the window, at
/// least the last one, never starting on a tool result (its call stays with it), and on a
/// person's message where one is near: the message an answer answers stays with it when that
/// takes at most another tail's worth, else the tail starts at the next one.
pub fn split_point(history: &[ChatMessage], window: u32) -> usize {
    let budget = window as usize * TAIL_PERCENT / 100 * CHARS_PER_TOKEN;
    let mut used = 0;
    let mut start = history.len();
    while start > 0 {
        let size = message_chars(&history[start - 1]);
        if used + size > budget && start < history.len() {
            break;
        }
        used += size;
        start -= 1;
    }
    while start > 0 && start < history.len() && history[start].role == Role::Tool {
        start -= 1;
    }
    if start == 0 || start == history.len() || history[start].role == Role::User {
        return start;
    }
    // Back to the question, within budget, leaving something to summarise.
    let mut back = start;
    let mut extra = 0;
    while back > 1 && history[back].role != Role::User && extra <= budget {
        back -= 1;
        extra += message_chars(&history[back]);
    }
    if history[back].role == Role::User && back > 0 && extra <= budget {
        return back;
    }
    // Else on to the next question, if there is one.
    history[start..]
        .iter()
        .position(|m| m.role == Role::User)
        .map_or(start, |offset| start + offset)
}

/// Summarises `history[..split]` through the router and returns the new history:
/// the summary, then `history[split..]` unchanged.
pub async fn compact(
    router: &RouterClient,
    model: &str,
    fallbacks: &[String],
    history: &[ChatMessage],
    split: usize,
    window: u32,
) -> Result<Vec<ChatMessage>, String> {
    if split == 0 {
        return Err("there are no older messages to summarise".to_owned());
    }
    let rendered = render(&history[..split], window as usize / 2 * CHARS_PER_TOKEN);
    let request = pb::ChatRequest {
        model: model.to_owned(),
        fallbacks: fallbacks.to_vec(),
        messages: vec![
            pb::Message {
                role: pb::Role::System as i32,
                content: INSTRUCTIONS.to_owned(),
                ..Default::default()
            },
            pb::Message {
                role: pb::Role::User as i32,
                content: rendered,
                ..Default::default()
            },
        ],
        tools: Vec::new(),
        max_tokens: 1024,
        session_key: String::new(),
        timeout_ms: 180_000,
        // A summary needs no deliberation: the provider's default.
        thinking: pb::Thinking::Unspecified as i32,
        ..Default::default()
    };
    let reply = model_call::call(router, request, None)
        .await
        .map_err(|failure| failure.message().to_owned())?;
    let summary = reply.content.trim();
    if summary.is_empty() {
        return Err("the model returned an empty summary".to_owned());
    }
    let mut compacted = vec![ChatMessage::text(
        Role::System,
        format!("{SUMMARY_PREFIX}\n{summary}"),
    )];
    compacted.extend_from_slice(&history[split..]);
    Ok(compacted)
}

/// The messages as plain text, newest kept when over `limit` characters.
fn render(messages: &[ChatMessage], limit: usize) -> String {
    let mut lines: Vec<String> = messages
        .iter()
        .map(|m| {
            let who = match m.role {
                Role::System => "context".to_owned(),
                Role::User => "user".to_owned(),
                Role::Assistant => "assistant".to_owned(),
                Role::Tool => format!("tool {}", m.name.as_deref().unwrap_or("result")),
            };
            let mut text: String = m.content.chars().take(MESSAGE_CHARS).collect();
            for call in &m.tool_calls {
                text.push_str(&format!(
                    " [called {}({})]",
                    call.name,
                    call.arguments.chars().take(200).collect::<String>()
                ));
            }
            format!("{who}: {text}")
        })
        .collect();
    let mut total: usize = lines.iter().map(String::len).sum();
    while total > limit && lines.len() > 1 {
        total -= lines.remove(0).len();
    }
    lines.join("\n")
}

fn message_chars(message: &ChatMessage) -> usize {
    message.content.len()
        + message
            .tool_calls
            .iter()
            .map(|c| c.name.len() + c.arguments.len())
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(role: Role, n: usize) -> ChatMessage {
        ChatMessage::text(role, "x".repeat(n))
    }

    /// An assistant message calling `read` (id `a`).
    fn call_read() -> ChatMessage {
        ChatMessage {
            tool_calls: vec![pincer_bus::messages::ToolCall {
                id: "a".into(),
                name: "read".into(),
                arguments: "{}".into(),
            }],
            ..text(Role::Assistant, 10)
        }
    }

    #[test]
    fn the_tail_fits_its_share_and_keeps_calls_with_results() {
        // window 1000 tokens → tail budget 250 tokens ≈ 750 chars.
        let history = vec![
            text(Role::User, 500),
            text(Role::Assistant, 500),
            text(Role::User, 300),
            call_read(),
            ChatMessage::tool_result("a", "read", "y".repeat(300)),
            text(Role::Assistant, 100),
        ];
        let split = split_point(&history, 1000);
        assert_eq!(
            split, 2,
            "user(300)+call+result+answer fit; the older two do not"
        );
        let history = vec![text(Role::User, 5000), text(Role::User, 5000)];
        assert_eq!(
            split_point(&history, 1000),
            1,
            "the last message is always kept"
        );
        let history = vec![
            text(Role::User, 10),
            call_read(),
            ChatMessage::tool_result("a", "read", "y".repeat(5000)),
        ];
        assert_eq!(
            split_point(&history, 1000),
            1,
            "a kept tool result brings its call"
        );
    }

    #[test]
    fn the_tail_starts_with_the_question_its_answer_answers() {
        // Budget ≈ 750 chars: the last answer fits, its question (500) is brought along.
        let history = vec![
            text(Role::User, 500),
            text(Role::Assistant, 300),
            text(Role::User, 500),
            text(Role::Assistant, 300),
        ];
        assert_eq!(split_point(&history, 1000), 2);
        // A question too big to bring along: the tail starts at the next question instead.
        let history = vec![
            text(Role::User, 100),
            text(Role::Assistant, 100),
            text(Role::User, 5000),
            text(Role::Assistant, 300),
            text(Role::User, 100),
            text(Role::Assistant, 200),
        ];
        assert_eq!(split_point(&history, 1000), 4);
    }

    #[test]
    fn compaction_is_needed_past_the_fill_line() {
        assert!(!needed(2_000, 1000));
        assert!(needed(2_500, 1000));
    }

    #[test]
    fn rendering_keeps_the_newest_lines_within_the_limit() {
        let history = vec![
            text(Role::User, 100),
            ChatMessage::text(Role::Assistant, "latest"),
        ];
        let out = render(&history, 50);
        assert_eq!(out, "assistant: latest");
    }
}
