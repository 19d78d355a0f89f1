//! `web_search`: a query to the configured provider, the results as a numbered list of title,
//! URL and snippet. Brave's Search API (`X-Subscription-Token`) or a SearXNG instance (its JSON
//! format). The provider's address is the operator's choice, so it is not held to
//! `web_fetch`'s public-address rule (a SearXNG on the LAN is the usual set-up).

use std::time::Duration;

use pincer_config::{SearchProvider, Secret, WebSearch};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cache::Cache;
use crate::definition::Definition;
use crate::error::{ToolError, args};

/// Brave's endpoint when `tools.web.search.brave.baseUrl` is unset.
const BRAVE_BASE: &str = "https://api.search.brave.com/res/v1";
/// Bytes of a provider's answer read at most.
const MAX_ANSWER_BYTES: usize = 2 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    search_lang: Option<String>,
    #[serde(default)]
    freshness: Option<String>,
}

/// Where searches go.
#[derive(Debug, Clone)]
enum Provider {
    Brave { base: String, key: Secret },
    Searxng { base: String },
}

/// The `web_search` tool.
#[derive(Debug)]
pub struct Search {
    client: reqwest::Client,
    provider: Provider,
    max_results: u32,
    timeout: Duration,
    cache: Cache,
}

/// One result.
struct Hit {
    title: String,
    url: String,
    snippet: String,
}

impl Search {
    /// From `tools.web.search`, with `BRAVE_API_KEY` / `SEARXNG_BASE_URL` as fallbacks; `None`
    /// when it is disabled or its provider is not configured (then the tool is not offered).
    pub fn new(
        config: &WebSearch,
        brave_key: Option<&Secret>,
        searxng_base: Option<&str>,
    ) -> Result<Option<Self>, reqwest::Error> {
        if !config.enabled {
            return Ok(None);
        }
        let provider = match config.provider {
            SearchProvider::Brave => {
                let Some(key) = config.api_key.as_ref().or(brave_key) else {
                    return Ok(None);
                };
                Provider::Brave {
                    base: config
                        .brave
                        .as_ref()
                        .map_or(BRAVE_BASE, |e| e.base_url.as_str())
                        .trim_end_matches('/')
                        .to_owned(),
                    key: key.clone(),
                }
            }
            SearchProvider::Searxng => {
                let Some(base) = config
                    .searxng
                    .as_ref()
                    .map(|e| e.base_url.as_str())
                    .or(searxng_base)
                else {
                    return Ok(None);
                };
                Provider::Searxng {
                    base: base.trim_end_matches('/').to_owned(),
                }
            }
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(Self {
            client,
            provider,
            max_results: config.max_results.clamp(1, 10),
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            cache: Cache::new(Duration::from_secs(config.cache_ttl_minutes * 60)),
        }))
    }

    /// What the model is offered.
    #[must_use]
    pub fn definition(&self) -> Definition {
        Definition::new(
            "web_search",
            "Search the web; returns titles, URLs and snippets.",
            json!({"type":"object","properties":{"query":{"type":"string"},"count":{"type":"integer","minimum":1,"maximum":10},"country":{"type":"string"},"search_lang":{"type":"string"},"freshness":{"type":"string"}},"required":["query"]}),
        )
    }

    /// Runs the search of `arguments`.
    pub async fn call(&self, arguments: &str) -> Result<String, ToolError> {
        let request: SearchArgs = args(arguments)?;
        let query = request.query.trim();
        if query.is_empty() {
            return Err(ToolError::Arguments("`query` is empty".into()));
        }
        let count = request.count.unwrap_or(self.max_results).clamp(1, 10);
        let key = format!(
            "{query}\n{count}\n{:?}\n{:?}\n{:?}",
            request.country, request.search_lang, request.freshness
        );
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let hits = tokio::time::timeout(self.timeout, self.ask(query, count, &request))
            .await
            .map_err(|_| {
                ToolError::Invalid(format!(
                    "the search provider did not answer within {}s",
                    self.timeout.as_secs()
                ))
            })??;
        let text = render(query, &hits);
        self.cache.put(&key, &text);
        Ok(text)
    }

