//! channel-bridge: owns the messaging channels.
//!
//! - [`channel`]: what every channel shares: access policy and pairing, routing, exactly-once
//!   ingest and delivery, typing indicators, per-account health.
//! - [`telegram`]: long polling (one poller per bot across replicas) or a webhook.
//! - [`discord`]: the gateway (one connection per bot across replicas) and REST.
//! - [`slack`]: Socket Mode (one connection per app across replicas) or the Events API, and the Web API.
//! - [`whatsapp`]: the Cloud API (webhooks through the gateway, the Graph API out).
//! - [`signal`]: a signal-cli daemon (its SSE event stream in, JSON-RPC out).
//! - [`bluebubbles`]: iMessage through a BlueBubbles server (webhooks through the gateway, REST out).
//! - [`metrics`]: messages in, replies delivered and retried, answered to the gateway's scrape.
//! - [`chunk`], [`render`]: splitting replies under a limit; Markdown to Telegram HTML.

mod executable;
pub use executable::main;
pub mod bluebubbles;
pub mod channel;
pub mod chunk;
pub mod discord;
pub mod metrics;
pub mod render;
pub mod signal;
pub mod slack;
pub mod telegram;
pub mod whatsapp;

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
    /// The tokens the environment gives the default accounts.
    pub env_tokens: EnvTokens,
    /// `session.dmScope`: `main` shares one session among all DMs; anything else is per sender.
    pub dm_scope: Option<String>,
    /// `bindings`: channel, account or chat → agent.
    pub bindings: Vec<pincer_config::Binding>,
    /// This replica's stable name (its lease holder identity): the container's hostname, so a
    /// restarted bridge takes its own leases back at once instead of waiting for them to expire.
    pub instance: String,
}

/// Tokens from the environment, which OpenClaw also accepts in place of each channel's default
/// account's token: `TELEGRAM_BOT_TOKEN`, `DISCORD_BOT_TOKEN`, `SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN`.
#[derive(Clone, Debug, Default)]
pub struct EnvTokens {
    /// `TELEGRAM_BOT_TOKEN`.
    pub telegram: Option<pincer_config::Secret>,
    /// `DISCORD_BOT_TOKEN`.
    pub discord: Option<pincer_config::Secret>,
    /// `SLACK_BOT_TOKEN` and `SLACK_APP_TOKEN`.
    pub slack: pincer_config::SlackEnvTokens,
}

impl EnvTokens {
    /// The tokens set (and not blank) in the process environment.
    pub fn from_env() -> Self {
        let token = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .map(pincer_config::Secret::new)
        };
        Self {
            telegram: token("TELEGRAM_BOT_TOKEN"),
            discord: token("DISCORD_BOT_TOKEN"),
            slack: pincer_config::SlackEnvTokens {
                bot: token("SLACK_BOT_TOKEN"),
                app: token("SLACK_APP_TOKEN"),
            },
        }
    }
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

/// Checks the enabled channels have what they need before anything starts.
pub fn validate(channels: &pincer_config::Channels, env: &EnvTokens) -> Result<(), Error> {
    if let Some(telegram) = channels.telegram.as_ref().filter(|t| t.enabled) {
        let env_token = env
            .telegram
            .as_ref()
            .filter(|token| !token.expose().trim().is_empty());
        validate_telegram(telegram, env_token)?;
    }
    if let Some(discord) = channels.discord.as_ref().filter(|d| d.enabled) {
        let accounts = discord.resolved_accounts(env.discord.as_ref());
        if accounts.is_empty() {
            return Err(Error::Channel(
                "channels.discord is enabled but has no bot token: set channels.discord.token or DISCORD_BOT_TOKEN".to_owned(),
            ));
        }
        for (account, settings) in &accounts {
            open_needs_star(
                "discord",
                account,
                settings.dm_policy(),
                &settings.allow_from(),
            )?;
        }
    }
    if let Some(slack) = channels.slack.as_ref().filter(|s| s.enabled) {
        let accounts = slack.resolved_accounts(&env.slack);
        if accounts.is_empty() {
            return Err(Error::Channel(
                "channels.slack is enabled but has no bot token: set channels.slack.botToken or SLACK_BOT_TOKEN".to_owned(),
            ));
        }
        for (account, settings) in &accounts {
            open_needs_star(
                "slack",
                account,
                settings.dm_policy(),
                &settings.allow_from(),
            )?;
            match settings.mode() {
                pincer_config::SlackMode::Socket
                    if settings
                        .app_token
                        .as_ref()
                        .is_none_or(pincer_config::Secret::is_empty) =>
                {
                    return Err(Error::Channel(format!(
                        "channels.slack ({account}): Socket Mode needs an app-level token: set appToken (xapp-...) or SLACK_APP_TOKEN, or use mode: \"http\" with a signingSecret"
                    )));
                }
                pincer_config::SlackMode::Http
                    if settings
                        .signing_secret
                        .as_ref()
                        .is_none_or(pincer_config::Secret::is_empty) =>
                {
                    return Err(Error::Channel(format!(
                        "channels.slack ({account}): mode \"http\" needs signingSecret: without it the gateway could not tell Slack's calls from anyone's"
                    )));
                }
                _ => {}
            }
        }
    }
    if let Some(whatsapp) = channels.whatsapp.as_ref().filter(|w| w.enabled) {
        whatsapp::validate(whatsapp).map_err(Error::Channel)?;
    }
    if let Some(signal) = channels.signal.as_ref().filter(|s| s.enabled) {
        signal::validate(signal).map_err(Error::Channel)?;
    }
    if let Some(bluebubbles) = channels.bluebubbles.as_ref().filter(|b| b.enabled) {
        bluebubbles::validate(bluebubbles).map_err(Error::Channel)?;
    }
    Ok(())
}

