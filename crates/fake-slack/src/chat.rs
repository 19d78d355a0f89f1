//! `chat.postMessage` and `chat.update`: Slack's argument checks (`channel_not_found`,
//! `not_in_channel`, `no_text`, `msg_too_long`, `invalid_metadata_format`, `message_not_found`,
//! `cant_update_message`), threads, message metadata, and the echo of the bot's own messages as
//! events when the app's knob asks for it.

use serde_json::{Map, Value, json};

use crate::events::{event_callback, note_reply};
use crate::ids::{next_ts, now_secs};
use crate::params;
use crate::records::{PostedMessage, Update};
use crate::state::{Inner, StoredMessage};
use crate::web_api::Outcome;

/// Slack's longest message text.
const MAX_TEXT_CHARS: usize = 40_000;

/// The text of a post or update, checked.
fn checked_text(args: &Map<String, Value>) -> Result<(String, Option<Value>), &'static str> {
    let text = params::string(args, "text").unwrap_or_default();
    let blocks = match params::json(args, "blocks") {
        Some(Ok(blocks)) if blocks.as_array().is_some_and(|b| !b.is_empty()) => Some(blocks),
        Some(Ok(_)) | None => None,
        Some(Err(())) => return Err("invalid_blocks_format"),
    };
    let attachments = params::json(args, "attachments").is_some();
    if text.is_empty() && blocks.is_none() && !attachments {
        return Err("no_text");
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err("msg_too_long");
    }
    Ok((text, blocks))
}

/// `metadata` as `{event_type, event_payload}`, given as JSON or a JSON string.
fn checked_metadata(args: &Map<String, Value>) -> Result<Option<Value>, &'static str> {
    match params::json(args, "metadata") {
        None => Ok(None),
        Some(Ok(metadata)) if metadata["event_type"].is_string() => Ok(Some(metadata)),
        Some(_) => Err("invalid_metadata_format"),
    }
}

impl Inner {
    /// `chat.postMessage` by the bot of `app_token`.
    pub fn post_message(&mut self, app_token: &str, args: &Map<String, Value>) -> Outcome {
        let app = self.apps.get(app_token).ok_or("invalid_auth")?;
        let (identity, knobs) = (app.identity.clone(), app.knobs.clone());
        let channel = params::non_empty(args, "channel").ok_or("channel_not_found")?;
        if knobs.not_in_channels.contains(&channel) {
            return Err("not_in_channel");
        }
        let (text, blocks) = checked_text(args)?;
        let metadata = checked_metadata(args)?;
        let thread_ts = params::non_empty(args, "thread_ts");
        let ts = next_ts();
        let mut message = json!({
            "type": "message", "user": identity.bot_user_id, "bot_id": identity.bot_id, "app_id": identity.app_id,
            "text": text, "ts": ts, "team": identity.team_id,
            "bot_profile": { "id": identity.bot_id, "app_id": identity.app_id, "name": identity.bot_name,
                             "deleted": false, "team_id": identity.team_id, "updated": now_secs() },
        });
        if let Some(blocks) = blocks {
            message["blocks"] = blocks;
        }
        let conversation = self.conversation(&channel);
        let kind = conversation.kind;
        if let Some(thread_ts) = &thread_ts {
            message["thread_ts"] = json!(thread_ts);
            if let Some(parent) = note_reply(conversation, thread_ts, &identity.bot_user_id, &ts) {
                message["parent_user_id"] = json!(parent);
            }
        }
        if let Some(metadata) = &metadata {
            message["metadata"] = metadata.clone();
        }
        conversation.messages.push(StoredMessage {
            body: message.clone(),
            user: identity.bot_user_id.clone(),
        });
        if let Some(app) = self.apps.get_mut(app_token) {
            app.posted.push(PostedMessage {
                channel: channel.clone(),
                ts: ts.clone(),
                text,
                thread_ts,
                mrkdwn: params::boolean(args, "mrkdwn"),
                unfurl_links: params::boolean(args, "unfurl_links"),
                metadata,
                updates: 0,
                request: Value::Object(args.clone()),
            });
        }
        if knobs.echo_bot_messages {
            let mut event = message.clone();
            if let Some(object) = event.as_object_mut() {
                object.remove("metadata");
            }
            event["channel"] = json!(channel);
            event["channel_type"] = json!(kind.as_str());
            event["event_ts"] = json!(ts);
            let (event_id, payload) = event_callback(&identity, event);
            self.enqueue(app_token, &event_id, payload);
        }
        Ok(json!({ "channel": channel, "ts": ts, "message": message }))
    }

    /// `chat.update` of one of the bot's messages.
    pub fn update_message(&mut self, app_token: &str, args: &Map<String, Value>) -> Outcome {
        let app = self.apps.get(app_token).ok_or("invalid_auth")?;
        let (identity, echo) = (app.identity.clone(), app.knobs.echo_bot_messages);
        let channel = params::non_empty(args, "channel").ok_or("channel_not_found")?;
        let ts = params::non_empty(args, "ts").ok_or("message_not_found")?;
        let (text, blocks) = checked_text(args)?;
        let metadata = checked_metadata(args)?;
        let conversation = self
            .conversations
            .get_mut(&channel)
            .ok_or("message_not_found")?;
        let kind = conversation.kind;
        let stored = conversation
            .messages
            .iter_mut()
            .find(|m| m.body["ts"] == ts.as_str())
            .ok_or("message_not_found")?;
        if stored.user != identity.bot_user_id {
            return Err("cant_update_message");
        }
        let previous = stored.body.clone();
        stored.body["text"] = json!(text);
        stored.body["edited"] = json!({ "user": identity.bot_user_id, "ts": next_ts() });
        if let Some(blocks) = blocks {
            stored.body["blocks"] = blocks;
        }
        if let Some(metadata) = metadata {
            stored.body["metadata"] = metadata;
        }
        let message = stored.body.clone();
        if let Some(app) = self.apps.get_mut(app_token) {
            if let Some(posted) = app
                .posted
                .iter_mut()
                .find(|p| p.channel == channel && p.ts == ts)
            {
                posted.text.clone_from(&text);
                posted.updates += 1;
            }
            app.updates.push(Update {
                channel: channel.clone(),
                ts: ts.clone(),
                text: text.clone(),
                request: Value::Object(args.clone()),
            });
        }
        if echo {
            let event_ts = next_ts();
            let event = json!({ "type": "message", "subtype": "message_changed", "hidden": true, "channel": channel,
                                "channel_type": kind.as_str(), "ts": event_ts, "event_ts": event_ts,
                                "message": message, "previous_message": previous });
            let (event_id, payload) = event_callback(&identity, event);
            self.enqueue(app_token, &event_id, payload);
        }
        Ok(json!({ "channel": channel, "ts": ts, "text": text, "message": message }))
    }
}
