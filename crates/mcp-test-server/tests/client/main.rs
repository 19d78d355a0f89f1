//! The agent-runner's MCP client against the test server: stdio and streamable HTTP, both protocol
//! eras, permissions, timeouts, crashes, garbage on stdout, shutdown, and the agent's tool box.

mod calls;
mod eras;
mod permissions;
mod supervision;
mod support;
mod toolbox;
