//! The gateway protocol's server side, without I/O: what to answer each client frame with
//! (IDENTIFY, RESUME, heartbeats), sequence numbers per session, the buffer RESUME replays from,
//! and the fan-out of dispatches to every live or resumable session of a bot.

use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::message::bot_user_json;
use crate::records::{ConnectionRecord, Ending, Handshake};
use crate::state::{ConnCommand, Inner, LiveConnection, Session, World};

/// GUILDS (1 << 0) | GUILD_MESSAGES (1 << 9) | DIRECT_MESSAGES (1 << 12): what a bridge needs;
/// IDENTIFY without them is refused with 4013, so a client that forgets one fails loudly.
pub const REQUIRED_INTENTS: u64 = 1 | (1 << 9) | (1 << 12);
/// The privileged MESSAGE_CONTENT intent.
pub const MESSAGE_CONTENT: u64 = 1 << 15;

/// What the connection task must do after a client frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// Send this frame.
    Frame(Value),
    /// Close with this code and reason.
    Close(u16, &'static str),
}

/// A non-dispatch frame (`s` and `t` null).
pub fn frame(op: u8, d: Value) -> Value {
    json!({ "op": op, "d": d, "s": null, "t": null })
}

/// A dispatch frame.
pub fn dispatch_frame(event: &str, seq: u64, d: Value) -> Value {
    json!({ "op": 0, "d": d, "s": seq, "t": event })
}

/// A message's `d` as a bot without MESSAGE_CONTENT sees it.
fn redacted(d: &Value) -> Value {
    let mut d = d.clone();
    d["content"] = json!("");
    d["embeds"] = json!([]);
    d["attachments"] = json!([]);
    d["components"] = json!([]);
    d
}

impl World {
    /// Registers a new connection; returns its id, its command channel and the HELLO to send.
    pub fn open_connection(
        &self,
        path: &str,
        query: &str,
    ) -> (u64, UnboundedReceiver<ConnCommand>, Value) {
        let mut inner = self.lock();
        inner.last_connection += 1;
        let id = inner.last_connection;
        let (commands, receiver) = unbounded_channel();
        inner.live.insert(
            id,
            LiveConnection {
                commands,
                session: None,
                acks_stopped: false,
                silent: false,
            },
        );
        inner.connections.insert(
            id,
            ConnectionRecord {
                id,
                path: path.to_owned(),
                query: query.to_owned(),
                bot_token: None,
                handshakes: Vec::new(),
                heartbeats: 0,
                last_heartbeat_seq: None,
                close_sent: None,
                close_received: None,
                ending: None,
            },
        );
        let hello = frame(
            10,
            json!({ "heartbeat_interval": inner.gateway.heartbeat_interval_ms,
                                      "_trace": ["[\"fake-discord-gateway\",{\"micros\":0}]"] }),
        );
        (id, receiver, hello)
    }

    /// The answer to a client's text frame.
    pub fn client_frame(&self, conn: u64, text: &str) -> Vec<Outgoing> {
        self.lock().client_frame(conn, text)
    }

    /// Notes the close code the fake is sending.
    /// Notes the close code the fake is sending; 4007 (invalid seq) and 4009 (session timed
    /// out) end the session, as their meaning is "identify anew".
    pub fn closing(&self, conn: u64, code: u16) {
        let mut inner = self.lock();
        if let Some(record) = inner.connections.get_mut(&conn) {
            record.close_sent = Some(code);
        }
        if !matches!(code, 4007 | 4009) {
            return;
        }
        let session_id = inner.live.get(&conn).and_then(|live| live.session.clone());
        if let Some(session) = session_id.and_then(|id| inner.sessions.get_mut(&id)) {
            session.invalid = true;
        }
    }

    /// Notes the client's close frame.
    pub fn client_closed(&self, conn: u64, code: Option<u16>) {
        if let Some(record) = self.lock().connections.get_mut(&conn) {
            record.close_received = code;
        }
    }

