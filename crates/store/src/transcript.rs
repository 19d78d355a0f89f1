//! A session's stored state: its conversation and the outcomes of its recent turns.
//!
//! Written by the agent-runner (one JetStream KV value per session, under [`kv_key`]); read by the
//! gateway for the control plane (sessions, history, usage).

use serde::{Deserialize, Serialize};

use pincer_bus::messages::{ChatMessage, ErrorCode, ToolCall, Usage};

/// Completed turns remembered per session, so a redelivered turn is answered from the record instead
/// of being run twice.
pub const REMEMBERED_TURNS: usize = 64;

/// Upper bound of a stored transcript; the oldest messages are dropped beyond it (NATS max_payload
/// is 1 MiB; compaction proper keeps real sessions far below this).
pub const MAX_TRANSCRIPT_BYTES: usize = 768 * 1024;

/// What happened to a turn, as remembered in the transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TurnOutcome {
    /// The model answered.
    Answered {
        /// Full reply.
        content: String,
        /// Tool calls of the reply.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        /// Model that served.
        model: String,
        /// Finish reason (`stop`, `length`, or `max_iterations` when the loop was cut off).
        finish_reason: String,
        /// Token counts, summed over the turn's model calls.
        #[serde(default)]
        usage: Usage,
        /// The tool steps before the answer: assistant messages with calls, and tool results.
        /// Moved into the history when recorded; the turn record keeps only the text of the
        /// assistant's steps (what a replay of the turn says besides `content`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        steps: Vec<ChatMessage>,
    },
    /// The turn failed; its user messages (and the tool steps it made) are still in the history.
    Failed {
        /// Category.
        code: ErrorCode,
        /// Reason shown to the client.
        message: String,
        /// Tool steps done before the failure (their effects happened).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        steps: Vec<ChatMessage>,
    },
    /// A session command (`/status`, `/new`, ...) answered without the model; not part of the history.
    Command {
        /// The answer.
        reply: String,
    },
}

impl TurnOutcome {
    /// A failure without steps.
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Failed {
            code,
            message: message.into(),
            steps: Vec::new(),
        }
    }
}

/// A remembered turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// The turn's id.
    pub turn_id: String,
    /// Its outcome.
    pub outcome: TurnOutcome,
}

/// A session's stored state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// The session key this transcript belongs to (the KV key is its hash). Absent in values
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_key: String,
    /// The agent that last ran a turn in it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_id: String,
    /// When it was last written (unix ms; 0 = unknown).
    #[serde(default)]
    pub updated_ms: u64,
    /// Conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The most recent turns and their outcomes.
    #[serde(default)]
    pub turns: Vec<TurnRecord>,
    /// Model chosen for this session with `/model`, instead of the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_override: Option<String>,
    /// Thinking level chosen for this session with `/think`, instead of the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_override: Option<String>,
    /// Tokens and cost of every turn since the session started (or was reset).
    #[serde(default)]
    pub totals: Usage,
    /// How often older turns were summarised to fit the model's window.
    #[serde(default)]
    pub compactions: u32,
}

impl Transcript {
    /// The recorded outcome of `turn_id`, if it already ran.
    pub fn outcome_of(&self, turn_id: &str) -> Option<&TurnOutcome> {
        self.turns
            .iter()
            .find(|t| t.turn_id == turn_id)
            .map(|t| &t.outcome)
    }

    /// Appends a finished turn: its input messages, its tool steps, the reply (if any) and the
    /// record. Commands leave the history alone.
    pub fn record(&mut self, turn_id: &str, input: &[ChatMessage], mut outcome: TurnOutcome) {
        // Reasoning blocks go back to the provider only within their own tool loop, which lives
        // in the turn's memory: the history never keeps their weight (up to 32k thinking tokens
        // a step would push older messages out of the size limit).
        if let TurnOutcome::Answered { steps, .. } | TurnOutcome::Failed { steps, .. } =
            &mut outcome
        {
            for step in steps.iter_mut() {
                step.reasoning.clear();
            }
        }
        match &mut outcome {
            TurnOutcome::Answered {
                content,
                tool_calls,
                steps,
                usage,
                ..
            } => {
                self.append_input(input);
                let said: Vec<ChatMessage> = steps
                    .iter()
                    .filter(|step| {
                        step.role == pincer_bus::messages::Role::Assistant
                            && !step.content.is_empty()
                    })
                    .map(|step| {
                        ChatMessage::text(pincer_bus::messages::Role::Assistant, &step.content)
                    })
                    .collect();
                self.messages.append(steps);
                *steps = said;
                self.messages.push(ChatMessage {
                    role: pincer_bus::messages::Role::Assistant,
                    content: content.clone(),
                    tool_calls: tool_calls.clone(),
                    tool_call_id: None,
                    name: None,
                    attachments: Vec::new(),
                    images: Vec::new(),
                    reasoning: String::new(),
                });
                self.totals.add(usage);
            }
            TurnOutcome::Failed { steps, .. } => {
                self.append_input(input);
                self.messages.append(steps);
            }
            TurnOutcome::Command { .. } => {}
        }
        self.remember(turn_id, outcome);
    }

