//! Reading the workspace: `conversations.history` (top-level messages, newest first),
//! `conversations.replies` (a thread, root first), `conversations.info` and `users.info`, with
//! Slack's `oldest`/`latest`/`inclusive`/`limit`/`cursor` and `include_all_metadata`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::ids::{now_secs, ts_micros};
use crate::params;
use crate::spec::ChannelKind;
use crate::state::Inner;
use crate::web_api::Outcome;

/// Slack's default page size.
const DEFAULT_LIMIT: u64 = 100;
/// Slack's largest page.
const MAX_LIMIT: u64 = 999;

/// Paging and filtering arguments.
struct Window {
    oldest: u64,
    latest: u64,
    inclusive: bool,
    limit: usize,
    /// The ts the previous page ended at.
    after_cursor: Option<u64>,
    metadata: bool,
}

impl Window {
    fn from(args: &Map<String, Value>) -> Result<Self, &'static str> {
        let cursor = match params::non_empty(args, "cursor") {
            Some(cursor) => {
                let decoded = STANDARD.decode(cursor).map_err(|_| "invalid_cursor")?;
                let text = String::from_utf8(decoded).map_err(|_| "invalid_cursor")?;
                let ts = text.strip_prefix("next_ts:").ok_or("invalid_cursor")?;
                Some(ts_micros(ts))
            }
            None => None,
        };
        let limit = params::integer(args, "limit")
            .filter(|l| *l > 0)
            .unwrap_or(DEFAULT_LIMIT)
            .min(MAX_LIMIT);
        Ok(Self {
            oldest: params::string(args, "oldest").map_or(0, |ts| ts_micros(&ts)),
            latest: params::string(args, "latest").map_or(u64::MAX, |ts| ts_micros(&ts)),
            inclusive: params::boolean(args, "inclusive").unwrap_or(false),
            limit: limit as usize,
            after_cursor: cursor,
            metadata: params::boolean(args, "include_all_metadata").unwrap_or(false),
        })
    }

    fn admits(&self, ts: u64) -> bool {
        if self.inclusive {
            ts >= self.oldest && ts <= self.latest
        } else {
            ts > self.oldest && ts < self.latest
        }
    }

    /// One page of `messages` (already in answer order, `ts` ascending if `ascending`), with
    /// `has_more` and the next cursor.
    fn page(&self, messages: Vec<Value>, ascending: bool) -> Value {
        let ts_of = |m: &Value| ts_micros(m["ts"].as_str().unwrap_or_default());
        let mut rest: Vec<Value> = messages
            .into_iter()
            .filter(|m| self.admits(ts_of(m)))
            .filter(|m| match self.after_cursor {
                Some(after) if ascending => ts_of(m) > after,
                Some(after) => ts_of(m) < after,
                None => true,
            })
            .map(|mut m| {
                if !self.metadata
                    && let Some(object) = m.as_object_mut()
                {
                    object.remove("metadata");
                }
                m
            })
            .collect();
        let has_more = rest.len() > self.limit;
        rest.truncate(self.limit);
        let next_cursor = match rest.last().filter(|_| has_more) {
            Some(last) => STANDARD.encode(format!(
                "next_ts:{}",
                last["ts"].as_str().unwrap_or_default()
            )),
            None => String::new(),
        };
        json!({ "messages": rest, "has_more": has_more, "response_metadata": { "next_cursor": next_cursor } })
    }
}

impl Inner {
    /// `conversations.history`.
    pub fn history(&mut self, args: &Map<String, Value>) -> Outcome {
        let channel = params::non_empty(args, "channel").ok_or("channel_not_found")?;
        let window = Window::from(args)?;
        let conversation = self.conversation(&channel);
        // Thread replies live in their thread, not in the channel's history.
        let mut top_level: Vec<Value> = conversation
            .messages
            .iter()
            .filter(|m| m.body["thread_ts"].is_null() || m.body["thread_ts"] == m.body["ts"])
            .map(|m| m.body.clone())
            .collect();
        top_level.reverse();
        let mut answer = window.page(top_level, false);
        answer["pin_count"] = json!(0);
        answer["channel_actions_ts"] = Value::Null;
        answer["channel_actions_count"] = json!(0);
        Ok(answer)
    }

