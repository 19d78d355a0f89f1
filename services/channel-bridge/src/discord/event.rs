//! Discord's dispatches as the bridge sees them: a `MESSAGE_CREATE` becomes the channel core's
//! message (a DM, a guild channel or a thread, whether the bot was addressed, the attachments),
//! and the guild and thread events fill a small cache of which channel is a thread of which.
//! Parsing is lenient: a field that is missing is treated as absent, never as a lost message.

use std::collections::HashMap;

use serde_json::Value;

use crate::channel::inbound::{Inbound, MediaRef, Sender};

/// Channel types that are threads (announcement, public and private threads).
pub const THREAD_TYPES: [u64; 3] = [10, 11, 12];

/// The bot, as the parser needs it.
#[derive(Clone, Debug, Default)]
pub struct Bot {
    /// Its user id.
    pub id: String,
    /// Its username.
    pub username: String,
    /// Its role ids by guild (a mention of one addresses it).
    pub roles: HashMap<String, Vec<String>>,
}

/// What is known of a guild channel: whether it is a thread, and of which channel.
#[derive(Clone, Debug, Default)]
pub struct Channels {
    parents: HashMap<String, Option<String>>,
}

impl Channels {
    /// Learns from a `GUILD_CREATE`, `CHANNEL_CREATE`/`UPDATE` or `THREAD_CREATE`/`UPDATE`.
    pub fn learn(&mut self, kind: &str, data: &Value, bot: &mut Bot) {
        match kind {
            "GUILD_CREATE" => {
                let lists = ["channels", "threads"];
                for channel in lists
                    .iter()
                    .filter_map(|list| data.get(*list).and_then(Value::as_array))
                    .flatten()
                {
                    self.learn_channel(channel);
                }
                let guild = text(data, "id");
                let own = data
                    .get("members")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|m| m.pointer("/user/id").and_then(Value::as_str) == Some(&bot.id));
                if let (Some(guild), Some(member)) = (guild, own) {
                    bot.roles.insert(guild, strings(member.get("roles")));
                }
            }
            "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "THREAD_CREATE" | "THREAD_UPDATE" => {
                self.learn_channel(data);
            }
            _ => {}
        }
    }

    fn learn_channel(&mut self, channel: &Value) {
        let Some(id) = text(channel, "id") else {
            return;
        };
        let kind = channel.get("type").and_then(Value::as_u64).unwrap_or(0);
        let parent = THREAD_TYPES
            .contains(&kind)
            .then(|| text(channel, "parent_id"))
            .flatten();
        self.parents.insert(id, parent);
    }

    /// Records a looked-up channel.
    pub fn remember(&mut self, id: &str, parent: Option<String>) {
        self.parents.insert(id.to_owned(), parent);
    }

    /// `Some(parent)` when `id` is a known thread, `Some(None)` when a known channel, `None` when
    /// unknown.
    pub fn parent_of(&self, id: &str) -> Option<Option<String>> {
        self.parents.get(id).cloned()
    }
}

/// Whether a message's own `channel_type` says it is in a thread (`None`: it does not say).
pub fn in_thread(data: &Value) -> Option<bool> {
    data.get("channel_type")
        .and_then(Value::as_u64)
        .map(|kind| THREAD_TYPES.contains(&kind))
}

