//! channel-bridge: owns the messaging channels and their JetStream streams.
//!
//! This build sets up the inbound/outbound channel streams, reports health, and validates the
//! channel configuration. The Telegram long-polling and sending loops come next (they publish to
//! `Namespace::channel_inbound` and consume `Namespace::channel_outbound`).

use pincer_bus::Namespace;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Bridge settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// NATS server URL.
    pub nats_url: String,
    /// Subject namespace.
    pub namespace: Namespace,
    /// The `channels` section.
    pub channels: pincer_config::Channels,
    /// `TELEGRAM_BOT_TOKEN`, if set.
    pub telegram_token_env: Option<pincer_config::Secret>,
}

/// Bridge failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS connection or setup failed.
    #[error(transparent)]
    Bus(#[from] pincer_bus::Error),
    /// An enabled channel is missing what it needs.
    #[error("{0}")]
    Channel(String),
    /// The health server failed.
    #[error("health server failed: {0}")]
    Health(#[from] tonic::transport::Error),
}

/// Checks the enabled channels have what they need before anything starts. `env_token` is
/// `TELEGRAM_BOT_TOKEN`, which OpenClaw also accepts in place of `channels.telegram.botToken`.
pub fn validate(channels: &pincer_config::Channels, env_token: Option<&str>) -> Result<(), Error> {
    let env_has_token = env_token.is_some_and(|token| !token.trim().is_empty());
    if let Some(telegram) = &channels.telegram
        && telegram.enabled
        && telegram
            .bot_token
            .as_ref()
            .is_none_or(|token| token.is_empty())
        && !env_has_token
    {
        return Err(Error::Channel(
            "channels.telegram is enabled but has no bot token: set channels.telegram.botToken or TELEGRAM_BOT_TOKEN"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Runs until `shutdown`.
pub async fn run(
    config: Config,
    health_listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    validate(
        &config.channels,
        config
            .telegram_token_env
            .as_ref()
            .map(pincer_config::Secret::expose),
    )?;
    let client = pincer_bus::connect::connect(
        &config.nats_url,
        "channel-bridge",
        pincer_bus::connect::STARTUP_PATIENCE,
    )
    .await?;
    let js = async_nats::jetstream::new(client.clone());
    pincer_bus::setup::ensure_all(&js, &config.namespace).await?;
    let telegram_enabled = config.channels.telegram.as_ref().is_some_and(|t| t.enabled);
    if telegram_enabled {
        tracing::warn!("channels.telegram is enabled, but this build does not poll Telegram yet");
    } else {
        tracing::info!("no channel enabled");
    }

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tonic::transport::Server::builder()
        .add_service(health_service)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(health_listener),
            shutdown.cancelled_owned(),
        )
        .await?;
    if let Err(error) = client.flush().await {
        tracing::warn!(%error, "final nats flush failed");
    }
    tracing::info!("channel-bridge stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels(json: &str) -> pincer_config::Channels {
        let text = format!("{{ channels: {json} }}");
        pincer_config::parse_str(&text, "test", &|_| None, pincer_config::Scope::All)
            .unwrap()
            .channels
    }

    #[test]
    fn an_enabled_telegram_needs_a_token() {
        assert!(validate(&channels("{ telegram: { enabled: true } }"), None).is_err());
        assert!(validate(&channels("{ telegram: { enabled: true } }"), Some(" ")).is_err());
        assert!(
            validate(
                &channels("{ telegram: { enabled: true } }"),
                Some("123:abc")
            )
            .is_ok()
        );
        assert!(validate(&channels("{ telegram: { enabled: false } }"), None).is_ok());
        assert!(
            validate(
                &channels("{ telegram: { enabled: true, botToken: \"123:abc\" } }"),
                None
            )
            .is_ok()
        );
        assert!(validate(&channels("{}"), None).is_ok());
    }
}
