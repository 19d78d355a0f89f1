//! `pincer-turn-services`: the three services every turn passes through (gateway, agent-runner,
//! llm-router), in one executable their images share (see the library's documentation).
//!
//! The other two keep their own: the tool host's image has a base of its own, so it could not
//! share the layer, and the channel-bridge's code for the chat platforms (2.9 MB, growing with each
//! channel) would push every image of the three over its 25 MB budget. The linker drops the code
//! of the services left out.

use std::process::ExitCode;

/// The services, by the binary name each is started under.
const SERVICES: [(&str, pincer_services::Main); 3] = [
    ("pincer-gateway", pincer_gateway::main),
    ("pincer-agent-runner", pincer_agent_runner::main),
    ("pincer-llm-router", pincer_llm_router::main),
];

fn main() -> ExitCode {
    pincer_services::run(&SERVICES)
}
