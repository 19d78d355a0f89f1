//! Why a tool call failed, told so the model can act on it. Its own file because both the
//! call and the slot (which refuses calls to a server that is not running) produce it.

/// Why an MCP tool call failed; the message is what the model sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The arguments are not a JSON object.
    #[error("invalid arguments: {0}")]
    Arguments(String),
    /// No such tool (or not permitted).
    #[error("unknown tool `{name}`; available tools of its server: {available}")]
    Unknown {
        /// Name asked for.
        name: String,
        /// What the server offers.
        available: String,
    },
    /// The server is down and being restarted.
    #[error("mcp server `{server}` is not running: {reason}; restarting")]
    NotRunning {
        /// Server name.
        server: String,
        /// Its last failure.
        reason: String,
    },
    /// The server's entry cannot work.
    #[error("mcp server `{server}` is unavailable: {reason}")]
    Failed {
        /// Server name.
        server: String,
        /// Why.
        reason: String,
    },
    /// `enabled: false`.
    #[error("mcp server `{server}` is disabled (mcp.servers.{server}.enabled)")]
    Disabled {
        /// Server name.
        server: String,
    },
    /// The runner is shutting down.
    #[error("mcp server `{server}` is stopped")]
    Stopped {
        /// Server name.
        server: String,
    },
    /// The call ran out of time and was cancelled.
    #[error("`{name}` did not answer within {seconds}s; the call was cancelled")]
    TimedOut {
        /// Tool name (`server__tool`).
        name: String,
        /// The limit.
        seconds: u64,
    },
    /// The tool ran and reported an error (`isError`).
    #[error("{0}")]
    Tool(String),
    /// The request could not be delivered.
    #[error("mcp server `{server}` could not be reached: {reason}")]
    Unreachable {
        /// Server name.
        server: String,
        /// Why.
        reason: String,
    },
    /// The answer was not a usable `tools/call` result.
    #[error("mcp server `{server}` call failed: {reason}")]
    Protocol {
        /// Server name.
        server: String,
        /// Why.
        reason: String,
    },
    /// The server refused the request (bad parameters, unknown tool, ...).
    #[error("mcp server `{server}` rejected the call: {message}")]
    Rejected {
        /// Server name.
        server: String,
        /// Its message.
        message: String,
    },
}
