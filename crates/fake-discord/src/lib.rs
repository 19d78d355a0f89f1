//! A fake Discord for tests, benchmarks and containers, built from Discord's documentation: the
//! gateway v10 over WebSocket (HELLO, IDENTIFY, READY + GUILD_CREATE, heartbeats and ACKs,
//! RESUME with replay of missed dispatches, op 7 / op 9, close codes 4001–4014) and REST v10
//! (`/gateway/bot`, `/users/@me`, channels, messages with `nonce` + `enforce_nonce`, edits,
//! typing, 401/400/403/404/429/500 answers shaped like Discord's).
//!
//! REST is served under `/api/v10` (the `apiBaseUrl` to configure) and, leniently, at the root.
//! `GET /gateway/bot` points at `ws://host/gateway`; READY's `resume_gateway_url` at
//! `ws://host/resume`, so a test can tell resumes from fresh connections.
//!
//! Bots must be declared ([`RunningDiscord::add_bot`]); an undeclared token is a bad token.

pub mod control;
pub mod controls;
pub mod errors;
pub mod gateway;
pub mod knobs;
pub mod message;
pub mod ratelimit;
pub mod records;
pub mod rest;
pub mod routes;
pub mod sessions;
pub mod snowflake;
pub mod spec;
pub mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

pub use controls::SessionInfo;
pub use knobs::{GatewayConfig, Knobs, TooManyShape};
pub use records::{AttachmentDownload, ConnectionRecord, Edit, Ending, Handshake, SentMessage};
pub use spec::{
    AttachmentSpec, BotSpec, BotUser, Channel, Guild, Incoming, InjectedMessage, Member, Role,
};
pub use state::{FakeError, World};
use tokio_util::sync::CancellationToken;

/// A running fake Discord; stops when dropped.
pub struct RunningDiscord {
    addr: SocketAddr,
    world: World,
    shutdown: CancellationToken,
}

