//! `models`: LLM providers, their wire API and their model catalogue.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// `models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Models {
    /// `merge` (default: the built-in providers `openai`, `anthropic`, `openrouter`, `ollama`
    /// resolve without being declared) or `replace` (only `providers` listed here resolve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModelsMode>,
    /// Providers by id (the part before the first `/` of a model ref).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, Provider>,
}

/// `models.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelsMode {
    /// Declared providers plus the built-in ones.
    Merge,
    /// Declared providers only.
    Replace,
}

impl Models {
    /// Whether a model reference may use provider `id`: declared, or built in under `merge`.
    #[must_use]
    pub fn allows_provider(&self, id: &str) -> bool {
        self.providers.contains_key(id) || self.mode != Some(ModelsMode::Replace)
    }

    /// The declared provider `id`, if any.
    #[must_use]
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    /// The catalogue entry for `model` under the declared provider `provider`, if any.
    #[must_use]
    pub fn model_entry(&self, provider: &str, model: &str) -> Option<&ModelEntry> {
        self.provider(provider)?
            .models
            .iter()
            .find(|entry| entry.id == model)
    }
}

/// `models.providers.<id>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    /// API base URL (built-in default for well-known ids, see [`Provider::base_url_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// More API keys for the same provider, rotated (after `apiKey`) when one is rate-limited,
    /// out of quota or rejected, before falling back to another model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<Secret>,
    /// Wire protocol (inferred from the id when unset, see [`Provider::api_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    /// Extra HTTP headers sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Per-attempt patience in seconds for the first token and for each gap between chunks, unless
    /// the more specific keys below are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Seconds to establish the TCP/TLS connection (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_seconds: Option<u64>,
    /// Seconds to wait for the first token (a cold CPU model can need a minute or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_timeout_seconds: Option<u64>,
    /// Seconds allowed between two streamed chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<u64>,
    /// Ollama `num_ctx` for this provider's models. Unset: the model's `contextWindow` (or its
    /// native window from `/api/show`), capped at 65536 (the 64K an agent needs; the KV cache of a
    /// 128K window needs more memory than an 8 GB host has). Set it to use more of a large
    /// window, or less on a small host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<u32>,
    /// Ollama `keep_alive`: how long the model stays loaded after a call (`"10m"`, `"24h"`, seconds,
    /// or a negative number for forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    /// Default output token cap for this provider's models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Model catalogue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntry>,
}

impl Provider {
    /// The wire API: explicit `api`, else `ollama` → Ollama, `anthropic` → Anthropic Messages,
    /// anything else → OpenAI Chat Completions.
    #[must_use]
    pub fn api_for(&self, provider_id: &str) -> Api {
        self.api.unwrap_or_else(|| Api::default_for(provider_id))
    }

    /// The base URL without trailing `/`: explicit `baseUrl`, else the built-in default for
    /// `openrouter`, `openai`, `anthropic` and `ollama`, else `None`.
    #[must_use]
    pub fn base_url_for(&self, provider_id: &str) -> Option<String> {
        match &self.base_url {
            Some(url) => Some(url.trim_end_matches('/').to_owned()),
            None => BuiltinProvider::of(provider_id).map(|known| known.base_url().to_owned()),
        }
    }

    /// Every configured key in rotation order: `apiKey` first, then `apiKeys`, empty ones dropped.
    #[must_use]
    pub fn keys(&self) -> Vec<Secret> {
        self.api_key
            .iter()
            .chain(&self.api_keys)
            .filter(|key| !key.is_empty())
            .cloned()
            .collect()
    }
}

/// `models.providers.<id>.keepAlive`: a duration string or a number of seconds, as Ollama takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum KeepAlive {
    /// Seconds; negative keeps the model loaded forever, 0 unloads right after the call.
    Seconds(i64),
    /// A Go duration such as `"10m"` or `"24h"`.
    Duration(String),
}

/// A provider id Pincer knows without being told: its base URL and wire protocol are defaults,
/// and some get their own courtesies (OpenRouter's attribution headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinProvider {
    /// `openrouter`.
    OpenRouter,
    /// `openai`.
    OpenAi,
    /// `anthropic`.
    Anthropic,
    /// `ollama`.
    Ollama,
}

impl BuiltinProvider {
    /// The built-in provider called `provider_id`.
    #[must_use]
    pub fn of(provider_id: &str) -> Option<Self> {
        Some(match provider_id {
            "openrouter" => Self::OpenRouter,
            "openai" => Self::OpenAi,
            "anthropic" => Self::Anthropic,
            "ollama" => Self::Ollama,
            _ => return None,
        })
    }

    /// Its base URL when `baseUrl` is not set.
    #[must_use]
    pub fn base_url(self) -> &'static str {
        match self {
            Self::OpenRouter => "https://openrouter.ai/api/v1",
            Self::OpenAi => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com",
            Self::Ollama => "http://localhost:11434",
        }
    }

    /// Its wire protocol when `api` is not set.
    #[must_use]
    pub fn api(self) -> Api {
        match self {
            Self::Ollama => Api::Ollama,
            Self::Anthropic => Api::AnthropicMessages,
            Self::OpenRouter | Self::OpenAi => Api::OpenaiCompletions,
        }
    }
}

