//! gateway: the only published port.
//!
//! - [`http`]: the axum app: `/v1/chat/completions` (JSON and SSE), `/v1/models`, `/healthz`,
//!   `/readyz`, with trace-context extraction and a body-size cap.
//! - [`auth`]: bearer token / password checks in constant time.
//! - [`bind`]: OpenClaw bind modes to a socket address, refusing open binds without auth.
//! - [`turns`]: hands a turn to the agent-runners over JetStream and follows its live events.
//! - [`readiness`]: what `/readyz` checks (NATS, llm-router health, a consuming agent-runner).

pub mod auth;
pub mod bind;
pub mod http;
pub mod readiness;
pub mod turns;
pub mod webhooks;

use std::time::Duration;

use pincer_bus::Namespace;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest request body accepted by default; below NATS's 1 MiB payload limit with room for the
/// envelope.
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;
/// Hard ceiling for `gateway.http.maxBodyBytes` (a turn must fit in one NATS message).
pub const MAX_BODY_CEILING: usize = 900 * 1024;

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// NATS server URL.
    pub nats_url: String,
    /// llm-router endpoint, for readiness.
    pub router_url: String,
    /// Subject namespace.
    pub namespace: Namespace,
    /// Who may call the API.
    pub auth: auth::Auth,
    /// Agent definitions (which `model` names exist).
    pub agents: pincer_config::Agents,
    /// Request body cap.
    pub max_body_bytes: usize,
    /// How long to wait for an agent-runner to pick a turn up before answering 503 (the turn stays
    /// queued and still runs).
    pub pickup_timeout: Duration,
    /// How long in-flight requests may take after shutdown was requested.
    pub drain_grace: Duration,
    /// Telegram webhook secrets by account (webhook mode); empty = no webhook route accepts.
    pub telegram_webhooks: std::collections::BTreeMap<String, pincer_config::Secret>,
}

/// Gateway failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS connection or setup failed.
    #[error(transparent)]
    Bus(#[from] pincer_bus::Error),
    /// The llm-router URL is malformed.
    #[error("invalid llm-router url {0:?}")]
    RouterUrl(String),
    /// The HTTP server failed.
    #[error("http server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves HTTP on `listener` until `shutdown`, then drains for at most the grace period.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let client = pincer_bus::connect::connect(
        &config.nats_url,
        "gateway",
        pincer_bus::connect::STARTUP_PATIENCE,
    )
    .await?;
    let js = async_nats::jetstream::new(client.clone());
    pincer_bus::setup::ensure_all(&js, &config.namespace).await?;
    let readiness =
        readiness::Readiness::new(client.clone(), config.namespace.clone(), &config.router_url)
            .map_err(|_| Error::RouterUrl(config.router_url.clone()))?;
    let webhooks = webhooks::Webhooks::new(config.telegram_webhooks, config.namespace.clone())
        .with_jetstream(js.clone());
    let turns = turns::Turns::new(
        client.clone(),
        js,
        config.namespace.clone(),
        config.pickup_timeout,
    );
    let state = http::AppState::new(
        config.auth,
        config.agents,
        turns,
        readiness,
        config.max_body_bytes,
        webhooks,
    );
    let app = http::app(state);

    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    let stopping = shutdown.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stopping.cancelled().await });
    let server = tokio::spawn(async move { server.await });
    shutdown.cancelled().await;
    match tokio::time::timeout(config.drain_grace, server).await {
        Ok(Ok(result)) => result?,
        Ok(Err(join_error)) => tracing::error!(%join_error, "http server task failed"),
        Err(_) => {
            tracing::warn!(grace = ?config.drain_grace, "requests still open after the grace period")
        }
    }
    if let Err(error) = client.flush().await {
        tracing::warn!(%error, "final nats flush failed");
    }
    tracing::info!("gateway stopped");
    Ok(())
}
