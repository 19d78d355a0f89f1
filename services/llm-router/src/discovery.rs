//! What Ollama says about its models: `/api/tags` (which models are pulled) and `/api/show` (native
//! context length, whether the model can call tools). Answers are cached so the call path asks at
//! most once per model per [`SHOW_TTL`]; a failed lookup is cached briefly as "unknown" so a down
//! host costs one short timeout, not one per call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::providers::Deployment;

/// How long a model's `/api/show` answer is trusted.
const SHOW_TTL: Duration = Duration::from_secs(600);
/// How long a failed lookup is remembered as unknown.
const FAILURE_TTL: Duration = Duration::from_secs(30);
/// How long a `/api/tags` listing is trusted.
const TAGS_TTL: Duration = Duration::from_secs(60);
/// Patience for either endpoint.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `num_ctx` sent unless the provider sets `numCtx`: the seed report's 64K minimum for
/// an agent's prompts (Ollama's own 4096 silently cuts them), not the 128K some models allow,
/// whose KV cache (16 GB for an 8B model) no 8 GB host has.
pub const DEFAULT_OLLAMA_NUM_CTX: u32 = 65_536;

/// What `/api/show` told us about a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelMeta {
    /// `<architecture>.context_length` from `model_info`.
    pub context_length: Option<u32>,
    /// Whether `capabilities` lists `tools` (None = not reported).
    pub tools: Option<bool>,
    /// Whether `capabilities` lists `vision`.
    pub vision: bool,
}

