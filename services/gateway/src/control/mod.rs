//! The WebSocket control plane behind the Control UI and `pincer` (protocol:
//! `docs/control-protocol.md`).
//!
//! - [`frame`]: request/response/event frames and error codes.
//! - [`connection`]: one connection's life: the handshake, then the read loop and ticks.
//! - [`handshake`]: the challenge, `connect` and its checks, `hello-ok`; the cap on sockets that
//!   have not signed in.
//! - [`conn`]: the sending half, a bounded outbound queue that disconnects slow consumers.
//! - [`limits`]: the numbers that bound a connection.
//! - [`resolve`]: which agent and session a method's parameters name.
//! - [`methods`]: dispatch by method name and scope; the read-only methods.
//! - [`chat`]: `chat.send` with streamed `chat` events, `chat.abort`.
//! - [`sessions`]: `sessions.list`, `chat.history`, `sessions.reset`.
//! - [`pairing`]: `pairing.list`, `pairing.approve`, `pairing.reject`.
//! - [`settings`]: `config.get` (secrets masked) and `config.patch`.
//! - [`cron`]: `cron.list`, `cron.status`, `cron.add`, `cron.update`, `cron.remove`, `cron.run`.

pub mod chat;
pub mod conn;
pub mod connection;
pub mod cron;
pub mod frame;
pub mod handshake;
pub mod limits;
pub mod methods;
pub mod pairing;
pub mod relays;
pub mod resolve;
pub mod sessions;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use pincer_bus::Namespace;
use pincer_proto::llm::v1::llm_router_client::LlmRouterClient;
use tokio_util::sync::CancellationToken;

use crate::readiness::Readiness;
use crate::turns::Turns;

/// Patience for one call to the llm-router.
const ROUTER_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel account as configured, for `channels.status`.
#[derive(Clone, Debug)]
pub struct ChannelAccount {
    /// `telegram`.
    pub channel: String,
    /// Account name (`default`, ...).
    pub account: String,
    /// `polling` or `webhook`.
    pub mode: &'static str,
}

/// What the control methods work with.
pub struct Services {
    /// Readiness checks.
    pub readiness: Readiness,
    /// Turn submission.
    pub turns: Turns,
    /// The llm-router (connected lazily).
    pub router: LlmRouterClient<
        tonic::service::interceptor::InterceptedService<
            tonic::transport::Channel,
            pincer_service_auth::Caller,
        >,
    >,
    /// JetStream, for consumer info.
    pub js: jetstream::Context,
    /// Namespace.
    pub namespace: Namespace,
    /// Transcripts.
    pub sessions: kv::Store,
    /// Pairing requests.
    pub pairing: kv::Store,
    /// Daily usage.
    pub usage: kv::Store,
    /// The channel accounts' connection states (`None` while the bucket cannot be opened).
    pub channel_state: Option<kv::Store>,
    /// Scheduled jobs.
    pub cron: pincer_cron::JobStore,
    /// Fires jobs (`cron.run` uses it even when the scheduler is off).
    pub scheduler: crate::cron::Scheduler,
    /// Whether the scheduler runs (`cron.enabled`).
    pub cron_enabled: bool,
    /// `cron.missedGrace`.
    pub cron_grace: Duration,
    /// The agents.
    pub agents: pincer_config::Agents,
    /// Configured channel accounts.
    pub channels: Vec<ChannelAccount>,
    /// The config file.
    pub config_path: Option<PathBuf>,
    /// Auth mode name.
    pub auth_mode: &'static str,
    /// Bind as configured.
    pub bind: String,
    /// Process start.
    pub started: Instant,
    /// Open control connections.
    pub connections: AtomicUsize,
    /// Gateway shutdown: connections close with 1012 (service restart).
    pub shutdown: CancellationToken,
    /// Admission policy (config patches reload parts of it).
    pub guard: Arc<crate::auth::guard::Guard>,
    /// Serialises `config.patch` (check the hash, write).
    pub config_lock: tokio::sync::Mutex<()>,
    /// Connections still in their handshake (bounded: see [`limits::MAX_HANDSHAKES`]).
    pub handshakes: AtomicUsize,
    /// The same, per client address.
    pub handshakes_by_address: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    /// Checks Tailscale Serve's identity headers (`gateway.auth.allowTailscale`).
    pub tailscale_identity: Option<crate::tailscale::Settings>,
}

