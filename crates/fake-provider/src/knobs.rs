//! Behaviour knobs: what the fake answers, how fast, and how it fails.
//!
//! The same fields are set from CLI flags at start and over `POST /control` at run time,
//! so tests and benchmarks can switch behaviour without restarting the process.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Lowest and highest HTTP status a [`Failure`] may use.
const ERROR_STATUS_RANGE: std::ops::RangeInclusive<u16> = 400..=599;

/// Everything that shapes the fake's answers. Unknown fields are rejected on input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Milliseconds to wait before the first token (or the whole non-streamed reply).
    pub delay_ms: u64,
    /// Reply length in words; one word per streamed chunk.
    pub tokens: u32,
    /// Milliseconds to wait between streamed chunks.
    pub chunk_delay_ms: u64,
    /// Model name advertised by `/api/tags`, `/v1/models` and used when a request names none.
    pub model: String,
    /// More model ids the model lists show after `model` (an Ollama host's pulled models,
    /// OpenRouter's catalogue, `openrouter/auto` among them). Chats with any name are answered.
    pub listed_models: Vec<String>,
    /// Context window advertised by `/api/show` and `/v1/models`.
    pub context_window: u32,
    /// When to answer with a tool call instead of text.
    pub tool_mode: ToolMode,
    /// Text that triggers a tool call in [`ToolMode::Marker`].
    pub tool_marker: String,
    /// Preferred tool; used when the request offers it, else the first offered tool is called.
    pub tool_name: Option<String>,
    /// Arguments of the tool call (a JSON object on the Ollama wire, a JSON string on OpenAI's).
    pub tool_args: Value,
    /// Make chat requests fail; `None` answers normally.
    pub fail: Option<Failure>,
    /// Reply with `messages=<n> last=<last user message>` instead of the fixed words.
    pub echo: bool,
    /// Cut replies short without their finish marker, like a provider whose connection drops:
    /// streams send part of the content (at least 2 chunks when there are that many) and end
    /// with no Ollama `done:true`, no OpenAI `finish_reason`/`[DONE]`, no Anthropic
    /// `message_delta`/`message_stop`; non-streamed bodies are cut in half (invalid JSON).
    /// Both close the connection. Injected failures take precedence.
    pub truncate: bool,
    /// Key chat requests must present (`Authorization: Bearer` or `x-api-key`); others get a
    /// 401 in the wire's error shape that never repeats the presented key. OpenAI's `/v1/models`
    /// and OpenRouter's `/v1/key` ask for it too, as the real ones do. `None` = no check.
    pub api_key: Option<String>,
    /// Prompt tokens reported as served from cache: OpenAI
    /// `usage.prompt_tokens_details.cached_tokens` (and counted in `prompt_tokens`), Anthropic
    /// `usage.cache_read_input_tokens` (not in `input_tokens`). Ollama has no such field.
    pub cached_tokens: u32,
    /// Pretend the model cannot call tools: `/api/show` leaves `"tools"` out of `capabilities`
    /// and Ollama `/api/chat` requests offering tools get 400 (other wires are unaffected).
    pub no_tools_capability: bool,
    /// Answer OpenAI and Anthropic requests with one JSON object even when they ask for a stream,
    /// like servers and proxies that ignore `stream: true`.
    pub ignore_stream: bool,
    /// Scripted answers, one per chat request in order (an agent loop's steps); when the script
    /// runs out the other knobs decide again. Each step answers with its text, its tool call, or
    /// both, whatever the request offered, so tests can also script calls to unknown tools.
    pub script: Vec<ScriptStep>,
}

/// One scripted answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptStep {
    /// Reply text (may itself be a tool call printed as text, as small local models do).
    pub text: String,
    /// A structured tool call: `name` and its `arguments` object.
    pub tool: Option<ScriptedTool>,
}

/// A scripted tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedTool {
    /// Tool name, offered or not.
    pub name: String,
    /// Arguments (a JSON object on the Ollama and Anthropic wires, a string on OpenAI's).
    #[serde(default)]
    pub arguments: Value,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            delay_ms: 0,
            tokens: 16,
            chunk_delay_ms: 0,
            model: "fake-model".to_owned(),
            listed_models: Vec::new(),
            context_window: 131_072,
            tool_mode: ToolMode::Off,
            tool_marker: "USE_TOOL".to_owned(),
            tool_name: None,
            tool_args: Value::Object(Map::new()),
            fail: None,
            echo: false,
            truncate: false,
            api_key: None,
            cached_tokens: 0,
            no_tools_capability: false,
            ignore_stream: false,
            script: Vec::new(),
        }
    }
}

/// When a request that offers tools gets a tool call instead of text.
///
/// A request whose last message is a tool result always gets text, so an agent loop ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ToolMode {
    /// Never call tools.
    #[default]
    Off,
    /// Call a tool on every turn that offers tools.
    First,
    /// Call a tool only if a user message of the current turn contains the marker.
    Marker,
}

