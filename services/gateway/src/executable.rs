//! `pincer-gateway`: loads the `gateway` and `agents` sections and serves HTTP until SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use pincer_lifecycle::entry::{self, InvalidConfig};
use pincer_lifecycle::{env, probe};

const SERVICE: &str = "gateway";

/// The executable's entry point: runs the service configured by the environment and the config
/// file until SIGTERM, or probes a running one (`healthcheck`).
pub fn main() -> ExitCode {
    entry::run("pincer-gateway", healthcheck, serve)
}

/// Probes `/healthz` on the port the gateway would use.
async fn healthcheck() -> Result<(), probe::Error> {
    let port = env::string_or("PINCER_GATEWAY_PORT", "18789");
    probe::http_get_ok(
        &format!("http://127.0.0.1:{port}/healthz"),
        Duration::from_secs(2),
    )
    .await
}

async fn serve() -> anyhow::Result<()> {
    let file = entry::load_config(&["gateway", "agents", "hooks", "cron"])?;
    let telemetry = pincer_telemetry::init(SERVICE)?;
    let mut config = crate::Config::from_file(&file, std::env::var("PINCER_GATEWAY_TOKEN").ok())
        .map_err(|error| InvalidConfig(error.into()))?;
    let gateway = &file.gateway;
    let port = match std::env::var("PINCER_GATEWAY_PORT") {
        Ok(raw) if !raw.trim().is_empty() => raw.trim().parse::<u16>().map_err(|_| {
            InvalidConfig(anyhow::anyhow!(
                "PINCER_GATEWAY_PORT={raw:?} is not a port number"
            ))
        })?,
        _ => gateway.port,
    };
    let bind_override = std::env::var("PINCER_GATEWAY_BIND").ok();
    let addr = crate::bind::resolve(
        &gateway.bind,
        gateway.custom_bind_host.as_deref(),
        port,
        bind_override.as_deref(),
        config.auth.is_required(),
    )
    .map_err(|error| InvalidConfig(error.into()))?;
    refuse_weak_secrets(&config, addr.ip())?;
    config.nats_url = env::string_or("PINCER_NATS_URL", "nats://127.0.0.1:4222");
    config.nats_credentials = pincer_bus::connect::Credentials::from_env();
    config.router_url = env::string_or("PINCER_LLM_ROUTER_URL", "http://127.0.0.1:50051");
    config.router_token = std::env::var("PINCER_LLM_ROUTER_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty())
        .map(pincer_config::Secret::new);
    config.config_path = Some(env::config_path());
    if let (Some(tailscale), Ok(program)) = (
        config.tailscale.as_mut(),
        std::env::var("PINCER_TAILSCALE_BIN"),
    ) && !program.trim().is_empty()
    {
        tailscale.program = program.into();
    }
    config.bind = bind_override.unwrap_or_else(|| gateway.bind.to_string());
    let listener = entry::listen(addr).await?;
    let shutdown = pincer_lifecycle::shutdown::token_cancelled_on_signal();
    let result = crate::run(config, listener, shutdown).await;
    telemetry.shutdown().await;
    Ok(result?)
}

/// A secret that can be guessed keeps the gateway off the network; on loopback it is only warned
/// about, since every local process could read the config anyway.
fn refuse_weak_secrets(config: &crate::Config, ip: std::net::IpAddr) -> Result<(), InvalidConfig> {
    let weak = config.weak_secrets();
    if weak.is_empty() {
        return Ok(());
    }
    // Funnel puts even a loopback gateway on the internet.
    let funnel = config
        .tailscale
        .as_ref()
        .is_some_and(|t| t.mode == crate::tailscale::Mode::Funnel);
    if ip.is_loopback() && !funnel {
        for (key, why) in &weak {
            tracing::warn!(%key, %why, "weak secret: the gateway would refuse it on a network-facing bind");
        }
        return Ok(());
    }
    let list: Vec<String> = weak
        .iter()
        .map(|(key, why)| format!("{key}: {why}"))
        .collect();
    Err(InvalidConfig(anyhow::anyhow!(
        "refusing to {} with a secret that can be guessed ({}); generate each with `openssl rand -hex 32`",
        if funnel {
            "publish the gateway on the internet (tailscale funnel)".to_owned()
        } else {
            format!("listen on {ip}")
        },
        list.join("; ")
    )))
}