    async fn ask(
        &self,
        query: &str,
        count: u32,
        request: &SearchArgs,
    ) -> Result<Vec<Hit>, ToolError> {
        let count_text = count.to_string();
        let builder = match &self.provider {
            Provider::Brave { base, key } => {
                let mut params = vec![("q", query), ("count", count_text.as_str())];
                for (name, value) in [
                    ("country", &request.country),
                    ("search_lang", &request.search_lang),
                    ("freshness", &request.freshness),
                ] {
                    if let Some(value) = value {
                        params.push((name, value.as_str()));
                    }
                }
                let mut token =
                    reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| {
                        ToolError::Invalid("the Brave API key is not a valid header value".into())
                    })?;
                token.set_sensitive(true);
                self.client
                    .get(url(&format!("{base}/web/search"), &params)?)
                    .header("X-Subscription-Token", token)
                    .header(reqwest::header::ACCEPT, "application/json")
            }
            Provider::Searxng { base } => {
                let mut params = vec![("q", query), ("format", "json")];
                if let Some(lang) = &request.search_lang {
                    params.push(("language", lang.as_str()));
                }
                self.client.get(url(&format!("{base}/search"), &params)?)
            }
        };
        let response = builder.send().await.map_err(|error| {
            ToolError::Invalid(format!(
                "the search provider cannot be reached: {}",
                without_url(&error)
            ))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|error| {
            ToolError::Invalid(format!(
                "reading the search answer failed: {}",
                without_url(&error)
            ))
        })?;
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 => " (check tools.web.search.apiKey / BRAVE_API_KEY)",
                429 => " (rate limited; try again later)",
                _ => "",
            };
            return Err(ToolError::Invalid(format!(
                "the search provider answered HTTP {}{hint}",
                status.as_u16()
            )));
        }
        let body: Value = serde_json::from_slice(&bytes[..bytes.len().min(MAX_ANSWER_BYTES)])
            .map_err(|error| {
                ToolError::Invalid(format!("the search provider's answer is not JSON: {error}"))
            })?;
        let (list, snippet) = match self.provider {
            Provider::Brave { .. } => (&body["web"]["results"], "description"),
            Provider::Searxng { .. } => (&body["results"], "content"),
        };
        let text =
            |item: &Value, key: &str| super::html::to_text(item[key].as_str().unwrap_or_default());
        Ok(list
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .take(count as usize)
            .map(|item| Hit {
                title: text(item, "title"),
                url: item["url"].as_str().unwrap_or_default().to_owned(),
                snippet: text(item, snippet),
            })
            .filter(|hit| !hit.url.is_empty())
            .collect())
    }
}

/// `base?params`, encoded.
fn url(base: &str, params: &[(&str, &str)]) -> Result<reqwest::Url, ToolError> {
    reqwest::Url::parse_with_params(base, params).map_err(|error| {
        ToolError::Invalid(format!(
            "the search provider's base URL is invalid: {error}"
        ))
    })
}

/// The error without its URL (a Brave URL carries no key, but a SearXNG one may carry one).
fn without_url(error: &reqwest::Error) -> String {
    let mut error = error.to_string();
    if let Some(start) = error.find(" for url (") {
        error.truncate(start);
    }
    error
}

fn render(query: &str, hits: &[Hit]) -> String {
    if hits.is_empty() {
        return format!("No results for {query:?}.");
    }
    let mut out = format!("Results for {query:?}:\n");
    for (index, hit) in hits.iter().enumerate() {
        out.push_str(&format!("{}. {}\n   {}\n", index + 1, hit.title, hit.url));
        if !hit.snippet.is_empty() {
            out.push_str(&format!("   {}\n", hit.snippet));
        }
    }
    out
}
