//! Message objects as Discord builds them: users, guild members, mentions parsed from the content,
//! replies with `referenced_message`, attachments served by the fake; and the injection of a
//! user's message as a MESSAGE_CREATE dispatch.

use serde_json::{Value, json};

use crate::snowflake::{created_ms, iso8601, next_id};
use crate::spec::{BotUser, Incoming, InjectedMessage};
use crate::state::{
    DmChannel, FakeError, Inner, KnownUser, Place, StoredAttachment, StoredMessage,
};

/// When a declared member "joined": any fixed past date does.
const JOINED_AT: &str = "2024-01-01T00:00:00.000000+00:00";

/// A bot's user object.
pub fn bot_user_json(user: &BotUser) -> Value {
    json!({ "id": user.id, "username": user.username, "discriminator": "0", "global_name": null,
            "avatar": null, "bot": true, "public_flags": 0 })
}

/// User ids (`<@id>`, `<@!id>`) and role ids (`<@&id>`) mentioned in `content`, each once, in
/// order.
pub fn parse_mentions(content: &str) -> (Vec<String>, Vec<String>) {
    let mut users = Vec::new();
    let mut roles = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let (is_role, body) = match rest.as_bytes().first() {
            Some(b'&') => (true, &rest[1..]),
            Some(b'!') => (false, &rest[1..]),
            _ => (false, rest),
        };
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || body.as_bytes().get(digits) != Some(&b'>') {
            continue;
        }
        let id = body[..digits].to_owned();
        let list = if is_role { &mut roles } else { &mut users };
        if !list.contains(&id) {
            list.push(id);
        }
    }
    (users, roles)
}

impl Inner {
    /// The user object of `id`: a declared bot, a user seen before, or a placeholder.
    pub fn user_json(&self, id: &str) -> Value {
        if let Some(bot) = self.bots.values().find(|bot| bot.user.id == id) {
            return bot_user_json(&bot.user);
        }
        let known = self.users.get(id);
        json!({ "id": id,
                "username": known.map_or_else(|| format!("user{id}"), |u| u.username.clone()),
                "global_name": known.and_then(|u| u.global_name.clone()),
                "discriminator": "0", "avatar": null,
                "bot": known.is_some_and(|u| u.bot), "public_flags": 0 })
    }

    /// A partial guild member as carried by MESSAGE_CREATE (`member`, `mentions[].member`).
    pub fn member_json(&self, guild_id: &str, user_id: &str, roles: Option<&[String]>) -> Value {
        let roles = roles.map_or_else(|| self.member_roles(guild_id, user_id), <[String]>::to_vec);
        json!({ "roles": roles, "joined_at": JOINED_AT, "nick": null, "avatar": null,
                "premium_since": null, "deaf": false, "mute": false, "flags": 0, "pending": false })
    }

    /// The message object shared by REST answers and gateway dispatches (without the gateway's
    /// `guild_id`, `member` and `channel_type`).
    pub fn message_json(&self, draft: &Draft<'_>) -> Value {
        let mentions: Vec<Value> = draft.mentions.iter().map(|id| self.user_json(id)).collect();
        let mut body = json!({
            "id": draft.id, "channel_id": draft.channel_id, "author": self.user_json(draft.author_id),
            "content": draft.content, "timestamp": iso8601(created_ms(draft.id)),
            "edited_timestamp": null, "tts": false, "mention_everyone": false,
            "mentions": mentions, "mention_roles": draft.mention_roles, "attachments": draft.attachments,
            "embeds": [], "components": [], "pinned": false, "flags": 0,
            "type": if draft.reply.is_some() { 19 } else { 0 },
        });
        if let Some(reply) = &draft.reply {
            let mut reference = json!({ "type": 0, "message_id": reply.message_id, "channel_id": draft.channel_id });
            if let Some(guild_id) = draft.guild_id {
                reference["guild_id"] = json!(guild_id);
            }
            body["message_reference"] = reference;
            body["referenced_message"] = self
                .messages
                .get(&reply.message_id)
                .map_or(Value::Null, |m| m.body.clone());
        }
        if let Some(nonce) = &draft.nonce {
            body["nonce"] = nonce.clone();
        }
        body
    }

    /// The MESSAGE_CREATE `d` for a message: the message object plus `guild_id`, `member` (the
    /// author's and each mention's) and `channel_type`.
    pub fn gateway_message(
        &self,
        body: &Value,
        place: &Place,
        author_roles: Option<&[String]>,
    ) -> Value {
        let mut d = body.clone();
        match place {
            Place::Guild { guild_id, channel } => {
                d["guild_id"] = json!(guild_id);
                d["channel_type"] = json!(channel.kind);
                let author = body["author"]["id"].as_str().unwrap_or_default();
                d["member"] = self.member_json(guild_id, author, author_roles);
                if let Some(mentions) = d["mentions"].as_array_mut() {
                    for mention in mentions {
                        let id = mention["id"].as_str().unwrap_or_default().to_owned();
                        mention["member"] = self.member_json(guild_id, &id, None);
                    }
                }
            }
            Place::Dm(_) => d["channel_type"] = json!(1),
        }
        d
    }

    /// The DM channel of `bot_token`'s bot and `user_id`, created on first use.
    fn dm_channel_with(&mut self, bot_token: &str, user_id: &str) -> String {
        if let Some((id, _)) = self
            .dm_channels
            .iter()
            .find(|(_, dm)| dm.bot == bot_token && dm.recipient == user_id)
        {
            return id.clone();
        }
        let id = next_id();
        self.dm_channels.insert(
            id.clone(),
            DmChannel {
                bot: bot_token.to_owned(),
                recipient: user_id.to_owned(),
            },
        );
        id
    }

