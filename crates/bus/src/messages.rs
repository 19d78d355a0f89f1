//! JSON payloads on the bus. Field names are stable wire contract: add fields with defaults, never
//! rename.

use serde::{Deserialize, Serialize};

/// Who said a message in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the operator or the client.
    System,
    /// The human.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

/// A tool call made by the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider or router assigned id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as JSON object text.
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Speaker.
    pub role: Role,
    /// Text content (may be empty for assistant messages that only call tools).
    pub content: String,
    /// Tool calls made in an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For tool results: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For tool results: the tool's name (Ollama wants it beside the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Files that came with the message (kept in the media object store until the agent-runner
    /// saves them in the workspace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The message's images as saved in the agent's workspace (paths relative to it): shown to
    /// models whose entry says `input: ["text", "image"]` in the turn they came with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// An assistant message's reasoning blocks as its provider sent them (Anthropic's signed
    /// thinking), handed back with the message while its tool loop goes on. Opaque, never shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reasoning: String,
}

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Object name in the media store.
    pub object: String,
    /// File name to save it as.
    pub file_name: String,
    /// `photo`, `document`, `voice`, ...
    pub kind: String,
    /// Size in bytes.
    pub size: u64,
}

impl ChatMessage {
    /// A plain text message.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            attachments: Vec::new(),
            images: Vec::new(),
            reasoning: String::new(),
        }
    }

    /// The result of the tool call `id` to `name`.
    pub fn tool_result(
        id: impl Into<String>,
        name: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.into()),
            name: Some(name.into()),
            attachments: Vec::new(),
            images: Vec::new(),
            reasoning: String::new(),
        }
    }
}

/// A unit of work for the agent-runner: one user turn in one session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnRequest {
    /// Unique id; also the JetStream `Nats-Msg-Id`, so a retried publish never runs twice.
    pub turn_id: String,
    /// Which agent answers.
    pub agent_id: String,
    /// Conversation key, e.g. `agent:main:openai-user:alice`.
    pub session_key: String,
    /// Whether the session is stored. False for one-off requests that carry their whole history.
    pub persist: bool,
    /// New messages of this turn (for a persisted session), or the whole conversation (one-off).
    pub messages: Vec<ChatMessage>,
    /// Where the gateway (or bridge) listens for this turn's events.
    pub reply_subject: String,
    /// Whether the waiting side wants live events (streaming clients): `started` and text deltas as
    /// they arrive. When false only the final event is published, which saves a message per token.
    #[serde(default = "default_true")]
    pub live_deltas: bool,
    /// Where the turn came from (`http`, `telegram`, ...), for logs and routing replies.
    pub source: String,
    /// Milliseconds since the Unix epoch when the turn was accepted.
    pub accepted_at_ms: u64,
    /// Where the answer goes durably (a channel chat), besides the live events: the runner puts
    /// the outcome on the channel's outbound stream before it acks the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver: Option<Delivery>,
    /// How hard the model thinks for this turn (`off`, `minimal`, `low`, `medium`, `high`,
    /// `xhigh`), over the session's `/think` and the agent's `thinkingDefault`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// The model to call first instead of the agent's (a sub-agent spawned with `model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How deep in a chain of sub-agents this turn is (0: asked by a person or a job).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spawn_depth: u32,
    /// The turn that spawned this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_turn_id: Option<String>,
    /// The caller's sampling choices (an OpenAI client's `temperature`, `max_tokens`).
    #[serde(default, skip_serializing_if = "Sampling::is_unset")]
    pub sampling: Sampling,
    /// Functions the caller runs itself (an OpenAI client's `tools`), offered to the model beside
    /// the agent's: a reply that calls one ends the turn with the call, for the caller to answer
    /// in its next request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_tools: Vec<ClientTool>,
    /// This run's time limit in seconds in place of the agent's `timeoutSeconds` (a hook's
    /// `timeoutSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Only put the messages into the session for its next run to read; no model is called (a
    /// wake event for the next heartbeat).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_only: bool,
}

/// A function of the caller's, as an OpenAI client declares it in `tools`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTool {
    /// What the model calls it (`[A-Za-z0-9_-]`, at most 64 characters).
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of its arguments object, as JSON text.
    pub parameters_json: String,
}

/// How the model samples this turn's answers, where the caller chose; unset means the model's
/// configured defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// 0 (focused) to 2 (varied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Upper bound on each answer's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Nucleus sampling, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Up to four sequences that end an answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Best-effort repeatable sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// -2 to 2: against tokens that appeared at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// -2 to 2: against tokens that appeared often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// OpenAI's `response_format` when it asks for JSON (`json_object` or `json_schema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
}

impl Sampling {
    fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// A chat on a messaging channel that a turn's answer is sent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `telegram`, `discord`, `slack`.
    pub channel: String,
    /// The channel account (bot) that received the message.
    pub account: String,
    /// The chat: Telegram's numeric chat id, a Discord channel id, a Slack channel id. Earlier
    /// versions wrote Telegram's as a JSON number, which still reads.
    #[serde(deserialize_with = "text_or_integer")]
    pub chat_id: String,
    /// A thread inside the chat the answer goes to (a Slack thread's `ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// The user's message the answer replies to.
    #[serde(
        default,
        deserialize_with = "optional_text_or_integer",
        skip_serializing_if = "Option::is_none"
    )]
    pub reply_to_message_id: Option<String>,
}

