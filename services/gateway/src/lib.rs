//! gateway: the only published port.
//!
//! - [`http`]: the axum app: `/v1/chat/completions` (JSON and SSE), `/v1/models`, `/healthz`,
//!   `/readyz`, `/hooks/...`, the Control UI and the control WebSocket, with trace-context
//!   extraction and a body-size cap.
//! - [`auth`]: modes (token, password, trusted-proxy), failed-attempt lockout, browser origins.
//! - [`bind`]: OpenClaw bind modes to a socket address, refusing open binds without auth.
//! - [`control`]: the WebSocket control plane (OpenClaw's frame shape) behind the Control UI.
//! - [`hooks`]: token-protected external triggers that start agent runs.
//! - [`metrics`]: turn counts and latencies, queue depth, and `GET /metrics` for the whole stack
//!   (the other services' figures are asked for over NATS).
//! - [`turns`]: hands a turn to the agent-runners over JetStream and follows its live events.
//! - [`readiness`]: what `/readyz` checks (NATS, llm-router health, a consuming agent-runner).

mod executable;
pub use executable::main;
pub mod auth;
pub mod bind;
pub mod bluebubbles_webhook;
pub mod control;
pub mod cron;
pub mod hooks;
pub mod http;
pub mod metrics;
pub mod pushed;
pub mod readiness;
pub mod run_events;
pub mod serve;
pub mod signature;
pub mod slack_events;
pub mod tailscale;
#[cfg(test)]
mod test_headers;
pub mod turns;
pub mod webhooks;
pub mod whatsapp_webhook;

use std::path::PathBuf;
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
    /// This service's user on the bus (`None`: anonymous, for a server without authorization).
    pub nats_credentials: Option<pincer_bus::connect::Credentials>,
    /// llm-router endpoint, for readiness and the models methods.
    pub router_url: String,
    /// The llm-router's token (`PINCER_LLM_ROUTER_TOKEN`).
    pub router_token: Option<pincer_config::Secret>,
    /// Bounds on connections and on how long a request head may take.
    pub connection_limits: serve::Limits,
    /// Subject namespace.
    pub namespace: Namespace,
    /// Who may call the API.
    pub auth: auth::Auth,
    /// `gateway.auth.adminToken`: the control plane's admin credential (see [`auth::Credential`]).
    pub admin_token: Option<pincer_config::Secret>,
    /// `gateway.trustedProxies`.
    pub proxies: auth::Proxies,
    /// `gateway.auth.rateLimit`.
    pub rate_limit: pincer_config::RateLimit,
    /// `gateway.controlUi` origins.
    pub origins: auth::origin::Origins,
    /// Serve the Control UI page (`gateway.controlUi.enabled`, default on).
    pub control_ui: bool,
    /// Where the Control UI is served (`gateway.controlUi.basePath`, without its trailing `/`;
    /// `None`: at `/`).
    pub control_ui_base: Option<String>,
    /// Serve `/v1/chat/completions` and `/v1/models`
    /// (`gateway.http.endpoints.chatCompletions.enabled`, default on).
    pub chat_api: bool,
    /// Publishing with the host's `tailscale` (`tailscale.mode`).
    pub tailscale: Option<tailscale::Settings>,
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
    /// Slack apps that take their events over HTTP, by path.
    pub slack_apps: std::collections::BTreeMap<String, slack_events::App>,
    /// WhatsApp numbers' webhook secrets by account.
    pub whatsapp_numbers: std::collections::BTreeMap<String, whatsapp_webhook::Number>,
    /// BlueBubbles servers' passwords by account.
    pub bluebubbles_passwords: std::collections::BTreeMap<String, pincer_config::Secret>,
    /// `/hooks` when enabled.
    pub hooks: Option<hooks::Settings>,
    /// The config file, for `config.get` / `config.patch` (none: those methods are unavailable).
    pub config_path: Option<PathBuf>,
    /// The bind as configured, for `status`.
    pub bind: String,
    /// Channel accounts, for `channels.status`.
    pub channel_accounts: Vec<control::ChannelAccount>,
    /// Whether the scheduler fires jobs (`cron.enabled`).
    pub cron_enabled: bool,
    /// How late a missed firing may still happen (`cron.missedGrace`).
    pub cron_grace: Duration,
}

