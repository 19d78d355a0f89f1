//! `agents.defaults.memorySearch`: where `memory_search` gets embeddings from. Without a
//! provider it searches by words alone (full text); with one, by words and meaning together.

use serde::{Deserialize, Serialize};

use super::models::{Api, BuiltinProvider, Models};

/// `agents.defaults.memorySearch` (OpenClaw's keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemorySearch {
    /// The embedding provider: `ollama`, `openai`, `openrouter` or another `models.providers`
    /// id with an Ollama or OpenAI-compatible API. Unset: full-text search only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The embedding model at that provider (default: `nomic-embed-text` on Ollama,
    /// `text-embedding-3-small` on OpenAI, `openai/text-embedding-3-small` on OpenRouter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl MemorySearch {
    /// The `provider/model` the llm-router is asked for embeddings, when a provider is set.
    #[must_use]
    pub fn embedding_model(&self) -> Option<String> {
        let provider = self.provider.as_deref()?.trim();
        if provider.is_empty() {
            return None;
        }
        let model = match self.model.as_deref().map(str::trim) {
            Some(model) if !model.is_empty() => model,
            _ => default_model(provider)?,
        };
        Some(format!("{provider}/{model}"))
    }

    /// Why this setting cannot work with `models`, as `(key, message)`.
    pub fn check(&self, models: &Models) -> Result<(), (&'static str, String)> {
        let Some(provider) = self.provider.as_deref().map(str::trim) else {
            if self.model.is_some() {
                return Err((
                    "model",
                    "a model is set but no provider: set memorySearch.provider too".into(),
                ));
            }
            return Ok(());
        };
        let declared = models.provider(provider);
        if declared.is_none() && BuiltinProvider::of(provider).is_none() {
            return Err((
                "provider",
                format!(
                    "unknown provider `{provider}`: use ollama, openai, openrouter or a models.providers id"
                ),
            ));
        }
        let api = declared.map_or_else(|| Api::default_for(provider), |p| p.api_for(provider));
        if !matches!(api, Api::Ollama | Api::OpenaiCompletions) {
            return Err((
                "provider",
                format!(
                    "provider `{provider}` has no embeddings API (Ollama or OpenAI-compatible needed)"
                ),
            ));
        }
        if self.embedding_model().is_none() {
            return Err((
                "model",
                format!(
                    "provider `{provider}` has no default embedding model: set memorySearch.model"
                ),
            ));
        }
        Ok(())
    }
}

/// The embedding model used when only the provider is given.
fn default_model(provider: &str) -> Option<&'static str> {
    match BuiltinProvider::of(provider)? {
        BuiltinProvider::Ollama => Some("nomic-embed-text"),
        BuiltinProvider::OpenAi => Some("text-embedding-3-small"),
        BuiltinProvider::OpenRouter => Some("openai/text-embedding-3-small"),
        BuiltinProvider::Anthropic => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(json: &str) -> MemorySearch {
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn the_reference_is_provider_slash_model_with_defaults_for_built_ins() {
        assert_eq!(MemorySearch::default().embedding_model(), None);
        let ollama = setting(r#"{"provider": "ollama"}"#);
        assert_eq!(
            ollama.embedding_model().as_deref(),
            Some("ollama/nomic-embed-text")
        );
        let chosen = setting(r#"{"provider": "openrouter", "model": "qwen/qwen3-embedding-8b"}"#);
        assert_eq!(
            chosen.embedding_model().as_deref(),
            Some("openrouter/qwen/qwen3-embedding-8b")
        );
        let error =
            serde_json::from_str::<MemorySearch>(r#"{"provider": "ollama", "vectorWeight": 1}"#)
                .expect_err("unknown key");
        assert!(error.to_string().contains("vectorWeight"), "{error}");
    }

    #[test]
    fn settings_that_cannot_work_name_their_key() {
        let models: Models = serde_json::from_str(
            r#"{"providers": {"lan": {"api": "ollama", "baseUrl": "http://10.0.0.2:11434"}}}"#,
        )
        .expect("models");
        assert!(
            setting(r#"{"provider": "lan", "model": "bge-m3"}"#)
                .check(&models)
                .is_ok()
        );
        assert!(setting(r#"{"provider": "openai"}"#).check(&models).is_ok());
        assert_eq!(
            setting(r#"{"provider": "lan"}"#)
                .check(&models)
                .map_err(|e| e.0),
            Err("model")
        );
        assert_eq!(
            setting(r#"{"provider": "anthropic"}"#)
                .check(&models)
                .map_err(|e| e.0),
            Err("provider")
        );
        assert_eq!(
            setting(r#"{"provider": "nowhere"}"#)
                .check(&models)
                .map_err(|e| e.0),
            Err("provider")
        );
        assert_eq!(
            setting(r#"{"model": "m"}"#).check(&models).map_err(|e| e.0),
            Err("model")
        );
    }
}
