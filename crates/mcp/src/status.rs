//! What a server is doing, for status displays (`/status`, `pincer doctor`, ...).

/// A server's life-cycle phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// `enabled: false`; never started.
    Disabled,
    /// The first connection is being made.
    Starting,
    /// Connected; its tools are callable.
    Connected,
    /// It failed; the supervisor reconnects after a backoff.
    Restarting,
    /// Its entry cannot work (see `last_error`); not retried.
    Failed,
    /// Shut down with the runner.
    Stopped,
}

impl ServerState {
    /// Lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Starting => "starting",
            Self::Connected => "connected",
            Self::Restarting => "restarting",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

/// One server's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// Its name in `mcp.servers`.
    pub name: String,
    /// `stdio` or `http` (`invalid` when the entry names neither properly).
    pub transport: &'static str,
    /// Phase.
    pub state: ServerState,
    /// The most recent failure, kept after a reconnect.
    pub last_error: Option<String>,
    /// Tools offered to agents (the permitted ones).
    pub tools: usize,
    /// Tools the server lists, permitted or not.
    pub listed: usize,
    /// Reconnections so far.
    pub restarts: u32,
    /// Protocol version of the current connection (`2026-07-28` modern, older ones legacy).
    pub protocol_version: Option<String>,
    /// Process id of a connected stdio server.
    pub pid: Option<u32>,
}
