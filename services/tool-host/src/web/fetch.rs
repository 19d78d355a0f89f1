//! `web_fetch`: an HTTP GET of a public URL, its HTML turned into readable text. Redirects are
//! followed by hand, each target checked like the first URL ([`super::address`]); the body read
//! is bounded in bytes and the whole fetch in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pincer_config::WebFetch;
use reqwest::Url;
use serde::Deserialize;
use serde_json::json;

use super::address::{self, Exceptions, Resolver};
use super::cache::Cache;
use super::html;
use crate::definition::Definition;
use crate::error::{ToolError, args};

/// Bytes of a response body read at most (the text handed back is capped separately).
const MAX_BODY_BYTES: usize = 4 << 20;
/// TCP and TLS set-up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// What we say we are, unless `userAgent` says otherwise.
const USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; Pincer/",
    env!("CARGO_PKG_VERSION"),
    ")"
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FetchArgs {
    url: String,
    #[serde(default)]
    extract_mode: Option<ExtractMode>,
    #[serde(default)]
    max_chars: Option<usize>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ExtractMode {
    Markdown,
    Text,
}

/// The `web_fetch` tool.
#[derive(Debug)]
pub struct Fetch {
    client: reqwest::Client,
    config: WebFetch,
    exceptions: Arc<Exceptions>,
    cache: Cache,
}

impl Fetch {
    /// From `tools.web.fetch`.
    pub fn new(config: &WebFetch) -> Result<Self, reqwest::Error> {
        let exceptions = Arc::new(Exceptions::new(&config.ssrf_policy));
        let client = reqwest::Client::builder()
            // A proxy would resolve names itself, past the address check.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Resolver::new(exceptions.clone()))
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(config.user_agent.as_deref().unwrap_or(USER_AGENT))
            .build()?;
        Ok(Self {
            client,
            config: config.clone(),
            exceptions,
            cache: Cache::new(Duration::from_secs(config.cache_ttl_minutes * 60)),
        })
    }

    /// What the model is offered.
    #[must_use]
    pub fn definition(&self) -> Definition {
        Definition::new(
            "web_fetch",
            "Fetch a public web page (http/https) and return its readable text.",
            json!({"type":"object","properties":{"url":{"type":"string"},"extractMode":{"type":"string","enum":["markdown","text"]},"maxChars":{"type":"integer"}},"required":["url"]}),
        )
    }

    /// Fetches the URL of `arguments`.
    pub async fn call(&self, arguments: &str) -> Result<String, ToolError> {
        let FetchArgs {
            url,
            extract_mode,
            max_chars,
        } = args(arguments)?;
        let max_chars = max_chars
            .unwrap_or(self.config.max_chars)
            .clamp(100, self.config.max_chars_cap.max(100));
        let mode = extract_mode.unwrap_or(ExtractMode::Markdown);
        let key = format!("{url}\n{max_chars}\n{}", mode == ExtractMode::Text);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let limit = Duration::from_secs(self.config.timeout_seconds.max(1));
        let page = tokio::time::timeout(limit, self.fetch(&url))
            .await
            .map_err(|_| {
                ToolError::Invalid(format!("{url} did not answer within {}s", limit.as_secs()))
            })??;
        let text = page.render(
            self.config.readability,
            mode == ExtractMode::Text,
            max_chars,
        );
        if !page.status.is_success() {
            return Err(ToolError::Invalid(format!(
                "the server answered HTTP {}\n{text}",
                page.status.as_u16()
            )));
        }
        self.cache.put(&key, &text);
        Ok(text)
    }

    /// GET with redirects followed and checked.
    async fn fetch(&self, url: &str) -> Result<Page, ToolError> {
        let started = Instant::now();
        let mut current = self.checked(url)?;
        let mut hops = 0;
        loop {
            let response = self
                .client
                .get(current.clone())
                .header(
                    reqwest::header::ACCEPT,
                    "text/html,text/plain,application/json;q=0.9,*/*;q=0.5",
                )
                .send()
                .await
                .map_err(|error| ToolError::Invalid(describe(&current, &error)))?;
            let status = response.status();
            if status.is_redirection() {
                let Some(location) = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                else {
                    return Err(ToolError::Invalid(format!(
                        "{current} answered {status} without a Location"
                    )));
                };
                hops += 1;
                if hops > self.config.max_redirects {
                    return Err(ToolError::Invalid(format!(
                        "more than {} redirects (tools.web.fetch.maxRedirects)",
                        self.config.max_redirects
                    )));
                }
                let next = current.join(location).map_err(|error| {
                    ToolError::Invalid(format!("{current} redirects to an invalid URL: {error}"))
                })?;
                current = self.checked(next.as_str())?;
                continue;
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let (body, cut) = read_bounded(response).await?;
            tracing::debug!(url = %current, %status, bytes = body.len(), elapsed_ms = started.elapsed().as_millis() as u64, "web_fetch");
            return Ok(Page {
                url: current,
                status,
                content_type,
                body,
                cut,
            });
        }
    }

    /// `url` parsed, http(s) only, its host not a refused literal address.
    fn checked(&self, url: &str) -> Result<Url, ToolError> {
        let parsed = Url::parse(url.trim())
            .map_err(|error| ToolError::Arguments(format!("`{url}` is not a URL: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ToolError::Denied(format!(
                "only http and https URLs can be fetched, not {}:",
                parsed.scheme()
            )));
        }
        let Some(host) = parsed.host_str() else {
            return Err(ToolError::Arguments(format!("`{url}` has no host")));
        };
        address::check_literal(host, &self.exceptions).map_err(ToolError::Denied)?;
        Ok(parsed)
    }
}

/// A transport error, with the refusal of the address check when that was the cause.
fn describe(url: &Url, error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if text.starts_with("refused:") {
            return format!("not allowed: {text}");
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return format!("{url} did not answer in time");
    }
    format!("cannot fetch {url}: {error}")
}

async fn read_bounded(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), ToolError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() >= room {
                    return Ok((body, true));
                }
            }
            Ok(None) => return Ok((body, false)),
            Err(error) => {
                return Err(ToolError::Invalid(format!(
                    "reading the page failed: {error}"
                )));
            }
        }
    }
}

