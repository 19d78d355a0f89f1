//! A Telegram update as the bridge sees it: who wrote what where, whether the bot was addressed,
//! and any media. Updates that are not messages are skipped (but still confirmed).

use serde_json::Value;

/// A message to the bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// The update's id (the message's identity for de-duplication).
    pub update_id: i64,
    /// The message's id in its chat.
    pub message_id: i64,
    /// The chat.
    pub chat_id: i64,
    /// A private chat (else a group or supergroup).
    pub private: bool,
    /// Sender id.
    pub sender_id: i64,
    /// Sender username, without `@`.
    pub username: Option<String>,
    /// Sender display name.
    pub first_name: String,
    /// The sender is a bot.
    pub from_bot: bool,
    /// Text or caption.
    pub text: String,
    /// `@mentions` in the text (without `@`, lowercased).
    pub mentions: Vec<String>,
    /// The message replies to one of the bot's messages.
    pub reply_to_bot: bool,
    /// Text of the message replied to.
    pub quoted: Option<String>,
    /// Who it was forwarded from.
    pub forwarded_from: Option<String>,
    /// Attached media.
    pub media: Option<Media>,
    /// The forum topic the message is in (`message_thread_id` of a topic message): a conversation
    /// of its own, answered in the same topic. `None` in the General topic and outside forums.
    pub topic: Option<i64>,
}

/// Media attached to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// `photo`, `document`, `voice`, `audio`, `video`, `sticker`.
    pub kind: &'static str,
    /// Telegram's file id (for `getFile`).
    pub file_id: String,
    /// Size in bytes, when Telegram says.
    pub size: Option<u64>,
}

impl Inbound {
    /// The message as the channel core sees it, for the bot called `bot_username`. The bot is
    /// addressed by an `@mention` entity, a reply to one of its messages, or `@botname` in the
    /// raw text (commands addressed as `/cmd@botname`).
    pub fn into_message(self, bot_username: &str) -> crate::channel::inbound::Inbound {
        use crate::channel::inbound::{Inbound as Message, MediaRef, Sender};
        let bot = bot_username.trim_start_matches('@').to_lowercase();
        let mentioned = self.reply_to_bot
            || self.mentions.contains(&bot)
            || crate::channel::access::contains_word(&self.text.to_lowercase(), &format!("@{bot}"));
        Message {
            id: self.update_id.to_string(),
            message_id: self.message_id.to_string(),
            chat: self.chat_id.to_string(),
            thread: self.topic.map(|topic| topic.to_string()),
            reply_thread: None,
            direct: self.private,
            space: (!self.private).then(|| self.chat_id.to_string()),
            room: None,
            sender: Sender {
                id: self.sender_id.to_string(),
                username: self.username,
                name: self.first_name,
                bot: self.from_bot,
                roles: Vec::new(),
            },
            text: self.text,
            mentioned,
            quoted: self.quoted,
            forwarded_from: self.forwarded_from,
            media: self
                .media
                .into_iter()
                .map(|media| MediaRef {
                    kind: media.kind,
                    locator: media.file_id,
                    file_name: None,
                    size: media.size,
                })
                .collect(),
        }
    }
}

/// The update's id, whatever it holds.
pub fn update_id(update: &Value) -> Option<i64> {
    update.get("update_id").and_then(Value::as_i64)
}

/// Reads a `message` update; `None` for other kinds. An edit (`edited_message`) is not a new
/// message: it was answered as it first came (polling asks for messages only, but Telegram may
/// still send updates of other kinds for a while, and a webhook set by another client gets them).
pub fn parse(update: &Value, bot_id: i64) -> Option<Inbound> {
    let update_id = update_id(update)?;
    let message = update.get("message")?;
    let chat = message.get("chat")?;
    let from = message.get("from")?;
    let text = message
        .get("text")
        .or_else(|| message.get("caption"))
        .and_then(Value::as_str)
        .map_or_else(|| shared(message), str::to_owned);
    let entities = message
        .get("entities")
        .or_else(|| message.get("caption_entities"))
        .and_then(Value::as_array);
    let mentions = entities
        .into_iter()
        .flatten()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("mention"))
        .filter_map(|e| {
            utf16_slice(
                &text,
                e.get("offset")?.as_u64()?,
                e.get("length")?.as_u64()?,
            )
        })
        .map(|m| m.trim_start_matches('@').to_lowercase())
        .collect();
    let replied = message.get("reply_to_message");
    let reply_to_bot = replied
        .and_then(|r| r.pointer("/from/id"))
        .and_then(Value::as_i64)
        .is_some_and(|id| id == bot_id);
    let media = [
        ("photo", true),
        ("document", false),
        ("voice", false),
        ("audio", false),
        ("video", false),
        ("sticker", false),
    ]
    .into_iter()
    .find_map(|(kind, sized_list)| {
        let value = message.get(kind)?;
        // Photos come as a list of sizes: the largest is last.
        let item = if sized_list {
            value.as_array()?.last()?
        } else {
            value
        };
        Some(Media {
            kind,
            file_id: item.get("file_id")?.as_str()?.to_owned(),
            size: item.get("file_size").and_then(Value::as_u64),
        })
    });
    let forwarded_from = message.get("forward_origin").map(|origin| {
        origin
            .get("sender_user_name")
            .or_else(|| origin.pointer("/sender_user/first_name"))
            .or_else(|| origin.pointer("/chat/title"))
            .and_then(Value::as_str)
            .unwrap_or("someone")
            .to_owned()
    });
    Some(Inbound {
        update_id,
        message_id: message
            .get("message_id")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        chat_id: chat.get("id").and_then(Value::as_i64)?,
        private: chat.get("type").and_then(Value::as_str) == Some("private"),
        sender_id: from.get("id").and_then(Value::as_i64)?,
        username: from
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_owned),
        first_name: from
            .get("first_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        from_bot: from.get("is_bot").and_then(Value::as_bool).unwrap_or(false),
        text,
        mentions,
        reply_to_bot,
        quoted: replied
            .and_then(|r| r.get("text").or_else(|| r.get("caption")))
            .and_then(Value::as_str)
            .map(str::to_owned),
        forwarded_from,
        media,
        topic: (message.get("is_topic_message").and_then(Value::as_bool) == Some(true))
            .then(|| message.get("message_thread_id").and_then(Value::as_i64))
            .flatten(),
    })
}

