//! A fake Slack for tests, benchmarks and containers, built from Slack's documentation: the Web
//! API under `/api` (`auth.test`, `apps.connections.open`, `chat.postMessage`, `chat.update`,
//! `conversations.history|replies|info`, `users.info`; JSON or form bodies; `ok:false` errors
//! and 429 + `Retry-After`), Socket Mode at `/link/?ticket=…` (`hello`, `events_api` envelopes
//! round-robin over an app's sockets, acks, redelivery with `retry_attempt`, `disconnect` with a
//! grace), and the Events API over HTTP from Slack's side (signed POSTs with retries,
//! `url_verification`, bad signatures and stale timestamps on request).
//!
//! Apps must be installed ([`RunningSlack::add_app`]); any other token is `invalid_auth`.

pub mod chat;
pub mod control;
pub mod controls;
pub mod conversations;
pub mod delivery;
pub mod events;
pub mod events_http;
pub mod ids;
pub mod knobs;
pub mod params;
pub mod records;
pub mod routes;
pub mod signing;
pub mod socket;
pub mod spec;
pub mod state;
pub mod web_api;

use std::net::SocketAddr;

pub use events_http::{HttpAttempt, HttpDelivery, HttpError, SigningFault, UrlVerification};
pub use knobs::{Forced, HttpRetryPolicy, Knobs};
pub use records::{
    AckRecord, DisconnectRecord, Ending, EnvelopeRecord, FileDownload, PostedMessage, SocketRecord,
    Update,
};
use serde_json::Value;
pub use spec::{AppIdentity, AppSpec, ChannelKind, FileSpec, Incoming, Injected};
pub use state::{FakeError, World};
use tokio_util::sync::CancellationToken;

