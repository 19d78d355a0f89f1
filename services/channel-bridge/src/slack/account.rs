//! One Slack app: learn who its bot is (a refused token stops the account with a clear error),
//! then take its events from Socket Mode (one connection per app across replicas, under a lease)
//! or, in `http` mode, from what the gateway's Events API endpoint put on JetStream. While a turn
//! runs, a placeholder message in the conversation shows the answer as it is written; the answer
//! replaces it.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt as _;
use pincer_bus::messages::{RunEvent, TurnRequest};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::event;
use super::socket::{self, Envelopes, Stopped};
use super::web::{Identity, Web, WebError};
use crate::channel::health::AccountHealth;
use crate::channel::inbound::{Inbound, MediaRef};
use crate::channel::ingest::{self, Platform};
use crate::channel::outbound::preview_key;
use crate::channel::{key_token, lease};
use crate::render;

/// Lease life of an app's Socket Mode connection; refreshed every third of it.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// Shown until the first words of the answer arrive.
const PLACEHOLDER: &str = "_Working on it…_";
/// Time between two updates of the placeholder (`chat.update` allows about one a second).
const UPDATE_EVERY: Duration = Duration::from_millis(1500);
/// Longest text shown in the placeholder; the answer replaces it whole.
const PREVIEW_CHARS: usize = 3000;

/// What Slack adds around a turn: file downloads and the placeholder message.
pub struct Slack {
    /// The app's Web API client.
    pub web: Web,
    /// Channel state (placeholder timestamps).
    pub state: kv::Store,
    /// The account name.
    pub account: String,
}

impl Platform for Slack {
    /// The placeholder's `ts` and the turn's events.
    type Watch = Option<(String, async_nats::Subscriber)>;

    fn label(&self) -> &'static str {
        "Slack"
    }

    async fn download(&self, media: &MediaRef, limit: u64) -> Result<Vec<u8>, String> {
        self.web
            .download(&media.locator, limit)
            .await
            .map_err(|error| error.to_string())
    }

    async fn prepare(
        &self,
        client: &async_nats::Client,
        message: &Inbound,
        turn: &TurnRequest,
    ) -> Self::Watch {
        // Posted before the turn exists, so the answer always finds it; a redelivered event finds
        // the one already posted.
        let key = preview_key("slack", &self.account, &turn.turn_id);
        let existing = self
            .state
            .get(&key)
            .await
            .ok()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        let ts = match existing {
            Some(ts) => ts,
            None => {
                let thread = message
                    .thread
                    .as_deref()
                    .or(message.reply_thread.as_deref());
                let ts = match self
                    .web
                    .post_message(&message.chat, PLACEHOLDER, thread, None)
                    .await
                {
                    Ok(ts) => ts,
                    Err(error) => {
                        tracing::debug!(%error, "no placeholder message");
                        return None;
                    }
                };
                if let Err(error) = self.state.put(&key, ts.clone().into()).await {
                    tracing::debug!(%error, "placeholder not recorded; the answer comes as a new message");
                }
                ts
            }
        };
        let events = client.subscribe(turn.reply_subject.clone()).await.ok()?;
        Some((ts, events))
    }

    fn working(&self, message: &Inbound, turn: &TurnRequest, watch: Self::Watch) {
        let Some((ts, events)) = watch else { return };
        let (web, state, chat) = (self.web.clone(), self.state.clone(), message.chat.clone());
        let done = crate::channel::outbound::preview_done_key(&preview_key(
            "slack",
            &self.account,
            &turn.turn_id,
        ));
        tokio::spawn(async move {
            follow(web, chat, ts, events).await;
            // Sequential edits: none is in flight now, the answer may replace the placeholder.
            if let Err(error) = state.put(done, "1".into()).await {
                tracing::debug!(%error, "placeholder end not recorded");
            }
        });
    }
}

