//! One Discord bot: learn who it is (a refused token stops the account with a clear error), take
//! the bot's gateway lease (one connection per bot across replicas), then keep the gateway
//! connected and hand each message to the channel core, in order.
//!
//! Nothing is lost to a crash: the session (id, resume URL, and the sequence number of the last
//! dispatch *handled*) is kept in KV, so the next process resumes it and Discord replays what came
//! after; a replayed message is recognised by its id.

use std::time::Duration;

use async_nats::jetstream::kv;
use pincer_bus::messages::TurnRequest;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::event::{self, Bot, Channels};
use super::gateway::{self, Dispatch, Session};
use super::rest::{Rest, RestError};
use crate::channel::health::AccountHealth;
use crate::channel::inbound::{Inbound, MediaRef};
use crate::channel::ingest::{self, Platform};
use crate::channel::typing::Typing;
use crate::channel::{key_token, lease};

/// Lease life of a bot's gateway connection; refreshed every third of it.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// What Discord adds around a turn: attachment downloads and the typing indicator.
pub struct Discord {
    /// The bot's REST client.
    pub rest: Rest,
    /// Its typing indicators.
    pub typing: Typing<Rest>,
}

impl Platform for Discord {
    type Watch = Option<async_nats::Subscriber>;

    fn label(&self) -> &'static str {
        "Discord"
    }

    async fn download(&self, media: &MediaRef, limit: u64) -> Result<Vec<u8>, String> {
        self.rest
            .download(&media.locator, limit)
            .await
            .map_err(|error| error.to_string())
    }

    async fn prepare(
        &self,
        client: &async_nats::Client,
        _message: &Inbound,
        turn: &TurnRequest,
    ) -> Self::Watch {
        client.subscribe(turn.reply_subject.clone()).await.ok()
    }

    fn working(&self, message: &Inbound, _turn: &TurnRequest, ended: Self::Watch) {
        self.typing.start(&message.chat, ended);
    }
}

