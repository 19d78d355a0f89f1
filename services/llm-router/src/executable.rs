//! `pincer-llm-router`: loads the `models` section and serves gRPC until SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use pincer_lifecycle::entry::{self, InvalidConfig};
use pincer_lifecycle::{env, probe};

const SERVICE: &str = "llm-router";
const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// The executable's entry point: runs the service configured by the environment and the config
/// file until SIGTERM, or probes a running one (`healthcheck`).
pub fn main() -> ExitCode {
    entry::run("pincer-llm-router", healthcheck, serve)
}

async fn healthcheck() -> Result<(), probe::Error> {
    probe::grpc_self("PINCER_LLM_ROUTER_LISTEN", DEFAULT_LISTEN).await
}

async fn serve() -> anyhow::Result<()> {
    let file = entry::load_config(&["models"])?;
    let listen = env::socket_addr_or("PINCER_LLM_ROUTER_LISTEN", DEFAULT_LISTEN)
        .map_err(|error| InvalidConfig(error.into()))?;
    let config = crate::Config {
        models: file.models,
        default_call_timeout: Duration::from_secs(600),
        ollama_base_url: std::env::var("OLLAMA_BASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty()),
        nats_url: Some(env::string_or("PINCER_NATS_URL", "nats://127.0.0.1:4222"))
            .filter(|url| !url.trim().is_empty() && url != "none"),
        nats_credentials: pincer_bus::connect::Credentials::from_env(),
        token: std::env::var("PINCER_LLM_ROUTER_TOKEN")
            .ok()
            .filter(|token| !token.trim().is_empty())
            .map(pincer_config::Secret::new),
        namespace: pincer_bus::Namespace::default(),
        retry: crate::RetryPolicy::default(),
    };
    let telemetry = pincer_telemetry::init(SERVICE)?;
    let listener = entry::listen(listen).await?;
    let shutdown = pincer_lifecycle::shutdown::token_cancelled_on_signal();
    let result = crate::run(config, listener, shutdown).await;
    telemetry.shutdown().await;
    Ok(result?)
}