    /// The connection is over: its session (if any) waits for a RESUME, unless the client
    /// closed with 1000 or 1001, which ends a session on Discord.
    pub fn end_connection(&self, conn: u64, ending: Ending) {
        let mut inner = self.lock();
        let live = inner.live.remove(&conn);
        let mut close_received = None;
        if let Some(record) = inner.connections.get_mut(&conn) {
            record.ending.get_or_insert(ending);
            close_received = record.close_received;
        }
        let Some(session_id) = live.and_then(|live| live.session) else {
            return;
        };
        if let Some(session) = inner.sessions.get_mut(&session_id)
            && session.attached == Some(conn)
        {
            session.attached = None;
            session.detached_at = Some(Instant::now());
            if ending == Ending::ClientClosed && matches!(close_received, Some(1000 | 1001)) {
                session.invalid = true;
            }
        }
    }
}

impl Inner {
    /// Appends a dispatch to every live or resumable session of `bot_token`'s bot, and sends it
    /// on the connected ones. `redactable` dispatches lose their content for sessions without
    /// MESSAGE_CONTENT.
    pub fn dispatch(&mut self, bot_token: &str, event: &str, d: &Value, redactable: bool) {
        let now = Instant::now();
        let ttl = self.gateway.session_ttl();
        let keep = self.gateway.resume_buffer.max(1);
        for session in self.sessions.values_mut() {
            if session.bot != bot_token || !session.alive(now, ttl) {
                continue;
            }
            let d = if redactable && session.intents & MESSAGE_CONTENT == 0 {
                redacted(d)
            } else {
                d.clone()
            };
            session.seq += 1;
            let dispatch = dispatch_frame(event, session.seq, d);
            session.buffer.push_back((session.seq, dispatch.clone()));
            while session.buffer.len() > keep {
                if let Some((seq, _)) = session.buffer.pop_front() {
                    session.evicted_through = seq;
                }
            }
            if let Some(live) = session.attached.and_then(|conn| self.live.get(&conn)) {
                let _ = live.commands.send(ConnCommand::Send(dispatch));
            }
        }
    }