    fn remember(&mut self, turn_id: &str, outcome: TurnOutcome) {
        self.turns.push(TurnRecord {
            turn_id: turn_id.to_owned(),
            outcome,
        });
        if self.turns.len() > REMEMBERED_TURNS {
            let excess = self.turns.len() - REMEMBERED_TURNS;
            self.turns.drain(..excess);
        }
    }

    /// Appends `input` for the next turn to read, without a run (a wake event for the next
    /// heartbeat); the record answers a redelivery of `turn_id` with an empty reply.
    pub fn note(&mut self, turn_id: &str, input: &[ChatMessage]) {
        self.messages.extend_from_slice(input);
        self.remember(
            turn_id,
            TurnOutcome::Command {
                reply: String::new(),
            },
        );
    }

    /// Appends a turn's input, except a first message that repeats the unanswered one the history
    /// ends with: the retry of a failed turn (an OpenAI client retries a 502 on its own, a person
    /// sends the message again) asks once, not twice.
    fn append_input(&mut self, input: &[ChatMessage]) {
        let skip = self.repeated_unanswered(input);
        self.messages.extend_from_slice(&input[skip..]);
    }

    /// How many of the messages the history ends with, unanswered (their turn failed before any
    /// step), `input` starts with, sent again: those are then asked once (see [`Self::record`]).
    pub fn repeated_unanswered(&self, input: &[ChatMessage]) -> usize {
        let unanswered = self
            .messages
            .iter()
            .rev()
            .take_while(|m| m.role == pincer_bus::messages::Role::User)
            .count();
        (1..=unanswered.min(input.len()))
            .rev()
            .find(|&count| {
                self.messages[self.messages.len() - count..]
                    .iter()
                    .zip(&input[..count])
                    .all(|(stored, again)| same_message(stored, again))
            })
            .unwrap_or(0)
    }

    /// The history a turn with `input` builds on: without the unanswered messages `input` asks
    /// again, so the model reads them once.
    pub fn history_before(&self, input: &[ChatMessage]) -> &[ChatMessage] {
        let end = self.messages.len() - self.repeated_unanswered(input);
        &self.messages[..end]
    }

    /// The model that served the most recent answered turn.
    pub fn last_model(&self) -> Option<&str> {
        self.turns.iter().rev().find_map(|t| match &t.outcome {
            TurnOutcome::Answered { model, .. } => Some(model.as_str()),
            _ => None,
        })
    }

    /// Serialises, dropping the oldest messages while the value is over the size bound.
    pub fn encode(&mut self) -> Result<Vec<u8>, serde_json::Error> {
        loop {
            let bytes = serde_json::to_vec(self)?;
            if bytes.len() <= MAX_TRANSCRIPT_BYTES || self.messages.len() <= 1 {
                return Ok(bytes);
            }
            let drop = (self.messages.len() / 4).max(1);
            tracing::warn!(
                dropped = drop,
                bytes = bytes.len(),
                "transcript over size bound, dropping oldest messages"
            );
            self.messages.drain(..drop);
        }
    }
}

/// Whether `b` says what `a` says: the same text from the same sender with the same files (a
/// retry stores its files again, under new names in the media store).
fn same_message(a: &ChatMessage, b: &ChatMessage) -> bool {
    a.role == b.role
        && a.content == b.content
        && a.name == b.name
        && a.attachments.len() == b.attachments.len()
        && a.attachments
            .iter()
            .zip(&b.attachments)
            .all(|(x, y)| x.file_name == y.file_name && x.size == y.size)
}

