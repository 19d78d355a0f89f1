//! The fake's world: bots by token, guilds, messages, gateway sessions and live connections, all
//! behind one mutex. Gateway tasks get their orders through a channel per connection, so nothing
//! awaits while the lock is held.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::knobs::{GatewayConfig, Knobs};
use crate::records::{AttachmentDownload, ConnectionRecord, Edit, SentMessage};
use crate::spec::{BotUser, Channel, Guild};

/// A failure of a test's request to the fake (not a Discord error: those are HTTP answers).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FakeError {
    /// No bot was declared with this token.
    #[error("no bot with this token was declared")]
    UnknownBot,
    /// A bot with this token exists already.
    #[error("a bot with this token was declared already")]
    DuplicateBot,
    /// The channel is not in a declared guild.
    #[error("unknown guild {0}")]
    UnknownGuild(String),
}

/// Orders to the task serving one gateway connection.
#[derive(Debug)]
pub enum ConnCommand {
    /// Send this frame.
    Send(Value),
    /// Send this frame (op 7), then close with 4000 if the client is still there after the grace.
    SendThenClose(Value, Duration),
    /// Close with this code and reason.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Stop reading and writing until dropped (a dead network path).
    Silent,
}

/// A connection's server-side state.
#[derive(Debug)]
pub struct LiveConnection {
    /// Orders to its task.
    pub commands: UnboundedSender<ConnCommand>,
    /// The session it carries, once IDENTIFY or RESUME succeeded.
    pub session: Option<String>,
    /// Heartbeats are no longer acknowledged on this connection.
    pub acks_stopped: bool,
    /// The connection went silent.
    pub silent: bool,
}

/// A gateway session: its sequence numbers and the dispatches kept for RESUME.
#[derive(Debug)]
pub struct Session {
    /// The bot's token.
    pub bot: String,
    /// The last `s` used.
    pub seq: u64,
    /// The intents given at IDENTIFY.
    pub intents: u64,
    /// Dispatch frames by `s`, oldest first.
    pub buffer: VecDeque<(u64, Value)>,
    /// The highest `s` dropped from a full buffer: RESUME from before it cannot be served.
    pub evicted_through: u64,
    /// The connection carrying it.
    pub attached: Option<u64>,
    /// When it lost its connection.
    pub detached_at: Option<Instant>,
    /// Invalidated: RESUME gets op 9 `false`.
    pub invalid: bool,
}

impl Session {
    /// The session can still receive dispatches and be resumed.
    pub fn alive(&self, now: Instant, ttl: Duration) -> bool {
        !self.invalid
            && self
                .detached_at
                .is_none_or(|since| now.duration_since(since) <= ttl)
    }
}

/// One declared bot.
#[derive(Debug)]
pub struct Bot {
    /// Its user.
    pub user: BotUser,
    /// Its token was revoked: REST 401, gateway 4004.
    pub revoked: bool,
    /// Behaviour switches.
    pub knobs: Knobs,
    /// Messages it created, in order.
    pub sent: Vec<SentMessage>,
    /// Its edits, in order.
    pub edits: Vec<Edit>,
    /// Typing requests per channel.
    pub typing: BTreeMap<String, u32>,
    /// `enforce_nonce` nonces: message id and when it was created.
    pub nonces: HashMap<String, (String, Instant)>,
    /// Request times per (route, channel) bucket.
    pub buckets: HashMap<(&'static str, String), VecDeque<Instant>>,
    /// Sends answered with the existing message because of `enforce_nonce`.
    pub deduplicated_sends: u32,
    /// Sends and edits refused with 4xx/5xx.
    pub rejected_sends: u32,
    /// Accepted IDENTIFYs.
    pub identifies: u32,
}

impl Bot {
    /// A fresh bot.
    pub fn new(user: BotUser) -> Self {
        Self {
            user,
            revoked: false,
            knobs: Knobs::default(),
            sent: Vec::new(),
            edits: Vec::new(),
            typing: BTreeMap::new(),
            nonces: HashMap::new(),
            buckets: HashMap::new(),
            deduplicated_sends: 0,
            rejected_sends: 0,
            identifies: 0,
        }
    }
}

/// A message the fake knows (a user's or a bot's), for replies, edits and lookups.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its channel.
    pub channel_id: String,
    /// The author's id.
    pub author_id: String,
    /// The REST message object.
    pub body: Value,
}

