//! A message to a bot as every channel describes it: who wrote what where, whether the bot was
//! addressed, and what is attached. Each adapter turns its platform's event into one.

/// A message to the bot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inbound {
    /// Its identity for de-duplication within the account (Telegram's `update_id`, Discord's
    /// message id, Slack's `channel:ts`). Turn and reply ids are made from it.
    pub id: String,
    /// The platform's id of the message in its chat (what a reply quotes).
    pub message_id: String,
    /// The chat the answer goes to (a DM, group, guild channel, thread or Slack channel).
    pub chat: String,
    /// The thread the message is in, where a platform threads inside a chat (Slack's `thread_ts`):
    /// a conversation of its own.
    pub thread: Option<String>,
    /// Where the answer goes when that is a thread the message is not in yet (Slack's
    /// `replyToMode` starting a thread on the message).
    pub reply_thread: Option<String>,
    /// A direct conversation with the bot (else a group or channel).
    pub direct: bool,
    /// The group the access rules are looked up under: a Telegram group's chat id, a Discord
    /// guild id, a Slack channel id. `None` in a DM.
    pub space: Option<String>,
    /// Inside a Discord guild, the channel whose rules apply (a thread's parent channel).
    pub room: Option<String>,
    /// Who wrote it.
    pub sender: Sender,
    /// Text or caption.
    pub text: String,
    /// The platform says the bot was addressed: an `@mention` of it (or a role it has), a reply
    /// to one of its messages. Mention words from the config are checked by the access rules.
    pub mentioned: bool,
    /// Text of the message replied to.
    pub quoted: Option<String>,
    /// Who it was forwarded from.
    pub forwarded_from: Option<String>,
    /// Attached files.
    pub media: Vec<MediaRef>,
}

/// The author of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sender {
    /// The platform's user id.
    pub id: String,
    /// A handle (`@name` without the `@`), where the platform has one.
    pub username: Option<String>,
    /// A display name.
    pub name: String,
    /// Another bot.
    pub bot: bool,
    /// Role ids the sender has here (Discord guilds).
    pub roles: Vec<String>,
}

/// An attached file, not yet downloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRef {
    /// `photo`, `document`, `voice`, `audio`, `video`, `sticker`, `file`.
    pub kind: &'static str,
    /// What the adapter needs to download it (a Telegram file id, a URL).
    pub locator: String,
    /// Its name, when the platform gives one.
    pub file_name: Option<String>,
    /// Size in bytes, when the platform says.
    pub size: Option<u64>,
}
