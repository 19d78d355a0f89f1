//! The MCP client: the tools of the servers in `mcp.servers`, shared by every agent. The tool host
//! runs it (its servers confined by its [`Launcher`]); `pincer mcp` runs it directly.
//!
//! Servers start in the background and a server's tools are offered from the moment it is
//! connected; [`McpManager::ready`] says when every server has connected or failed its first
//! attempt, and [`McpManager::changes`] when anything changed. Each server has a supervisor that reconnects it with
//! exponential backoff after a crash, a closed connection or repeated unanswered calls; meanwhile
//! its tools answer with an error saying so. Calls are bounded by the server's `timeoutSeconds`
//! and cancelled when it runs out.
//!
//! - [`transport`]: stdio child processes and streamable HTTP.
//! - [`connect`]: handshake in either protocol era (`server/discover`, else `initialize`) and
//!   the tool list.
//! - [`supervisor`]: the reconnect loop.
//! - [`slot`]: one server's shared state; [`status`]: what it reports.
//! - [`catalog`]: tool names and definitions for the model; [`call`], [`result`]: one call.

pub mod call;
mod call_error;
pub mod catalog;
pub(crate) mod client;
pub mod connect;
pub mod result;
mod session_client;
pub mod slot;
pub mod status;
pub mod supervisor;
pub mod transport;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use call_error::CallError;
pub use catalog::ToolDefinition;
pub use status::{ServerState, ServerStatus};
pub use transport::{DirectLauncher, INHERITED_ENV, Launcher, StdioCommand};

use slot::Slot;

/// The configured servers.
#[derive(Debug)]
pub struct McpManager {
    slots: Vec<Arc<Slot>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    changes: Arc<watch::Sender<u64>>,
}

impl Default for McpManager {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            tasks: Mutex::default(),
            changes: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl McpManager {
    /// Starts a supervisor for every enabled server (needs a Tokio runtime) and returns at once;
    /// stdio servers are plain children ([`DirectLauncher`]). The servers shut down when
    /// `shutdown` is cancelled; [`McpManager::stopped`] waits for that.
    #[must_use]
    pub fn start(config: &pincer_config::Mcp, shutdown: &CancellationToken) -> Arc<Self> {
        Self::start_with(config, Arc::new(DirectLauncher), shutdown)
    }

    /// Like [`McpManager::start`], with stdio servers made by `launcher`.
    #[must_use]
    pub fn start_with(
        config: &pincer_config::Mcp,
        launcher: Arc<dyn Launcher>,
        shutdown: &CancellationToken,
    ) -> Arc<Self> {
        let changes = Arc::new(watch::Sender::new(0));
        let mut slots = Vec::new();
        let mut tasks = Vec::new();
        for (name, server) in &config.servers {
            let slot = Arc::new(Slot::new(name, server, launcher.clone(), changes.clone()));
            if server.enabled {
                let span = tracing::info_span!("mcp", server = %name);
                tasks.push(tokio::spawn(
                    supervisor::supervise(slot.clone(), shutdown.child_token()).instrument(span),
                ));
            } else {
                tracing::info!(server = %name, "mcp server disabled");
            }
            slots.push(slot);
        }
        Arc::new(Self {
            slots,
            tasks: Mutex::new(tasks),
            changes,
        })
    }

    /// Whether every enabled server has connected or failed its first attempt (each attempt is
    /// bounded by the server's timeout), so that its tools, or the news that it is down, are known.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.slots.iter().all(|slot| slot.settled())
    }

    /// A receiver whose value grows with every change of a server's state or tools.
    #[must_use]
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The tool definitions of every connected (or restarting) server, permitted tools only.
    #[must_use]
    pub fn specs(&self) -> Vec<ToolDefinition> {
        self.slots.iter().flat_map(|slot| slot.specs()).collect()
    }

    /// Whether `name` is an MCP tool name (`<server>__...` of a configured server).
    #[must_use]
    pub fn owns(&self, name: &str) -> bool {
        self.slot_for(name).is_some()
    }

    /// Calls the MCP tool `name` with JSON `arguments`.
    pub async fn call(&self, name: &str, arguments: &str) -> Result<String, CallError> {
        let Some(slot) = self.slot_for(name) else {
            return Err(CallError::Unknown {
                name: name.to_owned(),
                available: String::new(),
            });
        };
        call::call(slot, name, arguments).await
    }

    /// Every server's status, in name order.
    #[must_use]
    pub fn status(&self) -> Vec<ServerStatus> {
        self.slots.iter().map(|slot| slot.status()).collect()
    }

    /// Waits (at most `patience`) for the supervisors to close their servers after shutdown.
    pub async fn stopped(&self, patience: Duration) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        if tokio::time::timeout(patience, futures::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!("mcp servers did not all stop in time");
        }
    }

    /// The slot whose tool `name` is; the longest server name wins (`a__b__c` with servers `a`
    /// and `a__b` belongs to `a__b`).
    fn slot_for(&self, name: &str) -> Option<&Slot> {
        self.slots
            .iter()
            .filter(|slot| slot.claims(name))
            .max_by_key(|slot| slot.name.len())
            .map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn disabled_and_unknown_servers_say_so() {
        let config: pincer_config::Mcp = serde_json::from_value(serde_json::json!({"servers": {
            "off": {"command": "true", "enabled": false, "allowTools": ["*"]},
            "a": {"command": "true", "enabled": false},
            "a__b": {"command": "true", "enabled": false},
        }}))
        .expect("config");
        let manager = McpManager::start(&config, &CancellationToken::new());
        assert!(manager.specs().is_empty());
        assert!(manager.owns("off__x") && !manager.owns("off_x") && !manager.owns("read"));
        let error = manager.call("off__x", "{}").await.expect_err("disabled");
        assert_eq!(
            error.to_string(),
            "mcp server `off` is disabled (mcp.servers.off.enabled)"
        );
        let error = manager.call("a__b__c", "{}").await.expect_err("disabled");
        assert!(error.to_string().contains("`a__b`"), "{error}");
        let states: Vec<ServerState> = manager.status().iter().map(|s| s.state).collect();
        assert_eq!(states, [ServerState::Disabled; 3]);
        manager.stopped(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn invalid_entries_fail_without_retrying() {
        let config: pincer_config::Mcp = serde_json::from_value(serde_json::json!({"servers": {
            "both": {"command": "true", "url": "http://127.0.0.1:1/mcp"},
        }}))
        .expect("config");
        let shutdown = CancellationToken::new();
        let manager = McpManager::start(&config, &shutdown);
        // The supervisor returns by itself on a permanent error; no shutdown needed.
        manager.stopped(Duration::from_secs(10)).await;
        let status = &manager.status()[0];
        assert_eq!(
            (status.state, status.transport),
            (ServerState::Failed, "invalid")
        );
        let error = status.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("mcp.servers.both") && error.contains("both set"),
            "{error}"
        );
        let error = manager.call("both__x", "{}").await.expect_err("failed");
        assert!(error.to_string().contains("is unavailable"), "{error}");
    }
}