    /// Stores a user's files and returns their attachment objects, with URLs on the fake.
    fn store_attachments(&mut self, incoming: &Incoming) -> Vec<Value> {
        let base = self.public_base.clone();
        incoming
            .attachments
            .iter()
            .map(|file| {
                let id = next_id();
                // Discord's CDN URLs are signed with expiry parameters; clients must keep them.
                let signature = format!("ex={:x}&is={:x}&hm={id}", created_ms(&id) / 1000 + 86_400, created_ms(&id) / 1000);
                let mut attachment = json!({
                    "id": id, "filename": file.filename, "size": file.data.len(),
                    "url": format!("{base}/attachments/{id}/{}?{signature}", file.filename),
                    "proxy_url": format!("{base}/media/attachments/{id}/{}?{signature}", file.filename),
                });
                if let Some(content_type) = &file.content_type {
                    attachment["content_type"] = json!(content_type);
                    if content_type.starts_with("image/") {
                        attachment["width"] = json!(64);
                        attachment["height"] = json!(64);
                    }
                }
                self.attachments.insert(
                    id,
                    StoredAttachment {
                        filename: file.filename.clone(),
                        content_type: file.content_type.clone(),
                        data: file.data.clone(),
                    },
                );
                attachment
            })
            .collect()
    }

    /// A user's message to `bot_token`'s bot: stored, and dispatched to the bot's sessions.
    pub fn inject(
        &mut self,
        bot_token: &str,
        incoming: &Incoming,
    ) -> Result<InjectedMessage, FakeError> {
        let bot_id = self
            .bots
            .get(bot_token)
            .ok_or(FakeError::UnknownBot)?
            .user
            .id
            .clone();
        let author_id = incoming.author_id.clone();
        let seen = self
            .users
            .entry(author_id.clone())
            .or_insert_with(|| KnownUser {
                username: format!("user{author_id}"),
                global_name: None,
                bot: false,
            });
        if let Some(username) = &incoming.username {
            seen.username.clone_from(username);
        }
        if incoming.global_name.is_some() {
            seen.global_name.clone_from(&incoming.global_name);
        }
        seen.bot = incoming.author_is_bot;

        let channel_id = if incoming.channel_id.is_empty() {
            self.dm_channel_with(bot_token, &author_id)
        } else {
            incoming.channel_id.clone()
        };
        let place = match self.place(&channel_id) {
            Some(place) => place,
            None => {
                let dm = DmChannel {
                    bot: bot_token.to_owned(),
                    recipient: author_id.clone(),
                };
                self.dm_channels.insert(channel_id.clone(), dm.clone());
                Place::Dm(dm)
            }
        };
        let guild_id = match &place {
            Place::Guild { guild_id, .. } => Some(guild_id.clone()),
            Place::Dm(_) => None,
        };

        let (mut mentions, mention_roles) = parse_mentions(&incoming.content);
        let reply = incoming.reply_to.as_ref().map(|message_id| Reply {
            message_id: message_id.clone(),
        });
        // A reply pings the replied-to author unless the user turned the ping off.
        if let Some(replied) = incoming
            .reply_to
            .as_ref()
            .and_then(|id| self.messages.get(id))
            && !incoming.reply_without_ping
            && replied.author_id != author_id
            && !mentions.contains(&replied.author_id)
        {
            mentions.push(replied.author_id.clone());
        }
        let attachments = self.store_attachments(incoming);
        let id = next_id();
        let draft = Draft {
            id: &id,
            channel_id: &channel_id,
            guild_id: guild_id.as_deref(),
            author_id: &author_id,
            content: &incoming.content,
            mentions: &mentions,
            mention_roles: &mention_roles,
            attachments: &attachments,
            reply,
            nonce: None,
        };
        let body = self.message_json(&draft);
        let roles = (!incoming.roles.is_empty()).then_some(incoming.roles.as_slice());
        let d = self.gateway_message(&body, &place, roles);
        self.messages.insert(
            id.clone(),
            StoredMessage {
                channel_id: channel_id.clone(),
                author_id,
                body,
            },
        );
        // Without MESSAGE_CONTENT a bot sees guild messages' text only when it is mentioned.
        let redactable = guild_id.is_some() && !mentions.contains(&bot_id);
        self.dispatch(bot_token, "MESSAGE_CREATE", &d, redactable);
        Ok(InjectedMessage { id, channel_id })
    }
}

/// The parts of a new message.
#[derive(Debug)]
pub struct Draft<'a> {
    /// Its snowflake.
    pub id: &'a str,
    /// Where.
    pub channel_id: &'a str,
    /// The guild, for `message_reference.guild_id`.
    pub guild_id: Option<&'a str>,
    /// Who.
    pub author_id: &'a str,
    /// Text.
    pub content: &'a str,
    /// Mentioned user ids.
    pub mentions: &'a [String],
    /// Mentioned role ids.
    pub mention_roles: &'a [String],
    /// Attachment objects.
    pub attachments: &'a [Value],
    /// The message replied to.
    pub reply: Option<Reply>,
    /// The sender's nonce.
    pub nonce: Option<Value>,
}

/// A reply's target.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The message replied to.
    pub message_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_of_users_nicknames_and_roles_are_found_once() {
        let (users, roles) = parse_mentions("<@1> hi <@!2> <@&3> <@1> <@x> <@4");
        assert_eq!(users, ["1", "2"]);
        assert_eq!(roles, ["3"]);
    }
}