/// A running fake Slack; stops when dropped.
pub struct RunningSlack {
    addr: SocketAddr,
    world: World,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl RunningSlack {
    /// Starts on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let http = events_http::client().map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let world = World::new(&format!("http://{addr}"));
        let shutdown = CancellationToken::new();
        tokio::spawn(delivery::run(world.clone(), shutdown.clone()));
        let app = routes::router(world.clone(), shutdown.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake slack stopped");
            }
        });
        Ok(Self {
            addr,
            world,
            http,
            shutdown,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>/api`: the `apiBaseUrl` to configure.
    pub fn api_base_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The state, for anything the handle does not wrap.
    pub fn world(&self) -> &World {
        &self.world
    }

    // === Declarations ===

    /// Installs an app with these tokens (`xapp-…`, `xoxb-…`) and generated ids.
    pub fn add_app(&self, app_token: &str, bot_token: &str) -> Result<AppIdentity, FakeError> {
        self.world.add_app(&AppSpec::new(app_token, bot_token))
    }

    /// Installs an app.
    pub fn add_app_with(&self, spec: &AppSpec) -> Result<AppIdentity, FakeError> {
        self.world.add_app(spec)
    }

    /// Declares a conversation (others get their kind from the id: `D` im, `G` group, else
    /// channel).
    pub fn add_channel(&self, id: &str, kind: ChannelKind, name: &str) {
        self.world.add_channel(id, kind, name);
    }

    // === Playing users ===

    /// A user's message, delivered over Socket Mode: a `message` envelope, plus an
    /// `app_mention` one when a non-DM message mentions the bot.
    pub fn user_says(&self, app_token: &str, incoming: &Incoming) -> Result<Injected, FakeError> {
        self.world.user_says(app_token, incoming)
    }

    /// Any event (`{"type": …}`), wrapped and delivered over Socket Mode; returns the envelope
    /// id.
    pub fn send_event(&self, app_token: &str, event: Value) -> Result<String, FakeError> {
        self.world.send_event(app_token, event)
    }

    /// An envelope of another type (`slash_commands`, `interactive`, which accept a response
    /// payload in the ack); returns its id.
    pub fn send_envelope(
        &self,
        app_token: &str,
        kind: &str,
        payload: Value,
    ) -> Result<String, FakeError> {
        self.world.send_envelope(app_token, kind, payload)
    }

    /// A user's message as the `event_callback` payloads HTTP mode posts (stored, not sent).
    pub fn http_payloads(
        &self,
        app_token: &str,
        incoming: &Incoming,
    ) -> Result<Vec<Value>, FakeError> {
        self.world.http_payloads(app_token, incoming)
    }

    /// A user's message delivered over HTTP to `url`, signed with `signing_secret` and retried
    /// like Slack; one delivery per payload.
    pub async fn user_says_http(
        &self,
        app_token: &str,
        url: &str,
        signing_secret: &str,
        incoming: &Incoming,
    ) -> Result<Vec<HttpDelivery>, FakeError> {
        let payloads = self.http_payloads(app_token, incoming)?;
        let mut deliveries = Vec::new();
        for payload in &payloads {
            deliveries.push(self.deliver_http(url, signing_secret, payload).await);
        }
        Ok(deliveries)
    }

    /// POSTs `payload` to `url` signed with `signing_secret`, retrying (`X-Slack-Retry-Num`,
    /// `X-Slack-Retry-Reason`) while the answer is not a 2xx within the timeout.
    pub async fn deliver_http(
        &self,
        url: &str,
        signing_secret: &str,
        payload: &Value,
    ) -> HttpDelivery {
        let policy = self.world.http_retry_policy();
        events_http::deliver(&self.http, url, signing_secret, payload, &policy).await
    }

    /// Sends `url_verification` to `url` and checks the challenge comes back.
    pub async fn url_verification(
        &self,
        url: &str,
        signing_secret: &str,
    ) -> Result<UrlVerification, HttpError> {
        events_http::url_verification(&self.http, url, signing_secret).await
    }

    /// One POST of `payload`, valid or spoiled as `fault` says; returns status and body.
    pub async fn post_signed(
        &self,
        url: &str,
        signing_secret: &str,
        payload: &Value,
        fault: SigningFault,
    ) -> Result<(u16, String), HttpError> {
        events_http::post_signed(&self.http, url, signing_secret, payload, fault).await
    }

    /// Sets the timeout and retry delays of HTTP deliveries.
    pub fn set_http_retry_policy(&self, policy: HttpRetryPolicy) {
        self.world.set_http_retry_policy(policy);
    }

    // === What the bot did ===

    /// The bot's `chat.postMessage`s, in order.
    pub fn posted(&self, app_token: &str) -> Vec<PostedMessage> {
        self.world.posted(app_token)
    }

    /// The bot's `chat.update`s, in order.
    pub fn updates(&self, app_token: &str) -> Vec<Update> {
        self.world.updates(app_token)
    }

    /// A conversation's messages (users' and bots'), oldest first, metadata included.
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.world.messages(channel)
    }

    /// Successful `apps.connections.open` calls.
    pub fn connections_opened(&self, app_token: &str) -> u32 {
        self.world
            .read_app(app_token, |app| app.connections_opened)
            .unwrap_or(0)
    }

    /// Open sockets of the app.
    pub fn open_sockets(&self, app_token: &str) -> usize {
        self.world.open_sockets(app_token)
    }

    /// The most sockets the app ever had open at once.
    pub fn max_concurrent_sockets(&self, app_token: &str) -> usize {
        self.world
            .read_app(app_token, |app| app.max_sockets)
            .unwrap_or(0)
    }

    /// The app's sockets, oldest first.
    pub fn sockets(&self, app_token: &str) -> Vec<SocketRecord> {
        self.world.sockets(app_token)
    }

    /// The app's envelopes and their fate.
    pub fn envelopes(&self, app_token: &str) -> Vec<EnvelopeRecord> {
        self.world.envelopes(app_token)
    }

    /// Envelope deliveries, first ones and redeliveries.
    pub fn delivered(&self, app_token: &str) -> u32 {
        self.envelopes(app_token).iter().map(|e| e.deliveries).sum()
    }

    /// Redeliveries (deliveries after an envelope's first).
    pub fn redelivered(&self, app_token: &str) -> u32 {
        self.envelopes(app_token)
            .iter()
            .map(|e| e.deliveries.saturating_sub(1))
            .sum()
    }

    /// Acks received, in order.
    pub fn acks(&self, app_token: &str) -> Vec<AckRecord> {
        self.world.acks(app_token)
    }

    /// `disconnect`s sent and what followed (replacement socket, who closed).
    pub fn disconnects(&self, app_token: &str) -> Vec<DisconnectRecord> {
        self.world.disconnects(app_token)
    }

    /// Downloads of files' `url_private`.
    pub fn file_downloads(&self) -> Vec<FileDownload> {
        self.world.file_downloads()
    }

    // === Knobs and scripts ===

    /// The app's knobs.
    pub fn knobs(&self, app_token: &str) -> Knobs {
        self.world
            .read_app(app_token, |app| app.knobs.clone())
            .unwrap_or_default()
    }

    /// Replaces the app's knobs.
    pub fn set_knobs(&self, app_token: &str, knobs: Knobs) -> Result<(), FakeError> {
        self.world.change_app(app_token, |app| app.knobs = knobs)
    }

    /// Changes the app's knobs in place, e.g. `|k| k.ack_timeout_ms = 500`.
    pub fn update_knobs(
        &self,
        app_token: &str,
        change: impl FnOnce(&mut Knobs),
    ) -> Result<(), FakeError> {
        self.world
            .change_app(app_token, |app| change(&mut app.knobs))
    }

    /// The next `count` calls of `method` get HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(
        &self,
        app_token: &str,
        method: &str,
        count: u32,
        retry_after_secs: u64,
    ) -> Result<(), FakeError> {
        self.world
            .rate_limit_next(app_token, method, count, retry_after_secs)
    }

    /// The next `count` calls of `method` get HTTP 500.
    pub fn fail_next(&self, app_token: &str, method: &str, count: u32) -> Result<(), FakeError> {
        self.world.fail_next(app_token, method, count)
    }

    /// The next `count` calls of `method` answer `{"ok": false, "error": error}`.
    pub fn error_next(
        &self,
        app_token: &str,
        method: &str,
        count: u32,
        error: &str,
    ) -> Result<(), FakeError> {
        self.world.error_next(app_token, method, count, error)
    }

    /// Revokes a bot or app token: calls get `token_revoked`.
    pub fn revoke_token(&self, token: &str) {
        self.world.revoke_token(token);
    }

    /// Sends `disconnect` (`refresh_requested`, `warning`, `link_disabled`) to the app's oldest
    /// socket and closes it after the grace; returns the socket's id.
    pub fn disconnect(&self, app_token: &str, reason: &str) -> Result<u64, FakeError> {
        self.world.disconnect(app_token, reason)
    }

    /// Drops the app's sockets without a close frame.
    pub fn drop_sockets(&self, app_token: &str) -> usize {
        self.world.drop_sockets(app_token)
    }

    /// Makes the app's sockets silent (no frames, no pings, no close).
    pub fn go_silent(&self, app_token: &str) -> usize {
        self.world.go_silent(app_token)
    }
}

impl Drop for RunningSlack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
