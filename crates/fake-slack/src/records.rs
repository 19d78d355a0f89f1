//! What a test reads back: posts and edits, sockets, envelopes and their acks, disconnects.
//! Times are milliseconds since the fake started.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message the bot posted with `chat.postMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostedMessage {
    /// Where.
    pub channel: String,
    /// Its ts.
    pub ts: String,
    /// The text as last set (updates change it).
    pub text: String,
    /// The thread it went to.
    pub thread_ts: Option<String>,
    /// The request's `mrkdwn`.
    pub mrkdwn: Option<bool>,
    /// The request's `unfurl_links`.
    pub unfurl_links: Option<bool>,
    /// The request's `metadata` (`{event_type, event_payload}`), parsed if it came as a string.
    pub metadata: Option<Value>,
    /// How often it was updated.
    pub updates: u32,
    /// The request's parameters.
    pub request: Value,
}

/// One `chat.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The channel.
    pub channel: String,
    /// The updated message's ts.
    pub ts: String,
    /// The new text.
    pub text: String,
    /// The request's parameters.
    pub request: Value,
}

/// How a socket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The client sent a close frame.
    ClientClosed,
    /// The client's connection went away without a close frame.
    ClientVanished,
    /// The fake closed it (after a `disconnect`, or on request).
    ServerClosed,
    /// The fake dropped it without a close frame.
    ServerDropped,
    /// The fake shut down.
    Shutdown,
}

/// One Socket Mode connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocketRecord {
    /// Order of arrival, from 1.
    pub id: u64,
    /// The app's id.
    pub app_id: String,
    /// When it opened (its `hello` went out).
    pub opened_ms: u64,
    /// When it ended.
    pub closed_ms: Option<u64>,
    /// How.
    pub ending: Option<Ending>,
    /// Close code the client sent.
    pub close_received: Option<u16>,
    /// Envelopes delivered on it.
    pub envelopes: u32,
    /// Acks received on it.
    pub acks: u32,
    /// Text frames from the client that were not acks.
    pub other_frames: Vec<String>,
}

/// One envelope and its fate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeRecord {
    /// `envelope_id` (the same on every redelivery).
    pub envelope_id: String,
    /// The wrapped event's `event_id`.
    pub event_id: String,
    /// `message`, `app_mention`, ...
    pub event_type: String,
    /// Deliveries so far (1 + redeliveries).
    pub deliveries: u32,
    /// Sockets it went to, in order.
    pub sockets: Vec<u64>,
    /// Acked.
    pub acked: bool,
    /// Not acked after every retry: Slack gave up.
    pub given_up: bool,
}

/// One ack frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckRecord {
    /// The acked envelope.
    pub envelope_id: String,
    /// The socket it came on.
    pub socket: u64,
    /// It named an envelope the fake delivered.
    pub known: bool,
    /// It came after the ack deadline of the envelope's latest delivery.
    pub late: bool,
    /// The optional `payload`.
    pub payload: Option<Value>,
}

/// One `disconnect` the fake sent, and what the client did about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisconnectRecord {
    /// The socket told.
    pub socket: u64,
    /// `refresh_requested`, `warning` or `link_disabled`.
    pub reason: String,
    /// When.
    pub sent_ms: u64,
    /// The first new socket of the app that connected while the told one was still open: a
    /// client that refreshes properly opens it before closing the old one.
    pub replacement: Option<u64>,
    /// When the told socket ended.
    pub closed_ms: Option<u64>,
    /// Whether the client closed it (rather than the fake after the grace).
    pub closed_by_client: Option<bool>,
}

impl DisconnectRecord {
    /// A replacement socket connected before this one closed.
    pub fn overlapped(&self) -> bool {
        self.replacement.is_some()
    }
}

/// One download of a file's `url_private`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDownload {
    /// The file's id.
    pub file_id: String,
    /// The `Authorization` header sent (Slack needs the bot token here).
    pub authorization: Option<String>,
    /// The bytes were served (a missing or bad token gets Slack's HTML login page instead).
    pub served: bool,
}
