//! Events as Slack builds them: the `event_callback` wrapper (shared by Socket Mode envelopes and
//! HTTP deliveries), user `message` events with files and threads, the extra `app_mention` for a
//! channel message that mentions the bot, and the bookkeeping of threads.

use serde_json::{Value, json};

use crate::ids::{next_ts, now_secs, object_id};
use crate::spec::{AppIdentity, ChannelKind, Incoming};
use crate::state::{Conversation, FakeError, Inner, StoredFile, StoredMessage};

/// A stored user message and its event payloads.
#[derive(Debug, Clone)]
pub struct UserMessage {
    /// Its ts.
    pub ts: String,
    /// Its conversation.
    pub channel: String,
    /// `(event_id, event_callback payload)` of each event it makes.
    pub payloads: Vec<(String, Value)>,
}

/// The legacy verification token every payload carries.
pub const VERIFICATION_TOKEN: &str = "fake-verification-token";

/// The `event_callback` wrapper of `event`; returns it with its fresh `event_id`.
pub fn event_callback(app: &AppIdentity, event: Value) -> (String, Value) {
    let event_id = object_id("Ev");
    let payload = json!({
        "token": VERIFICATION_TOKEN, "team_id": app.team_id, "context_team_id": app.team_id,
        "context_enterprise_id": null, "api_app_id": app.app_id, "event": event, "type": "event_callback",
        "event_id": event_id, "event_time": now_secs(),
        "authorizations": [{ "enterprise_id": null, "team_id": app.team_id, "user_id": app.bot_user_id,
                             "is_bot": true, "is_enterprise_install": false }],
        "is_ext_shared_channel": false, "event_context": format!("4-{}", object_id("")),
    });
    (event_id, payload)
}

/// The `blocks` Slack attaches to a message typed in its client.
pub fn rich_text(text: &str) -> Value {
    json!([{ "type": "rich_text", "block_id": object_id("b").to_lowercase(),
             "elements": [{ "type": "rich_text_section", "elements": [{ "type": "text", "text": text }] }] }])
}

/// `text` mentions the user `user_id` (`<@U…>` or `<@U…|name>`).
pub fn mentions(text: &str, user_id: &str) -> bool {
    text.contains(&format!("<@{user_id}>")) || text.contains(&format!("<@{user_id}|"))
}

/// Marks a reply on its thread's root (`reply_count`, `latest_reply`, `reply_users`) and returns
/// the root's author, for the reply's `parent_user_id`.
pub fn note_reply(
    conversation: &mut Conversation,
    thread_ts: &str,
    user: &str,
    reply_ts: &str,
) -> Option<String> {
    let root = conversation
        .messages
        .iter_mut()
        .find(|m| m.body["ts"] == thread_ts)?;
    let body = &mut root.body;
    body["thread_ts"] = json!(thread_ts);
    body["reply_count"] = json!(body["reply_count"].as_u64().unwrap_or(0) + 1);
    body["latest_reply"] = json!(reply_ts);
    let mut users: Vec<Value> = body["reply_users"].as_array().cloned().unwrap_or_default();
    if !users.iter().any(|u| u == user) {
        users.push(json!(user));
    }
    body["reply_users_count"] = json!(users.len());
    body["reply_users"] = Value::Array(users);
    Some(root.user.clone())
}

impl Inner {
    /// The DM conversation of the bot and `user`, created on first use.
    fn dm_with(&mut self, user: &str) -> String {
        if let Some((id, _)) = self
            .conversations
            .iter()
            .find(|(_, c)| c.kind == ChannelKind::Im && c.dm_user.as_deref() == Some(user))
        {
            return id.clone();
        }
        let id = object_id("D");
        let conversation = self.conversation(&id);
        conversation.kind = ChannelKind::Im;
        conversation.dm_user = Some(user.to_owned());
        id
    }