/// Cached Ollama lookups, keyed by base URL and model.
#[derive(Default)]
pub struct Discovery {
    shows: Mutex<HashMap<(String, String), (Instant, ModelMeta)>>,
    tags: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl Discovery {
    /// The model's metadata, from cache or `/api/show`.
    pub async fn show(&self, deployment: &Deployment) -> ModelMeta {
        let key = (deployment.base_url.clone(), deployment.model.clone());
        if let Some((at, meta)) = lock(&self.shows).get(&key).copied()
            && at > Instant::now()
        {
            return meta;
        }
        let fetched = fetch_show(deployment).await;
        let (ttl, meta) = match fetched {
            Some(meta) => (SHOW_TTL, meta),
            None => (FAILURE_TTL, ModelMeta::default()),
        };
        lock(&self.shows).insert(key, (Instant::now() + ttl, meta));
        meta
    }

    /// Model names the server behind `deployment`'s base URL offers: those pulled on an Ollama
    /// host (`/api/tags`), or those an OpenAI-compatible server lists (`/models`: vLLM, LM Studio,
    /// llama.cpp and the like).
    pub async fn tags(&self, deployment: &Deployment) -> Vec<String> {
        let key = deployment.base_url.clone();
        if let Some((at, names)) = lock(&self.tags).get(&key)
            && *at > Instant::now()
        {
            return names.clone();
        }
        let (ttl, names) = match fetch_tags(deployment).await {
            Some(names) => (TAGS_TTL, names),
            None => (FAILURE_TTL, Vec::new()),
        };
        lock(&self.tags).insert(key, (Instant::now() + ttl, names.clone()));
        names
    }
}

/// The `num_ctx` to send: the provider's explicit `numCtx`, else the model's window (configured,
/// never above the native one) capped at [`DEFAULT_OLLAMA_NUM_CTX`].
pub fn num_ctx(explicit: Option<u32>, configured: Option<u32>, native: Option<u32>) -> Option<u32> {
    if let Some(explicit) = explicit.filter(|n| *n > 0) {
        return Some(explicit);
    }
    let window = match (configured, native) {
        (Some(configured), Some(native)) => configured.min(native),
        (Some(window), None) | (None, Some(window)) => window,
        (None, None) => return None,
    };
    Some(window.min(DEFAULT_OLLAMA_NUM_CTX))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn request(deployment: &Deployment, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let mut builder = builder
        .headers(crate::providers::common_headers(deployment))
        .timeout(LOOKUP_TIMEOUT);
    if let Some(key) = &deployment.api_key {
        builder = builder.bearer_auth(key.expose());
    }
    builder
}

async fn fetch_show(deployment: &Deployment) -> Option<ModelMeta> {
    let url = format!("{}/api/show", deployment.base_url);
    let builder = deployment
        .http
        .post(url)
        .json(&serde_json::json!({ "model": deployment.model }));
    let response = request(deployment, builder).send().await.ok()?;
    if !response.status().is_success() {
        tracing::debug!(model = %deployment.reference, status = %response.status(), "/api/show failed");
        return None;
    }
    let body: Value = tokio::time::timeout(LOOKUP_TIMEOUT, response.json())
        .await
        .ok()?
        .ok()?;
    Some(parse_show(&body))
}

/// Reads `model_info["<general.architecture>.context_length"]` and `capabilities`.
pub fn parse_show(body: &Value) -> ModelMeta {
    let info = body.get("model_info");
    let by_architecture = info
        .and_then(|i| i.get("general.architecture"))
        .and_then(Value::as_str)
        .and_then(|arch| info?.get(format!("{arch}.context_length")));
    let any_context = || {
        info?
            .as_object()?
            .iter()
            .find(|(key, _)| key.ends_with(".context_length"))
            .map(|(_, value)| value)
    };
    let context_length = by_architecture
        .or_else(any_context)
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let capabilities = body.get("capabilities").and_then(Value::as_array);
    let lists = |name: &str| capabilities.map(|caps| caps.iter().any(|c| c.as_str() == Some(name)));
    ModelMeta {
        context_length,
        tools: lists("tools"),
        vision: lists("vision") == Some(true),
    }
}

async fn fetch_tags(deployment: &Deployment) -> Option<Vec<String>> {
    if deployment.api != pincer_config::Api::Ollama {
        return fetch_listed(deployment).await;
    }
    let body = get_json(deployment, "/api/tags").await?;
    Some(
        body.get("models")?
            .as_array()?
            .iter()
            .filter_map(|m| m.get("name").or_else(|| m.get("model"))?.as_str())
            .map(str::to_owned)
            .collect(),
    )
}

/// `GET {baseUrl}/models` of an OpenAI-compatible server: `data[].id`.
async fn fetch_listed(deployment: &Deployment) -> Option<Vec<String>> {
    let body = get_json(deployment, "/models").await?;
    Some(
        body.get("data")?
            .as_array()?
            .iter()
            .filter_map(|m| m.get("id")?.as_str())
            .map(str::to_owned)
            .collect(),
    )
}

/// The JSON body of `GET {baseUrl}{path}`, when the server answers one in time.
async fn get_json(deployment: &Deployment, path: &str) -> Option<Value> {
    let url = format!("{}{path}", deployment.base_url);
    let response = request(deployment, deployment.http.get(url))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    tokio::time::timeout(LOOKUP_TIMEOUT, response.json())
        .await
        .ok()?
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_reads_the_architecture_context_length_and_tool_capability() {
        let body = serde_json::json!({
            "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768, "llama.context_length": 1},
            "capabilities": ["completion", "tools", "vision"],
        });
        assert_eq!(
            parse_show(&body),
            ModelMeta {
                context_length: Some(32_768),
                tools: Some(true),
                vision: true,
            }
        );
        let old = serde_json::json!({"model_info": {"gemma3.context_length": 8192}, "capabilities": ["completion"]});
        assert_eq!(
            parse_show(&old),
            ModelMeta {
                context_length: Some(8192),
                tools: Some(false),
                vision: false,
            }
        );
        assert_eq!(parse_show(&serde_json::json!({})), ModelMeta::default());
    }

    #[test]
    fn num_ctx_is_explicit_else_the_window_capped_for_memory() {
        assert_eq!(
            num_ctx(Some(65_536), Some(128_000), Some(131_072)),
            Some(65_536)
        );
        assert_eq!(num_ctx(None, Some(16_384), Some(131_072)), Some(16_384));
        assert_eq!(num_ctx(None, Some(128_000), Some(8192)), Some(8192));
        assert_eq!(
            num_ctx(None, Some(128_000), None),
            Some(DEFAULT_OLLAMA_NUM_CTX)
        );
        assert_eq!(
            num_ctx(None, None, Some(131_072)),
            Some(DEFAULT_OLLAMA_NUM_CTX)
        );
        assert_eq!(num_ctx(None, None, None), None);
        assert_eq!(
            num_ctx(None, Some(131_072), Some(131_072)),
            Some(65_536),
            "the example's llama3.2:3b runs at the 64K an agent needs"
        );
    }
}