/// KV keys allow only `[-/_=.A-Za-z0-9]`; session keys are user-controlled, so they are hashed.
pub fn kv_key(session_key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, session_key.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_bus::messages::Role;

    #[test]
    fn kv_keys_are_safe_and_distinct() {
        let a = kv_key("agent:main:openai-user:alice");
        let b = kv_key("agent:main:openai-user:alice ");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn records_answers_and_remembers_turn_ids() {
        let mut transcript = Transcript::default();
        let input = [ChatMessage::text(Role::User, "hi")];
        transcript.record(
            "t1",
            &input,
            TurnOutcome::Answered {
                content: "hello".into(),
                tool_calls: vec![],
                model: "p/m".into(),
                finish_reason: "stop".into(),
                usage: Usage::default(),
                steps: vec![],
            },
        );
        transcript.record(
            "t2",
            &[ChatMessage::text(Role::User, "again")],
            TurnOutcome::failed(ErrorCode::ProviderUnavailable, "down"),
        );
        let contents: Vec<&str> = transcript
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(contents, ["hi", "hello", "again"]);
        // The failed message sent again (an SDK's retry of the 502) is asked, and kept, once.
        let retry = [ChatMessage::text(Role::User, "again")];
        assert_eq!(transcript.repeated_unanswered(&retry), 1);
        assert_eq!(transcript.history_before(&retry).len(), 2);
        transcript.record(
            "t2-retry",
            &retry,
            TurnOutcome::failed(ErrorCode::ProviderUnavailable, "down"),
        );
        assert_eq!(transcript.messages.len(), 3, "not stored twice");
        assert_eq!(
            transcript.repeated_unanswered(&[ChatMessage::text(Role::User, "other")]),
            0
        );
        // Two messages that failed together, sent again together.
        let pair = [
            ChatMessage::text(Role::User, "first"),
            ChatMessage::text(Role::User, "second"),
        ];
        transcript.record("t4", &pair, TurnOutcome::failed(ErrorCode::Timeout, ""));
        assert_eq!(transcript.repeated_unanswered(&pair), 2);
        transcript.record(
            "t4-retry",
            &pair,
            TurnOutcome::failed(ErrorCode::Timeout, ""),
        );
        assert_eq!(transcript.messages.len(), 5, "the pair is kept once");
        assert!(transcript.outcome_of("t1").is_some());
        assert!(matches!(
            transcript.outcome_of("t2"),
            Some(TurnOutcome::Failed { .. })
        ));
        assert!(transcript.outcome_of("t3").is_none());
    }

    #[test]
    fn reasoning_is_never_kept_in_the_history() {
        let mut transcript = Transcript::default();
        let step = ChatMessage {
            reasoning: r#"[{"type":"thinking","thinking":"t","signature":"s"}]"#.into(),
            ..ChatMessage::text(Role::Assistant, "")
        };
        let answered = |steps| TurnOutcome::Answered {
            content: "done".into(),
            tool_calls: vec![],
            model: "p/m".into(),
            finish_reason: "stop".into(),
            usage: Usage::default(),
            steps,
        };
        let input = [ChatMessage::text(Role::User, "hi")];
        transcript.record("t1", &input, answered(vec![step]));
        assert_eq!(transcript.messages.len(), 3);
        assert!(transcript.messages.iter().all(|m| m.reasoning.is_empty()));
    }

    #[test]
    fn keeps_a_bounded_number_of_turn_records() {
        let mut transcript = Transcript::default();
        for i in 0..(REMEMBERED_TURNS + 10) {
            transcript.record(
                &format!("t{i}"),
                &[],
                TurnOutcome::failed(ErrorCode::Timeout, ""),
            );
        }
        assert_eq!(transcript.turns.len(), REMEMBERED_TURNS);
        assert!(transcript.outcome_of("t0").is_none());
        assert!(
            transcript
                .outcome_of(&format!("t{}", REMEMBERED_TURNS + 9))
                .is_some()
        );
    }

    #[test]
    fn oversized_transcripts_drop_oldest_messages() {
        let mut transcript = Transcript::default();
        let big = "x".repeat(100 * 1024);
        for _ in 0..12 {
            transcript
                .messages
                .push(ChatMessage::text(Role::User, big.clone()));
        }
        let bytes = transcript.encode().unwrap();
        assert!(bytes.len() <= MAX_TRANSCRIPT_BYTES);
        assert!(transcript.messages.len() < 12);
    }
}