    /// `conversations.replies`.
    pub fn replies(&mut self, args: &Map<String, Value>) -> Outcome {
        let channel = params::non_empty(args, "channel").ok_or("channel_not_found")?;
        let root_ts = params::non_empty(args, "ts").ok_or("thread_not_found")?;
        let window = Window::from(args)?;
        let conversation = self.conversations.get(&channel).ok_or("thread_not_found")?;
        let root = conversation
            .messages
            .iter()
            .find(|m| m.body["ts"] == root_ts.as_str())
            .ok_or("thread_not_found")?;
        // Asked with a reply's ts, Slack answers with that reply's thread.
        let thread_ts = root.body["thread_ts"]
            .as_str()
            .unwrap_or(&root_ts)
            .to_owned();
        let thread: Vec<Value> = conversation
            .messages
            .iter()
            .filter(|m| {
                m.body["ts"] == thread_ts.as_str() || m.body["thread_ts"] == thread_ts.as_str()
            })
            .map(|m| m.body.clone())
            .collect();
        Ok(window.page(thread, true))
    }

    /// `conversations.info`.
    pub fn info(&mut self, args: &Map<String, Value>) -> Outcome {
        let channel = params::non_empty(args, "channel").ok_or("channel_not_found")?;
        if !matches!(channel.as_bytes().first(), Some(b'C' | b'D' | b'G'))
            && !self.conversations.contains_key(&channel)
        {
            return Err("channel_not_found");
        }
        let conversation = self.conversation(&channel).clone();
        let kind = conversation.kind;
        let mut body = json!({
            "id": channel, "created": now_secs(), "is_archived": false, "is_general": false, "unlinked": 0,
            "is_channel": kind == ChannelKind::Channel, "is_group": kind == ChannelKind::Group,
            "is_im": kind == ChannelKind::Im, "is_mpim": kind == ChannelKind::Mpim,
            "is_private": kind != ChannelKind::Channel, "is_shared": false, "is_ext_shared": false,
            "is_org_shared": false, "is_member": true, "is_open": true,
        });
        if kind == ChannelKind::Im {
            body["user"] = json!(conversation.dm_user);
        } else {
            body["name"] = json!(conversation.name);
            body["name_normalized"] = json!(conversation.name);
            body["creator"] = json!("U0CREATOR1");
        }
        Ok(json!({ "channel": body }))
    }

    /// `users.info`: the bot, or a human seen in an injected message.
    pub fn user_info(&self, app_token: &str, args: &Map<String, Value>) -> Outcome {
        let user = params::non_empty(args, "user").ok_or("user_not_found")?;
        let bot = self
            .apps
            .values()
            .find(|app| app.identity.bot_user_id == user)
            .map(|app| app.identity.bot_name.clone());
        let team = self
            .apps
            .get(app_token)
            .map(|app| app.identity.team_id.clone())
            .unwrap_or_default();
        let (name, is_bot) = match (bot, self.users.get(&user)) {
            (Some(name), _) => (name, true),
            (None, Some(name)) => (name.clone(), false),
            (None, None) if user.starts_with('U') || user.starts_with('W') => {
                (format!("user-{}", user.to_lowercase()), false)
            }
            (None, None) => return Err("user_not_found"),
        };
        Ok(
            json!({ "user": { "id": user, "team_id": team, "name": name, "real_name": name, "deleted": false,
                             "is_bot": is_bot, "is_admin": false, "is_owner": false, "tz": "Etc/UTC",
                             "profile": { "display_name": name, "real_name": name, "team": team } } }),
        )
    }
}
