//! The web tools: [`fetch`] (`web_fetch`, on by default) and [`search`] (`web_search`, once a
//! provider is configured), both run in the tool host, which has the network route the
//! agent-runner lacks.

pub mod address;
pub mod cache;
pub mod fetch;
pub mod html;
pub mod search;

use crate::definition::Definition;
use crate::error::ToolError;

/// The configured web tools.
#[derive(Debug)]
pub struct Web {
    fetch: Option<fetch::Fetch>,
    search: Option<search::Search>,
}

impl Web {
    /// From `tools.web` (and the provider variables).
    pub fn new(config: &crate::Config) -> Result<Self, crate::Error> {
        let web = &config.tools.web;
        let http = |error: reqwest::Error| crate::Error::Http(error.to_string());
        // Several services may race to install; the first wins and the rest are fine with it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fetch = if web.fetch.enabled {
            Some(fetch::Fetch::new(&web.fetch).map_err(http)?)
        } else {
            None
        };
        let search = search::Search::new(
            &web.search,
            config.brave_api_key.as_ref(),
            config.searxng_base_url.as_deref(),
        )
        .map_err(http)?;
        Ok(Self { fetch, search })
    }

    /// What the model is offered.
    #[must_use]
    pub fn definitions(&self) -> Vec<Definition> {
        self.fetch
            .iter()
            .map(fetch::Fetch::definition)
            .chain(self.search.iter().map(search::Search::definition))
            .collect()
    }

    /// Whether `name` is one of these tools.
    #[must_use]
    pub fn offers(&self, name: &str) -> bool {
        match name {
            "web_fetch" => self.fetch.is_some(),
            "web_search" => self.search.is_some(),
            _ => false,
        }
    }

    /// Runs `name`.
    pub async fn call(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        match (name, &self.fetch, &self.search) {
            ("web_fetch", Some(fetch), _) => fetch.call(arguments).await,
            ("web_search", _, Some(search)) => search.call(arguments).await,
            _ => Err(ToolError::Invalid(format!("`{name}` is not configured"))),
        }
    }
}