/// The control plane could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The router URL is not a URL.
    #[error("invalid llm-router url {0:?}")]
    RouterUrl(String),
    /// A bucket could not be opened.
    #[error(transparent)]
    Bus(#[from] pincer_bus::Error),
    /// The cron bucket could not be opened.
    #[error(transparent)]
    Cron(#[from] pincer_cron::StoreError),
}

impl Services {
    /// Opens the buckets and a lazy router channel.
    pub async fn open(
        config: &crate::Config,
        js: &jetstream::Context,
        readiness: Readiness,
        turns: Turns,
        guard: Arc<crate::auth::guard::Guard>,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, SetupError> {
        let ns = &config.namespace;
        let endpoint = tonic::transport::Endpoint::from_shared(config.router_url.clone())
            .map_err(|_| SetupError::RouterUrl(config.router_url.clone()))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(ROUTER_TIMEOUT);
        let (sessions, pairing, usage) = tokio::try_join!(
            pincer_bus::setup::sessions_bucket(js, ns),
            pincer_bus::setup::pairing_bucket(js, ns),
            pincer_bus::setup::usage_bucket(js, ns),
        )?;
        let channel_state = match pincer_bus::setup::channel_state_bucket(js, ns).await {
            Ok(store) => Some(store),
            Err(error) => {
                tracing::warn!(%error, "channel states unavailable: channels.status shows them as unknown");
                None
            }
        };
        let cron = pincer_cron::JobStore::open(js, ns).await?;
        let scheduler = crate::cron::Scheduler::new(
            cron.clone(),
            turns.clone(),
            js.client(),
            ns.clone(),
            config.channel_accounts.clone(),
            config.cron_grace,
        );
        Ok(Arc::new(Self {
            readiness,
            channel_state,
            cron,
            scheduler,
            cron_enabled: config.cron_enabled,
            cron_grace: config.cron_grace,
            turns,
            router: LlmRouterClient::with_interceptor(
                endpoint.connect_lazy(),
                pincer_service_auth::Caller::new(config.router_token.as_ref())
                    .map_err(|_| SetupError::RouterUrl("PINCER_LLM_ROUTER_TOKEN".to_owned()))?,
            ),
            js: js.clone(),
            namespace: ns.clone(),
            sessions,
            pairing,
            usage,
            agents: config.agents.clone(),
            channels: config.channel_accounts.clone(),
            config_path: config.config_path.clone(),
            auth_mode: config.auth.mode_name(),
            bind: config.bind.clone(),
            started: Instant::now(),
            connections: AtomicUsize::new(0),
            shutdown,
            guard,
            config_lock: tokio::sync::Mutex::new(()),
            handshakes: AtomicUsize::new(0),
            tailscale_identity: config
                .tailscale
                .clone()
                .filter(|settings| settings.allow_identity),
            handshakes_by_address: std::sync::Mutex::default(),
        }))
    }
}

/// The configured channel accounts (names and modes only; no tokens are needed here).
pub fn channel_accounts(channels: &pincer_config::Channels) -> Vec<ChannelAccount> {
    let mut out = Vec::new();
    let mut push = |channel: &str, account: &str, mode: &'static str| {
        out.push(ChannelAccount {
            channel: channel.to_owned(),
            account: account.to_owned(),
            mode,
        });
    };
    if let Some(telegram) = channels.telegram.as_ref().filter(|t| t.enabled) {
        let mode = |url: Option<&String>| {
            if url.is_some_and(|u| !u.trim().is_empty()) {
                "webhook"
            } else {
                "polling"
            }
        };
        if telegram.bot_token.is_some() || telegram.accounts.is_empty() {
            push(
                "telegram",
                pincer_config::DEFAULT_ACCOUNT,
                mode(telegram.webhook_url.as_ref()),
            );
        }
        for (name, account) in telegram
            .accounts
            .iter()
            .filter(|(_, a)| a.enabled != Some(false))
        {
            let url = account
                .webhook_url
                .as_ref()
                .or(telegram.webhook_url.as_ref());
            push("telegram", name, mode(url));
        }
    }
    if let Some(discord) = channels.discord.as_ref().filter(|d| d.enabled) {
        if discord.token.is_some() || discord.accounts.is_empty() {
            push("discord", pincer_config::DEFAULT_ACCOUNT, "gateway");
        }
        for name in discord
            .accounts
            .iter()
            .filter(|(_, a)| a.enabled != Some(false))
            .map(|(name, _)| name)
        {
            push("discord", name, "gateway");
        }
    }
    if let Some(slack) = channels.slack.as_ref().filter(|s| s.enabled) {
        let mode = |mode: pincer_config::SlackMode| match mode {
            pincer_config::SlackMode::Socket => "socket",
            pincer_config::SlackMode::Http => "http",
        };
        if slack.bot_token.is_some() || slack.accounts.is_empty() {
            push("slack", pincer_config::DEFAULT_ACCOUNT, mode(slack.mode()));
        }
        for (name, account) in slack
            .accounts
            .iter()
            .filter(|(_, a)| a.enabled != Some(false))
        {
            push("slack", name, mode(account.mode.unwrap_or(slack.mode())));
        }
    }
    if let Some(whatsapp) = channels.whatsapp.as_ref().filter(|w| w.enabled) {
        for (name, _) in whatsapp.resolved_accounts() {
            push("whatsapp", &name, "cloud");
        }
    }
    if let Some(signal) = channels.signal.as_ref().filter(|s| s.enabled) {
        for (name, _) in signal.resolved_accounts() {
            push("signal", &name, "signal-cli");
        }
    }
    if let Some(bluebubbles) = channels.bluebubbles.as_ref().filter(|b| b.enabled) {
        for (name, _) in bluebubbles.resolved_accounts() {
            push("bluebubbles", &name, "webhook");
        }
    }
    out
}
