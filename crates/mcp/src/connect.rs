//! One connection: transport, handshake in either protocol era, and the tool list.

use std::time::Duration;

use pincer_config::{McpServer, McpTransport, ServerProblem};
use std::sync::Arc;

use rmcp::model::{ProtocolVersion, Tool};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::{ClientLifecycleMode, ClientServiceExt as _, RoleClient};
use tokio::sync::Notify;

use super::client::Client;
use super::transport::{self, Launcher, StderrTail, StdioCommand, TransportError};

/// How long a failed handshake waits for a dead server's last stderr lines.
const LAST_WORDS_PATIENCE: Duration = Duration::from_millis(500);

/// rmcp waits this long for a `server/discover` answer before trying `initialize`.
const DISCOVER_PATIENCE: Duration = Duration::from_secs(10);

/// A live connection and what the server listed.
pub(crate) struct Session {
    /// The client; dropping it closes the connection (and kills a stdio child).
    pub service: RunningService<RoleClient, Client>,
    /// Woken when the server says its tools changed.
    pub tools_changed: Arc<Notify>,
    /// Every tool the server lists.
    pub tools: Vec<Tool>,
    /// The stdio child's process id.
    pub pid: Option<u32>,
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The entry is unusable.
    #[error("invalid config `{path}`: {problem}")]
    Config {
        /// Key path.
        path: String,
        /// What is wrong.
        problem: ServerProblem,
    },
    /// The transport could not be made.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// `tools/list` failed.
    #[error("tools/list failed: {0}")]
    ListTools(String),
    /// A step did not finish in time.
    #[error("{step} did not finish within {}s", .after.as_secs())]
    TimedOut {
        /// The step.
        step: &'static str,
        /// Its limit.
        after: Duration,
    },
}

impl ConnectError {
    /// Whether retrying cannot help.
    pub(crate) fn is_permanent(&self) -> bool {
        match self {
            Self::Config { .. } => true,
            Self::Transport(error) => error.is_permanent(),
            _ => false,
        }
    }
}

/// Modern servers answer `server/discover`; others get `initialize`.
fn auto() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::LATEST],
        legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
    }
}

type Handshake = (
    Result<(RunningService<RoleClient, Client>, Option<u32>), ClientInitializeError>,
    Option<StderrTail>,
);

/// A handshake failure, with what a stdio server said on stderr when there is anything.
async fn failure(error: &ClientInitializeError, tail: Option<StderrTail>) -> ConnectError {
    let said = match tail {
        Some(tail) => tail.last_words(LAST_WORDS_PATIENCE).await,
        None => None,
    };
    ConnectError::Handshake(match said {
        Some(said) => format!("{error}; the server wrote: {said}"),
        None => error.to_string(),
    })
}

/// A fresh transport and the handshake over it.
async fn handshake(
    name: &str,
    launcher: &dyn Launcher,
    transport: McpTransport<'_>,
    mode: ClientLifecycleMode,
) -> Result<Handshake, TransportError> {
    Ok(match transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let (child, tail) = transport::stdio(
                launcher,
                &StdioCommand {
                    server: name,
                    command,
                    args,
                    env,
                    cwd,
                },
            )?;
            let pid = child.id();
            let service = Client::new().serve_with_lifecycle(child, mode).await;
            (service.map(|service| (service, pid)), Some(tail))
        }
        McpTransport::Http { url, headers } => {
            let http = transport::http(url, headers)?;
            let service = Client::new().serve_with_lifecycle(http, mode).await;
            (service.map(|service| (service, None)), None)
        }
    })
}

/// Connects to the server `name` and lists its tools, each step bounded in time.
pub(crate) async fn connect(
    name: &str,
    server: &McpServer,
    launcher: &dyn Launcher,
) -> Result<Session, ConnectError> {
    let transport = server.transport().map_err(|problem| ConnectError::Config {
        path: problem.path(name),
        problem,
    })?;
    let patience = DISCOVER_PATIENCE + server.timeout();
    let timed_out = |_| ConnectError::TimedOut {
        step: "the handshake",
        after: patience,
    };
    let first = tokio::time::timeout(patience, handshake(name, launcher, transport, auto()))
        .await
        .map_err(timed_out)??;
    let (first, tail) = first;
    let (service, pid) = match first {
        Ok(connected) => connected,
        // A server that knows `server/discover` but none of our modern versions (an SDK pinned
        // to older ones) answers -32022 instead of method-not-found; rmcp does not fall back then.
        Err(ClientInitializeError::NoCompatibleProtocolVersion {
            server_supported, ..
        }) if server_supported.iter().any(ProtocolVersion::has_initialize) => {
            tracing::debug!(
                "server/discover offered only legacy versions; reconnecting with initialize"
            );
            let (second, tail) = tokio::time::timeout(
                patience,
                handshake(name, launcher, transport, ClientLifecycleMode::Initialize),
            )
            .await
            .map_err(timed_out)??;
            match second {
                Ok(connected) => connected,
                Err(error) => return Err(failure(&error, tail).await),
            }
        }
        Err(error) => return Err(failure(&error, tail).await),
    };
    let tools = tokio::time::timeout(server.timeout(), service.list_all_tools())
        .await
        .map_err(|_| ConnectError::TimedOut {
            step: "tools/list",
            after: server.timeout(),
        })?
        .map_err(|error| ConnectError::ListTools(error.to_string()))?;
    let tools_changed = service.service().tools_changed();
    Ok(Session {
        service,
        tools_changed,
        tools,
        pid,
    })
}
