//! `pincer-gateway`: loads the `gateway` and `agents` sections and serves HTTP until SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use pincer_gateway::{DEFAULT_MAX_BODY_BYTES, MAX_BODY_CEILING};
use pincer_lifecycle::entry::{self, InvalidConfig};
use pincer_lifecycle::{env, probe};

const SERVICE: &str = "gateway";

fn main() -> ExitCode {
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
    let file = entry::load_config(&["gateway", "agents"])?;
    // Only the webhook secrets of `channels` are used here (their variables are resolved when set
    // for the gateway); bot tokens stay with the channel-bridge.
    let telegram_webhooks = pincer_gateway::webhooks::secrets_from_config(&file.channels)
        .map_err(|reason| InvalidConfig(anyhow::anyhow!(reason)))?;
    let gateway = &file.gateway;
    let auth = pincer_gateway::auth::Auth::from_config(
        &gateway.auth,
        std::env::var("PINCER_GATEWAY_TOKEN").ok(),
    )
    .map_err(|error| InvalidConfig(error.into()))?;
    let port = match std::env::var("PINCER_GATEWAY_PORT") {
        Ok(raw) if !raw.trim().is_empty() => raw.trim().parse::<u16>().map_err(|_| {
            InvalidConfig(anyhow::anyhow!(
                "PINCER_GATEWAY_PORT={raw:?} is not a port number"
            ))
        })?,
        _ => gateway.port,
    };
    let bind_override = std::env::var("PINCER_GATEWAY_BIND").ok();
    let addr = pincer_gateway::bind::resolve(
        &gateway.bind,
        gateway.custom_bind_host.as_deref(),
        port,
        bind_override.as_deref(),
        auth.is_required(),
    )
    .map_err(|error| InvalidConfig(error.into()))?;
    let max_body_bytes = gateway
        .http
        .max_body_bytes
        .map_or(DEFAULT_MAX_BODY_BYTES, |bytes| {
            usize::try_from(bytes).unwrap_or(usize::MAX)
        });
    if max_body_bytes > MAX_BODY_CEILING {
        return Err(InvalidConfig(anyhow::anyhow!(
            "gateway.http.maxBodyBytes is {max_body_bytes}; at most {MAX_BODY_CEILING} fits in one NATS message"
        ))
        .into());
    }
    let config = pincer_gateway::Config {
        nats_url: env::string_or("PINCER_NATS_URL", "nats://127.0.0.1:4222"),
        router_url: env::string_or("PINCER_LLM_ROUTER_URL", "http://127.0.0.1:50051"),
        namespace: pincer_bus::Namespace::default(),
        auth,
        agents: file.agents,
        max_body_bytes,
        telegram_webhooks,
        pickup_timeout: Duration::from_secs(30),
        drain_grace: Duration::from_secs(10),
    };
    let telemetry = pincer_telemetry::init(SERVICE)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    pincer_lifecycle::shutdown::cancel_on_signal(shutdown.clone());
    let result = pincer_gateway::run(config, listener, shutdown).await;
    telemetry.shutdown().await;
    Ok(result?)
}
