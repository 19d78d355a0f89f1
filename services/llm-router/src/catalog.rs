//! From `provider/model` references to concrete call targets ([`Deployment`]s).

use std::collections::BTreeMap;
use std::time::Duration;

use pincer_config::{Api, Models};

use crate::providers::{Deployment, ErrorKind, ProviderError};

/// Connect timeout when a provider sets none: a remote Ollama host over a tailnet can be slow to
/// answer the first SYN, but a dead host must fail over quickly.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// First-token patience for hosted APIs.
const DEFAULT_FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(120);
/// First-token patience for Ollama: a cold 7B model on CPU can take minutes to load and prefill.
const OLLAMA_FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest silence between two chunks of a stream.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The configured providers and models.
#[derive(Clone, Debug)]
pub struct Catalog {
    models: Models,
    ollama_base_url: Option<String>,
    default_http: reqwest::Client,
    /// Clients for providers with their own connect timeout, by provider id.
    http_by_provider: BTreeMap<String, reqwest::Client>,
}

impl Catalog {
    /// Builds a catalogue; `ollama_base_url` replaces the built-in default of Ollama providers that
    /// set no `baseUrl` (containers cannot reach the host's `localhost`).
    pub fn new(models: Models, ollama_base_url: Option<String>) -> Result<Self, reqwest::Error> {
        let default_http = crate::providers::http_client(DEFAULT_CONNECT_TIMEOUT)?;
        let mut http_by_provider = BTreeMap::new();
        for (id, provider) in &models.providers {
            if let Some(secs) = provider.connect_timeout_seconds {
                http_by_provider.insert(
                    id.clone(),
                    crate::providers::http_client(Duration::from_secs(secs.max(1)))?,
                );
            }
        }
        Ok(Self {
            models,
            ollama_base_url,
            default_http,
            http_by_provider,
        })
    }

    /// The `models` section this catalogue was built from.
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// Resolves a `provider/model` reference.
    pub fn resolve(&self, reference: &str) -> Result<Deployment, ProviderError> {
        let Some((provider_id, model)) = pincer_config::parse_model_ref(reference) else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("model reference {reference:?} is not of the form provider/model"),
            ));
        };
        if !self.models.allows_provider(provider_id) {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "provider {provider_id:?} is not declared in models.providers and models.mode is \"replace\""
                ),
            ));
        }
        let default_provider = pincer_config::Provider::default();
        let provider = self
            .models
            .provider(provider_id)
            .unwrap_or(&default_provider);
        let api = provider.api_for(provider_id);
        let base_url = self.base_url(provider_id, provider)?;
        let entry = self.models.model_entry(provider_id, model);
        let per_attempt = provider.timeout_seconds.map(Duration::from_secs);
        let first_token_default = if api == Api::Ollama {
            OLLAMA_FIRST_TOKEN_TIMEOUT
        } else {
            DEFAULT_FIRST_TOKEN_TIMEOUT
        };
        let keys = provider.keys();
        let builtin = pincer_config::BuiltinProvider::of(provider_id);
        // OpenRouter's own routers have ids under `openrouter/` (`openrouter/auto`); a reference
        // names them without the repeat, as OpenClaw does (`openrouter/auto`).
        let wire_model = match builtin {
            Some(pincer_config::BuiltinProvider::OpenRouter) if !model.contains('/') => {
                format!("openrouter/{model}")
            }
            _ => model.to_owned(),
        };
        Ok(Deployment {
            reference: reference.to_owned(),
            provider_id: provider_id.to_owned(),
            builtin,
            model: wire_model,
            api,
            base_url,
            api_key: keys.first().cloned(),
            keys,
            headers: provider
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            first_token_timeout: provider
                .first_token_timeout_seconds
                .map(Duration::from_secs)
                .or(per_attempt)
                .unwrap_or(first_token_default),
            idle_timeout: provider
                .idle_timeout_seconds
                .map(Duration::from_secs)
                .or(per_attempt)
                .unwrap_or(DEFAULT_IDLE_TIMEOUT),
            max_tokens: entry.and_then(|e| e.max_tokens).or(provider.max_tokens),
            context_window: entry.and_then(|e| e.context_window),
            reasoning: entry.and_then(|e| e.reasoning),
            input_images: entry.is_some_and(|e| e.input.iter().any(|kind| kind == "image")),
            cost: entry.and_then(|e| e.cost),
            keep_alive: provider.keep_alive.clone(),
            num_ctx: provider.num_ctx,
            http: self
                .http_by_provider
                .get(provider_id)
                .unwrap_or(&self.default_http)
                .clone(),
        })
    }

    /// The base URL of `provider_id`: explicit, else `OLLAMA_BASE_URL` for Ollama, else built-in.
    pub fn base_url(
        &self,
        provider_id: &str,
        provider: &pincer_config::Provider,
    ) -> Result<String, ProviderError> {
        if let Some(url) = &provider.base_url {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        if let (Api::Ollama, Some(url)) = (provider.api_for(provider_id), &self.ollama_base_url) {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        provider.base_url_for(provider_id).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("provider {provider_id:?} has no baseUrl and is not a built-in provider"),
            )
        })
    }

    /// Every configured provider id with its declaration.
    pub fn providers(&self) -> impl Iterator<Item = (&String, &pincer_config::Provider)> {
        self.models.providers.iter()
    }

    /// The HTTP client for `provider_id`.
    pub fn http_for(&self, provider_id: &str) -> &reqwest::Client {
        self.http_by_provider
            .get(provider_id)
            .unwrap_or(&self.default_http)
    }
}