/// How chat requests fail while [`Knobs::fail`] is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// HTTP status of the error response (400..=599); also picks the error type in bodies.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Raw error body (or in-stream error payload); `None` = a provider-shaped body.
    #[serde(default)]
    pub body: Option<String>,
    /// Fail only the next N chat requests, then recover; `None` = until changed.
    #[serde(default)]
    pub times: Option<u32>,
    /// Answer 200, stream part of the reply, then an in-stream error (streaming requests only;
    /// non-streaming requests get the plain error status).
    #[serde(default)]
    pub mid_stream: bool,
    /// Adds a `Retry-After: <secs>` header to error responses.
    #[serde(default)]
    pub retry_after_secs: Option<u32>,
}

fn default_status() -> u16 {
    500
}

impl Failure {
    /// A plain HTTP error with `status`, for the next `times` chat requests (`None`: until reset).
    #[must_use]
    pub fn http(status: u16, times: Option<u32>) -> Self {
        Self {
            status,
            times,
            ..Self::default()
        }
    }
}

impl Default for Failure {
    fn default() -> Self {
        Self {
            status: default_status(),
            body: None,
            times: None,
            mid_stream: false,
            retry_after_secs: None,
        }
    }
}

/// Why a knob change was refused.
#[derive(Debug, thiserror::Error)]
pub enum KnobError {
    /// The `POST /control` body was not a JSON object.
    #[error("control body must be a JSON object of knob fields")]
    NotAnObject,
    /// A field had the wrong type or an unknown name.
    #[error("invalid knobs: {0}")]
    Invalid(#[source] serde_json::Error),
    /// `fail.status` is not an error status.
    #[error("fail.status {0} is not an HTTP error status (400..=599)")]
    BadStatus(u16),
}

impl Knobs {
    /// Every model id the model lists show: `model`, then `listed_models`.
    pub fn listed(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.model.as_str()).chain(self.listed_models.iter().map(String::as_str))
    }

    /// Checks values serde cannot: the failure status must be an HTTP error status.
    pub fn validate(&self) -> Result<(), KnobError> {
        match &self.fail {
            Some(failure) if !ERROR_STATUS_RANGE.contains(&failure.status) => {
                Err(KnobError::BadStatus(failure.status))
            }
            _ => Ok(()),
        }
    }

    /// Returns these knobs with the top-level fields of `patch` replaced (`"fail": null` clears
    /// the failure), validated. Nested objects are replaced whole, not merged.
    pub fn merged(&self, patch: Value) -> Result<Self, KnobError> {
        let Value::Object(patch) = patch else {
            return Err(KnobError::NotAnObject);
        };
        let Value::Object(mut current) = serde_json::to_value(self).map_err(KnobError::Invalid)?
        else {
            return Err(KnobError::NotAnObject);
        };
        current.extend(patch);
        let merged: Self =
            serde_json::from_value(Value::Object(current)).map_err(KnobError::Invalid)?;
        merged.validate()?;
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_replaces_only_given_fields() {
        let knobs = Knobs::default()
            .merged(json!({"tokens": 3, "fail": {"status": 429, "times": 1}}))
            .unwrap();
        assert_eq!(knobs.tokens, 3);
        assert_eq!(knobs.model, "fake-model");
        let failure = knobs.fail.clone().unwrap();
        assert_eq!((failure.status, failure.times), (429, Some(1)));
        let cleared = knobs.merged(json!({"fail": null})).unwrap();
        assert_eq!(cleared.fail, None);
        assert_eq!(cleared.tokens, 3);
    }

    #[test]
    fn merge_rejects_typos_and_bad_status() {
        assert!(matches!(
            Knobs::default().merged(json!({"tokenz": 1})),
            Err(KnobError::Invalid(_))
        ));
        assert!(matches!(
            Knobs::default().merged(json!({"fail": {"status": 200}})),
            Err(KnobError::BadStatus(200))
        ));
        assert!(matches!(
            Knobs::default().merged(json!([1])),
            Err(KnobError::NotAnObject)
        ));
    }

    #[test]
    fn new_knobs_have_wire_names() {
        let knobs = Knobs::default()
            .merged(
                json!({"truncate": true, "api_key": "sk-1", "cached_tokens": 7,
                           "no_tools_capability": true}),
            )
            .unwrap();
        assert!(knobs.truncate && knobs.no_tools_capability);
        assert_eq!(
            (knobs.api_key.as_deref(), knobs.cached_tokens),
            (Some("sk-1"), 7)
        );
        let cleared = knobs.merged(json!({"api_key": null})).unwrap();
        assert_eq!(cleared.api_key, None);
    }

    #[test]
    fn tool_mode_is_lowercase_on_the_wire() {
        let knobs: Knobs = serde_json::from_value(json!({"tool_mode": "marker"})).unwrap();
        assert_eq!(knobs.tool_mode, ToolMode::Marker);
    }
}