/// A `MESSAGE_CREATE` as a message to the bot; `None` for the bot's own messages and for what is
/// not a message. `thread_parent` is the parent channel when the message is in a thread.
pub fn message(data: &Value, bot: &Bot, thread_parent: Option<String>) -> Option<Inbound> {
    let id = text(data, "id")?;
    let chat = text(data, "channel_id")?;
    let author = data.get("author")?;
    let sender_id = text(author, "id")?;
    if sender_id == bot.id {
        return None;
    }
    let guild = text(data, "guild_id");
    let content = data
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mention_plain = format!("<@{}>", bot.id);
    let mention_nick = format!("<@!{}>", bot.id);
    let mentioned_user = data
        .get("mentions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|user| user.get("id").and_then(Value::as_str) == Some(bot.id.as_str()))
        || content.contains(&mention_plain)
        || content.contains(&mention_nick);
    let bot_roles = guild
        .as_ref()
        .and_then(|g| bot.roles.get(g))
        .cloned()
        .unwrap_or_default();
    let mentioned_role = strings(data.get("mention_roles"))
        .iter()
        .any(|role| bot_roles.contains(role));
    let replied = data.get("referenced_message").filter(|r| !r.is_null());
    let reply_to_bot = replied
        .and_then(|r| r.pointer("/author/id"))
        .and_then(Value::as_str)
        == Some(bot.id.as_str());
    // `<@id>` reads as `@name` for the agent.
    let readable = content
        .replace(&mention_plain, &format!("@{}", bot.username))
        .replace(&mention_nick, &format!("@{}", bot.username));
    let username = text(author, "username");
    let name = text(author, "global_name")
        .filter(|n| !n.is_empty())
        .or_else(|| username.clone())
        .unwrap_or_default();
    let room = match (&guild, thread_parent) {
        (Some(_), Some(parent)) => Some(parent),
        (Some(_), None) => Some(chat.clone()),
        (None, _) => None,
    };
    Some(Inbound {
        id: id.clone(),
        message_id: id,
        direct: guild.is_none(),
        space: guild,
        room,
        chat,
        thread: None,
        reply_thread: None,
        sender: Sender {
            id: sender_id,
            username,
            name,
            bot: author.get("bot").and_then(Value::as_bool).unwrap_or(false),
            roles: strings(data.pointer("/member/roles")),
        },
        text: readable,
        mentioned: mentioned_user || mentioned_role || reply_to_bot,
        quoted: replied
            .and_then(|r| r.get("content"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        forwarded_from: None,
        media: data
            .get("attachments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(attachment)
            .collect(),
    })
}

fn attachment(value: &Value) -> Option<MediaRef> {
    let content_type = value
        .get("content_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = match content_type.split('/').next() {
        Some("image") => "photo",
        Some("audio") if value.get("waveform").is_some() => "voice",
        Some("audio") => "audio",
        Some("video") => "video",
        _ => "document",
    };
    Some(MediaRef {
        kind,
        locator: text(value, "url")?,
        file_name: text(value, "filename"),
        size: value.get("size").and_then(Value::as_u64),
    })
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bot() -> Bot {
        Bot {
            id: "900".into(),
            username: "pincer".into(),
            roles: HashMap::from([("G1".to_owned(), vec!["R-bot".to_owned()])]),
        }
    }

    #[test]
    fn a_guild_message_that_mentions_the_bot_with_an_attachment() {
        let data = json!({
            "id": "111", "channel_id": "C1", "guild_id": "G1", "channel_type": 0,
            "author": {"id": "42", "username": "ana", "global_name": "Ana"},
            "member": {"roles": ["R-mods"]},
            "content": "<@900> look at this",
            "mentions": [{"id": "900", "username": "pincer", "bot": true}],
            "attachments": [{"id": "a", "filename": "cat.png", "content_type": "image/png", "size": 10, "url": "https://cdn/cat.png"}]
        });
        let message = message(&data, &bot(), None).expect("a message");
        assert!(!message.direct && message.mentioned);
        assert_eq!(message.space.as_deref(), Some("G1"));
        assert_eq!(message.room.as_deref(), Some("C1"));
        assert_eq!(message.text, "@pincer look at this");
        assert_eq!(message.sender.name, "Ana");
        assert_eq!(message.sender.roles, ["R-mods"]);
        assert_eq!(message.media[0].kind, "photo");
        assert_eq!(message.media[0].file_name.as_deref(), Some("cat.png"));
    }

    #[test]
    fn dms_threads_role_mentions_replies_and_own_messages() {
        let dm = json!({"id": "1", "channel_id": "D1", "author": {"id": "42", "username": "ana"}, "content": "hi"});
        let dm = message(&dm, &bot(), None).expect("a dm");
        assert!(dm.direct && dm.space.is_none() && dm.room.is_none());

        let in_thread = json!({"id": "2", "channel_id": "T1", "guild_id": "G1", "channel_type": 11,
            "author": {"id": "42"}, "content": "<@&R-bot> ping", "mention_roles": ["R-bot"]});
        assert_eq!(super::in_thread(&in_thread), Some(true));
        let threaded = message(&in_thread, &bot(), Some("C1".into())).expect("thread message");
        assert_eq!(
            (threaded.chat.as_str(), threaded.room.as_deref()),
            ("T1", Some("C1"))
        );
        assert!(threaded.mentioned, "a role of the bot was mentioned");

        let reply = json!({"id": "3", "channel_id": "C1", "guild_id": "G1", "author": {"id": "42"},
            "content": "thanks", "referenced_message": {"author": {"id": "900"}, "content": "earlier answer"}});
        let reply = message(&reply, &bot(), None).expect("reply");
        assert!(reply.mentioned);
        assert_eq!(reply.quoted.as_deref(), Some("earlier answer"));

        let own = json!({"id": "4", "channel_id": "C1", "author": {"id": "900"}, "content": "me"});
        assert!(message(&own, &bot(), None).is_none());
        assert!(message(&json!({"id": "5"}), &bot(), None).is_none());
    }

    #[test]
    fn guild_create_teaches_threads_and_the_bots_roles() {
        let mut channels = Channels::default();
        let mut bot = Bot {
            id: "900".into(),
            ..Bot::default()
        };
        channels.learn(
            "GUILD_CREATE",
            &json!({"id": "G9", "channels": [{"id": "C1", "type": 0}],
                    "threads": [{"id": "T1", "type": 11, "parent_id": "C1"}],
                    "members": [{"user": {"id": "900"}, "roles": ["R1"]}]}),
            &mut bot,
        );
        assert_eq!(channels.parent_of("T1"), Some(Some("C1".into())));
        assert_eq!(channels.parent_of("C1"), Some(None));
        assert_eq!(channels.parent_of("C2"), None);
        assert_eq!(bot.roles["G9"], ["R1"]);
    }
}
