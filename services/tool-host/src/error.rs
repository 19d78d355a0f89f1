//! Why a tool call failed; the message is what the model reads, so a bad call is something it can
//! correct, never a failed turn.

/// A tool call's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments are not the JSON object the tool takes.
    #[error("invalid arguments: {0}")]
    Arguments(String),
    /// The request makes no sense.
    #[error("{0}")]
    Invalid(String),
    /// The policy forbids it.
    #[error("not allowed: {0}")]
    Denied(String),
    /// No such tool.
    #[error("unknown tool `{name}`; available tools: {available}")]
    Unknown {
        /// Name asked for.
        name: String,
        /// What exists.
        available: String,
    },
    /// An MCP tool failed (or its server is down).
    #[error(transparent)]
    Mcp(#[from] pincer_mcp::CallError),
}

/// Parses a tool's arguments. An empty string counts as `{}` (models omit arguments for tools
/// without parameters).
pub fn args<T: serde::de::DeserializeOwned>(arguments: &str) -> Result<T, ToolError> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(text).map_err(|error| ToolError::Arguments(error.to_string()))
}