impl RunningDiscord {
    /// Starts on `addr` (port 0 picks one) with Discord's gateway timings.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(addr, GatewayConfig::default()).await
    }

    /// Starts on `addr` with these gateway timings.
    pub async fn start_with(addr: SocketAddr, gateway: GatewayConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let world = World::new(&format!("http://{addr}"), gateway);
        let shutdown = CancellationToken::new();
        let app = routes::router(world.clone(), shutdown.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake discord stopped");
            }
        });
        Ok(Self {
            addr,
            world,
            shutdown,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>/api/v10`: the `apiBaseUrl` to configure.
    pub fn api_base_url(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    /// `ws://127.0.0.1:<port>/gateway`, what `GET /gateway/bot` answers.
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    /// `ws://127.0.0.1:<port>/resume`, READY's `resume_gateway_url`.
    pub fn resume_gateway_url(&self) -> String {
        format!("ws://{}/resume", self.addr)
    }

    /// The state, for anything the handle does not wrap.
    pub fn world(&self) -> &World {
        &self.world
    }

    // === Declarations ===

    /// Declares a bot with this token (fresh id, name `pincer-test-bot`).
    pub fn add_bot(&self, token: &str) -> Result<BotUser, FakeError> {
        self.world.add_bot(&BotSpec::new(token))
    }

    /// Declares a bot.
    pub fn add_bot_with(&self, spec: &BotSpec) -> Result<BotUser, FakeError> {
        self.world.add_bot(spec)
    }

    /// Declares (or replaces) a guild every bot is in; connected bots get GUILD_CREATE.
    pub fn add_guild(&self, guild: Guild) {
        self.world.add_guild(guild);
    }

    /// Adds a channel or thread to a guild; connected bots get CHANNEL_CREATE / THREAD_CREATE.
    pub fn add_channel(&self, guild_id: &str, channel: Channel) -> Result<(), FakeError> {
        self.world.add_channel(guild_id, channel)
    }

    // === Playing users ===

    /// A user's message to the bot of `token`, dispatched as MESSAGE_CREATE to every live
    /// session of the bot and kept for RESUME by every resumable one (a new IDENTIFY does not
    /// get it).
    pub fn user_says(
        &self,
        token: &str,
        incoming: &Incoming,
    ) -> Result<InjectedMessage, FakeError> {
        self.world.user_says(token, incoming)
    }

    /// Any other dispatch to the bot's sessions (`t` = `event`, `d` as given).
    pub fn dispatch_event(
        &self,
        token: &str,
        event: &str,
        d: &serde_json::Value,
    ) -> Result<(), FakeError> {
        self.world.dispatch_event(token, event, d)
    }

    // === What the bot did ===

    /// Messages the bot created, in order.
    pub fn sent(&self, token: &str) -> Vec<SentMessage> {
        self.world.sent(token)
    }

    /// The bot's message edits, in order.
    pub fn edits(&self, token: &str) -> Vec<Edit> {
        self.world.edits(token)
    }

    /// Typing requests per channel.
    pub fn typing(&self, token: &str) -> BTreeMap<String, u32> {
        self.world.typing(token)
    }

    /// Typing requests in one channel.
    pub fn typing_in(&self, token: &str, channel_id: &str) -> u32 {
        self.typing(token).get(channel_id).copied().unwrap_or(0)
    }

    /// Sends answered with the earlier message because of `enforce_nonce`.
    pub fn deduplicated_sends(&self, token: &str) -> u32 {
        self.world
            .read_bot(token, |bot| bot.deduplicated_sends)
            .unwrap_or(0)
    }

    /// Sends and edits refused (403, 400, 429, 500).
    pub fn rejected_sends(&self, token: &str) -> u32 {
        self.world
            .read_bot(token, |bot| bot.rejected_sends)
            .unwrap_or(0)
    }

    /// Gateway connections of the bot (those that sent its token), oldest first.
    pub fn connections(&self, token: &str) -> Vec<ConnectionRecord> {
        self.world.connections(token)
    }

    /// Every gateway connection, oldest first (including ones that never identified).
    pub fn all_connections(&self) -> Vec<ConnectionRecord> {
        self.world.all_connections()
    }

    /// Open connections carrying one of the bot's sessions.
    pub fn open_connections(&self, token: &str) -> usize {
        self.world.lock().live_of(token).len()
    }

    /// Heartbeats the bot sent, over all its connections.
    pub fn heartbeats(&self, token: &str) -> u32 {
        self.connections(token).iter().map(|c| c.heartbeats).sum()
    }

    /// The bot's gateway sessions.
    pub fn sessions(&self, token: &str) -> Vec<SessionInfo> {
        self.world.sessions(token)
    }

    /// Downloads of attachment URLs, with the `Authorization` they carried.
    pub fn attachment_downloads(&self) -> Vec<AttachmentDownload> {
        self.world.attachment_downloads()
    }

    // === Knobs ===

    /// The bot's knobs.
    pub fn knobs(&self, token: &str) -> Knobs {
        self.world
            .read_bot(token, |bot| bot.knobs.clone())
            .unwrap_or_default()
    }

    /// Replaces the bot's knobs.
    pub fn set_knobs(&self, token: &str, knobs: Knobs) -> Result<(), FakeError> {
        self.world.set_knobs(token, knobs)
    }

    /// Changes the bot's knobs in place, e.g. `|k| k.rate_limit_next = 2`.
    pub fn update_knobs(
        &self,
        token: &str,
        change: impl FnOnce(&mut Knobs),
    ) -> Result<(), FakeError> {
        self.world.change_bot(token, |bot| change(&mut bot.knobs))
    }

    /// Sets HELLO's `heartbeat_interval` for new connections.
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        let mut config = self.world.gateway_config();
        config.heartbeat_interval_ms = interval.as_millis() as u64;
        self.world.set_gateway_config(config);
    }

    /// Replaces the gateway timings.
    pub fn set_gateway_config(&self, config: GatewayConfig) {
        self.world.set_gateway_config(config);
    }

    // === Gateway scripts (each returns how many live connections it touched) ===

    /// op 7 RECONNECT; the fake closes with 4000 after the grace if the client has not.
    pub fn send_reconnect(&self, token: &str) -> usize {
        self.world.send_reconnect(token)
    }

    /// op 9 INVALID_SESSION with `d` = `resumable`; unresumable sessions end.
    pub fn send_invalid_session(&self, token: &str, resumable: bool) -> usize {
        self.world.send_invalid_session(token, resumable)
    }

    /// op 1: asks the client for a heartbeat now.
    pub fn request_heartbeat(&self, token: &str) -> usize {
        self.world.request_heartbeat(token)
    }

    /// Closes the bot's connections with `code` (e.g. 4000 resumable, 4004 fatal, 4009 new
    /// session).
    pub fn close(&self, token: &str, code: u16) -> usize {
        self.world.close(token, code, "closed by the test")
    }

    /// Drops the bot's connections without a close frame.
    pub fn drop_connections(&self, token: &str) -> usize {
        self.world.drop_connections(token)
    }

    /// Stops acknowledging heartbeats on the bot's current connections.
    pub fn stop_heartbeat_acks(&self, token: &str) -> usize {
        self.world.stop_heartbeat_acks(token)
    }

    /// Makes the bot's current connections silent (no frames, no close).
    pub fn go_silent(&self, token: &str) -> usize {
        self.world.go_silent(token)
    }

    /// Invalidates the bot's sessions silently: the next RESUME gets op 9 `false`.
    pub fn invalidate_sessions(&self, token: &str) -> usize {
        self.world.invalidate_sessions(token)
    }

    /// Revokes the token: REST 401, IDENTIFY/RESUME closed with 4004.
    pub fn revoke_token(&self, token: &str) -> Result<(), FakeError> {
        self.world.revoke_token(token)
    }
}

impl Drop for RunningDiscord {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
