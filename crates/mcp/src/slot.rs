//! One configured server's shared state: written by its supervisor, read by calls and `status`.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use pincer_config::{McpServer, McpTransport};
use rmcp::model::Tool;
use rmcp::{Peer, RoleClient};
use tokio::sync::{Notify, watch};

use super::call_error::CallError;
use super::catalog::{self, Exposed, ToolDefinition};
use super::status::{ServerState, ServerStatus};
use super::transport::Launcher;

/// Calls in a row that time out or cannot be sent before the server counts as hung and is
/// restarted (one slow call is not a hung server).
const HUNG_AFTER: u32 = 3;

/// What a call needs from the current connection.
#[derive(Clone)]
pub(crate) struct Live {
    /// The client side of the connection.
    pub peer: Peer<RoleClient>,
    /// Asks this connection's supervisor to restart it (one per connection, so a late request
    /// never hits the next connection).
    pub restart: Arc<Notify>,
}

/// One server.
pub(crate) struct Slot {
    /// Name in `mcp.servers`.
    pub name: String,
    /// Its entry.
    pub config: McpServer,
    /// Makes its process (stdio servers).
    pub launcher: Arc<dyn Launcher>,
    state: RwLock<State>,
    /// Bumped on every change of phase or tools, for watchers of the catalogue.
    changes: Arc<watch::Sender<u64>>,
}

struct State {
    phase: ServerState,
    live: Option<Live>,
    /// Offered tools; kept while restarting so the model's tool list stays stable.
    tools: Vec<Exposed>,
    listed: usize,
    last_error: Option<String>,
    restarts: u32,
    failures_in_a_row: u32,
    protocol_version: Option<String>,
    pid: Option<u32>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("name", &self.name)
            .field("state", &self.read().phase)
            .finish_non_exhaustive()
    }
}

