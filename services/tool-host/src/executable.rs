//! `pincer-tool-host`: loads the `agents`, `tools` and `mcp` sections and serves gRPC until
//! SIGTERM. Started as `pincer-tool-host __pincer_confine ...` it is the confining helper of its
//! own children instead (see `pincer-sandbox`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use pincer_lifecycle::entry::{self, InvalidConfig};
use pincer_lifecycle::{env, probe};

const SERVICE: &str = "tool-host";
const DEFAULT_LISTEN: &str = "127.0.0.1:50071";

/// The executable's entry point: runs the service configured by the environment and the config
/// file until SIGTERM, or probes a running one (`healthcheck`).
pub fn main() -> ExitCode {
    // Before anything else (no runtime, no threads): a child to confine and become.
    pincer_sandbox::become_child_if_asked();
    entry::run("pincer-tool-host", healthcheck, serve)
}

async fn healthcheck() -> Result<(), probe::Error> {
    probe::grpc_self("PINCER_TOOL_HOST_LISTEN", DEFAULT_LISTEN).await
}

/// A non-empty variable.
fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

async fn serve() -> anyhow::Result<()> {
    let file = entry::load_config(&["agents", "tools", "mcp"])?;
    let listen = env::socket_addr_or("PINCER_TOOL_HOST_LISTEN", DEFAULT_LISTEN)
        .map_err(|error| InvalidConfig(error.into()))?;
    let helper = std::env::current_exe().context("cannot find this program's own path")?;
    let config_path = env::config_path();
    let mut hidden = vec![config_path.clone()];
    hidden.extend(std::fs::canonicalize(&config_path).ok());
    hidden.extend(var("PINCER_SECRETS_DIR").map(PathBuf::from));
    let config = crate::Config {
        agents: file.agents,
        tools: file.tools,
        mcp: file.mcp,
        workspace_base: var("PINCER_WORKSPACE")
            .map_or_else(|| home().join(".pincer/workspace"), PathBuf::from),
        state_dir: var("PINCER_TOOL_STATE")
            .map_or_else(|| home().join(".pincer/tools"), PathBuf::from),
        confiner: pincer_sandbox::Confiner::new(helper),
        token: var("PINCER_TOOL_HOST_TOKEN").map(pincer_config::Secret::new),
        hidden,
        ca_bundle: Some(var("PINCER_CA_BUNDLE").map_or_else(
            || PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            PathBuf::from,
        )),
        brave_api_key: var("BRAVE_API_KEY").map(pincer_config::Secret::new),
        searxng_base_url: var("SEARXNG_BASE_URL"),
    };
    let telemetry = pincer_telemetry::init(SERVICE)?;
    let listener = entry::listen(listen).await?;
    let shutdown = pincer_lifecycle::shutdown::token_cancelled_on_signal();
    let result = crate::run(config, listener, shutdown).await;
    telemetry.shutdown().await;
    Ok(result?)
}
