//! What tests do to the workspace: install apps, play users, script sockets (`disconnect`, drops,
//! silence), force failures, and read back what happened. Shared by the library handle and the
//! HTTP control API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::event_callback;
use crate::ids::object_id;
use crate::knobs::{Forced, HttpRetryPolicy, Knobs};
use crate::records::{
    AckRecord, DisconnectRecord, EnvelopeRecord, FileDownload, PostedMessage, SocketRecord, Update,
};
use crate::spec::{AppIdentity, AppSpec, ChannelKind, Incoming, Injected};
use crate::state::{App, FakeError, SocketCommand, World};

impl World {
    /// Installs an app in the workspace.
    pub fn add_app(&self, spec: &AppSpec) -> Result<AppIdentity, FakeError> {
        if !spec.app_token.starts_with("xapp-") {
            return Err(FakeError::TokenShape("the app token", "xapp-"));
        }
        if !spec.bot_token.starts_with("xoxb-") {
            return Err(FakeError::TokenShape("the bot token", "xoxb-"));
        }
        let mut inner = self.lock();
        if inner.app_of(&spec.app_token).is_some() || inner.app_of(&spec.bot_token).is_some() {
            return Err(FakeError::DuplicateToken);
        }
        let identity = AppIdentity {
            app_id: spec.app_id.clone().unwrap_or_else(|| object_id("A")),
            team_id: inner.team_id.clone(),
            team_name: inner.team_name.clone(),
            bot_user_id: spec.bot_user_id.clone().unwrap_or_else(|| object_id("U")),
            bot_id: spec.bot_id.clone().unwrap_or_else(|| object_id("B")),
            bot_name: spec.bot_name.clone().unwrap_or_else(|| "pincer".to_owned()),
            app_token: spec.app_token.clone(),
            bot_token: spec.bot_token.clone(),
        };
        inner
            .bot_tokens
            .insert(spec.bot_token.clone(), spec.app_token.clone());
        inner.apps.insert(
            spec.app_token.clone(),
            App {
                identity: identity.clone(),
                knobs: Knobs::default(),
                forced: BTreeMap::new(),
                posted: Vec::new(),
                updates: Vec::new(),
                envelopes: Vec::new(),
                acks: Vec::new(),
                disconnects: Vec::new(),
                max_sockets: 0,
                next_socket: 0,
                settled: 0,
                connections_opened: 0,
            },
        );
        Ok(identity)
    }

    /// Declares a conversation's kind and name (undeclared ones follow their id's prefix).
    pub fn add_channel(&self, id: &str, kind: ChannelKind, name: &str) {
        let mut inner = self.lock();
        let conversation = inner.conversation(id);
        conversation.kind = kind;
        name.clone_into(&mut conversation.name);
    }

    /// A user's message: stored, and queued as envelopes for the app's sockets.
    pub fn user_says(&self, app_token: &str, incoming: &Incoming) -> Result<Injected, FakeError> {
        let mut inner = self.lock();
        let message = inner.user_message(app_token, incoming)?;
        let mut injected = Injected {
            ts: message.ts,
            channel: message.channel,
            event_ids: Vec::new(),
            envelope_ids: Vec::new(),
        };
        for (event_id, payload) in message.payloads {
            if let Some(envelope_id) = inner.enqueue(app_token, &event_id, payload) {
                injected.envelope_ids.push(envelope_id);
            }
            injected.event_ids.push(event_id);
        }
        drop(inner);
        self.wake.notify_one();
        Ok(injected)
    }

    /// A user's message, stored, as the `event_callback` payloads HTTP mode would POST (nothing
    /// goes to sockets).
    pub fn http_payloads(
        &self,
        app_token: &str,
        incoming: &Incoming,
    ) -> Result<Vec<Value>, FakeError> {
        let message = self.lock().user_message(app_token, incoming)?;
        Ok(message
            .payloads
            .into_iter()
            .map(|(_, payload)| payload)
            .collect())
    }