/// An attachment's bytes.
#[derive(Debug, Clone)]
pub struct StoredAttachment {
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// Content.
    pub data: Vec<u8>,
}

/// A DM channel between a bot and a user.
#[derive(Debug, Clone)]
pub struct DmChannel {
    /// The bot's token.
    pub bot: String,
    /// The human's id.
    pub recipient: String,
}

/// A user the fake has seen (authors of injected messages, declared members).
#[derive(Debug, Clone)]
pub struct KnownUser {
    /// Username.
    pub username: String,
    /// Display name.
    pub global_name: Option<String>,
    /// A bot account.
    pub bot: bool,
}

/// Where a channel is.
#[derive(Debug, Clone)]
pub enum Place {
    /// In a guild.
    Guild {
        /// The guild.
        guild_id: String,
        /// The channel.
        channel: Channel,
    },
    /// A DM.
    Dm(DmChannel),
}

/// Everything, behind the lock.
#[derive(Debug, Default)]
pub struct Inner {
    /// `http://host:port`, the origin URLs handed out are built on.
    pub public_base: String,
    /// Gateway timings.
    pub gateway: GatewayConfig,
    /// Bots by token.
    pub bots: BTreeMap<String, Bot>,
    /// Declared guilds.
    pub guilds: Vec<Guild>,
    /// DM channels by id.
    pub dm_channels: BTreeMap<String, DmChannel>,
    /// Users by id.
    pub users: BTreeMap<String, KnownUser>,
    /// Messages by id.
    pub messages: HashMap<String, StoredMessage>,
    /// Attachments by id.
    pub attachments: HashMap<String, StoredAttachment>,
    /// Attachment downloads, in order.
    pub downloads: Vec<AttachmentDownload>,
    /// Every gateway connection ever made, by id.
    pub connections: BTreeMap<u64, ConnectionRecord>,
    /// Open gateway connections, by id.
    pub live: BTreeMap<u64, LiveConnection>,
    /// Gateway sessions by id.
    pub sessions: HashMap<String, Session>,
    /// The last connection id.
    pub last_connection: u64,
}

impl Inner {
    /// The bot of a token given on the gateway (raw, or with the REST `Bot ` prefix), unless
    /// unknown or revoked.
    pub fn gateway_bot(&self, token: &str) -> Option<String> {
        let raw = token.strip_prefix("Bot ").unwrap_or(token);
        self.bots
            .get(raw)
            .filter(|bot| !bot.revoked)
            .map(|_| raw.to_owned())
    }

    /// The place of a channel: a declared guild channel or thread, or a known DM channel.
    pub fn place(&self, channel_id: &str) -> Option<Place> {
        for guild in &self.guilds {
            if let Some(channel) = guild
                .channels
                .iter()
                .chain(&guild.threads)
                .find(|c| c.id == channel_id)
            {
                return Some(Place::Guild {
                    guild_id: guild.id.clone(),
                    channel: channel.clone(),
                });
            }
        }
        self.dm_channels.get(channel_id).cloned().map(Place::Dm)
    }

    /// The roles of `user_id` in `guild_id`: a bot's declared `bot_roles` or a member's roles.
    pub fn member_roles(&self, guild_id: &str, user_id: &str) -> Vec<String> {
        let Some(guild) = self.guilds.iter().find(|g| g.id == guild_id) else {
            return Vec::new();
        };
        if self.bots.values().any(|bot| bot.user.id == user_id) {
            return guild.bot_roles.clone();
        }
        guild
            .members
            .iter()
            .find(|m| m.user_id == user_id)
            .map(|m| m.roles.clone())
            .unwrap_or_default()
    }

    /// The WebSocket origin (`ws://host:port`) matching `public_base`.
    pub fn ws_base(&self) -> String {
        if let Some(rest) = self.public_base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.public_base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.public_base.clone()
        }
    }
}

/// Shared state.
#[derive(Debug, Clone, Default)]
pub struct World {
    inner: Arc<Mutex<Inner>>,
}

impl World {
    /// An empty world whose URLs start with `public_base` (`http://host:port`).
    pub fn new(public_base: &str, gateway: GatewayConfig) -> Self {
        let inner = Inner {
            public_base: public_base.trim_end_matches('/').to_owned(),
            gateway,
            ..Inner::default()
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Locks everything.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
