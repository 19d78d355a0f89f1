//! The MCP client (`pincer-mcp`) against the test server: stdio and streamable HTTP, both protocol
//! eras, permissions, timeouts, crashes, garbage on stdout, shutdown, readiness.

mod calls;
mod eras;
mod permissions;
mod supervision;
mod support;
mod tool_changes;