    /// Any event, wrapped in `event_callback` and queued for the app's sockets; returns the
    /// envelope id.
    pub fn send_event(&self, app_token: &str, event: Value) -> Result<String, FakeError> {
        let mut inner = self.lock();
        let identity = inner
            .apps
            .get(app_token)
            .ok_or(FakeError::UnknownApp)?
            .identity
            .clone();
        let (event_id, payload) = event_callback(&identity, event);
        let envelope_id = inner
            .enqueue(app_token, &event_id, payload)
            .ok_or(FakeError::UnknownApp)?;
        drop(inner);
        self.wake.notify_one();
        Ok(envelope_id)
    }

    /// An envelope of another type (`slash_commands`, `interactive`) with `payload` as given;
    /// returns the envelope id.
    pub fn send_envelope(
        &self,
        app_token: &str,
        kind: &str,
        payload: Value,
    ) -> Result<String, FakeError> {
        let envelope_id = self
            .lock()
            .enqueue_envelope(app_token, kind, "", payload)
            .ok_or(FakeError::UnknownApp)?;
        self.wake.notify_one();
        Ok(envelope_id)
    }

    /// Reads an app.
    pub fn read_app<T>(
        &self,
        app_token: &str,
        read: impl FnOnce(&App) -> T,
    ) -> Result<T, FakeError> {
        self.lock()
            .apps
            .get(app_token)
            .map(read)
            .ok_or(FakeError::UnknownApp)
    }

    /// Changes an app.
    pub fn change_app<T>(
        &self,
        app_token: &str,
        change: impl FnOnce(&mut App) -> T,
    ) -> Result<T, FakeError> {
        let changed = self
            .lock()
            .apps
            .get_mut(app_token)
            .map(change)
            .ok_or(FakeError::UnknownApp);
        self.wake.notify_one();
        changed
    }

    /// The bot's posts.
    pub fn posted(&self, app_token: &str) -> Vec<PostedMessage> {
        self.read_app(app_token, |app| app.posted.clone())
            .unwrap_or_default()
    }

    /// The bot's updates.
    pub fn updates(&self, app_token: &str) -> Vec<Update> {
        self.read_app(app_token, |app| app.updates.clone())
            .unwrap_or_default()
    }