/// The config cannot be served as written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The auth section.
    #[error(transparent)]
    Auth(#[from] auth::Error),
    /// `gateway.trustedProxies`.
    #[error(transparent)]
    Proxies(#[from] auth::client::BadProxy),
    /// The hooks section.
    #[error(transparent)]
    Hooks(#[from] hooks::SettingsError),
    /// Telegram webhook secrets or Slack signing secrets.
    #[error("{0}")]
    Webhooks(String),
    /// `gateway.http.maxBodyBytes`.
    #[error(
        "gateway.http.maxBodyBytes is {0}; at most {MAX_BODY_CEILING} fits in one NATS message"
    )]
    BodyCap(usize),
    /// The heartbeat names a time zone or a channel account that does not exist.
    #[error("{0}")]
    Heartbeat(String),
}

/// What the config file cannot say about `agents.defaults.heartbeat`: whether its time zone
/// exists and its channel account is configured.
fn check_heartbeat(
    agents: &pincer_config::Agents,
    accounts: &[control::ChannelAccount],
) -> Result<(), String> {
    let Some(heartbeat) = &agents.defaults.heartbeat else {
        return Ok(());
    };
    if let Some(hours) = &heartbeat.active_hours {
        pincer_cron::schedule::time_zone(hours.timezone.as_deref())
            .map_err(|e| format!("agents.defaults.heartbeat.activeHours.timezone: {e}"))?;
    }
    if let (Some(channel), Some(to)) = (heartbeat.target.as_deref(), heartbeat.to.as_deref())
        && channel != "none"
    {
        hooks::deliver_to(accounts, channel, to, heartbeat.account_id.as_deref())
            .map_err(|e| format!("agents.defaults.heartbeat.target: {e}"))?;
    }
    Ok(())
}

impl Config {
    /// The gateway's settings from the config file; `env_token` is `PINCER_GATEWAY_TOKEN`. Addresses
    /// and timeouts get local defaults, to be overridden by the caller.
    pub fn from_file(
        file: &pincer_config::Config,
        env_token: Option<String>,
    ) -> Result<Self, ConfigError> {
        let gateway = &file.gateway;
        let auth = auth::Auth::from_config(&gateway.auth, env_token, &gateway.trusted_proxies)?;
        let admin_token = gateway
            .auth
            .admin_token
            .clone()
            .filter(|token| !token.expose().trim().is_empty());
        let hooks = hooks::Settings::from_config(&file.hooks, &auth)?;
        let max_body_bytes = gateway
            .http
            .max_body_bytes
            .map_or(DEFAULT_MAX_BODY_BYTES, |bytes| {
                usize::try_from(bytes).unwrap_or(usize::MAX)
            });
        if max_body_bytes > MAX_BODY_CEILING {
            return Err(ConfigError::BodyCap(max_body_bytes));
        }
        let proxies = auth::Proxies::parse(&gateway.trusted_proxies)?;
        if let auth::Auth::TrustedProxy { secret: None, .. } = &auth {
            let broad = proxies.too_broad();
            if !broad.is_empty() {
                tracing::warn!(
                    entries = ?broad,
                    "gateway.trustedProxies lets in loopback or a wide range while gateway.auth.mode is \"trusted-proxy\": any process there may claim to be any user; set gateway.auth.trustedProxy.secret and have the proxy send it"
                );
            }
        }
        let channel_accounts = control::channel_accounts(&file.channels);
        check_heartbeat(&file.agents, &channel_accounts).map_err(ConfigError::Heartbeat)?;
        let ui = &gateway.control_ui;
        if ui.allow_insecure_auth {
            tracing::warn!(
                "gateway.controlUi.allowInsecureAuth is on: browsers may send the gateway token over plain http from other machines"
            );
        }
        if ui.allowed_origins.iter().any(|o| o.trim() == "*") {
            tracing::warn!(
                "gateway.controlUi.allowedOrigins contains \"*\": any web page may try to sign in to this gateway"
            );
        }
        Ok(Self {
            admin_token,
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            nats_credentials: None,
            router_url: "http://127.0.0.1:50051".to_owned(),
            router_token: None,
            connection_limits: serve::Limits::default(),
            namespace: Namespace::default(),
            proxies,
            rate_limit: gateway.auth.rate_limit.unwrap_or_default(),
            origins: auth::origin::Origins::new(&ui.allowed_origins, ui.allow_insecure_auth),
            control_ui: ui.enabled.unwrap_or(true),
            control_ui_base: ui
                .base_path
                .as_deref()
                .map(|base| base.trim_end_matches('/').to_owned())
                .filter(|base| !base.is_empty()),
            chat_api: gateway
                .http
                .endpoints
                .chat_completions
                .enabled
                .unwrap_or(true),
            tailscale: tailscale::Settings::from_config(file, None),
            auth,
            agents: file.agents.clone(),
            max_body_bytes,
            pickup_timeout: Duration::from_secs(30),
            drain_grace: Duration::from_secs(10),
            telegram_webhooks: webhooks::secrets_from_config(&file.channels)
                .map_err(ConfigError::Webhooks)?,
            slack_apps: slack_events::apps_from_config(&file.channels)
                .map_err(ConfigError::Webhooks)?,
            whatsapp_numbers: whatsapp_webhook::numbers_from_config(&file.channels)
                .map_err(ConfigError::Webhooks)?,
            bluebubbles_passwords: bluebubbles_webhook::passwords_from_config(&file.channels)
                .map_err(ConfigError::Webhooks)?,
            hooks,
            config_path: None,
            bind: gateway.bind.to_string(),
            channel_accounts,
            cron_enabled: file.cron.enabled(),
            cron_grace: file.cron.missed_grace(),
        })
    }
}

