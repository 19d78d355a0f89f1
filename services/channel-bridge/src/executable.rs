//! `pincer-channel-bridge`: loads the `channels` section and runs until SIGTERM.

use std::process::ExitCode;

use pincer_lifecycle::entry::{self, InvalidConfig};
use pincer_lifecycle::{env, probe};

const SERVICE: &str = "channel-bridge";
const DEFAULT_HEALTH_LISTEN: &str = "127.0.0.1:50062";

/// The executable's entry point: runs the service configured by the environment and the config
/// file until SIGTERM, or probes a running one (`healthcheck`).
pub fn main() -> ExitCode {
    entry::run("pincer-channel-bridge", healthcheck, serve)
}

async fn healthcheck() -> Result<(), probe::Error> {
    probe::grpc_self("PINCER_CHANNEL_BRIDGE_HEALTH_LISTEN", DEFAULT_HEALTH_LISTEN).await
}

/// `PINCER_INSTANCE`, else the hostname (a container's id, stable across its restarts), else a
/// random name.
fn instance_name() -> String {
    ["PINCER_INSTANCE", "HOSTNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| format!("bridge-{}", uuid::Uuid::new_v4().simple()))
}

async fn serve() -> anyhow::Result<()> {
    // The gateway checks webhook signatures: their secrets need not reach the bridge.
    let file = entry::load_config_except(
        &["channels", "session", "bindings"],
        &["appSecret", "verifyToken", "signingSecret"],
    )?;
    let env_tokens = crate::EnvTokens::from_env();
    crate::validate(&file.channels, &env_tokens).map_err(|error| InvalidConfig(error.into()))?;
    let health_listen =
        env::socket_addr_or("PINCER_CHANNEL_BRIDGE_HEALTH_LISTEN", DEFAULT_HEALTH_LISTEN)
            .map_err(|error| InvalidConfig(error.into()))?;
    let config = crate::Config {
        nats_url: env::string_or("PINCER_NATS_URL", "nats://127.0.0.1:4222"),
        nats_credentials: pincer_bus::connect::Credentials::from_env(),
        namespace: pincer_bus::Namespace::default(),
        channels: file.channels,
        env_tokens,
        dm_scope: file.session.dm_scope,
        bindings: file.bindings,
        instance: instance_name(),
    };
    let telemetry = pincer_telemetry::init(SERVICE)?;
    let listener = entry::listen(health_listen).await?;
    let shutdown = pincer_lifecycle::shutdown::token_cancelled_on_signal();
    let result = crate::run(config, listener, shutdown).await;
    telemetry.shutdown().await;
    Ok(result?)
}