/// `dmPolicy: "open"` must be confirmed with `allowFrom: ["*"]`.
pub(crate) fn open_needs_star(
    channel: &str,
    account: &str,
    policy: pincer_config::DmPolicy,
    allow_from: &[String],
) -> Result<(), Error> {
    if policy == pincer_config::DmPolicy::Open && !allow_from.iter().any(|entry| entry == "*") {
        return Err(Error::Channel(format!(
            "channels.{channel} ({account}): dmPolicy is \"open\" but allowFrom does not contain \"*\": anyone could talk to the agent; add allowFrom: [\"*\"] to confirm, or use \"pairing\""
        )));
    }
    Ok(())
}

fn validate_telegram(
    telegram: &pincer_config::Telegram,
    env_token: Option<&pincer_config::Secret>,
) -> Result<(), Error> {
    if telegram.resolved_accounts(env_token).is_empty() {
        return Err(Error::Channel(
            "channels.telegram is enabled but has no bot token: set channels.telegram.botToken or TELEGRAM_BOT_TOKEN"
                .to_owned(),
        ));
    }
    for (account, settings) in telegram.resolved_accounts(env_token) {
        open_needs_star(
            "telegram",
            &account,
            settings.dm_policy(),
            &settings.allow_from,
        )?;
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
/// (Boxed: see [`pincer_lifecycle::Serving`].)
pub fn run(
    config: Config,
    health_listener: TcpListener,
    shutdown: CancellationToken,
) -> pincer_lifecycle::Serving<Error> {
    Box::pin(serve_until(config, health_listener, shutdown))
}

async fn serve_until(
    config: Config,
    health_listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    validate(&config.channels, &config.env_tokens)?;
    let Some((client, js)) = pincer_bus::connect::join(
        &config.nats_url,
        "channel-bridge",
        config.nats_credentials.as_ref(),
        &config.namespace,
        shutdown.cancelled(),
    )
    .await?
    else {
        return Ok(());
    };
    let metrics = metrics::Metrics::new(&config.instance);
    answer_scrapes(&client, &config.namespace, &metrics, &shutdown).await;
    let channels = spawn_channels(&js, &config, &metrics, &shutdown).await;
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
    for channel in channels {
        if let Err(error) = channel.await {
            tracing::warn!(%error, "a channel task ended abnormally");
        }
    }
    pincer_bus::connect::final_flush(&client).await;
    tracing::info!("channel-bridge stopped");
    Ok(())
}

/// Starts every enabled channel; each runs until `shutdown`.
/// Answers the gateway's metrics scrape until `shutdown`; without it the bridge still works.
async fn answer_scrapes(
    client: &async_nats::Client,
    namespace: &Namespace,
    metrics: &metrics::Metrics,
    shutdown: &CancellationToken,
) {
    let metrics = metrics.clone();
    let render = std::sync::Arc::new(move || metrics.render());
    let subject = namespace.metrics(pincer_bus::access::Role::ChannelBridge.user());
    if let Err(error) =
        pincer_metrics::scrape::answer(client.clone(), subject, render, shutdown.clone()).await
    {
        tracing::warn!(%error, "cannot answer metrics scrapes");
    }
}

async fn spawn_channels(
    js: &async_nats::jetstream::Context,
    config: &Config,
    metrics: &metrics::Metrics,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let enabled = &config.channels;
    let telegram = enabled.telegram.as_ref().filter(|t| t.enabled);
    let discord = enabled.discord.as_ref().filter(|d| d.enabled);
    let slack = enabled.slack.as_ref().filter(|s| s.enabled);
    let whatsapp = enabled.whatsapp.as_ref().filter(|w| w.enabled);
    let signal = enabled.signal.as_ref().filter(|s| s.enabled);
    let bluebubbles = enabled.bluebubbles.as_ref().filter(|b| b.enabled);
    let any = telegram.is_some()
        || discord.is_some()
        || slack.is_some()
        || whatsapp.is_some()
        || signal.is_some()
        || bluebubbles.is_some();
    if !any {
        tracing::info!("no channel enabled");
        return Vec::new();
    }
    // The buckets every channel uses, opened once; without them no channel can run.
    let stores = match channel::Stores::open(js, &config.namespace).await {
        Ok(stores) => stores,
        Err(error) => {
            tracing::error!(%error, "cannot open the channel buckets");
            return Vec::new();
        }
    };
    let context = channel::Context::new(js.clone(), config, stores, metrics.clone());
    let mut tasks = Vec::new();
    if let Some(telegram) = telegram {
        tasks.push(tokio::spawn(run_telegram(
            context.clone(),
            telegram.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(discord) = discord {
        tasks.push(tokio::spawn(discord::run(
            context.clone(),
            discord.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(slack) = slack {
        tasks.push(tokio::spawn(slack::run(
            context.clone(),
            slack.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(whatsapp) = whatsapp {
        tasks.push(tokio::spawn(whatsapp::run(
            context.clone(),
            whatsapp.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(signal) = signal {
        tasks.push(tokio::spawn(signal::run(
            context.clone(),
            signal.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(bluebubbles) = bluebubbles {
        tasks.push(tokio::spawn(bluebubbles::run(
            context,
            bluebubbles.clone(),
            shutdown.clone(),
        )));
    }
    tasks
}

/// Runs the Telegram side until `shutdown`: one poller per bot account, one sender for all.
async fn run_telegram(
    context: channel::Context,
    config: pincer_config::Telegram,
    shutdown: CancellationToken,
) {
    use channel::typing::Typing;
    use telegram::{account, client, outbound};
    let js = context.js.clone();
    let ns = context.ns.clone();
    let env_token = context.env_tokens.telegram.clone();
    let shared_dm_session = context.shared_dm_session;
    let bindings = context.bindings.clone();
    let instance = context.instance.clone();
    let crate::channel::Stores {
        state,
        pairing,
        media,
    } = context.stores.clone();
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
            metrics: context.metrics.clone(),
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
    // Telegram has no idempotent send: a claim is taken over only once its sender is surely gone.
    context
        .send_until(
            "telegram",
            senders,
            Duration::from_secs(120),
            pollers,
            shutdown,
        )
        .await;
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

    fn telegram_env(token: &str) -> EnvTokens {
        EnvTokens {
            telegram: Some(pincer_config::Secret::new(token)),
            ..EnvTokens::default()
        }
    }

    #[test]
    fn an_enabled_telegram_needs_a_token() {
        let none = EnvTokens::default();
        assert!(validate(&channels("{ telegram: { enabled: true } }"), &none).is_err());
        assert!(
            validate(
                &channels("{ telegram: { enabled: true } }"),
                &telegram_env(" ")
            )
            .is_err()
        );
        assert!(
            validate(
                &channels("{ telegram: { enabled: true } }"),
                &telegram_env("123:abc")
            )
            .is_ok()
        );
        assert!(validate(&channels("{ telegram: { enabled: false } }"), &none).is_ok());
        assert!(
            validate(
                &channels("{ telegram: { enabled: true, botToken: \"123:abc\" } }"),
                &none
            )
            .is_ok()
        );
        assert!(validate(&channels("{}"), &none).is_ok());
        assert!(
            validate(
                &channels(r#"{ telegram: { botToken: "1:a", allowFrom: ["*"], accounts: { w: { botToken: "2:b", dmPolicy: "open", allowFrom: [5] } } } }"#),
                &none
            )
            .is_err(),
            "every account is checked"
        );
        assert!(
            validate(
                &channels(r#"{ telegram: { botToken: "1:a", webhookUrl: "https://x/telegram-webhook/default" } }"#),
                &none
            )
            .is_err(),
            "a webhook needs a secret"
        );
    }

    #[test]
    fn discord_and_slack_need_their_tokens() {
        let none = EnvTokens::default();
        assert!(validate(&channels("{ discord: {} }"), &none).is_err());
        let discord_env = EnvTokens {
            discord: Some(pincer_config::Secret::new("d-token")),
            ..EnvTokens::default()
        };
        assert!(validate(&channels("{ discord: {} }"), &discord_env).is_ok());
        assert!(
            validate(
                &channels(r#"{ discord: { token: "t", dmPolicy: "open" } }"#),
                &none
            )
            .is_err()
        );
        assert!(
            validate(&channels(r#"{ slack: { botToken: "xoxb-1" } }"#), &none).is_err(),
            "socket mode needs an app token"
        );
        assert!(
            validate(
                &channels(r#"{ slack: { botToken: "xoxb-1", appToken: "xapp-1" } }"#),
                &none
            )
            .is_ok()
        );
        assert!(
            validate(
                &channels(r#"{ slack: { botToken: "xoxb-1", mode: "http" } }"#),
                &none
            )
            .is_err(),
            "http mode needs a signing secret"
        );
        assert!(
            validate(
                &channels(r#"{ slack: { botToken: "xoxb-1", mode: "http", signingSecret: "s" } }"#),
                &none
            )
            .is_ok()
        );
    }
}
