//! The fake's world: bots by token, each with its queue of updates, webhook, sent messages and
//! failure knobs. Everything behind one mutex; long polls wait on a `Notify`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A message the bot sent (or edited), as recorded for tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    /// Telegram's id for it.
    pub message_id: i64,
    /// Where.
    pub chat_id: i64,
    /// Final text.
    pub text: String,
    /// `HTML`, `MarkdownV2`, or absent.
    pub parse_mode: Option<String>,
    /// The message it replies to.
    pub reply_to: Option<i64>,
    /// The forum topic it went to (`message_thread_id`).
    #[serde(default)]
    pub topic: Option<i64>,
    /// How often it was edited.
    pub edits: u32,
}

/// Failure knobs of one bot, set over `POST /control/{token}/knobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// The next N sends (sendMessage, editMessageText) get 429 with `retry_after`.
    pub rate_limit_next: u32,
    /// Seconds in the 429's `parameters.retry_after`.
    pub retry_after: u32,
    /// The next N sends get a 500.
    pub fail_next: u32,
    /// Chats that blocked the bot: sends get 403.
    pub blocked_chats: Vec<i64>,
    /// Refuse every `parse_mode: HTML` text with 400 "can't parse entities".
    pub reject_html: bool,
}

/// One bot.
#[derive(Debug, Default)]
pub struct Bot {
    pub id: i64,
    pub username: String,
    pub updates: VecDeque<Value>,
    pub next_update_id: i64,
    pub next_message_id: i64,
    /// Bumped by each getUpdates: an older poll that sees a newer generation ends with 409.
    pub poll_generation: u64,
    pub polls_in_flight: u32,
    pub conflicts: u32,
    pub webhook: Option<Webhook>,
    pub sent: BTreeMap<i64, Sent>,
    pub chat_actions: Vec<(i64, String)>,
    pub drafts: Vec<(i64, String)>,
    pub knobs: Knobs,
    pub rejected_sends: u32,
    /// Where webhook deliveries really go (the test's stand-in for a public URL's proxy).
    pub webhook_target: Option<String>,
    /// Webhook deliveries that got a 2xx.
    pub webhook_delivered: u32,
    /// Sizes of the files users sent, by file id (served by `/file/bot<token>/<path>`).
    pub files: BTreeMap<String, u64>,
}

/// A set webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    pub secret_token: Option<String>,
}

/// Shared state.
#[derive(Debug, Clone, Default)]
pub struct World {
    bots: Arc<Mutex<BTreeMap<String, Bot>>>,
    /// Woken whenever an update is queued (long polls re-check).
    pub arrived: Arc<Notify>,
}

/// A user's message to inject (`POST /control/{token}/message`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Incoming {
    /// Chat id (negative for groups); defaults to the sender's id (a private chat).
    pub chat_id: Option<i64>,
    /// `private`, `group` or `supergroup`.
    pub chat_type: Option<String>,
    /// Sender id.
    pub from_id: i64,
    /// Sender username (without `@`).
    pub username: Option<String>,
    /// Sender first name.
    pub first_name: Option<String>,
    /// Sender is a bot.
    pub from_bot: bool,
    /// Text (or caption, with `photo`).
    pub text: String,
    /// The message replies to the bot's message with this id.
    pub reply_to_message_id: Option<i64>,
    /// Attach a photo of this many bytes (the text becomes its caption).
    pub photo_bytes: Option<u64>,
    /// Forwarded from this user name.
    pub forward_from: Option<String>,
    /// Written in this forum topic (`message_thread_id`) of a forum supergroup.
    pub topic: Option<i64>,
}

impl World {
    /// Locks the bots.
    pub fn bots(&self) -> MutexGuard<'_, BTreeMap<String, Bot>> {
        self.bots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the bot of `token`, creating it on first use. `None` for a malformed token
    /// (not `<digits>:<secret>`), which the API answers with 401.
    pub fn with_bot<T>(&self, token: &str, f: impl FnOnce(&mut Bot) -> T) -> Option<T> {
        let (id, secret) = token.split_once(':')?;
        let id: i64 = id.parse().ok()?;
        if secret.is_empty() {
            return None;
        }
        let mut bots = self.bots();
        let bot = bots.entry(token.to_owned()).or_insert_with(|| Bot {
            id,
            username: format!("pincer_test_{id}_bot"),
            next_update_id: 100_000,
            next_message_id: 1,
            ..Bot::default()
        });
        Some(f(bot))
    }