    /// Stores a user's files; returns their file objects.
    fn share_files(&mut self, incoming: &Incoming, public: bool) -> Vec<Value> {
        let base = self.public_base.clone();
        let team = self.team_id.clone();
        incoming
            .files
            .iter()
            .map(|file| {
                let id = object_id("F");
                let filetype = file.name.rsplit_once('.').map_or("binary", |(_, ext)| ext).to_lowercase();
                let url = format!("{base}/files-pri/{team}-{id}/{}", file.name);
                let download = format!("{base}/files-pri/{team}-{id}/download/{}", file.name);
                self.files.insert(
                    id.clone(),
                    StoredFile { name: file.name.clone(), mimetype: file.mimetype.clone(), data: file.data.clone() },
                );
                json!({ "id": id, "created": now_secs(), "timestamp": now_secs(), "name": file.name, "title": file.name,
                        "mimetype": file.mimetype, "filetype": filetype, "pretty_type": filetype.to_uppercase(),
                        "user": incoming.user, "user_team": team, "editable": false, "size": file.data.len(),
                        "mode": "hosted", "is_external": false, "external_type": "", "is_public": public,
                        "public_url_shared": false, "display_as_bot": false, "username": "",
                        "url_private": url, "url_private_download": download,
                        "permalink": format!("{base}/files/{}/{id}/{}", incoming.user, file.name) })
            })
            .collect()
    }

    /// Stores a user's message and builds its event payloads: the `message` event, then an
    /// `app_mention` when a non-DM message mentions the bot.
    pub fn user_message(
        &mut self,
        app_token: &str,
        incoming: &Incoming,
    ) -> Result<UserMessage, FakeError> {
        let app = self
            .apps
            .get(app_token)
            .ok_or(FakeError::UnknownApp)?
            .identity
            .clone();
        if let Some(name) = &incoming.user_name {
            self.users.insert(incoming.user.clone(), name.clone());
        }
        let channel = if incoming.channel.is_empty() {
            self.dm_with(&incoming.user)
        } else {
            incoming.channel.clone()
        };
        let kind = {
            let conversation = self.conversation(&channel);
            if let Some(kind) = incoming.channel_type {
                conversation.kind = kind;
            }
            conversation.kind
        };
        let files = self.share_files(incoming, kind == ChannelKind::Channel);
        let ts = next_ts();
        let mut message = json!({ "type": "message", "user": incoming.user, "text": incoming.text, "ts": ts,
                                  "client_msg_id": uuid::Uuid::new_v4().to_string(), "team": app.team_id,
                                  "blocks": rich_text(&incoming.text) });
        if let Some(subtype) = incoming
            .subtype
            .clone()
            .or_else(|| (!files.is_empty()).then(|| "file_share".to_owned()))
        {
            message["subtype"] = json!(subtype);
        }
        if !files.is_empty() {
            message["files"] = json!(files);
            message["upload"] = json!(false);
            message["display_as_bot"] = json!(false);
        }
        if let Some(bot_id) = &incoming.bot_id {
            message["bot_id"] = json!(bot_id);
        }
        let conversation = self.conversation(&channel);
        if let Some(thread_ts) = &incoming.thread_ts {
            message["thread_ts"] = json!(thread_ts);
            if let Some(parent) = note_reply(conversation, thread_ts, &incoming.user, &ts) {
                message["parent_user_id"] = json!(parent);
            }
        }
        conversation.messages.push(StoredMessage {
            body: message.clone(),
            user: incoming.user.clone(),
        });

        let mut event = message.clone();
        event["channel"] = json!(channel);
        event["channel_type"] = json!(kind.as_str());
        event["event_ts"] = json!(ts);
        let mut payloads = vec![event_callback(&app, event)];
        if kind != ChannelKind::Im && mentions(&incoming.text, &app.bot_user_id) {
            let mut mention = message;
            mention["type"] = json!("app_mention");
            mention["channel"] = json!(channel);
            mention["event_ts"] = json!(ts);
            if let Some(object) = mention.as_object_mut() {
                object.remove("subtype");
            }
            payloads.push(event_callback(&app, mention));
        }
        Ok(UserMessage {
            ts,
            channel,
            payloads,
        })
    }
}
