//! What the daemon saw the bridge do, for tests to check: sends, typing calls, event streams,
//! envelope deliveries and attachment downloads.

use serde::Serialize;

/// One successful `send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SentMessage {
    /// The sending account.
    pub account: String,
    /// Its `recipient`s, as given.
    pub recipients: Vec<String>,
    /// Its `groupId`.
    pub group_id: Option<String>,
    /// The text.
    pub text: String,
    /// The timestamp the daemon gave it (its id in the conversation).
    pub timestamp: u64,
    /// The quoted message: its timestamp and author, as given.
    pub quote: Option<(u64, String)>,
    /// `attachments` as given.
    pub attachments: Vec<String>,
}

impl SentMessage {
    /// Whether it went to `chat` (a recipient or the group).
    pub fn to(&self, chat: &str) -> bool {
        self.group_id.as_deref() == Some(chat) || self.recipients.iter().any(|r| r == chat)
    }
}

/// One successful `sendTyping`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypingCall {
    /// The account.
    pub account: String,
    /// Its `recipient`s.
    pub recipients: Vec<String>,
    /// Its `groupId`.
    pub group_id: Option<String>,
    /// A typing STOP.
    pub stop: bool,
}

impl TypingCall {
    /// Whether it was for `chat`.
    pub fn to(&self, chat: &str) -> bool {
        self.group_id.as_deref() == Some(chat) || self.recipients.iter().any(|r| r == chat)
    }
}

/// One `GET /api/v1/events` answered with a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamRecord {
    /// Its number, in order of opening.
    pub id: u64,
    /// Its `?account=`; `None`: every account.
    pub account: Option<String>,
    /// When it opened (Unix ms).
    pub opened_ms: u64,
    /// When it closed, by either side.
    pub closed_ms: Option<u64>,
}

/// One envelope written to the streams.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// The envelope's timestamp.
    pub timestamp: u64,
    /// Its author's ACI.
    pub source_uuid: String,
    /// The streams it was written to.
    pub streams: Vec<u64>,
    /// Written again after a reconnect ([`crate::RunningSignal::replay_on_next_connect`]).
    pub replay: bool,
}

/// One `getAttachment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachmentDownload {
    /// The account.
    pub account: String,
    /// The id asked for.
    pub id: String,
    /// Whether it was found.
    pub found: bool,
}