/// A string, or an integer as its decimal text.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrInteger {
    Text(String),
    Integer(i64),
}

impl From<TextOrInteger> for String {
    fn from(value: TextOrInteger) -> Self {
        match value {
            TextOrInteger::Text(text) => text,
            TextOrInteger::Integer(number) => number.to_string(),
        }
    }
}

fn text_or_integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    TextOrInteger::deserialize(deserializer).map(String::from)
}

fn optional_text_or_integer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Option::<TextOrInteger>::deserialize(deserializer).map(|value| value.map(String::from))
}

/// A reply waiting on a channel's outbound stream. Published with `Nats-Msg-Id` = `reply-<turn_id>`,
/// so the runner can publish it again after a crash without it being sent twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The turn it answers (also the idempotency key of its chunks).
    pub turn_id: String,
    /// Where it goes.
    pub to: Delivery,
    /// Markdown text from the model (or an error explained to the user).
    pub text: String,
    /// True when `text` explains a failed turn.
    #[serde(default)]
    pub failed: bool,
}

fn default_true() -> bool {
    true
}

/// Token counts of a turn (absent when the provider did not say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u32>,
    /// Cost in millionths of a US dollar, from the configured prices (absent when unpriced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_micro_usd: Option<u64>,
}

impl Usage {
    /// Adds `other`'s counts (a turn of several model calls); absent stays absent only when both are.
    pub fn add(&mut self, other: &Usage) {
        fn sum<T: std::ops::Add<Output = T> + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        self.prompt_tokens = sum(self.prompt_tokens, other.prompt_tokens);
        self.completion_tokens = sum(self.completion_tokens, other.completion_tokens);
        self.cost_micro_usd = sum(self.cost_micro_usd, other.cost_micro_usd);
    }
}

/// Why a turn failed, in terms a client can act on. Maps to an HTTP status at the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself was wrong.
    BadRequest,
    /// The conversation no longer fits the model's context window (compact it, or start over).
    ContextOverflow,
    /// Every configured model failed or none is reachable.
    ProviderUnavailable,
    /// The provider rejected the call (auth, quota, content policy).
    ProviderRejected,
    /// The turn ran out of time.
    Timeout,
    /// An operator stopped the run (`chat.abort`).
    Aborted,
    /// A bug or an unexpected state inside Pincer.
    Internal,
}

impl ErrorCode {
    /// The code as it is spelled on the wire (`provider_unavailable`), e.g. for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ContextOverflow => "context_overflow",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderRejected => "provider_rejected",
            Self::Timeout => "timeout",
            Self::Aborted => "aborted",
            Self::Internal => "internal",
        }
    }
}

/// `RunEvent::Done::finish_reason` of a heartbeat the agent-runner did not run: the agent's
/// `HEARTBEAT.md` is missing or has nothing in it.
pub const HEARTBEAT_SKIPPED: &str = "heartbeat_skipped";

/// Live events of one run, published on core NATS to [`TurnRequest::reply_subject`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// A runner picked the turn up.
    Started,
    /// A piece of assistant text.
    Delta {
        /// The text.
        text: String,
    },
    /// The turn finished; `content` is the whole assistant reply.
    Done {
        /// Full reply text.
        content: String,
        /// Tool calls the final assistant message carries (when the client offered tools).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        /// The model that served the last call, as `provider/model`.
        model: String,
        /// `stop`, `length`, `tool_calls`, ...
        finish_reason: String,
        /// Token counts.
        usage: Usage,
    },
    /// The turn failed; nothing more follows.
    Error {
        /// Category.
        code: ErrorCode,
        /// Human-readable reason, safe to show to the client (no secrets).
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_spelled_as_on_the_wire() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::ContextOverflow,
            ErrorCode::ProviderUnavailable,
            ErrorCode::ProviderRejected,
            ErrorCode::Timeout,
            ErrorCode::Aborted,
            ErrorCode::Internal,
        ] {
            let wire = serde_json::to_string(&code).unwrap();
            assert_eq!(wire, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn run_events_are_tagged_json() {
        let event = RunEvent::Delta { text: "hi".into() };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"type":"delta","text":"hi"}"#);
        let back: RunEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn unknown_fields_are_tolerated_for_forward_compatibility() {
        let json = r#"{"type":"error","code":"timeout","message":"slow","extra":1}"#;
        let event: RunEvent = serde_json::from_str(json).unwrap();
        assert!(matches!(
            event,
            RunEvent::Error {
                code: ErrorCode::Timeout,
                ..
            }
        ));
    }

    #[test]
    fn a_delivery_written_by_an_earlier_version_still_reads() {
        let old: Delivery = serde_json::from_str(
            r#"{"channel":"telegram","account":"default","chat_id":-100123,"reply_to_message_id":7}"#,
        )
        .expect("old delivery");
        assert_eq!(old.chat_id, "-100123");
        assert_eq!(old.reply_to_message_id.as_deref(), Some("7"));
        let new: Delivery = serde_json::from_str(
            r#"{"channel":"slack","account":"ops","chat_id":"C1","thread_id":"1700.1"}"#,
        )
        .expect("new delivery");
        assert_eq!(new.thread_id.as_deref(), Some("1700.1"));
        assert_eq!(new.reply_to_message_id, None);
    }
}
