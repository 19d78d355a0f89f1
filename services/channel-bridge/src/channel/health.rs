//! Reporting an account's connection state where the gateway, the Control UI and `pincer doctor`
//! read it ([`pincer_store::channel_health`]): every change is written at once, and while events
//! flow the record is refreshed at most every [`REFRESH`] (so a silent account shows its last
//! event's age). Writes are best effort: a KV hiccup never stops a channel.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::kv;
use pincer_store::channel_health::{self, Health, State};

/// How often a record is rewritten while nothing but events change.
const REFRESH: Duration = Duration::from_secs(30);

/// One account's reporter; cheap to clone.
#[derive(Clone, Debug)]
pub struct AccountHealth {
    store: kv::Store,
    channel: &'static str,
    account: String,
    last: Arc<Mutex<Option<(Health, tokio::time::Instant)>>>,
}

impl AccountHealth {
    /// The reporter of `account` on `channel`.
    pub fn new(store: kv::Store, channel: &'static str, account: &str) -> Self {
        Self {
            store,
            channel,
            account: account.to_owned(),
            last: Arc::default(),
        }
    }

    /// Signing in or reconnecting.
    pub async fn connecting(&self, detail: &str) {
        self.set(State::Connecting, detail, None).await;
    }

    /// Signed in as `bot`.
    pub async fn connected(&self, bot: &str, detail: &str) {
        self.set(State::Connected, detail, Some(bot)).await;
    }

    /// Lost, trying again.
    pub async fn retrying(&self, detail: &str) {
        self.set(State::Retrying, detail, None).await;
    }

    /// Stopped until the config changes.
    pub async fn failed(&self, detail: &str) {
        tracing::error!(channel = self.channel, account = %self.account, detail, "channel account stopped");
        self.set(State::Failed, detail, None).await;
    }

    /// Stopped by a shutdown.
    pub async fn stopped(&self) {
        self.set(State::Stopped, "", None).await;
    }

    /// Whether the account was stopped for good.
    pub fn is_failed(&self) -> bool {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|(health, _)| health.state == State::Failed)
    }

    /// An event arrived from the platform.
    pub async fn event(&self) {
        let now = pincer_clock::now_ms();
        let due = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            match last.as_mut() {
                Some((health, written)) => {
                    health.last_event_ms = now;
                    (written.elapsed() >= REFRESH).then(|| {
                        *written = tokio::time::Instant::now();
                        health.clone()
                    })
                }
                None => None,
            }
        };
        if let Some(health) = due {
            self.write(&health).await;
        }
    }

    async fn set(&self, state: State, detail: &str, bot: Option<&str>) {
        let health = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            let previous = last.as_ref().map(|(health, _)| health);
            let health = Health {
                state,
                detail: detail.to_owned(),
                since_ms: previous
                    .filter(|p| p.state == state)
                    .map_or_else(pincer_clock::now_ms, |p| p.since_ms),
                last_event_ms: previous.map_or(0, |p| p.last_event_ms),
                bot: bot
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .or_else(|| previous.and_then(|p| p.bot.clone())),
            };
            *last = Some((health.clone(), tokio::time::Instant::now()));
            health
        };
        self.write(&health).await;
    }

    async fn write(&self, health: &Health) {
        if let Err(error) =
            channel_health::put(&self.store, self.channel, &self.account, health).await
        {
            tracing::debug!(%error, "channel health not recorded");
        }
    }
}