    /// Queues a user's message as an update; returns its `update_id`.
    pub fn inject(&self, token: &str, incoming: &Incoming) -> Option<i64> {
        let id = self.with_bot(token, |bot| {
            let update_id = bot.next_update_id;
            bot.next_update_id += 1;
            let message_id = bot.next_message_id;
            bot.next_message_id += 1;
            let chat_id = incoming.chat_id.unwrap_or(incoming.from_id);
            let chat_type = incoming
                .chat_type
                .clone()
                .unwrap_or_else(|| if chat_id < 0 { "supergroup" } else { "private" }.to_owned());
            let mut from = json!({ "id": incoming.from_id, "is_bot": incoming.from_bot,
                                   "first_name": incoming.first_name.clone().unwrap_or_else(|| "Test".to_owned()) });
            if let Some(username) = &incoming.username {
                from["username"] = json!(username);
            }
            let mut chat = json!({ "id": chat_id, "type": chat_type });
            if chat_id < 0 {
                chat["title"] = json!("Test group");
            }
            if incoming.topic.is_some() {
                chat["is_forum"] = json!(true);
            }
            let mut message = json!({ "message_id": message_id, "date": 1_764_400_000, "chat": chat, "from": from });
            if let Some(topic) = incoming.topic {
                message["message_thread_id"] = json!(topic);
                message["is_topic_message"] = json!(true);
            }
            match incoming.photo_bytes {
                Some(size) => {
                    bot.files.insert(format!("photo-{message_id}"), size);
                    message["photo"] = json!([{ "file_id": format!("photo-{message_id}"), "file_unique_id": format!("u{message_id}"),
                                                 "width": 800, "height": 600, "file_size": size }]);
                    if !incoming.text.is_empty() {
                        message["caption"] = json!(incoming.text);
                    }
                }
                None => message["text"] = json!(incoming.text),
            }
            // Entities for @mentions, as Telegram computes them (UTF-16 offsets).
            let mentions = mention_entities(&incoming.text);
            if !mentions.is_empty() && incoming.photo_bytes.is_none() {
                message["entities"] = Value::Array(mentions);
            }
            if let Some(reply) = incoming.reply_to_message_id {
                let text = bot.sent.get(&reply).map(|s| s.text.clone()).unwrap_or_default();
                message["reply_to_message"] = json!({ "message_id": reply, "date": 1_764_400_000, "chat": chat,
                    "from": { "id": bot.id, "is_bot": true, "first_name": "Pincer", "username": bot.username }, "text": text });
            }
            if let Some(name) = &incoming.forward_from {
                message["forward_origin"] = json!({ "type": "hidden_user", "date": 1_764_399_000, "sender_user_name": name });
            }
            bot.updates.push_back(json!({ "update_id": update_id, "message": message }));
            update_id
        });
        self.arrived.notify_waiters();
        id
    }
}

/// `mention` entities for every `@word` in `text`.
fn mention_entities(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    let mut start: Option<usize> = None;
    for ch in text.chars().chain(std::iter::once(' ')) {
        match (start, ch) {
            (None, '@') => start = Some(offset),
            (Some(s), c) if !(c.is_alphanumeric() || c == '_') => {
                if offset - s > 1 {
                    out.push(json!({ "type": "mention", "offset": s, "length": offset - s }));
                }
                start = if c == '@' { Some(offset) } else { None };
            }
            _ => {}
        }
        offset += ch.len_utf16();
    }
    out
}

/// Chats that blocked the bot, as a set.
pub fn blocked(knobs: &Knobs) -> BTreeSet<i64> {
    knobs.blocked_chats.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_with_utf16_offsets() {
        let entities = mention_entities("héllo 😀 @pincer_bot and @x!");
        assert_eq!(entities[0]["offset"], 9);
        assert_eq!(entities[0]["length"], 11);
        assert_eq!(entities[1]["length"], 2);
    }
}