    /// The messages of a conversation, oldest first, as stored (metadata included).
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.lock()
            .conversations
            .get(channel)
            .map(|c| c.messages.iter().map(|m| m.body.clone()).collect())
            .unwrap_or_default()
    }

    /// Changes how the app's next calls of `method` are forced to fail.
    fn change_forced(
        &self,
        app_token: &str,
        method: &str,
        change: impl FnOnce(&mut Forced),
    ) -> Result<(), FakeError> {
        self.change_app(app_token, |app| {
            change(app.forced.entry(method.to_owned()).or_default());
        })
    }

    /// The next `count` calls of `method` get HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(
        &self,
        app_token: &str,
        method: &str,
        count: u32,
        retry_after_secs: u64,
    ) -> Result<(), FakeError> {
        self.change_forced(app_token, method, |forced| {
            forced.rate_limit_next = count;
            forced.retry_after_secs = retry_after_secs;
        })
    }

    /// The next `count` calls of `method` get HTTP 500.
    pub fn fail_next(&self, app_token: &str, method: &str, count: u32) -> Result<(), FakeError> {
        self.change_forced(app_token, method, |forced| forced.fail_next = count)
    }

    /// The next `count` calls of `method` answer `{"ok": false, "error": error}`.
    pub fn error_next(
        &self,
        app_token: &str,
        method: &str,
        count: u32,
        error: &str,
    ) -> Result<(), FakeError> {
        self.change_forced(app_token, method, |forced| {
            forced.error_next = count;
            forced.error = error.to_owned();
        })
    }

    /// Revokes a token (bot or app): calls with it get `token_revoked`.
    pub fn revoke_token(&self, token: &str) {
        self.lock().revoked.push(token.to_owned());
    }

    /// Sends `disconnect` with `reason` to the app's oldest socket not told yet, and closes it
    /// after the app's grace unless the client does first; returns the socket.
    pub fn disconnect(&self, app_token: &str, reason: &str) -> Result<u64, FakeError> {
        let mut inner = self.lock();
        let grace = inner
            .apps
            .get(app_token)
            .map(|app| Duration::from_millis(app.knobs.disconnect_grace_ms))
            .ok_or(FakeError::UnknownApp)?;
        let sent_ms = inner.elapsed_ms();
        let socket = inner
            .sockets_of(app_token)
            .into_iter()
            .find(|id| inner.live.get(id).is_some_and(|s| !s.disconnecting))
            .ok_or(FakeError::NoSocket)?;
        if let Some(live) = inner.live.get_mut(&socket) {
            live.disconnecting = true;
            let frame = json!({ "type": "disconnect", "reason": reason, "debug_info": { "host": "applink-fake-1" } });
            let _ = live
                .commands
                .send(SocketCommand::SendThenClose(frame, grace));
        }
        if let Some(app) = inner.apps.get_mut(app_token) {
            app.disconnects.push(DisconnectRecord {
                socket,
                reason: reason.to_owned(),
                sent_ms,
                replacement: None,
                closed_ms: None,
                closed_by_client: None,
            });
        }
        Ok(socket)
    }

    /// Sends `command` to each open socket of the app; returns how many.
    fn command_sockets(
        &self,
        app_token: &str,
        mark_silent: bool,
        command: impl Fn() -> SocketCommand,
    ) -> usize {
        let mut inner = self.lock();
        let sockets = inner.sockets_of(app_token);
        for id in &sockets {
            if let Some(live) = inner.live.get_mut(id) {
                live.silent |= mark_silent;
                let _ = live.commands.send(command());
            }
        }
        sockets.len()
    }

    /// Drops the app's sockets without a close frame.
    pub fn drop_sockets(&self, app_token: &str) -> usize {
        self.command_sockets(app_token, false, || SocketCommand::Drop)
    }

    /// Makes the app's sockets silent (no frames, no pings, no close); each is dropped once the
    /// app opens another socket.
    pub fn go_silent(&self, app_token: &str) -> usize {
        self.command_sockets(app_token, true, || SocketCommand::Silent)
    }

    /// Open sockets of the app.
    pub fn open_sockets(&self, app_token: &str) -> usize {
        self.lock().sockets_of(app_token).len()
    }

    /// The app's sockets, oldest first.
    pub fn sockets(&self, app_token: &str) -> Vec<SocketRecord> {
        let inner = self.lock();
        let Some(app_id) = inner
            .apps
            .get(app_token)
            .map(|app| app.identity.app_id.clone())
        else {
            return Vec::new();
        };
        inner
            .sockets
            .values()
            .filter(|s| s.app_id == app_id)
            .cloned()
            .collect()
    }

    /// The app's envelopes, in order of creation.
    pub fn envelopes(&self, app_token: &str) -> Vec<EnvelopeRecord> {
        self.read_app(app_token, |app| {
            app.envelopes.iter().map(|e| e.record.clone()).collect()
        })
        .unwrap_or_default()
    }

    /// Acks received for the app, in order.
    pub fn acks(&self, app_token: &str) -> Vec<AckRecord> {
        self.read_app(app_token, |app| app.acks.clone())
            .unwrap_or_default()
    }

    /// `disconnect`s sent to the app's sockets.
    pub fn disconnects(&self, app_token: &str) -> Vec<DisconnectRecord> {
        self.read_app(app_token, |app| app.disconnects.clone())
            .unwrap_or_default()
    }

    /// File downloads, in order.
    pub fn file_downloads(&self) -> Vec<FileDownload> {
        self.lock().file_downloads.clone()
    }

    /// Sets the retry policy of signed HTTP deliveries.
    pub fn set_http_retry_policy(&self, policy: HttpRetryPolicy) {
        self.lock().http_retries = policy;
    }

    /// The retry policy of signed HTTP deliveries.
    pub fn http_retry_policy(&self) -> HttpRetryPolicy {
        self.lock().http_retries.clone()
    }
}