impl Config {
    /// The secrets that let someone in, each with its key path and why it is too weak to guess,
    /// for those that are (see [`pincer_config::strength`]).
    pub fn weak_secrets(&self) -> Vec<(String, String)> {
        let mut secrets: Vec<(String, &pincer_config::Secret)> = Vec::new();
        match &self.auth {
            auth::Auth::Token(token) => secrets.push(("gateway.auth.token".to_owned(), token)),
            auth::Auth::Password(password) => {
                secrets.push(("gateway.auth.password".to_owned(), password))
            }
            auth::Auth::TrustedProxy {
                secret: Some((_, secret)),
                ..
            } => secrets.push(("gateway.auth.trustedProxy.secret".to_owned(), secret)),
            auth::Auth::TrustedProxy { .. } | auth::Auth::None => {}
        }
        if let Some(admin) = &self.admin_token {
            secrets.push(("gateway.auth.adminToken".to_owned(), admin));
        }
        if let Some(hooks) = &self.hooks {
            secrets.push(("hooks.token".to_owned(), &hooks.token));
        }
        for (account, secret) in &self.telegram_webhooks {
            secrets.push((
                format!("channels.telegram webhookSecret (account {account})"),
                secret,
            ));
        }
        for app in self.slack_apps.values() {
            secrets.push((
                format!("channels.slack signingSecret (account {})", app.account),
                &app.signing_secret,
            ));
        }
        for (account, number) in &self.whatsapp_numbers {
            secrets.push((
                format!("channels.whatsapp appSecret (account {account})"),
                &number.app_secret,
            ));
            secrets.push((
                format!("channels.whatsapp verifyToken (account {account})"),
                &number.verify_token,
            ));
        }
        for (account, password) in &self.bluebubbles_passwords {
            secrets.push((
                format!("channels.bluebubbles password (account {account})"),
                password,
            ));
        }
        secrets
            .into_iter()
            .filter_map(|(key, secret)| {
                pincer_config::strength::weakness(secret.expose()).map(|why| (key, why))
            })
            .collect()
    }
}

