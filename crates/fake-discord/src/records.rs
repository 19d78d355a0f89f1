//! What a test reads back: messages and edits a bot made, and the log of gateway connections.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message a bot created over REST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The snowflake Discord gave it.
    pub id: String,
    /// Where.
    pub channel_id: String,
    /// The text as last set (edits update it).
    pub content: String,
    /// The request's `nonce`, as a string.
    pub nonce: Option<String>,
    /// The request's `enforce_nonce`.
    pub enforce_nonce: bool,
    /// The request's `message_reference`.
    pub message_reference: Option<Value>,
    /// The request's `allowed_mentions`.
    pub allowed_mentions: Option<Value>,
    /// How often it was edited.
    pub edits: u32,
    /// The whole request body.
    pub request: Value,
}

/// One `PATCH /channels/{id}/messages/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    /// The edited message.
    pub message_id: String,
    /// Its channel.
    pub channel_id: String,
    /// The new text, if the edit set one.
    pub content: Option<String>,
    /// The whole request body.
    pub request: Value,
}

/// How a gateway connection began its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Handshake {
    /// IDENTIFY accepted: a new session, READY sent.
    Identified {
        /// The new session.
        session_id: String,
        /// The requested intents.
        intents: u64,
    },
    /// RESUME accepted: missed dispatches replayed, then RESUMED.
    Resumed {
        /// The resumed session.
        session_id: String,
        /// The `seq` the client gave.
        seq: Option<u64>,
        /// Dispatches replayed.
        replayed: usize,
    },
    /// RESUME of an unknown, invalidated or expired session: op 9 `d:false` sent.
    ResumeRefused {
        /// The session asked for.
        session_id: String,
    },
    /// IDENTIFY or RESUME refused by closing the connection with this code.
    Rejected {
        /// The close code sent (4004, 4007, 4013, 4014, ...).
        code: u16,
    },
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The client sent a close frame (its code is in `close_received`).
    ClientClosed,
    /// The client's TCP connection went away without a close frame.
    ClientVanished,
    /// The fake sent a close frame (its code is in `close_sent`).
    ServerClosed,
    /// The fake dropped the TCP connection without a close frame.
    ServerDropped,
    /// The fake shut down.
    Shutdown,
}

/// One gateway WebSocket connection, from upgrade to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Order of arrival, from 1.
    pub id: u64,
    /// The URL path dialled: `/gateway` (from `/gateway/bot`) or `/resume` (READY's
    /// `resume_gateway_url`), with any trailing slash removed.
    pub path: String,
    /// The query string (`v=10&encoding=json`).
    pub query: String,
    /// The bot the connection authenticated (or tried to) as.
    pub bot_token: Option<String>,
    /// IDENTIFY / RESUME outcomes, in order (a connection may identify again after op 9).
    pub handshakes: Vec<Handshake>,
    /// Heartbeats (op 1) received.
    pub heartbeats: u32,
    /// The `d` of the last heartbeat (the client's last sequence number).
    pub last_heartbeat_seq: Option<u64>,
    /// Close code the fake sent.
    pub close_sent: Option<u16>,
    /// Close code the client sent (`None` with `ClientClosed` means a close frame without code).
    pub close_received: Option<u16>,
    /// Set once the connection is over.
    pub ending: Option<Ending>,
}

impl ConnectionRecord {
    /// The connection is still open.
    pub fn is_open(&self) -> bool {
        self.ending.is_none()
    }

    /// The connection resumed a session.
    pub fn resumed(&self) -> bool {
        self.handshakes
            .iter()
            .any(|h| matches!(h, Handshake::Resumed { .. }))
    }

    /// The connection identified (a new session).
    pub fn identified(&self) -> bool {
        self.handshakes
            .iter()
            .any(|h| matches!(h, Handshake::Identified { .. }))
    }
}

/// One download of an attachment URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentDownload {
    /// The attachment's snowflake.
    pub attachment_id: String,
    /// The `Authorization` header sent with it: a client must not send its bot token to the
    /// CDN.
    pub authorization: Option<String>,
}