/// A fetched response.
struct Page {
    url: Url,
    status: reqwest::StatusCode,
    content_type: String,
    body: Vec<u8>,
    cut: bool,
}

impl Page {
    /// The page for the model: where it ended up, its status and title, then its text.
    fn render(&self, readability: bool, plain: bool, max_chars: usize) -> String {
        let raw = String::from_utf8_lossy(&self.body);
        let is_html = self.content_type.contains("html")
            || (self.content_type.is_empty() && raw.trim_start().starts_with('<'));
        let textual = is_html
            || self.content_type.starts_with("text/")
            || self.content_type.contains("json")
            || self.content_type.contains("xml")
            || self.content_type.is_empty();
        let mut out = format!("URL: {}\nStatus: {}\n", self.url, self.status.as_u16());
        if !textual {
            out.push_str(&format!(
                "Content-Type: {}\n\n[{} bytes of non-text content, not shown]",
                self.content_type,
                self.body.len()
            ));
            return out;
        }
        let text = if is_html {
            if let Some(title) = html::title(&raw) {
                out.push_str(&format!("Title: {title}\n"));
            }
            let text = html::to_text(html::main_part(&raw, readability));
            if plain {
                text.lines()
                    .map(|line| line.trim_start_matches('#').trim_start())
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                text
            }
        } else {
            raw.into_owned()
        };
        out.push('\n');
        let total = text.chars().count();
        if total > max_chars || self.cut {
            out.extend(text.chars().take(max_chars));
            out.push_str(&format!(
                "\n[... truncated: {} of {} characters shown]",
                max_chars.min(total),
                if self.cut {
                    format!("more than {total}")
                } else {
                    total.to_string()
                }
            ));
        } else {
            out.push_str(&text);
        }
        out
    }
}
