//! What a test declares: bots, guilds with their channels, threads and members, and the user
//! messages it injects. Every type also deserializes, for the control API of the container.

use serde::{Deserialize, Serialize};

/// A bot application to accept, by token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotSpec {
    /// The token the bot authenticates with (REST `Authorization: Bot <token>`, IDENTIFY `token`).
    pub token: String,
    /// The bot's user id; a fresh snowflake when absent.
    pub id: Option<String>,
    /// The bot's username; `pincer-test-bot` when absent.
    pub username: Option<String>,
}

impl BotSpec {
    /// A bot with this token and generated id and name.
    pub fn new(token: &str) -> Self {
        Self {
            token: token.to_owned(),
            ..Self::default()
        }
    }
}

/// The bot's user, as READY and `/users/@me` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotUser {
    /// Snowflake.
    pub id: String,
    /// Username.
    pub username: String,
    /// The application id (Discord gives bots their own: here the same as the user id).
    pub application_id: String,
}

/// A guild the bots are members of; every declared bot is in every declared guild.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Guild {
    /// Snowflake.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Text channels (type 0) and others.
    pub channels: Vec<Channel>,
    /// Active threads (type 10, 11 or 12) with their `parent_id`.
    pub threads: Vec<Channel>,
    /// Roles besides `@everyone` (whose id is the guild's).
    pub roles: Vec<Role>,
    /// Human members, with their roles.
    pub members: Vec<Member>,
    /// Roles the bots hold in this guild.
    pub bot_roles: Vec<String>,
}

/// A guild channel or thread.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channel {
    /// Snowflake.
    pub id: String,
    /// Discord channel type: 0 text, 5 announcement, 10/11/12 threads, 15 forum.
    #[serde(rename = "type")]
    pub kind: u8,
    /// Display name.
    pub name: String,
    /// The channel a thread belongs to (or a channel's category).
    pub parent_id: Option<String>,
}

impl Channel {
    /// A text channel.
    pub fn text(id: &str, name: &str) -> Self {
        Self {
            id: id.to_owned(),
            kind: 0,
            name: name.to_owned(),
            parent_id: None,
        }
    }

    /// A public thread in `parent`.
    pub fn thread(id: &str, parent: &str, name: &str) -> Self {
        Self {
            id: id.to_owned(),
            kind: 11,
            name: name.to_owned(),
            parent_id: Some(parent.to_owned()),
        }
    }
}

/// A guild role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Role {
    /// Snowflake.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A human guild member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    /// User snowflake.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// Role ids.
    pub roles: Vec<String>,
}

/// A file a user attaches to an injected message; the fake serves its bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachmentSpec {
    /// File name, as shown in Discord.
    pub filename: String,
    /// MIME type, if Discord would know it.
    pub content_type: Option<String>,
    /// The content.
    pub data: Vec<u8>,
}

/// A user's message to inject with [`crate::RunningDiscord::user_says`].
///
/// Where it lands follows `channel_id`: a declared guild channel or thread makes a guild message
/// (with `guild_id` and `member`); anything else is a DM channel between the author and the bot.
/// An empty `channel_id` means "the DM channel of this author and this bot" (one per pair, as on
/// Discord).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Incoming {
    /// Where; empty for the author's DM with the bot.
    pub channel_id: String,
    /// The author's snowflake.
    pub author_id: String,
    /// The author's username; `user<id>` when absent.
    pub username: Option<String>,
    /// The author's display name.
    pub global_name: Option<String>,
    /// The author is a bot (another application).
    pub author_is_bot: bool,
    /// The text, with `<@id>`, `<@!id>` and `<@&role>` mentions as Discord encodes them.
    pub content: String,
    /// The author's roles in the guild (declared members' roles are used when empty).
    pub roles: Vec<String>,
    /// The message (the bot's or a user's) this one replies to.
    pub reply_to: Option<String>,
    /// A reply normally pings the replied-to author (who then appears in `mentions`); this
    /// turns the ping off.
    pub reply_without_ping: bool,
    /// Files.
    pub attachments: Vec<AttachmentSpec>,
}

impl Incoming {
    /// A DM from `author_id` to the bot.
    pub fn dm(author_id: &str, content: &str) -> Self {
        Self {
            author_id: author_id.to_owned(),
            content: content.to_owned(),
            ..Self::default()
        }
    }

    /// A message from `author_id` in the guild channel or thread `channel_id`.
    pub fn in_channel(channel_id: &str, author_id: &str, content: &str) -> Self {
        Self {
            channel_id: channel_id.to_owned(),
            author_id: author_id.to_owned(),
            content: content.to_owned(),
            ..Self::default()
        }
    }
}

/// What [`crate::RunningDiscord::user_says`] created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedMessage {
    /// The message's snowflake.
    pub id: String,
    /// The channel it is in (the DM channel's id when the test left it empty).
    pub channel_id: String,
}
