//! One callable model on one provider: what an adapter needs to make the call. The catalogue
//! builds these from the config; the adapters only read them.

use std::time::Duration;

use pincer_config::{Api, Cost, KeepAlive, Secret};

/// One callable model on one provider.
#[derive(Clone)]
pub struct Deployment {
    /// `provider/model`, as the config names it.
    pub reference: String,
    /// Provider id (`models.providers.<id>`).
    pub provider_id: String,
    /// Which built-in provider the id names, if any.
    pub builtin: Option<pincer_config::BuiltinProvider>,
    /// Model id as the provider knows it.
    pub model: String,
    /// Wire format.
    pub api: Api,
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// Every key of the provider, in rotation order.
    pub keys: Vec<Secret>,
    /// The key of the current attempt, if any. Only ever put into request headers.
    pub api_key: Option<Secret>,
    /// Extra headers from the config.
    pub headers: Vec<(String, String)>,
    /// Patience for the response headers and the first event.
    pub first_token_timeout: Duration,
    /// Patience for each gap between events.
    pub idle_timeout: Duration,
    /// Configured output cap.
    pub max_tokens: Option<u32>,
    /// Configured context window.
    pub context_window: Option<u32>,
    /// The model entry's `reasoning`: whether thinking levels reach it (see each adapter).
    pub reasoning: Option<bool>,
    /// The model entry's `input` lists `image`: the user's pictures are sent to it.
    pub input_images: bool,
    /// Configured prices (USD per million tokens).
    pub cost: Option<Cost>,
    /// Ollama `keep_alive`.
    pub keep_alive: Option<KeepAlive>,
    /// Ollama `num_ctx` set explicitly on the provider.
    pub num_ctx: Option<u32>,
    /// HTTP client with this provider's connect timeout.
    pub http: reqwest::Client,
}

impl Deployment {
    /// This deployment with key `index` (of [`Deployment::keys`]) selected for the next attempt.
    pub fn with_key(&self, index: usize) -> Self {
        let mut out = self.clone();
        out.api_key = self.keys.get(index).cloned();
        out
    }
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("reference", &self.reference)
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}
