//! channel-bridge: owns the messaging channels.
//!
//! - [`channel`]: what every channel shares: access policy and pairing, routing, exactly-once
//!   ingest and delivery, typing indicators, per-account health.
//! - [`telegram`]: long polling (one poller per bot across replicas) or a webhook.
//! - [`chunk`], [`render`]: splitting replies under a limit; Markdown to Telegram HTML.

pub mod channel;
pub mod chunk;
pub mod render;
pub mod telegram;

use std::collections::HashMap;
use std::time::Duration;

use pincer_bus::Namespace;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Bridge settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// NATS server URL.
    pub nats_url: String,
    /// This service's user on the bus (`None`: anonymous, for a server without authorization).
    pub nats_credentials: Option<pincer_bus::connect::Credentials>,
    /// Subject namespace.
    pub namespace: Namespace,
    /// The `channels` section.
    pub channels: pincer_config::Channels,
    /// `TELEGRAM_BOT_TOKEN`, if set.
    pub telegram_token_env: Option<pincer_config::Secret>,
    /// `session.dmScope`: `main` shares one session among all DMs; anything else is per sender.
    pub dm_scope: Option<String>,
    /// `bindings`: channel, account or chat → agent.
    pub bindings: Vec<pincer_config::Binding>,
    /// This replica's stable name (its lease holder identity): the container's hostname, so a
    /// restarted bridge takes its own leases back at once instead of waiting for them to expire.
    pub instance: String,
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
    let Some(telegram) = channels.telegram.as_ref().filter(|t| t.enabled) else {
        return Ok(());
    };
    let env_token = env_token
        .filter(|token| !token.trim().is_empty())
        .map(pincer_config::Secret::new);
    if telegram.resolved_accounts(env_token.as_ref()).is_empty() {
        return Err(Error::Channel(
            "channels.telegram is enabled but has no bot token: set channels.telegram.botToken or TELEGRAM_BOT_TOKEN"
                .to_owned(),
        ));
    }
    for (account, settings) in telegram.resolved_accounts(env_token.as_ref()) {
        if settings.dm_policy() == pincer_config::DmPolicy::Open
            && !settings.allow_from.iter().any(|entry| entry == "*")
        {
            return Err(Error::Channel(format!(
                "channels.telegram ({account}): dmPolicy is \"open\" but allowFrom does not contain \"*\": anyone could talk to the agent; add allowFrom: [\"*\"] to confirm, or use \"pairing\""
            )));
        }
        if settings
            .webhook_url
            .as_deref()
            .is_some_and(|url| !url.is_empty())
            && settings
                .webhook_secret
                .as_ref()
                .is_none_or(|secret| secret.is_empty() || secret.expose().contains("${"))
        {
            return Err(Error::Channel(format!(
                "channels.telegram ({account}): webhookUrl is set but webhookSecret is missing (or its variable is not set): a webhook without a secret would accept anyone's updates"
            )));
        }
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
        config.nats_credentials.as_ref(),
        pincer_bus::connect::STARTUP_PATIENCE,
    )
    .await?;
    let js = async_nats::jetstream::new(client.clone());
    pincer_bus::setup::ensure_all(&js, &config.namespace).await?;
    let telegram = match config.channels.telegram.as_ref().filter(|t| t.enabled) {
        Some(telegram) => Some(tokio::spawn(run_telegram(
            js.clone(),
            config.clone(),
            telegram.clone(),
            shutdown.clone(),
        ))),
        None => {
            tracing::info!("no channel enabled");
            None
        }
    };

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
    if let Some(telegram) = telegram
        && let Err(error) = telegram.await
    {
        tracing::warn!(%error, "telegram task ended abnormally");
    }
    if let Err(error) = client.flush().await {
        tracing::warn!(%error, "final nats flush failed");
    }
    tracing::info!("channel-bridge stopped");
    Ok(())
}

/// Runs the Telegram side until `shutdown`: one poller per bot account, one sender for all.
async fn run_telegram(
    js: async_nats::jetstream::Context,
    bridge: Config,
    config: pincer_config::Telegram,
    shutdown: CancellationToken,
) {
    use channel::typing::Typing;
    use telegram::{account, client, outbound};
    let ns = bridge.namespace.clone();
    let env_token = bridge.telegram_token_env.clone();
    let shared_dm_session = bridge.dm_scope.as_deref() == Some("main");
    let bindings = bridge.bindings.clone();
    let instance = bridge.instance.clone();
    let stores = tokio::try_join!(
        pincer_bus::setup::channel_state_bucket(&js, &ns),
        pincer_bus::setup::pairing_bucket(&js, &ns),
        pincer_bus::setup::media_store(&js, &ns)
    );
    let (state, pairing, media) = match stores {
        Ok(stores) => stores,
        Err(error) => {
            tracing::error!(%error, "cannot open the channel buckets");
            return;
        }
    };
    let api_root = config
        .api_root
        .clone()
        .unwrap_or_else(|| client::DEFAULT_API_ROOT.to_owned());
    let mut senders = HashMap::new();
    let mut pollers = Vec::new();
    for (name, settings) in config.resolved_accounts(env_token.as_ref()) {
        let Some(token) = settings.bot_token.clone() else {
            continue;
        };
        let api = match client::BotApi::new(&api_root, token.expose()) {
            Ok(api) => api,
            Err(error) => {
                tracing::error!(account = %name, %error, "cannot build the telegram client");
                continue;
            }
        };
        let typing = Typing::new(api.clone());
        senders.insert(
            name.clone(),
            outbound::Account {
                api: api.clone(),
                typing: typing.clone(),
                chunk_limit: outbound::chunk_limit(settings.text_chunk_limit),
            },
        );
        let setup = account::AccountSetup {
            name,
            config: settings,
            api,
            typing,
            shared_dm_session,
            bindings: bindings.clone(),
            instance: instance.clone(),
        };
        pollers.push(tokio::spawn(account::run(
            setup,
            js.clone(),
            ns.clone(),
            state.clone(),
            pairing.clone(),
            media.clone(),
            shutdown.clone(),
        )));
    }
    let sender = channel::outbound::Sender {
        channel: "telegram",
        accounts: senders,
        state,
        // Telegram has no idempotent send: a claim is taken over only once its sender is surely gone.
        stale_claim: Duration::from_secs(120),
    };
    if let Err(error) = sender.run(js, ns, &instance, shutdown.clone()).await {
        tracing::error!(%error, "telegram sending stopped");
    }
    for poller in pollers {
        let _ = poller.await;
    }
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
        assert!(
            validate(
                &channels(r#"{ telegram: { botToken: "1:a", allowFrom: ["*"], accounts: { w: { botToken: "2:b", dmPolicy: "open", allowFrom: [5] } } } }"#),
                None
            )
            .is_err(),
            "every account is checked"
        );
        assert!(
            validate(
                &channels(r#"{ telegram: { botToken: "1:a", webhookUrl: "https://x/telegram-webhook/default" } }"#),
                None
            )
            .is_err(),
            "a webhook needs a secret"
        );
    }
}