/// Scheme and host of a URL, for status output (no path, no credentials).
pub fn display_origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => match parsed.port() {
            Some(port) => format!(
                "{}://{}:{port}",
                parsed.scheme(),
                parsed.host_str().unwrap_or_default()
            ),
            None => format!(
                "{}://{}",
                parsed.scheme(),
                parsed.host_str().unwrap_or_default()
            ),
        },
        Err(_) => "(invalid url)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(json: &str) -> Catalog {
        Catalog::new(serde_json::from_str(json).expect("models parse"), None).expect("catalog")
    }

    #[test]
    fn model_ids_may_contain_slashes_and_colons() {
        let catalog = catalog(
            r#"{"providers": {"openrouter": {"apiKey": "k", "models": [
                {"id": "google/gemma-3-4b-it:free", "contextWindow": 131072, "cost": {"input": 0, "output": 0}}]}}}"#,
        );
        let deployment = catalog
            .resolve("openrouter/google/gemma-3-4b-it:free")
            .expect("resolves");
        assert_eq!(deployment.provider_id, "openrouter");
        assert_eq!(deployment.model, "google/gemma-3-4b-it:free");
        assert_eq!(deployment.base_url, "https://openrouter.ai/api/v1");
        assert_eq!(deployment.context_window, Some(131_072));
        assert_eq!(deployment.api, Api::OpenaiCompletions);
        let auto = catalog.resolve("openrouter/auto").expect("resolves");
        assert_eq!(auto.model, "openrouter/auto", "OpenRouter's auto router");
        assert_eq!(auto.reference, "openrouter/auto");
    }

    #[test]
    fn replace_mode_resolves_only_declared_providers() {
        let merged = catalog(r#"{"providers": {"ollama": {}}}"#);
        assert!(
            merged.resolve("openai/gpt-x").is_ok(),
            "built in under merge"
        );
        let replaced = catalog(r#"{"mode": "replace", "providers": {"ollama": {}}}"#);
        assert!(replaced.resolve("ollama/llama3.2:3b").is_ok());
        let error = replaced.resolve("openai/gpt-x").expect_err("not declared");
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert!(error.message.contains("replace"), "{error:?}");
    }

    #[test]
    fn timeouts_fall_back_from_specific_to_per_attempt_to_defaults() {
        let catalog = catalog(
            r#"{"providers": {
                "ollama": {"timeoutSeconds": 30, "idleTimeoutSeconds": 5},
                "anthropic": {"apiKey": "a"}}}"#,
        );
        let ollama = catalog.resolve("ollama/llama3.2:3b").expect("resolves");
        assert_eq!(ollama.first_token_timeout, Duration::from_secs(30));
        assert_eq!(ollama.idle_timeout, Duration::from_secs(5));
        let anthropic = catalog.resolve("anthropic/claude-x").expect("resolves");
        assert_eq!(anthropic.first_token_timeout, DEFAULT_FIRST_TOKEN_TIMEOUT);
        assert_eq!(anthropic.api, Api::AnthropicMessages);
        assert_eq!(anthropic.base_url, "https://api.anthropic.com");
    }

    #[test]
    fn unknown_provider_without_base_url_is_not_found() {
        let error = catalog("{}")
            .resolve("nowhere/m")
            .expect_err("unresolvable");
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(
            catalog("{}").resolve("no-slash").expect_err("bad").kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn origin_hides_paths_and_credentials() {
        assert_eq!(
            display_origin("https://user:pw@openrouter.ai/api/v1"),
            "https://openrouter.ai"
        );
        assert_eq!(
            display_origin("http://100.64.0.7:11434"),
            "http://100.64.0.7:11434"
        );
    }
}
