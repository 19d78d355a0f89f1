//! What tests do to the world: declare bots and guilds, play users, script the gateway (op 7, op 9,
//! closes, drops, silence, revoked tokens) and read back what happened. Shared by the library
//! handle and the HTTP control API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::gateway::heartbeat_request;
use crate::knobs::{GatewayConfig, Knobs};
use crate::records::{AttachmentDownload, ConnectionRecord, Edit, SentMessage};
use crate::sessions::frame;
use crate::snowflake::next_id;
use crate::spec::{BotSpec, BotUser, Channel, Guild, Incoming, InjectedMessage};
use crate::state::{Bot, ConnCommand, FakeError, KnownUser, World};

/// A gateway session as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Its id (READY's `session_id`).
    pub session_id: String,
    /// The last sequence number used.
    pub seq: u64,
    /// A connection carries it now.
    pub connected: bool,
    /// It can be resumed (or is connected).
    pub alive: bool,
}

impl World {
    /// Declares a bot; returns its user.
    pub fn add_bot(&self, spec: &BotSpec) -> Result<BotUser, FakeError> {
        let mut inner = self.lock();
        if inner.bots.contains_key(&spec.token) {
            return Err(FakeError::DuplicateBot);
        }
        let id = spec.id.clone().unwrap_or_else(next_id);
        let user = BotUser {
            username: spec
                .username
                .clone()
                .unwrap_or_else(|| "pincer-test-bot".to_owned()),
            application_id: id.clone(),
            id,
        };
        inner
            .bots
            .insert(spec.token.clone(), Bot::new(user.clone()));
        Ok(user)
    }

    /// Declares (or replaces) a guild; bots already connected get its GUILD_CREATE.
    pub fn add_guild(&self, guild: Guild) {
        let mut inner = self.lock();
        let id = guild.id.clone();
        for member in &guild.members {
            inner
                .users
                .entry(member.user_id.clone())
                .or_insert_with(|| KnownUser {
                    username: member.username.clone(),
                    global_name: None,
                    bot: false,
                });
        }
        inner.guilds.retain(|g| g.id != id);
        inner.guilds.push(guild);
        let d = inner.guild_create(&id);
        let tokens: Vec<String> = inner.bots.keys().cloned().collect();
        for token in tokens {
            inner.dispatch(&token, "GUILD_CREATE", &d, false);
        }
    }

    /// Adds a channel or thread to a declared guild; connected bots get CHANNEL_CREATE or
    /// THREAD_CREATE.
    pub fn add_channel(&self, guild_id: &str, channel: Channel) -> Result<(), FakeError> {
        let mut inner = self.lock();
        let guild = inner
            .guilds
            .iter_mut()
            .find(|g| g.id == guild_id)
            .ok_or_else(|| FakeError::UnknownGuild(guild_id.to_owned()))?;
        let is_thread = matches!(channel.kind, 10..=12);
        let mut d = json!({ "id": channel.id, "type": channel.kind, "name": channel.name, "guild_id": guild_id,
                            "position": 0, "permission_overwrites": [], "nsfw": false });
        if let Some(parent) = &channel.parent_id {
            d["parent_id"] = json!(parent);
        }
        if is_thread {
            d["newly_created"] = json!(true);
            guild.threads.push(channel);
        } else {
            guild.channels.push(channel);
        }
        let event = if is_thread {
            "THREAD_CREATE"
        } else {
            "CHANNEL_CREATE"
        };
        let tokens: Vec<String> = inner.bots.keys().cloned().collect();
        for token in tokens {
            inner.dispatch(&token, event, &d, false);
        }
        Ok(())
    }

    /// A user's message to a bot.
    pub fn user_says(
        &self,
        token: &str,
        incoming: &Incoming,
    ) -> Result<InjectedMessage, FakeError> {
        self.lock().inject(token, incoming)
    }

    /// Any dispatch (`t` = `event`) to a bot's sessions.
    pub fn dispatch_event(&self, token: &str, event: &str, d: &Value) -> Result<(), FakeError> {
        let mut inner = self.lock();
        if !inner.bots.contains_key(token) {
            return Err(FakeError::UnknownBot);
        }
        inner.dispatch(token, event, d, false);
        Ok(())
    }

    /// Reads a bot.
    pub fn read_bot<T>(&self, token: &str, read: impl FnOnce(&Bot) -> T) -> Result<T, FakeError> {
        self.lock()
            .bots
            .get(token)
            .map(read)
            .ok_or(FakeError::UnknownBot)
    }

    /// Changes a bot.
    pub fn change_bot<T>(
        &self,
        token: &str,
        change: impl FnOnce(&mut Bot) -> T,
    ) -> Result<T, FakeError> {
        self.lock()
            .bots
            .get_mut(token)
            .map(change)
            .ok_or(FakeError::UnknownBot)
    }

    /// Messages a bot created.
    pub fn sent(&self, token: &str) -> Vec<SentMessage> {
        self.read_bot(token, |bot| bot.sent.clone())
            .unwrap_or_default()
    }

    /// A bot's edits.
    pub fn edits(&self, token: &str) -> Vec<Edit> {
        self.read_bot(token, |bot| bot.edits.clone())
            .unwrap_or_default()
    }

    /// Typing requests per channel.
    pub fn typing(&self, token: &str) -> BTreeMap<String, u32> {
        self.read_bot(token, |bot| bot.typing.clone())
            .unwrap_or_default()
    }