/// Runs one bot until `shutdown` or a fatal error.
pub async fn run(
    ingest: ingest::Ingest<Discord>,
    token: String,
    state: kv::Store,
    holder: String,
    health: AccountHealth,
    shutdown: CancellationToken,
) {
    let rest = ingest.platform.rest.clone();
    health.connecting("checking the token").await;
    let me = loop {
        match rest.me().await {
            Ok(me) => break me,
            Err(RestError::Unauthorized) => {
                health
                    .failed("Discord refused the bot token (401 on /users/@me); check channels.discord.token")
                    .await;
                return;
            }
            Err(error) => {
                tracing::warn!(account = %ingest.account, %error, "discord users/@me failed, retrying");
                health.retrying(&error.to_string()).await;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    tracing::info!(account = %ingest.account, bot = %me.username, "discord bot known");
    let lease_key = format!("discord.{}.gateway", key_token(&ingest.account));
    let session_key = format!("discord.{}.session", key_token(&ingest.account));
    while !shutdown.is_cancelled() {
        let what = "discord gateway";
        let Some(lease) =
            lease::acquire(&state, &lease_key, &holder, LEASE_TTL, what, &shutdown).await
        else {
            return;
        };
        let connection = shutdown.child_token();
        let stored = load_session(&state, &session_key).await;
        let (dispatches, inbox) = mpsc::channel(1024);
        let bot = Bot {
            id: me.id.clone(),
            username: me.username.clone(),
            ..Bot::default()
        };
        let handler = Handler {
            ingest: &ingest,
            state: &state,
            session_key: &session_key,
            health: &health,
            bot,
            channels: Channels::default(),
            stored: stored.clone(),
        };
        let work = async {
            tokio::join!(
                gateway::run(&rest, &token, stored, dispatches, &health, &connection),
                handler.run(inbox, &connection),
            )
        };
        lease::while_held(&state, lease, &holder, LEASE_TTL, what, &connection, work).await;
        connection.cancel();
        if health.is_failed() {
            return;
        }
    }
    health.stopped().await;
}

async fn load_session(state: &kv::Store, key: &str) -> Option<Session> {
    let bytes = state.get(key).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Handles the dispatches of one connection in order.
struct Handler<'a> {
    ingest: &'a ingest::Ingest<Discord>,
    state: &'a kv::Store,
    session_key: &'a str,
    health: &'a AccountHealth,
    bot: Bot,
    channels: Channels,
    /// The session as stored: its sequence number is the last dispatch handled.
    stored: Option<Session>,
}

impl Handler<'_> {
    async fn run(mut self, mut inbox: mpsc::Receiver<Dispatch>, connection: &CancellationToken) {
        while let Some(dispatch) = inbox.recv().await {
            self.health.event().await;
            match dispatch.kind.as_str() {
                "READY" => self.ready(&dispatch),
                "MESSAGE_CREATE" => {
                    if !self.message(&dispatch, connection).await {
                        // Shutting down before it was handled: the stored sequence stays before
                        // it, so the next process gets it again.
                        return;
                    }
                }
                kind => self.channels.learn(kind, &dispatch.data, &mut self.bot),
            }
            if let Some(stored) = self.stored.as_mut() {
                stored.seq = dispatch.seq;
                self.save().await;
            }
        }
    }

    fn ready(&mut self, dispatch: &Dispatch) {
        let data = &dispatch.data;
        if let Some(id) = data.pointer("/user/id").and_then(serde_json::Value::as_str) {
            self.bot.id = id.to_owned();
        }
        if let Some(name) = data
            .pointer("/user/username")
            .and_then(serde_json::Value::as_str)
        {
            self.bot.username = name.to_owned();
        }
        self.stored = data
            .get("session_id")
            .and_then(serde_json::Value::as_str)
            .map(|id| Session {
                id: id.to_owned(),
                resume_url: data
                    .get("resume_gateway_url")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                seq: dispatch.seq,
            })
            .filter(|session| !session.resume_url.is_empty());
    }

    /// Handles a message until it is durably dealt with; `false` if shutdown came first.
    async fn message(&mut self, dispatch: &Dispatch, connection: &CancellationToken) -> bool {
        let parent = self.thread_parent(&dispatch.data).await;
        let Some(message) = event::message(&dispatch.data, &self.bot, parent) else {
            return true;
        };
        let mut wait = Duration::from_millis(500);
        loop {
            match self.ingest.handle(&message).await {
                Ok(()) => return true,
                Err(error) => {
                    tracing::warn!(%error, id = %message.id, "discord message not handed on yet, retrying");
                    tokio::select! {
                        () = connection.cancelled() => return false,
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// The parent channel when the message is in a thread (the policy of a thread is its
    /// parent's); looked up once per unknown guild channel.
    async fn thread_parent(&mut self, data: &serde_json::Value) -> Option<String> {
        data.get("guild_id")?;
        let channel = data.get("channel_id")?.as_str()?;
        if event::in_thread(data) == Some(false) {
            return None;
        }
        if let Some(known) = self.channels.parent_of(channel) {
            return known;
        }
        match self.ingest.platform.rest.channel(channel).await {
            Ok(info) => {
                let parent = event::THREAD_TYPES
                    .contains(&info.kind)
                    .then_some(info.parent_id)
                    .flatten();
                self.channels.remember(channel, parent.clone());
                parent
            }
            Err(error) => {
                tracing::debug!(%error, channel, "channel lookup failed; treated as a plain channel");
                None
            }
        }
    }

    async fn save(&self) {
        let Some(stored) = &self.stored else { return };
        let Ok(value) = serde_json::to_vec(stored) else {
            return;
        };
        if let Err(error) = self.state.put(self.session_key, value.into()).await {
            tracing::debug!(%error, "discord session not stored");
        }
    }
}
