//! `tools.web`: `web_fetch` (on by default) and `web_search` (on once a provider is configured),
//! with OpenClaw's keys. Both run in the tool host.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// `tools.web`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Web {
    /// `web_search`.
    #[serde(default)]
    pub search: WebSearch,
    /// `web_fetch`.
    #[serde(default)]
    pub fetch: WebFetch,
}

/// `tools.web.search.provider`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SearchProvider {
    /// The Brave Search API (`apiKey` or `BRAVE_API_KEY`).
    #[default]
    Brave,
    /// A SearXNG instance (`searxng.baseUrl` or `SEARXNG_BASE_URL`), with its JSON format enabled.
    Searxng,
}

/// `tools.web.search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebSearch {
    /// `false` removes the tool; otherwise it is offered once its provider is configured.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `brave` (default) or `searxng`.
    #[serde(default)]
    pub provider: SearchProvider,
    /// The Brave Search API key (`BRAVE_API_KEY` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Results per search (1..=10).
    #[serde(default = "default_results")]
    pub max_results: u32,
    /// Seconds a search may take.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Minutes a result is reused for the same query (0: never).
    #[serde(default = "default_cache")]
    pub cache_ttl_minutes: u64,
    /// Brave's endpoint (default `https://api.search.brave.com/res/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brave: Option<Endpoint>,
    /// The SearXNG instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searxng: Option<Endpoint>,
}

/// A provider endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Endpoint {
    /// Base URL.
    pub base_url: String,
}

impl Default for WebSearch {
    fn default() -> Self {
        Self {
            enabled: true,
            provider: SearchProvider::Brave,
            api_key: None,
            max_results: default_results(),
            timeout_seconds: default_timeout(),
            cache_ttl_minutes: default_cache(),
            brave: None,
            searxng: None,
        }
    }
}

/// `tools.web.fetch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebFetch {
    /// `false` removes the tool (default: on).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Characters of page text returned when the call does not ask for fewer.
    #[serde(default = "default_chars")]
    pub max_chars: usize,
    /// The most a call may ask for.
    #[serde(default = "default_chars")]
    pub max_chars_cap: usize,
    /// Seconds a fetch may take, redirects included.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Minutes a page is reused for the same URL (0: never).
    #[serde(default = "default_cache")]
    pub cache_ttl_minutes: u64,
    /// Redirects followed (each target checked like the first URL).
    #[serde(default = "default_redirects")]
    pub max_redirects: u32,
    /// `User-Agent` sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Keep the page's main content (`<main>`, `<article>`) when it has one; `false`: the whole page.
    #[serde(default = "yes")]
    pub readability: bool,
    /// Which addresses may be fetched.
    #[serde(default)]
    pub ssrf_policy: SsrfPolicy,
}

impl Default for WebFetch {
    fn default() -> Self {
        Self {
            enabled: true,
            max_chars: default_chars(),
            max_chars_cap: default_chars(),
            timeout_seconds: default_timeout(),
            cache_ttl_minutes: default_cache(),
            max_redirects: default_redirects(),
            user_agent: None,
            readability: true,
            ssrf_policy: SsrfPolicy::default(),
        }
    }
}

/// `tools.web.fetch.ssrfPolicy`: loopback, private, link-local, CGNAT (tailnet) and metadata
/// addresses are refused after DNS resolution, unless listed here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SsrfPolicy {
    /// Hosts (names or literal addresses) that may resolve to such addresses, e.g. a wiki on the
    /// LAN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hostnames: Vec<String>,
    /// Every host may (never on a machine whose network holds anything private).
    #[serde(default)]
    pub dangerously_allow_private_network: bool,
}

fn yes() -> bool {
    true
}

fn default_results() -> u32 {
    5
}

fn default_timeout() -> u64 {
    30
}

fn default_cache() -> u64 {
    15
}

fn default_chars() -> usize {
    50_000
}

fn default_redirects() -> u32 {
    3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_keys_and_defaults() {
        let web: Web = serde_json::from_str("{}").expect("empty");
        assert!(web.fetch.enabled && web.search.enabled);
        assert_eq!((web.fetch.max_chars, web.fetch.max_redirects), (50_000, 3));
        let web: Web = serde_json::from_value(serde_json::json!({
            "search": {"provider": "searxng", "searxng": {"baseUrl": "http://s:8888"}, "maxResults": 3},
            "fetch": {"maxChars": 1000, "ssrfPolicy": {"allowedHostnames": ["wiki.lan"]}},
        }))
        .expect("keys");
        assert_eq!(web.search.provider, SearchProvider::Searxng);
        assert_eq!(web.fetch.ssrf_policy.allowed_hostnames, ["wiki.lan"]);
        assert!(serde_json::from_str::<Web>(r#"{"search": {"provider": "perplexity"}}"#).is_err());
        assert!(serde_json::from_str::<Web>(r#"{"fetch": {"firecrawl": {}}}"#).is_err());
    }
}
