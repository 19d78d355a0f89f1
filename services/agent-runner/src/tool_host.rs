//! The client of the tool host, where `exec`, the web tools and the MCP servers run (this service
//! starts no programs and has no network route out). A background task follows the tool host's
//! catalogue stream, so a turn reads the tools on offer from memory instead of asking; calls go
//! over gRPC with the shared token.
//!
//! While the tool host is unreachable its last catalogue stays on offer (the model's tool list
//! stays stable) and calls answer that the tool host is unreachable.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use pincer_proto::tools::v1 as pb;
use pincer_service_auth::Caller;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// First wait before following the catalogue again; doubles to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Longest one tool call may take on the wire (tools have their own, shorter limits; this only
/// catches a tool host that hangs).
const CALL_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Where the tool host is and how to sign in.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `http://host:port`.
    pub url: String,
    /// `PINCER_TOOL_HOST_TOKEN`.
    pub token: Option<pincer_config::Secret>,
}

/// What the tool host offers, as last seen.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    /// Whether the tool host has answered at all yet.
    pub seen: bool,
    /// Whether it is reachable now.
    pub reachable: bool,
    /// Its latest catalogue.
    pub catalog: pb::Catalog,
}

impl Offer {
    /// The tool host and its MCP servers as the readiness ping reports them (the gateway's
    /// `health`, `pincer doctor` and the Control UI show it).
    #[must_use]
    pub fn report(&self) -> serde_json::Value {
        let servers: Vec<serde_json::Value> = self
            .catalog
            .servers
            .iter()
            .map(|server| {
                serde_json::json!({
                    "name": server.name,
                    "transport": server.transport,
                    "state": server.state,
                    "lastError": (!server.last_error.is_empty()).then_some(&server.last_error),
                    "tools": server.tools,
                    "listed": server.listed,
                    "restarts": server.restarts,
                })
            })
            .collect();
        serde_json::json!({
            "host": if !self.seen { "starting" } else if self.reachable { "reachable" } else { "unreachable" },
            "ready": self.catalog.ready,
            "tools": self.catalog.tools.len(),
            "servers": servers,
        })
    }

    /// Lines for the system prompt about MCP servers whose tools are missing or failing, so the
    /// model names the outage instead of guessing (empty when all is well).
    #[must_use]
    pub fn outages(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.seen && !self.reachable {
            lines.push(
                "The tool host is unreachable: exec, web and MCP tools fail until it is back."
                    .to_owned(),
            );
        }
        for server in &self.catalog.servers {
            let reason = if server.last_error.is_empty() {
                "no reason given".to_owned()
            } else {
                server.last_error.clone()
            };
            match server.state.as_str() {
                "connected" | "disabled" | "stopped" => {}
                "starting" => lines.push(format!(
                    "MCP server `{}` is still starting; its tools are not available yet.",
                    server.name
                )),
                _ => lines.push(format!(
                    "MCP server `{}` is down ({reason}); its tools fail until it is back.",
                    server.name
                )),
            }
        }
        lines
    }
}

type Client = pb::tool_host_client::ToolHostClient<InterceptedService<Channel, Caller>>;

/// A connection to the tool host.
#[derive(Debug)]
pub struct ToolHost {
    client: Client,
    offer: RwLock<Offer>,
    updates: watch::Sender<u64>,
}

/// Why the tool host was not reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL does not parse.
    #[error("invalid tool host url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The token cannot travel in a header.
    #[error("PINCER_TOOL_HOST_TOKEN is not a valid header value")]
    Token(#[from] pincer_service_auth::InvalidToken),
}

impl ToolHost {
    /// Connects lazily and starts following the catalogue until `shutdown`.
    pub fn start(settings: &Settings, shutdown: CancellationToken) -> Result<Arc<Self>, Error> {
        let endpoint = Endpoint::from_shared(settings.url.clone())
            .map_err(|error| Error::Url {
                url: settings.url.clone(),
                reason: error.to_string(),
            })?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let caller = Caller::new(settings.token.as_ref())?;
        let host = Arc::new(Self {
            client: pb::tool_host_client::ToolHostClient::with_interceptor(
                endpoint.connect_lazy(),
                caller,
            ),
            offer: RwLock::default(),
            updates: watch::Sender::new(0),
        });
        tokio::spawn(follow(host.clone(), shutdown));
        Ok(host)
    }

    /// What the tool host offers now.
    #[must_use]
    pub fn offer(&self) -> Offer {
        self.offer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `name` is a tool of the tool host's (offered now).
    #[must_use]
    pub fn offers(&self, name: &str) -> bool {
        self.offer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .catalog
            .tools
            .iter()
            .any(|tool| tool.name == name)
    }

    /// Waits until the tool host says every MCP server has connected or failed its first attempt,
    /// or `patience` runs out (then the runner serves with what is known, and says so).
    pub async fn ready(&self, patience: Duration) -> bool {
        let mut updates = self.updates.subscribe();
        let wait = async {
            loop {
                if self.offer().catalog.ready {
                    return;
                }
                if updates.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(patience, wait).await.is_ok()
    }

    /// Runs the tool `name` for `agent`; the text is the result or the error for the model.
    pub async fn call(&self, agent: &str, name: &str, arguments: &str) -> Result<String, String> {
        let mut client = self.client.clone();
        let mut request = tonic::Request::new(pb::CallToolRequest {
            name: name.to_owned(),
            arguments_json: arguments.to_owned(),
            agent_id: agent.to_owned(),
        });
        request.set_timeout(CALL_LIMIT);
        match client.call_tool(request).await {
            Ok(response) => {
                let response = response.into_inner();
                if response.is_error {
                    Err(response.text)
                } else {
                    Ok(response.text)
                }
            }
            Err(status) => Err(match status.code() {
                tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown => {
                    format!(
                        "the tool host could not be reached or stopped during the call (`{name}` may or may not have run): {}",
                        status.message()
                    )
                }
                tonic::Code::DeadlineExceeded => {
                    format!("`{name}` did not finish within {}s", CALL_LIMIT.as_secs())
                }
                _ => format!("the tool host refused the call: {}", status.message()),
            }),
        }
    }

    fn publish(&self, update: impl FnOnce(&mut Offer)) {
        update(&mut self.offer.write().unwrap_or_else(PoisonError::into_inner));
        self.updates.send_modify(|revision| *revision += 1);
    }
}

/// Follows the catalogue stream, reconnecting with backoff, until `shutdown`.
async fn follow(host: Arc<ToolHost>, shutdown: CancellationToken) {
    let mut backoff = RECONNECT_MIN;
    loop {
        let mut client = host.client.clone();
        let opened = tokio::select! {
            opened = client.watch_catalog(pb::WatchCatalogRequest {}) => opened,
            () = shutdown.cancelled() => return,
        };
        match opened {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    let next = tokio::select! {
                        next = stream.message() => next,
                        () = shutdown.cancelled() => return,
                    };
                    match next {
                        Ok(Some(catalog)) => {
                            backoff = RECONNECT_MIN;
                            host.publish(|offer| {
                                *offer = Offer {
                                    seen: true,
                                    reachable: true,
                                    catalog,
                                };
                            });
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                tracing::error!(error = %status.message(), "the tool host refused our token (PINCER_TOOL_HOST_TOKEN)");
            }
            Err(status) => {
                tracing::debug!(error = %status.message(), "tool host not reachable yet");
            }
        }
        host.publish(|offer| offer.reachable = false);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}
