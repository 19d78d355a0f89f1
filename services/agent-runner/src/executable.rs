//! `pincer-agent-runner`: loads the `agents` and `tools` sections and consumes turns until
//! SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use pincer_lifecycle::entry::{self, InvalidConfig};
use pincer_lifecycle::{env, probe};

const SERVICE: &str = "agent-runner";
const DEFAULT_HEALTH_LISTEN: &str = "127.0.0.1:50061";

/// `PINCER_AGENT_ACK_WAIT_SECS` (default 6, at least 3): how long a turn pulled by a runner that
/// died waits before another runner takes it. Pulled turns report progress every third of it, so a
/// long turn is never taken while its runner lives.
/// Which turns this replica takes (`PINCER_AGENT_RUNNER_LANES`): `all` (default), `main`
/// (people's, hooks' and jobs' turns only) or `subagents` (sub-agents only, a replica kept for
/// delegated work).
fn lanes() -> Result<(bool, bool), InvalidConfig> {
    match std::env::var("PINCER_AGENT_RUNNER_LANES")
        .unwrap_or_default()
        .trim()
    {
        "" | "all" => Ok((true, true)),
        "main" => Ok((true, false)),
        "subagents" => Ok((false, true)),
        other => Err(InvalidConfig(anyhow::anyhow!(
            "PINCER_AGENT_RUNNER_LANES={other:?} is not one of: all, main, subagents"
        ))),
    }
}

fn ack_wait_secs() -> Result<u64, InvalidConfig> {
    match std::env::var("PINCER_AGENT_ACK_WAIT_SECS") {
        Ok(raw) if !raw.trim().is_empty() => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|secs| *secs >= 3)
            .ok_or_else(|| {
                InvalidConfig(anyhow::anyhow!(
                    "PINCER_AGENT_ACK_WAIT_SECS={raw:?} is not a number of seconds >= 3"
                ))
            }),
        _ => Ok(6),
    }
}

/// The executable's entry point: runs the service configured by the environment and the config
/// file until SIGTERM, or probes a running one (`healthcheck`).
pub fn main() -> ExitCode {
    entry::run("pincer-agent-runner", healthcheck, serve)
}

async fn healthcheck() -> Result<(), probe::Error> {
    probe::grpc_self("PINCER_AGENT_RUNNER_HEALTH_LISTEN", DEFAULT_HEALTH_LISTEN).await
}

/// `PINCER_WORKSPACE`, else `~/.pincer/workspace` (the compose file mounts a volume there).
fn workspace_base() -> std::path::PathBuf {
    if let Ok(dir) = std::env::var("PINCER_WORKSPACE")
        && !dir.trim().is_empty()
    {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    std::path::Path::new(&home).join(".pincer/workspace")
}

/// A secret from a non-empty variable.
fn secret_var(name: &str) -> Option<pincer_config::Secret> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .map(pincer_config::Secret::new)
}

/// `PINCER_TOOL_HOST_URL` and `PINCER_TOOL_HOST_TOKEN`; `None` without a URL.
fn tool_host(file: &pincer_config::Config) -> Option<crate::tool_host::Settings> {
    let url = std::env::var("PINCER_TOOL_HOST_URL")
        .ok()
        .filter(|url| !url.trim().is_empty() && url != "none");
    if url.is_none()
        && (file.tools.exec.mode != pincer_config::ExecMode::Deny || !file.mcp.servers.is_empty())
    {
        tracing::warn!(
            "tools.exec or mcp.servers is configured but PINCER_TOOL_HOST_URL is not set: exec, web and MCP tools are not offered"
        );
    }
    Some(crate::tool_host::Settings {
        url: url?,
        token: secret_var("PINCER_TOOL_HOST_TOKEN"),
    })
}

async fn serve() -> anyhow::Result<()> {
    // Only `agents` is resolved: the `${VAR}`s of `tools` and `mcp` (search keys, MCP tokens) are
    // the tool host's, and never reach this service.
    let file = entry::load_config(&["agents"])?;
    let health_listen =
        env::socket_addr_or("PINCER_AGENT_RUNNER_HEALTH_LISTEN", DEFAULT_HEALTH_LISTEN)
            .map_err(|error| InvalidConfig(error.into()))?;
    let ack_wait = Duration::from_secs(ack_wait_secs()?);
    let telemetry = pincer_telemetry::init(SERVICE)?;
    let (main_lane, subagent_lane) = lanes()?;
    let tool_host = tool_host(&file);
    let mut agents = file.agents;
    if !subagent_lane {
        agents
            .defaults
            .subagents
            .get_or_insert_default()
            .max_concurrent = Some(0);
    }
    let config = crate::Config {
        tool_host,
        nats_url: env::string_or("PINCER_NATS_URL", "nats://127.0.0.1:4222"),
        nats_credentials: pincer_bus::connect::Credentials::from_env(),
        router_url: env::string_or("PINCER_LLM_ROUTER_URL", "http://127.0.0.1:50051"),
        router_token: secret_var("PINCER_LLM_ROUTER_TOKEN"),
        namespace: pincer_bus::Namespace::default(),
        // 0: the main lane is left to other replicas.
        max_concurrent: if main_lane {
            agents.defaults.max_concurrent() as usize
        } else {
            0
        },
        agents,
        tools: file.tools,
        workspace_base: workspace_base(),
        drain_grace: Duration::from_secs(10),
        // How long a turn a crashed runner held waits before another replica runs it.
        ack_wait,
    };
    let health_listener = entry::listen(health_listen).await?;
    let shutdown = pincer_lifecycle::shutdown::token_cancelled_on_signal();
    let result = crate::run(config, health_listener, shutdown).await;
    telemetry.shutdown().await;
    Ok(result?)
}
