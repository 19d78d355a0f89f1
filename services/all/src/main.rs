//! `pincer-services`: all five services in one executable (see the library's documentation).

use std::process::ExitCode;

/// The services, by the binary name each is started under.
const SERVICES: [(&str, pincer_services::Main); 5] = [
    ("pincer-gateway", pincer_gateway::main),
    ("pincer-agent-runner", pincer_agent_runner::main),
    ("pincer-llm-router", pincer_llm_router::main),
    ("pincer-channel-bridge", pincer_channel_bridge::main),
    ("pincer-tool-host", pincer_tool_host::main),
];

fn main() -> ExitCode {
    // The tool host confines its children by starting its own executable (this one) with the
    // helper's argument, under whatever name: before anything else, as the tool host would.
    pincer_sandbox::become_child_if_asked();
    pincer_services::run(&SERVICES)
}
