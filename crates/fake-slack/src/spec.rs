//! What a test declares (apps with their bot, channels) and the user messages it injects. Every
//! type also deserializes, for the control API of the container.

use serde::{Deserialize, Serialize};

/// A Slack app installed in the fake workspace: its app-level token (Socket Mode) and bot token
/// (Web API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSpec {
    /// `xapp-…`.
    pub app_token: String,
    /// `xoxb-…`.
    pub bot_token: String,
    /// The bot user's name; `pincer` when absent.
    pub bot_name: Option<String>,
    /// Fixed ids, for tests that configure them ahead (generated when absent).
    pub app_id: Option<String>,
    /// The bot's user id (`U…`).
    pub bot_user_id: Option<String>,
    /// The bot id (`B…`).
    pub bot_id: Option<String>,
}

impl AppSpec {
    /// An app with these tokens and generated ids.
    pub fn new(app_token: &str, bot_token: &str) -> Self {
        Self {
            app_token: app_token.to_owned(),
            bot_token: bot_token.to_owned(),
            ..Self::default()
        }
    }
}

/// An installed app as tests (and `auth.test`) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppIdentity {
    /// `A…`.
    pub app_id: String,
    /// The workspace, `T…`.
    pub team_id: String,
    /// The workspace's name.
    pub team_name: String,
    /// The bot's user id, `U…`: what `<@…>` mentions of the bot contain.
    pub bot_user_id: String,
    /// The bot id, `B…`: carried by the bot's own messages.
    pub bot_id: String,
    /// The bot user's name.
    pub bot_name: String,
    /// `xapp-…`.
    pub app_token: String,
    /// `xoxb-…`.
    pub bot_token: String,
}

/// The kind of a conversation, as `channel_type` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Public channel, `C…`.
    #[default]
    Channel,
    /// Private channel, `G…` (or `C…`).
    Group,
    /// Direct message with the bot, `D…`.
    Im,
    /// Group DM.
    Mpim,
}

impl ChannelKind {
    /// The kind Slack's id prefixes suggest (what clients fall back to as well).
    pub fn from_id(id: &str) -> Self {
        match id.as_bytes().first() {
            Some(b'D') => Self::Im,
            Some(b'G') => Self::Group,
            _ => Self::Channel,
        }
    }

    /// The `channel_type` string of events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Group => "group",
            Self::Im => "im",
            Self::Mpim => "mpim",
        }
    }
}

/// A file a user shares with an injected message; the fake serves its bytes at `url_private`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileSpec {
    /// File name.
    pub name: String,
    /// MIME type.
    pub mimetype: String,
    /// Content.
    pub data: Vec<u8>,
}

/// A user's message to inject with [`crate::RunningSlack::user_says`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Incoming {
    /// Conversation id; empty for the user's DM with the bot (a `D…` id per user).
    pub channel: String,
    /// `im`, `channel`, `group` or `mpim`; from the declared channel or the id prefix when absent.
    pub channel_type: Option<ChannelKind>,
    /// The author, `U…`.
    pub user: String,
    /// The author's name (for `users.info`).
    pub user_name: Option<String>,
    /// Text in Slack's markup (`<@U…>` mentions).
    pub text: String,
    /// The thread's root ts, for a reply in a thread.
    pub thread_ts: Option<String>,
    /// Shared files (the event gets `subtype: file_share`).
    pub files: Vec<FileSpec>,
    /// Another subtype to set (`bot_message`, `channel_join`, ...), to test filtering.
    pub subtype: Option<String>,
    /// Posted by another bot (`bot_id` on the event).
    pub bot_id: Option<String>,
}

impl Incoming {
    /// A DM from `user` to the bot.
    pub fn dm(user: &str, text: &str) -> Self {
        Self {
            user: user.to_owned(),
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// A message from `user` in `channel`.
    pub fn in_channel(channel: &str, user: &str, text: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            user: user.to_owned(),
            text: text.to_owned(),
            ..Self::default()
        }
    }
}

/// What [`crate::RunningSlack::user_says`] created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    /// The message's ts.
    pub ts: String,
    /// Its channel (the DM's id when the test left it empty).
    pub channel: String,
    /// `event_id`s: the `message` event's, then the `app_mention`'s if the bot was mentioned.
    pub event_ids: Vec<String>,
    /// The envelopes queued for Socket Mode, in the same order.
    pub envelope_ids: Vec<String>,
}