/// `models.providers.<id>.api`: the provider's wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// OpenAI `/chat/completions` (OpenRouter, vLLM, most gateways).
    OpenaiCompletions,
    /// OpenAI `/responses`.
    OpenaiResponses,
    /// Anthropic `/v1/messages`.
    AnthropicMessages,
    /// Ollama native `/api/chat`.
    Ollama,
    /// Google Generative AI (Gemini).
    GoogleGenerativeAi,
}

impl Api {
    /// The API assumed for a provider id without an explicit `api`.
    #[must_use]
    pub fn default_for(provider_id: &str) -> Self {
        BuiltinProvider::of(provider_id).map_or(Api::OpenaiCompletions, BuiltinProvider::api)
    }

    /// The config spelling, e.g. `openai-completions`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenaiCompletions => "openai-completions",
            Api::OpenaiResponses => "openai-responses",
            Api::AnthropicMessages => "anthropic-messages",
            Api::Ollama => "ollama",
            Api::GoogleGenerativeAi => "google-generative-ai",
        }
    }

    /// The path under the base URL that lists the provider's models: a cheap request that shows
    /// whether the provider answers (and, with a key, whether it takes the key).
    #[must_use]
    pub fn models_path(self) -> &'static str {
        match self {
            Api::Ollama => "/api/tags",
            Api::AnthropicMessages => "/v1/models",
            Api::OpenaiCompletions | Api::OpenaiResponses | Api::GoogleGenerativeAi => "/models",
        }
    }
}

/// `models.providers.<id>.models[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelEntry {
    /// Model id as the provider knows it (the part after `<provider>/` in a model ref).
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Output token cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Whether the model reasons (thinking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    /// Input modalities (`text`, `image`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<String>,
    /// Prices in USD per million tokens (OpenClaw's unit: `input: 3` is $3 per million).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

/// `models.providers.<id>.models[].cost`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cost {
    /// Input price, USD per million tokens.
    pub input: f64,
    /// Output price, USD per million tokens.
    pub output: f64,
    /// Cached-input read price, USD per million tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Cache write price, USD per million tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_inferred_from_id_unless_explicit() {
        let bare = Provider::default();
        assert_eq!(bare.api_for("ollama"), Api::Ollama);
        assert_eq!(bare.api_for("anthropic"), Api::AnthropicMessages);
        assert_eq!(bare.api_for("openrouter"), Api::OpenaiCompletions);
        let explicit = Provider {
            api: Some(Api::OpenaiCompletions),
            ..Provider::default()
        };
        assert_eq!(explicit.api_for("ollama"), Api::OpenaiCompletions);
    }

    #[test]
    fn base_url_explicit_trimmed_else_builtin() {
        let bare = Provider::default();
        assert_eq!(
            bare.base_url_for("openrouter").as_deref(),
            Some("https://openrouter.ai/api/v1")
        );
        assert_eq!(
            bare.base_url_for("ollama").as_deref(),
            Some("http://localhost:11434")
        );
        assert_eq!(bare.base_url_for("my-vllm"), None);
        let explicit = Provider {
            base_url: Some("http://gpu:8000/v1//".into()),
            ..Provider::default()
        };
        assert_eq!(
            explicit.base_url_for("openai").as_deref(),
            Some("http://gpu:8000/v1")
        );
    }

    #[test]
    fn api_spellings_round_trip() {
        for api in [
            Api::OpenaiCompletions,
            Api::OpenaiResponses,
            Api::AnthropicMessages,
            Api::Ollama,
            Api::GoogleGenerativeAi,
        ] {
            let text = serde_json::to_string(&api).expect("serializes");
            assert_eq!(text, format!("\"{}\"", api.as_str()));
            let back: Api = serde_json::from_str(&text).expect("parses");
            assert_eq!(back, api);
        }
        let err = serde_json::from_str::<Api>("\"bedrock\"").expect_err("unknown api");
        assert!(err.to_string().contains("openai-completions"), "{err}");
    }

    #[test]
    fn keys_rotate_api_key_first_then_api_keys() {
        let provider: Provider = serde_json::from_str(
            r#"{"apiKey": "a", "apiKeys": ["b", "", "c"], "keepAlive": "10m"}"#,
        )
        .expect("parses");
        let keys: Vec<String> = provider
            .keys()
            .iter()
            .map(|k| k.expose().to_owned())
            .collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(provider.keep_alive, Some(KeepAlive::Duration("10m".into())));
        let forever: Provider = serde_json::from_str(r#"{"keepAlive": -1}"#).expect("parses");
        assert_eq!(forever.keep_alive, Some(KeepAlive::Seconds(-1)));
    }

    #[test]
    fn model_entry_lookup() {
        let models: Models = serde_json::from_str(
            r#"{"providers": {"ollama": {"models": [{"id": "llama3.1:8b", "contextWindow": 128000}]}}}"#,
        )
        .expect("parses");
        let entry = models.model_entry("ollama", "llama3.1:8b").expect("found");
        assert_eq!(entry.context_window, Some(128_000));
        assert!(models.model_entry("ollama", "nope").is_none());
        assert!(models.model_entry("nope", "llama3.1:8b").is_none());
    }
}
