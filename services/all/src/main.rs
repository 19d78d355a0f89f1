//! `pincer-services`: every Pincer service in one executable. Which one runs is the name it is
//! started under (the file name of its first argument, `argv[0]`): a `pincer-gateway` link to this
//! file runs the gateway, and so does `pincer dev` starting this file with `arg0` set. Every other
//! argument (`healthcheck`, ...) means what it means to the service's own binary.
//!
//! Why one file: processes started from the same file share its code in memory. Five binaries each
//! carry their own copy of tokio, hyper, tonic, async-nats and serde, and on Linux a process maps
//! most of its binary's code at startup, so each service paid for that copy again.

use std::path::Path;
use std::process::ExitCode;

use pincer_service_launcher::Launched;

/// A service's `main`.
type Main = fn() -> ExitCode;

/// The services, by the binary name each is started under.
const SERVICES: [(&str, Main); 5] = [
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
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let mut name = Path::new(&arg0)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `pincer dev` forks the services from one process of this file (see pincer-service-launcher).
    let names: Vec<&str> = SERVICES.iter().map(|(binary, _)| *binary).collect();
    if name == pincer_service_launcher::LAUNCHER_NAME {
        match pincer_service_launcher::serve(&names) {
            Ok(Launched::Service(service)) => name = service,
            Ok(Launched::Done) => return ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{}: {error}", pincer_service_launcher::LAUNCHER_NAME);
                return ExitCode::FAILURE;
            }
        }
    }
    let Some((binary, main)) = SERVICES.iter().find(|(binary, _)| *binary == name) else {
        eprintln!(
            "pincer-services: started as {name:?}; start it under one of these names (a link \
             named so, or argv[0]): {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    name_process(binary);
    main()
}

/// The kernel names a process after the file it executed: ps, top and the benchmarks' process
/// table should say which service this one is. Best effort (the kernel keeps 15 bytes).
fn name_process(binary: &str) {
    let _ = std::fs::write("/proc/self/comm", binary);
}