impl Slot {
    /// A slot for the entry, `Disabled` or `Starting`.
    pub(crate) fn new(
        name: &str,
        config: &McpServer,
        launcher: Arc<dyn Launcher>,
        changes: Arc<watch::Sender<u64>>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            config: config.clone(),
            launcher,
            changes,
            state: RwLock::new(State {
                phase: if config.enabled {
                    ServerState::Starting
                } else {
                    ServerState::Disabled
                },
                live: None,
                tools: Vec::new(),
                listed: 0,
                last_error: None,
                restarts: 0,
                failures_in_a_row: 0,
                protocol_version: None,
                pid: None,
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells watchers that this slot changed (call after the state lock is released).
    fn changed(&self) {
        self.changes.send_modify(|revision| *revision += 1);
    }

    /// Whether the first connection attempt is over (connected, failed, or not started at all).
    pub(crate) fn settled(&self) -> bool {
        self.read().phase != ServerState::Starting
    }

    /// Whether `name` is one of this server's tool names (offered or not).
    pub(crate) fn claims(&self, name: &str) -> bool {
        name.strip_prefix(self.name.as_str())
            .is_some_and(|rest| rest.starts_with(catalog::SEPARATOR))
    }

    /// A new connection is up with `tools` listed.
    pub(crate) fn connected(
        &self,
        live: Live,
        tools: &[Tool],
        protocol_version: Option<String>,
        pid: Option<u32>,
    ) {
        let exposed = catalog::expose(&self.name, &self.config, tools);
        if exposed.is_empty() && !tools.is_empty() {
            tracing::warn!(
                listed = tools.len(),
                key = %format!("mcp.servers.{}.allowTools", self.name),
                "no tool of this mcp server is allowed"
            );
        }
        let mut state = self.write();
        state.phase = ServerState::Connected;
        state.live = Some(live);
        state.tools = exposed;
        state.listed = tools.len();
        state.failures_in_a_row = 0;
        state.protocol_version = protocol_version;
        state.pid = pid;
        drop(state);
        self.changed();
    }

    /// The live connection's server listed `tools` again (they changed).
    pub(crate) fn relisted(&self, tools: &[Tool]) {
        let exposed = catalog::expose(&self.name, &self.config, tools);
        let mut state = self.write();
        if state.live.is_none() {
            return;
        }
        state.tools = exposed;
        state.listed = tools.len();
        drop(state);
        self.changed();
    }

    /// The connection is gone; `next` says whether a restart follows.
    pub(crate) fn disconnected(&self, error: &str, next: ServerState) {
        let mut state = self.write();
        if state.live.take().is_some() && next == ServerState::Restarting {
            state.restarts += 1;
        }
        state.phase = next;
        state.last_error = Some(error.to_owned());
        state.protocol_version = None;
        state.pid = None;
        drop(state);
        self.changed();
    }

    /// Shut down with the runner.
    pub(crate) fn stopped(&self) {
        let mut state = self.write();
        state.live = None;
        state.phase = ServerState::Stopped;
        state.pid = None;
        drop(state);
        self.changed();
    }

    /// The offered tools' definitions.
    pub(crate) fn specs(&self) -> Vec<ToolDefinition> {
        let state = self.read();
        if matches!(state.phase, ServerState::Disabled | ServerState::Failed) {
            return Vec::new();
        }
        state.tools.iter().map(|tool| tool.spec.clone()).collect()
    }

    /// The connection and the server's tool name for the offered tool `name`.
    pub(crate) fn lookup(&self, name: &str) -> Result<(Live, String), CallError> {
        let state = self.read();
        let server = self.name.clone();
        let reason = || {
            state
                .last_error
                .clone()
                .unwrap_or_else(|| "it has not answered yet".to_owned())
        };
        let live = match (state.phase, &state.live) {
            (ServerState::Connected, Some(live)) => live,
            (ServerState::Disabled, _) => return Err(CallError::Disabled { server }),
            (ServerState::Failed, _) => {
                return Err(CallError::Failed {
                    server,
                    reason: reason(),
                });
            }
            (ServerState::Stopped, _) => return Err(CallError::Stopped { server }),
            (ServerState::Starting, _) => {
                return Err(CallError::NotRunning {
                    server,
                    reason: "still starting".to_owned(),
                });
            }
            _ => {
                return Err(CallError::NotRunning {
                    server,
                    reason: reason(),
                });
            }
        };
        let Some(tool) = state.tools.iter().find(|tool| tool.name == name) else {
            return Err(CallError::Unknown {
                name: name.to_owned(),
                available: state
                    .tools
                    .iter()
                    .map(|tool| tool.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        Ok((live.clone(), tool.tool.clone()))
    }

    /// A call got an answer.
    pub(crate) fn answered(&self) {
        let mut state = self.write();
        state.failures_in_a_row = 0;
    }

    /// A call timed out or could not be sent; after [`HUNG_AFTER`] in a row the connection is
    /// restarted.
    pub(crate) fn unanswered(&self, live: &Live) {
        let mut state = self.write();
        state.failures_in_a_row += 1;
        if state.failures_in_a_row >= HUNG_AFTER {
            state.failures_in_a_row = 0;
            tracing::warn!(server = %self.name, calls = HUNG_AFTER, "mcp server stopped answering; restarting it");
            live.restart.notify_one();
        }
    }

    /// The status line.
    pub(crate) fn status(&self) -> ServerStatus {
        let state = self.read();
        ServerStatus {
            name: self.name.clone(),
            transport: match self.config.transport() {
                Ok(McpTransport::Stdio { .. }) => "stdio",
                Ok(McpTransport::Http { .. }) => "http",
                Err(_) => "invalid",
            },
            state: state.phase,
            last_error: state.last_error.clone(),
            tools: state.tools.len(),
            listed: state.listed,
            restarts: state.restarts,
            protocol_version: state.protocol_version.clone(),
            pid: state.pid,
        }
    }
}