/// Gateway failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS connection or setup failed.
    #[error(transparent)]
    Bus(#[from] pincer_bus::Error),
    /// The run-event subscription could not be made.
    #[error(transparent)]
    Turns(#[from] turns::Error),
    /// The llm-router URL is malformed.
    #[error("invalid llm-router url {0:?}")]
    RouterUrl(String),
    /// The cron bucket cannot be used.
    #[error(transparent)]
    Cron(#[from] pincer_cron::StoreError),
    /// The HTTP server failed.
    #[error("http server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves HTTP on `listener` until `shutdown`, then drains for at most the grace period.
/// (Boxed: see [`pincer_lifecycle::Serving`].)
pub fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> pincer_lifecycle::Serving<Error> {
    Box::pin(serve_until(config, listener, shutdown))
}

async fn serve_until(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let Some((client, js)) = pincer_bus::connect::join(
        &config.nats_url,
        "gateway",
        config.nats_credentials.as_ref(),
        &config.namespace,
        shutdown.cancelled(),
    )
    .await?
    else {
        return Ok(());
    };
    let readiness =
        readiness::Readiness::new(client.clone(), config.namespace.clone(), &config.router_url)
            .map_err(|_| Error::RouterUrl(config.router_url.clone()))?;
    // Every platform's webhook stores through one handle on the inbound stream.
    let pushed = pushed::PushedEvents::new(config.namespace.clone()).with_jetstream(js.clone());
    let webhooks = webhooks::Webhooks::new(config.telegram_webhooks.clone(), pushed.clone());
    let slack_events = slack_events::SlackEvents::new(config.slack_apps.clone(), pushed.clone());
    let whatsapp =
        whatsapp_webhook::WhatsAppWebhooks::new(config.whatsapp_numbers.clone(), pushed.clone());
    let bluebubbles =
        bluebubbles_webhook::BlueBubblesWebhooks::new(config.bluebubbles_passwords.clone(), pushed);
    let turns = turns::Turns::start(
        client.clone(),
        js.clone(),
        config.namespace.clone(),
        config.pickup_timeout,
    )
    .await?;
    let guard = std::sync::Arc::new(auth::guard::Guard::new(&config));
    let control = control::Services::open(
        &config,
        &js,
        readiness.clone(),
        turns.clone(),
        std::sync::Arc::clone(&guard),
        shutdown.clone(),
    )
    .await
    .map_err(|error| match error {
        control::SetupError::Bus(bus) => Error::Bus(bus),
        control::SetupError::RouterUrl(url) => Error::RouterUrl(url),
        control::SetupError::Cron(cron) => Error::Cron(cron),
    })?;
    if config.cron_enabled {
        if let Err(error) = cron::heartbeat::sync(&control.cron, &config.agents).await {
            tracing::warn!(%error, "cannot write the heartbeat jobs; they keep their last definition");
        }
        tokio::spawn(control.scheduler.clone().run(shutdown.clone()));
    }
    let state = http::AppState::new(
        &config,
        guard,
        turns,
        readiness,
        http::Ingress {
            telegram: webhooks,
            slack: slack_events,
            whatsapp,
            bluebubbles,
            media: match pincer_bus::setup::media_store(&js, &config.namespace).await {
                Ok(store) => Some(store),
                Err(error) => {
                    tracing::warn!(%error, "the media store cannot be opened: API requests with images are refused");
                    None
                }
            },
        },
        control,
    );
    let app = http::app(state);

    let listening = listener.local_addr()?;
    tracing::info!(addr = %listening, auth = config.auth.mode_name(), "gateway listening");
    let tailscale = config.tailscale.clone().map(|settings| {
        tokio::spawn(tailscale::publish_until(
            settings,
            listening,
            shutdown.clone(),
        ))
    });
    let server = tokio::spawn(serve::serve(
        listener,
        app,
        config.connection_limits,
        shutdown.clone(),
    ));
    shutdown.cancelled().await;
    match tokio::time::timeout(config.drain_grace, server).await {
        Ok(Ok(result)) => result?,
        Ok(Err(join_error)) => tracing::error!(%join_error, "http server task failed"),
        Err(_) => {
            tracing::warn!(grace = ?config.drain_grace, "requests still open after the grace period")
        }
    }
    if let Some(task) = tailscale {
        // resetOnExit runs one short command; don't let a hung tailscaled hold the exit.
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    pincer_bus::connect::final_flush(&client).await;
    tracing::info!("gateway stopped");
    Ok(())
}