    /// Sets a bot's knobs.
    pub fn set_knobs(&self, token: &str, knobs: Knobs) -> Result<(), FakeError> {
        self.change_bot(token, |bot| bot.knobs = knobs)
    }

    /// The gateway timings.
    pub fn gateway_config(&self) -> GatewayConfig {
        self.lock().gateway.clone()
    }

    /// Changes the gateway timings (new connections and sessions use them).
    pub fn set_gateway_config(&self, config: GatewayConfig) {
        self.lock().gateway = config;
    }

    /// Gateway connections that authenticated (or tried to) with `token`, oldest first.
    pub fn connections(&self, token: &str) -> Vec<ConnectionRecord> {
        self.lock()
            .connections
            .values()
            .filter(|c| c.bot_token.as_deref() == Some(token))
            .cloned()
            .collect()
    }

    /// Every gateway connection, oldest first.
    pub fn all_connections(&self) -> Vec<ConnectionRecord> {
        self.lock().connections.values().cloned().collect()
    }

    /// The sessions of a bot.
    pub fn sessions(&self, token: &str) -> Vec<SessionInfo> {
        let inner = self.lock();
        let ttl = inner.gateway.session_ttl();
        let now = Instant::now();
        let mut sessions: Vec<SessionInfo> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.bot == token)
            .map(|(id, s)| SessionInfo {
                session_id: id.clone(),
                seq: s.seq,
                connected: s.attached.is_some(),
                alive: s.alive(now, ttl),
            })
            .collect();
        sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        sessions
    }

    /// Sends `command` (built per connection) to every live connection of a bot; returns how
    /// many there were.
    fn command_all(&self, token: &str, command: impl Fn() -> ConnCommand) -> usize {
        let inner = self.lock();
        let targets = inner.live_of(token);
        for conn in &targets {
            if let Some(live) = inner.live.get(conn) {
                let _ = live.commands.send(command());
            }
        }
        targets.len()
    }

    /// op 7 RECONNECT on every live connection of a bot (closed with 4000 after the grace).
    pub fn send_reconnect(&self, token: &str) -> usize {
        let grace = Duration::from_millis(self.lock().gateway.reconnect_grace_ms);
        self.command_all(token, || {
            ConnCommand::SendThenClose(frame(7, Value::Null), grace)
        })
    }

    /// op 1 (a heartbeat request) on every live connection of a bot.
    pub fn request_heartbeat(&self, token: &str) -> usize {
        self.command_all(token, || ConnCommand::Send(heartbeat_request()))
    }

    /// op 9 INVALID_SESSION on every live connection of a bot. The connection stays open and
    /// may IDENTIFY (or RESUME, if `resumable`) again; unresumable sessions are ended.
    pub fn send_invalid_session(&self, token: &str, resumable: bool) -> usize {
        let mut inner = self.lock();
        let targets = inner.live_of(token);
        let now = Instant::now();
        for conn in &targets {
            let Some(live) = inner.live.get_mut(conn) else {
                continue;
            };
            let _ = live
                .commands
                .send(ConnCommand::Send(frame(9, json!(resumable))));
            let Some(session_id) = live.session.take() else {
                continue;
            };
            if let Some(session) = inner.sessions.get_mut(&session_id) {
                session.attached = None;
                session.detached_at = Some(now);
                session.invalid = !resumable;
            }
        }
        targets.len()
    }

    /// Closes every live connection of a bot with `code`.
    pub fn close(&self, token: &str, code: u16, reason: &str) -> usize {
        self.command_all(token, || ConnCommand::Close(code, reason.to_owned()))
    }

    /// Drops every live connection of a bot without a close frame (a TCP reset; the client sees
    /// 1006).
    pub fn drop_connections(&self, token: &str) -> usize {
        self.command_all(token, || ConnCommand::Drop)
    }

    /// Stops acknowledging heartbeats on the bot's live connections (new connections ack).
    pub fn stop_heartbeat_acks(&self, token: &str) -> usize {
        let mut inner = self.lock();
        let targets = inner.live_of(token);
        for conn in &targets {
            if let Some(live) = inner.live.get_mut(conn) {
                live.acks_stopped = true;
            }
        }
        targets.len()
    }

    /// Makes the bot's live connections go quiet without closing: nothing is read or written
    /// any more (a dead network path). They are dropped once the bot connects again.
    pub fn go_silent(&self, token: &str) -> usize {
        let mut inner = self.lock();
        let targets = inner.live_of(token);
        for conn in &targets {
            if let Some(live) = inner.live.get_mut(conn) {
                live.silent = true;
                let _ = live.commands.send(ConnCommand::Silent);
            }
        }
        targets.len()
    }

    /// Ends every session of a bot without telling it: a later RESUME gets op 9 `false`.
    pub fn invalidate_sessions(&self, token: &str) -> usize {
        let mut inner = self.lock();
        let mut count = 0;
        for session in inner.sessions.values_mut().filter(|s| s.bot == token) {
            session.invalid = true;
            count += 1;
        }
        count
    }

    /// Revokes a token: REST answers 401, IDENTIFY and RESUME are closed with 4004.
    pub fn revoke_token(&self, token: &str) -> Result<(), FakeError> {
        self.change_bot(token, |bot| bot.revoked = true)
    }

    /// Attachment downloads, in order.
    pub fn attachment_downloads(&self) -> Vec<AttachmentDownload> {
        self.lock().downloads.clone()
    }
}
