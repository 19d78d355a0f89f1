//! From `provider/model` references to concrete call targets ([`Deployment`]s).

use std::time::Duration;

use pincer_config::{Api, Models};
use pincer_proto::llm::v1::ModelInfo;

use crate::providers::{ErrorKind, ProviderError};

/// Per-attempt limit when a provider sets no `timeoutSeconds`: long enough for a slow local model's
/// first token, short enough that a hung provider falls back.
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// One callable model on one provider.
#[derive(Clone)]
pub struct Deployment {
    /// `provider/model`, as the config names it.
    pub reference: String,
    /// Provider id (`models.providers.<id>`).
    pub provider_id: String,
    /// Model id as the provider knows it.
    pub model: String,
    /// Wire format.
    pub api: Api,
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// API key, if any. Only ever put into request headers.
    pub api_key: Option<pincer_config::Secret>,
    /// Extra headers from the config.
    pub headers: Vec<(String, String)>,
    /// Limit for the first byte and for each gap between chunks.
    pub attempt_timeout: Duration,
    /// Configured output cap.
    pub max_tokens: Option<u32>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("reference", &self.reference)
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The configured providers and models.
#[derive(Clone, Debug)]
pub struct Catalog {
    models: Models,
    ollama_base_url: Option<String>,
}

impl Catalog {
    /// Builds a catalogue; `ollama_base_url` replaces the built-in default of Ollama providers that
    /// set no `baseUrl` (containers cannot reach the host's `localhost`).
    pub fn new(models: Models, ollama_base_url: Option<String>) -> Self {
        Self {
            models,
            ollama_base_url,
        }
    }

    /// Resolves a `provider/model` reference.
    pub fn resolve(&self, reference: &str) -> Result<Deployment, ProviderError> {
        let Some((provider_id, model)) = pincer_config::parse_model_ref(reference) else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("model reference {reference:?} is not of the form provider/model"),
            ));
        };
        let default_provider = pincer_config::Provider::default();
        let provider = self
            .models
            .provider(provider_id)
            .unwrap_or(&default_provider);
        let api = provider.api_for(provider_id);
        let explicit_base = provider
            .base_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_owned());
        let base_url = match (explicit_base, api, &self.ollama_base_url) {
            (Some(url), _, _) => url,
            (None, Api::Ollama, Some(url)) => url.trim_end_matches('/').to_owned(),
            (None, _, _) => provider.base_url_for(provider_id).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::NotFound,
                    format!(
                        "provider {provider_id:?} has no baseUrl and is not a built-in provider"
                    ),
                )
            })?,
        };
        let entry = self.models.model_entry(provider_id, model);
        Ok(Deployment {
            reference: reference.to_owned(),
            provider_id: provider_id.to_owned(),
            model: model.to_owned(),
            api,
            base_url,
            api_key: provider.api_key.clone(),
            headers: provider
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            attempt_timeout: provider
                .timeout_seconds
                .map_or(DEFAULT_ATTEMPT_TIMEOUT, Duration::from_secs),
            max_tokens: entry.and_then(|e| e.max_tokens).or(provider.max_tokens),
        })
    }

    /// Every model listed under `models.providers.*.models`.
    pub fn list(&self) -> Vec<ModelInfo> {
        let mut out = Vec::new();
        for (provider_id, provider) in &self.models.providers {
            for entry in &provider.models {
                out.push(ModelInfo {
                    id: format!("{provider_id}/{}", entry.id),
                    name: entry.name.clone().unwrap_or_else(|| entry.id.clone()),
                    api: api_name(provider.api_for(provider_id)).to_owned(),
                    context_window: entry.context_window.unwrap_or(0),
                    max_tokens: entry.max_tokens.unwrap_or(0),
                });
            }
        }
        out
    }
}

/// The config spelling of an API.
pub fn api_name(api: Api) -> &'static str {
    match api {
        Api::OpenaiCompletions => "openai-completions",
        Api::OpenaiResponses => "openai-responses",
        Api::AnthropicMessages => "anthropic-messages",
        Api::Ollama => "ollama",
        Api::GoogleGenerativeAi => "google-generative-ai",
    }
}
