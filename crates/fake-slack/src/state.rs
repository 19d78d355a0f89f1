//! The fake workspace: apps by token, conversations with their messages, Socket Mode tickets and
//! live sockets, queued envelopes. Everything behind one mutex; socket tasks get orders through a
//! channel per socket and the delivery loop is woken by a `Notify`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

use crate::knobs::{Forced, HttpRetryPolicy, Knobs};
use crate::records::{
    AckRecord, DisconnectRecord, FileDownload, PostedMessage, SocketRecord, Update,
};
use crate::spec::{AppIdentity, ChannelKind};

/// A failure of a test's request to the fake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FakeError {
    /// No app was declared with this token.
    #[error("no app with this token was declared")]
    UnknownApp,
    /// A token does not have the shape its role needs.
    #[error("{0} must start with {1}")]
    TokenShape(&'static str, &'static str),
    /// A token is in use by another app.
    #[error("this token belongs to another app already")]
    DuplicateToken,
    /// No open socket to act on.
    #[error("the app has no open socket")]
    NoSocket,
}

/// Orders to the task serving one socket.
#[derive(Debug)]
pub enum SocketCommand {
    /// Send this frame.
    Send(Value),
    /// Send this frame (a `disconnect`), then close after the grace unless the client did.
    SendThenClose(Value, Duration),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Stop reading and writing until dropped.
    Silent,
}

/// A socket's server-side state.
#[derive(Debug)]
pub struct LiveSocket {
    /// The app's token.
    pub app: String,
    /// Orders to its task.
    pub commands: UnboundedSender<SocketCommand>,
    /// A `disconnect` was sent: it gets envelopes only if no other socket is open.
    pub disconnecting: bool,
    /// Went silent: dropped once the app opens another socket.
    pub silent: bool,
}

/// An envelope waiting for its ack.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The envelope without `retry_attempt`/`retry_reason` (set per delivery).
    pub body: Value,
    /// When to deliver next: `None` once acked or given up.
    pub due: Option<Instant>,
    /// What tests see.
    pub record: crate::records::EnvelopeRecord,
}

/// One app.
#[derive(Debug)]
pub struct App {
    /// Ids and tokens.
    pub identity: AppIdentity,
    /// Behaviour.
    pub knobs: Knobs,
    /// Forced failures by Web API method.
    pub forced: BTreeMap<String, Forced>,
    /// The bot's posts, in order.
    pub posted: Vec<PostedMessage>,
    /// The bot's updates, in order.
    pub updates: Vec<Update>,
    /// Envelopes, in order of creation.
    pub envelopes: Vec<Envelope>,
    /// Acks received, in order.
    pub acks: Vec<AckRecord>,
    /// Disconnects sent, in order.
    pub disconnects: Vec<DisconnectRecord>,
    /// Most sockets open at once.
    pub max_sockets: usize,
    /// Round-robin position among sockets.
    pub next_socket: usize,
    /// Envelopes before this index are all acked or given up (the delivery scan starts here).
    pub settled: usize,
    /// Successful `apps.connections.open` calls.
    pub connections_opened: u32,
}

/// A message in a conversation.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// The message object (as `conversations.history` returns it, metadata included).
    pub body: Value,
    /// Its author.
    pub user: String,
}

/// A conversation.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// Its kind.
    pub kind: ChannelKind,
    /// Its name.
    pub name: String,
    /// For a DM: the human in it.
    pub dm_user: Option<String>,
    /// Messages, oldest first.
    pub messages: Vec<StoredMessage>,
}

/// A shared file's bytes.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// File name.
    pub name: String,
    /// MIME type.
    pub mimetype: String,
    /// Content.
    pub data: Vec<u8>,
}

/// Everything, behind the lock.
#[derive(Debug)]
pub struct Inner {
    /// `http://host:port`.
    pub public_base: String,
    /// When the fake started (records count milliseconds from it).
    pub started: Instant,
    /// The workspace id.
    pub team_id: String,
    /// The workspace name.
    pub team_name: String,
    /// Apps by app token.
    pub apps: BTreeMap<String, App>,
    /// App tokens by bot token.
    pub bot_tokens: BTreeMap<String, String>,
    /// Revoked tokens (of either kind).
    pub revoked: Vec<String>,
    /// Unused Socket Mode tickets: the app token each was issued to.
    pub tickets: HashMap<String, String>,
    /// Conversations by id.
    pub conversations: BTreeMap<String, Conversation>,
    /// Human users' names by id.
    pub users: BTreeMap<String, String>,
    /// Files by id.
    pub files: HashMap<String, StoredFile>,
    /// File downloads, in order.
    pub file_downloads: Vec<FileDownload>,
    /// Open sockets by id.
    pub live: BTreeMap<u64, LiveSocket>,
    /// Every socket ever opened, by id.
    pub sockets: BTreeMap<u64, SocketRecord>,
    /// The last socket id.
    pub last_socket: u64,
    /// Retry policy of signed HTTP deliveries.
    pub http_retries: HttpRetryPolicy,
}

impl Inner {
    /// Milliseconds since the fake started.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The app token owning a token of either kind (if not revoked).
    pub fn app_of(&self, token: &str) -> Option<String> {
        if self.revoked.iter().any(|t| t == token) {
            return None;
        }
        if self.apps.contains_key(token) {
            return Some(token.to_owned());
        }
        self.bot_tokens.get(token).cloned()
    }

    /// The conversation `id`, created on first use with the kind its prefix suggests.
    pub fn conversation(&mut self, id: &str) -> &mut Conversation {
        self.conversations
            .entry(id.to_owned())
            .or_insert_with(|| Conversation {
                kind: ChannelKind::from_id(id),
                name: id.to_lowercase(),
                ..Conversation::default()
            })
    }

    /// Open sockets of an app, by id.
    pub fn sockets_of(&self, app: &str) -> Vec<u64> {
        self.live
            .iter()
            .filter(|(_, socket)| socket.app == app)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The WebSocket origin matching `public_base`.
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
#[derive(Debug, Clone)]
pub struct World {
    inner: Arc<Mutex<Inner>>,
    /// Wakes the delivery loop (new envelope, new socket, ack).
    pub wake: Arc<Notify>,
}

impl World {
    /// An empty workspace whose URLs start with `public_base`.
    pub fn new(public_base: &str) -> Self {
        let inner = Inner {
            public_base: public_base.trim_end_matches('/').to_owned(),
            started: Instant::now(),
            team_id: crate::ids::object_id("T"),
            team_name: "Pincer Test".to_owned(),
            apps: BTreeMap::new(),
            bot_tokens: BTreeMap::new(),
            revoked: Vec::new(),
            tickets: HashMap::new(),
            conversations: BTreeMap::new(),
            users: BTreeMap::new(),
            files: HashMap::new(),
            file_downloads: Vec::new(),
            live: BTreeMap::new(),
            sockets: BTreeMap::new(),
            last_socket: 0,
            http_retries: HttpRetryPolicy::default(),
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Locks everything.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
