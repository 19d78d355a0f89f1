//! A fake Telegram Bot API server for tests, benchmarks and the demo stack. It speaks the real JSON
//! envelopes and errors (`{"ok":false,"error_code":..,"description":..,"parameters":{"retry_after"}}`),
//! long polling with real `offset` confirmation, 409 when a second poller or a webhook conflicts,
//! 429 on demand, HTML/MarkdownV2 entity and 4096-UTF-16 length checks, and a control API
//! (`/control/<token>/...`) to play the user.
//!
//! Any token of the form `<digits>:<secret>` is a bot, created on first use.

pub mod api;
pub mod push;
pub mod state;
pub mod validate;

use std::net::SocketAddr;

pub use api::photo_content;
pub use state::{Incoming, Knobs, Sent};
use tokio_util::sync::CancellationToken;

/// A running fake.
pub struct RunningTelegram {
    addr: SocketAddr,
    world: state::World,
    shutdown: CancellationToken,
}

impl RunningTelegram {
    /// Starts on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let world = state::World::default();
        let shutdown = CancellationToken::new();
        let app = api::router(world.clone());
        tokio::spawn(push::run(world.clone(), shutdown.clone()));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake telegram stopped");
            }
        });
        Ok(Self {
            addr,
            world,
            shutdown,
        })
    }

    /// `http://127.0.0.1:<port>`: the `apiRoot` to configure.
    pub fn api_root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A user's message to the bot of `token`; returns its update id.
    pub fn user_says(&self, token: &str, incoming: &Incoming) -> i64 {
        self.world
            .inject(token, incoming)
            .expect("a well-formed test token")
    }

    /// What the bot of `token` sent, by message id.
    pub fn sent(&self, token: &str) -> Vec<Sent> {
        self.world
            .with_bot(token, |bot| bot.sent.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Sets the failure knobs of `token`'s bot.
    pub fn set_knobs(&self, token: &str, knobs: Knobs) {
        self.world.with_bot(token, |bot| bot.knobs = knobs);
    }

    /// `(pending updates, chat actions sent, conflicts seen)` of `token`'s bot.
    pub fn counters(&self, token: &str) -> (usize, usize, u32) {
        self.world
            .with_bot(token, |bot| {
                (bot.updates.len(), bot.chat_actions.len(), bot.conflicts)
            })
            .unwrap_or_default()
    }

    /// Sends `token`'s webhook deliveries to `url` instead of the registered URL (what a reverse
    /// proxy in front of the gateway does for a real bot).
    pub fn route_webhook_to(&self, token: &str, url: &str) {
        self.world
            .with_bot(token, |bot| bot.webhook_target = Some(url.to_owned()));
        self.world.arrived.notify_waiters();
    }

    /// Webhook deliveries that succeeded for `token`'s bot.
    pub fn webhook_deliveries(&self, token: &str) -> u32 {
        self.world
            .with_bot(token, |bot| bot.webhook_delivered)
            .unwrap_or(0)
    }

    /// Sends the fake refused (429, 403, 5xx, entity errors) for `token`'s bot.
    pub fn rejected_sends(&self, token: &str) -> u32 {
        self.world
            .with_bot(token, |bot| bot.rejected_sends)
            .unwrap_or(0)
    }

    /// The webhook set for `token`'s bot.
    pub fn webhook(&self, token: &str) -> Option<state::Webhook> {
        self.world
            .with_bot(token, |bot| bot.webhook.clone())
            .flatten()
    }
}

impl Drop for RunningTelegram {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