    fn client_frame(&mut self, conn: u64, text: &str) -> Vec<Outgoing> {
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            return vec![Outgoing::Close(4002, "Error while decoding payload.")];
        };
        let Some(op) = payload.get("op").and_then(Value::as_u64) else {
            return vec![Outgoing::Close(4002, "Error while decoding payload.")];
        };
        let d = payload.get("d").unwrap_or(&Value::Null);
        let authenticated = self
            .live
            .get(&conn)
            .is_some_and(|live| live.session.is_some());
        match op {
            1 => self.heartbeat(conn, d),
            2 | 6 if authenticated => vec![Outgoing::Close(4005, "Already authenticated.")],
            2 => self.identify(conn, d),
            6 => self.resume(conn, d),
            // Presence, voice state, guild members, soundboard: valid, but nothing to model.
            3 | 4 | 8 | 31 if authenticated => Vec::new(),
            3 | 4 | 8 | 31 => vec![Outgoing::Close(4003, "Not authenticated.")],
            _ => vec![Outgoing::Close(4001, "Unknown opcode.")],
        }
    }

    fn heartbeat(&mut self, conn: u64, d: &Value) -> Vec<Outgoing> {
        let mut bot_token = None;
        if let Some(record) = self.connections.get_mut(&conn) {
            record.heartbeats += 1;
            record.last_heartbeat_seq = d.as_u64();
            bot_token.clone_from(&record.bot_token);
        }
        let stopped = self.live.get(&conn).is_some_and(|live| live.acks_stopped);
        let knob = bot_token
            .and_then(|token| self.bots.get(&token))
            .is_none_or(|bot| bot.knobs.ack_heartbeats);
        if stopped || !knob {
            return Vec::new();
        }
        vec![Outgoing::Frame(frame(11, Value::Null))]
    }

    /// Records a refused IDENTIFY/RESUME and closes.
    fn reject(&mut self, conn: u64, code: u16, reason: &'static str) -> Vec<Outgoing> {
        self.handshake(conn, Handshake::Rejected { code });
        vec![Outgoing::Close(code, reason)]
    }

    fn handshake(&mut self, conn: u64, handshake: Handshake) {
        if let Some(record) = self.connections.get_mut(&conn) {
            record.handshakes.push(handshake);
        }
    }

    /// Remembers which bot a connection claims to be, and returns the bot if the token is good.
    fn authenticate(&mut self, conn: u64, token: &str) -> Option<String> {
        let raw = token.strip_prefix("Bot ").unwrap_or(token).to_owned();
        if let Some(record) = self.connections.get_mut(&conn) {
            record.bot_token = Some(raw);
        }
        self.gateway_bot(token)
    }

    fn identify(&mut self, conn: u64, d: &Value) -> Vec<Outgoing> {
        let token = d.get("token").and_then(Value::as_str).unwrap_or_default();
        let Some(bot_token) = self.authenticate(conn, token) else {
            return self.reject(conn, 4004, "Authentication failed.");
        };
        let intents = match d.get("intents") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let Some(intents) = intents.filter(|i| i & REQUIRED_INTENTS == REQUIRED_INTENTS) else {
            return self.reject(conn, 4013, "Invalid intent(s).");
        };
        let Some(bot) = self.bots.get_mut(&bot_token) else {
            return self.reject(conn, 4004, "Authentication failed.");
        };
        if intents & MESSAGE_CONTENT != 0 && !bot.knobs.message_content_allowed {
            return self.reject(conn, 4014, "Disallowed intent(s).");
        }
        bot.identifies += 1;
        let user = bot.user.clone();
        self.drop_silent(&bot_token);
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        let mut ready = json!({
            "v": 10, "user": bot_user_json(&user),
            "guilds": self.guilds.iter().map(|g| json!({ "id": g.id, "unavailable": true })).collect::<Vec<_>>(),
            "session_id": session_id, "session_type": "normal",
            "resume_gateway_url": format!("{}/resume", self.ws_base()),
            "application": { "id": user.application_id, "flags": 0 },
            "private_channels": [], "presences": [], "relationships": [], "guild_join_requests": [],
            "geo_ordered_rtc_regions": [], "user_settings": {}, "auth": {},
            "_trace": ["[\"fake-discord-session\",{\"micros\":0}]"],
        });
        if let Some(shard) = d.get("shard") {
            ready["shard"] = shard.clone();
        }
        let mut out = vec![Outgoing::Frame(dispatch_frame("READY", 1, ready))];
        let mut session = Session {
            bot: bot_token,
            seq: 1,
            intents,
            buffer: Default::default(),
            evicted_through: 0,
            attached: Some(conn),
            detached_at: None,
            invalid: false,
        };
        for guild in self.guild_creates() {
            session.seq += 1;
            let dispatch = dispatch_frame("GUILD_CREATE", session.seq, guild);
            session.buffer.push_back((session.seq, dispatch.clone()));
            out.push(Outgoing::Frame(dispatch));
        }
        self.sessions.insert(session_id.clone(), session);
        if let Some(live) = self.live.get_mut(&conn) {
            live.session = Some(session_id.clone());
        }
        self.handshake(
            conn,
            Handshake::Identified {
                session_id,
                intents,
            },
        );
        out
    }

    fn resume(&mut self, conn: u64, d: &Value) -> Vec<Outgoing> {
        let token = d.get("token").and_then(Value::as_str).unwrap_or_default();
        let session_id = d
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let seq = d.get("seq").and_then(Value::as_u64);
        let Some(bot_token) = self.authenticate(conn, token) else {
            return self.reject(conn, 4004, "Authentication failed.");
        };
        let now = Instant::now();
        let ttl = self.gateway.session_ttl();
        let from = seq.unwrap_or(0);
        let Some(session) = self.sessions.get_mut(&session_id) else {
            self.handshake(conn, Handshake::ResumeRefused { session_id });
            return vec![Outgoing::Frame(frame(9, json!(false)))];
        };
        if session.bot != bot_token || !session.alive(now, ttl) || from < session.evicted_through {
            // Another bot's, invalidated, expired, or its missed dispatches are gone.
            self.handshake(conn, Handshake::ResumeRefused { session_id });
            return vec![Outgoing::Frame(frame(9, json!(false)))];
        }
        if from > session.seq {
            return self.reject(conn, 4007, "Invalid seq.");
        }
        let previous = session.attached.replace(conn);
        session.detached_at = None;
        let mut out: Vec<Outgoing> = session
            .buffer
            .iter()
            .filter(|(s, _)| *s > from)
            .map(|(_, dispatch)| Outgoing::Frame(dispatch.clone()))
            .collect();
        let replayed = out.len();
        session.seq += 1;
        out.push(Outgoing::Frame(dispatch_frame(
            "RESUMED",
            session.seq,
            json!({}),
        )));
        // Discord serves a session on one connection: the one it was on is dropped.
        if let Some(previous) = previous.filter(|p| *p != conn)
            && let Some(old) = self.live.get_mut(&previous)
        {
            old.session = None;
            let _ = old.commands.send(ConnCommand::Drop);
        }
        self.drop_silent(&bot_token);
        if let Some(live) = self.live.get_mut(&conn) {
            live.session = Some(session_id.clone());
        }
        self.handshake(
            conn,
            Handshake::Resumed {
                session_id,
                seq,
                replayed,
            },
        );
        out
    }

    /// GUILD_CREATE payloads of every declared guild.
    pub fn guild_creates(&self) -> Vec<Value> {
        self.guilds
            .iter()
            .map(|guild| self.guild_create(&guild.id))
            .collect()
    }

    /// The GUILD_CREATE `d` of a declared guild.
    pub fn guild_create(&self, guild_id: &str) -> Value {
        let Some(guild) = self.guilds.iter().find(|g| g.id == guild_id) else {
            return Value::Null;
        };
        let channel = |c: &crate::spec::Channel| {
            let mut channel = json!({ "id": c.id, "type": c.kind, "name": c.name, "guild_id": guild.id,
                                      "position": 0, "permission_overwrites": [], "nsfw": false });
            if let Some(parent) = &c.parent_id {
                channel["parent_id"] = json!(parent);
            }
            if matches!(c.kind, 10..=12) {
                channel["thread_metadata"] = json!({ "archived": false, "auto_archive_duration": 1440,
                                                     "archive_timestamp": "2024-01-01T00:00:00.000000+00:00", "locked": false });
            }
            channel
        };
        let mut members: Vec<Value> = guild
            .members
            .iter()
            .map(|m| {
                let mut member = self.member_json(&guild.id, &m.user_id, Some(&m.roles));
                member["user"] = json!({ "id": m.user_id, "username": m.username, "discriminator": "0",
                                         "global_name": null, "avatar": null, "bot": false });
                member
            })
            .collect();
        for bot in self.bots.values() {
            let mut member = self.member_json(&guild.id, &bot.user.id, Some(&guild.bot_roles));
            member["user"] = bot_user_json(&bot.user);
            members.push(member);
        }
        let mut roles =
            vec![json!({ "id": guild.id, "name": "@everyone", "permissions": "0", "position": 0 })];
        roles.extend(
            guild
                .roles
                .iter()
                .map(|r| json!({ "id": r.id, "name": r.name, "permissions": "0", "position": 1 })),
        );
        json!({
            "id": guild.id, "name": guild.name, "unavailable": false, "large": false,
            "joined_at": "2024-01-01T00:00:00.000000+00:00", "member_count": members.len(),
            "owner_id": guild.members.first().map(|m| m.user_id.clone()).unwrap_or_default(),
            "channels": guild.channels.iter().map(channel).collect::<Vec<_>>(),
            "threads": guild.threads.iter().map(channel).collect::<Vec<_>>(),
            "members": members, "roles": roles, "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "emojis": [], "stickers": [],
        })
    }

    /// Drops silent connections of a bot once it has a new connection: the old path is dead.
    fn drop_silent(&mut self, bot_token: &str) {
        for live in self.live.values_mut() {
            let of_bot = live
                .session
                .as_ref()
                .and_then(|id| self.sessions.get(id))
                .is_some_and(|s| s.bot == bot_token);
            if live.silent && of_bot {
                live.session = None;
                let _ = live.commands.send(ConnCommand::Drop);
            }
        }
    }

    /// Live connections serving `bot_token`'s sessions.
    pub fn live_of(&self, bot_token: &str) -> Vec<u64> {
        self.live
            .iter()
            .filter(|(_, live)| {
                live.session
                    .as_ref()
                    .and_then(|id| self.sessions.get(id))
                    .is_some_and(|s| s.bot == bot_token)
            })
            .map(|(id, _)| *id)
            .collect()
    }
}