/// Keeps the placeholder showing the answer so far, until the turn ends (the sender then
/// replaces it with the whole answer).
async fn follow(web: Web, channel: String, ts: String, mut events: async_nats::Subscriber) {
    let mut text = String::new();
    let mut shown = String::new();
    let mut last = tokio::time::Instant::now() - UPDATE_EVERY;
    let until = tokio::time::Instant::now() + Duration::from_secs(600);
    while let Ok(Some(message)) = tokio::time::timeout_at(until, events.next()).await {
        match serde_json::from_slice::<RunEvent>(&message.payload) {
            Ok(RunEvent::Delta { text: delta }) => text.push_str(&delta),
            Ok(RunEvent::Done { .. } | RunEvent::Error { .. }) => break,
            _ => continue,
        }
        if last.elapsed() < UPDATE_EVERY {
            continue;
        }
        let visible: String = text.chars().take(PREVIEW_CHARS).collect();
        if visible.trim().is_empty() || visible == shown {
            continue;
        }
        last = tokio::time::Instant::now();
        if let Err(error) = web
            .update(&channel, &ts, &format!("{} …", render::to_mrkdwn(&visible)))
            .await
        {
            tracing::debug!(%error, "placeholder not updated");
        }
        shown = visible;
    }
}

/// The app's events handed to the channel core.
struct Events<'a> {
    ingest: &'a ingest::Ingest<Slack>,
    me: Identity,
    start_threads: bool,
}

impl Envelopes for Events<'_> {
    async fn handle(&self, payload: &Value) -> bool {
        self.handle_event(payload).await.is_ok()
    }
}

impl Events<'_> {
    async fn handle_event(&self, payload: &Value) -> Result<(), String> {
        let Some(message) = event::message(payload, &self.me, self.start_threads) else {
            return Ok(());
        };
        self.ingest.handle(&message).await.map_err(|error| {
            tracing::warn!(%error, id = %message.id, "slack message not handed on yet");
            error.to_string()
        })
    }
}

/// What an app runs on.
pub struct AppSetup {
    /// Socket Mode (else the Events API through the gateway).
    pub socket_mode: bool,
    /// `replyToMode` `first`/`all`.
    pub start_threads: bool,
    /// This replica's lease holder name.
    pub holder: String,
}

/// Runs one app until `shutdown` or a fatal error.
pub async fn run(
    ingest: ingest::Ingest<Slack>,
    setup: AppSetup,
    health: AccountHealth,
    shutdown: CancellationToken,
) {
    let web = ingest.platform.web.clone();
    let state = ingest.platform.state.clone();
    health.connecting("auth.test").await;
    let me = loop {
        match web.auth_test().await {
            Ok(me) => break me,
            Err(WebError::Auth(reason)) => {
                health
                    .failed(&format!(
                        "Slack refused the bot token ({reason}); check channels.slack.botToken"
                    ))
                    .await;
                return;
            }
            Err(error) => {
                health.retrying(&format!("auth.test: {error}")).await;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    tracing::info!(account = %ingest.account, bot = %me.name, "slack app known");
    let events = Events {
        ingest: &ingest,
        me: me.clone(),
        start_threads: setup.start_threads,
    };
    if !setup.socket_mode {
        health
            .connected(&me.name, "events come through the gateway")
            .await;
        crate::channel::pushed::consume(
            &ingest.js,
            &ingest.ns,
            "slack",
            &ingest.account,
            |payload| {
                let events = &events;
                async move { events.handle_event(&payload).await }
            },
            &shutdown,
        )
        .await;
        health.stopped().await;
        return;
    }
    let lease_key = format!("slack.{}.socket", key_token(&ingest.account));
    while !shutdown.is_cancelled() {
        let what = "slack socket";
        let Some(lease) = lease::acquire(
            &state,
            &lease_key,
            &setup.holder,
            LEASE_TTL,
            what,
            &shutdown,
        )
        .await
        else {
            return;
        };
        let connection = shutdown.child_token();
        let stopped = lease::while_held(
            &state,
            lease,
            &setup.holder,
            LEASE_TTL,
            what,
            &connection,
            socket::run(&web, &events, &health, &connection),
        )
        .await;
        if let Stopped::Fatal(reason) = stopped {
            health.failed(&reason).await;
            return;
        }
    }
    health.stopped().await;
}