/// What a message without text shares, as text for the agent: a place, a contact card or a
/// poll (empty for anything else: media speak for themselves).
fn shared(message: &Value) -> String {
    let text = |value: &Value, key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if let Some(venue) = message.get("venue") {
        return format!(
            "(shared a place: {}, {})",
            text(venue, "title"),
            text(venue, "address")
        );
    }
    if let Some(location) = message.get("location") {
        let coordinate = |key: &str| {
            location
                .get(key)
                .and_then(Value::as_f64)
                .unwrap_or_default()
        };
        return format!(
            "(shared a location at {}, {})",
            coordinate("latitude"),
            coordinate("longitude")
        );
    }
    if let Some(contact) = message.get("contact") {
        let name = format!(
            "{} {}",
            text(contact, "first_name"),
            text(contact, "last_name")
        );
        return format!(
            "(shared a contact: {}, {})",
            name.trim(),
            text(contact, "phone_number")
        );
    }
    if let Some(poll) = message.get("poll") {
        let options: Vec<String> = poll
            .get("options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|option| text(option, "text"))
            .collect();
        return format!(
            "(a poll: {} Options: {})",
            text(poll, "question"),
            options.join(" / ")
        );
    }
    String::new()
}

/// The part of `text` at UTF-16 `offset` and `length` (entity coordinates).
fn utf16_slice(text: &str, offset: u64, length: u64) -> Option<String> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(length).ok()?)?;
    String::from_utf16(units.get(start..end)?).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn places_contacts_and_polls_reach_the_agent_as_text() {
        let message = |extra: serde_json::Value| {
            let mut message = json!({ "message_id": 3, "chat": { "id": 42, "type": "private" },
                "from": { "id": 42, "is_bot": false, "first_name": "Ana" } });
            message
                .as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            parse(&json!({ "update_id": 1, "message": message }), 99)
                .expect("message")
                .text
        };
        assert_eq!(
            message(json!({ "location": { "latitude": 52.52, "longitude": 13.405 } })),
            "(shared a location at 52.52, 13.405)"
        );
        assert_eq!(
            message(
                json!({ "contact": { "first_name": "Bo", "last_name": "Li", "phone_number": "+4915112345678" } })
            ),
            "(shared a contact: Bo Li, +4915112345678)"
        );
        assert_eq!(
            message(
                json!({ "poll": { "question": "Lunch?", "options": [{ "text": "Yes" }, { "text": "No" }] } })
            ),
            "(a poll: Lunch? Options: Yes / No)"
        );
    }

    #[test]
    fn a_forum_topic_is_a_thread_and_an_edit_is_no_new_message() {
        let message = json!({ "message_id": 3, "message_thread_id": 11, "is_topic_message": true,
            "chat": { "id": -100, "type": "supergroup", "is_forum": true },
            "from": { "id": 42, "is_bot": false, "first_name": "Ana" }, "text": "hi" });
        let inbound = parse(&json!({ "update_id": 7, "message": message }), 99).expect("message");
        assert_eq!(inbound.topic, Some(11));
        assert_eq!(inbound.into_message("bot").thread.as_deref(), Some("11"));
        // A reply in a group that is no forum has a thread id too, but no topic.
        let mut reply = message.clone();
        reply["is_topic_message"] = json!(null);
        let inbound = parse(&json!({ "update_id": 8, "message": reply }), 99).expect("message");
        assert_eq!(inbound.topic, None);
        assert_eq!(
            parse(&json!({ "update_id": 9, "edited_message": message }), 99),
            None
        );
    }

    #[test]
    fn a_group_message_with_a_mention_a_reply_and_a_photo() {
        let update = json!({ "update_id": 7, "message": {
            "message_id": 3, "chat": { "id": -100, "type": "supergroup" },
            "from": { "id": 42, "is_bot": false, "first_name": "Ana", "username": "ana" },
            "caption": "😀 @Pincer_Bot look", "caption_entities": [{ "type": "mention", "offset": 3, "length": 11 }],
            "photo": [{ "file_id": "small", "file_size": 10 }, { "file_id": "big", "file_size": 900 }],
            "reply_to_message": { "message_id": 2, "from": { "id": 99, "is_bot": true }, "text": "earlier" } } });
        let inbound = parse(&update, 99).expect("a message");
        assert!(!inbound.private && inbound.reply_to_bot);
        assert_eq!(inbound.mentions, ["pincer_bot"]);
        assert_eq!(inbound.quoted.as_deref(), Some("earlier"));
        assert_eq!(
            inbound.media,
            Some(Media {
                kind: "photo",
                file_id: "big".into(),
                size: Some(900)
            })
        );
        let message = inbound.into_message("@Pincer_Bot");
        assert!(message.mentioned && !message.direct);
        assert_eq!(message.space.as_deref(), Some("-100"));
        assert_eq!(message.media[0].locator, "big");
        assert!(parse(&json!({ "update_id": 8, "poll": {} }), 99).is_none());
        assert_eq!(update_id(&json!({ "update_id": 8, "poll": {} })), Some(8));
    }
}
