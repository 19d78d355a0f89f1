//! From an accepted update to JetStream: a turn for the agent (with where to deliver the answer),
//! a pairing code for an unknown sender, or a short refusal for media over the size limit. Each is
//! published with a message id derived from the `update_id`, so handling an update twice (after a
//! crash before the offset was saved) never yields two runs or two replies.

use async_nats::jetstream;
use pincer_bus::Namespace;
use pincer_bus::messages::{Attachment, ChatMessage, Delivery, OutboundMessage, Role, TurnRequest};
use pincer_store::pairing::{Pairing, PairingError};
use serde_json::Value;

use super::policy::{Decision, Policy};
use super::typing::Typing;
use super::update::{self, Inbound};

/// Why an update could not be handled now (the poller retries it; the offset is not advanced).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// JetStream did not take the message.
    #[error("cannot publish to {subject}: {reason}")]
    Publish {
        /// Where.
        subject: String,
        /// Why.
        reason: String,
    },
    /// The pairing store failed.
    #[error(transparent)]
    Pairing(#[from] PairingError),
}

/// Everything needed to handle one account's updates.
pub struct Ingest {
    pub(crate) js: jetstream::Context,
    pub(crate) ns: Namespace,
    /// The account (bot) name, part of ids and keys.
    pub(crate) account: String,
    pub(crate) bot_id: i64,
    pub(crate) policy: Policy,
    pub(crate) pairing: Pairing,
    /// `session.dmScope: main` puts every DM in one session (OpenClaw's default); otherwise one
    /// session per sender, so people never see each other's context.
    pub(crate) shared_dm_session: bool,
    pub(crate) media_max_bytes: u64,
    pub(crate) typing: Typing,
    /// `bindings`: which agent answers which account or chat.
    pub(crate) bindings: Vec<pincer_config::Binding>,
    /// The bot's API, for downloading attachments.
    pub(crate) api: super::client::BotApi,
    /// Where attachments wait for the agent-runner.
    pub(crate) media: async_nats::jetstream::object_store::ObjectStore,
    /// Channel state (preview message ids).
    pub(crate) state: async_nats::jetstream::kv::Store,
    /// `streaming: true`: show the answer as it is written.
    pub(crate) streaming: bool,
}

impl Ingest {
    /// Handles one update. `Ok` means it is durably dealt with and the offset may move past it.
    pub async fn handle(&self, raw: &Value) -> Result<(), IngestError> {
        let Some(message) = update::parse(raw, self.bot_id) else {
            return Ok(());
        };
        let approved = if message.private {
            self.pairing
                .is_approved(&message.sender_id.to_string())
                .await?
        } else {
            false
        };
        match self.policy.decide(&message, approved) {
            Decision::Ignore(reason) => {
                tracing::debug!(
                    update_id = message.update_id,
                    chat = message.chat_id,
                    reason,
                    "message ignored"
                );
                Ok(())
            }
            Decision::Pair => self.pair(&message).await,
            Decision::Accept => self.accept(&message).await,
        }
    }

    async fn pair(&self, message: &Inbound) -> Result<(), IngestError> {
        let pending = match self
            .pairing
            .request(&message.sender_id.to_string(), message.username.as_deref())
            .await
        {
            Ok((pending, true)) => pending,
            // The code was sent already: more messages get no more replies (no spam amplifier).
            Ok((_, false)) => return Ok(()),
            Err(PairingError::TooManyPending) => {
                tracing::warn!(
                    sender = message.sender_id,
                    "pairing request dropped: too many pending"
                );
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        tracing::info!(sender = message.sender_id, "pairing code issued");
        let account = if self.account == "default" {
            String::new()
        } else {
            format!(" --account {}", self.account)
        };
        let text = format!(
            "Hi! I don't know you yet. Your pairing code is {code} (valid for one hour).\n\
             Ask my owner to approve it: pincer pairing approve {code}{account}",
            code = pending.code
        );
        self.reply(
            message,
            &format!("pair-{}-{}", self.account, message.update_id),
            text,
        )
        .await
    }

    async fn accept(&self, message: &Inbound) -> Result<(), IngestError> {
        if let Some(media) = &message.media
            && media.size.is_some_and(|size| size > self.media_max_bytes)
        {
            let text = format!(
                "That {} is too large for me (limit {} MB).",
                media.kind,
                self.media_max_bytes / (1024 * 1024)
            );
            return self
                .reply(
                    message,
                    &format!("media-{}-{}", self.account, message.update_id),
                    text,
                )
                .await;
        }
        let turn_id = format!("tg-{}-{}", self.account, message.update_id);
        let peer = if message.private {
            (
                pincer_config::PeerKind::Direct,
                message.sender_id.to_string(),
            )
        } else {
            (pincer_config::PeerKind::Group, message.chat_id.to_string())
        };
        let agent_id = pincer_config::schema::bindings::route(
            &self.bindings,
            "telegram",
            &self.account,
            (peer.0, &peer.1),
        )
        .unwrap_or("default");
        let session_key = if message.private && self.shared_dm_session {
            format!("agent:{agent_id}:main")
        } else if message.private {
            format!(
                "agent:{agent_id}:telegram:{}:direct:{}",
                self.account, message.sender_id
            )
        } else {
            format!(
                "agent:{agent_id}:telegram:{}:group:{}",
                self.account, message.chat_id
            )
        };
        let request = TurnRequest {
            reply_subject: self.ns.run_events(&turn_id),
            turn_id: turn_id.clone(),
            agent_id: agent_id.to_owned(),
            session_key,
            persist: true,
            messages: vec![ChatMessage {
                attachments: self.attachments(message).await,
                ..ChatMessage::text(Role::User, agent_input(message))
            }],
            live_deltas: self.streaming,
            source: "telegram".to_owned(),
            accepted_at_ms: pincer_clock::now_ms(),
            deliver: Some(self.delivery(message)),
        };
        // Listen for the turn's end before it can happen, so the indicator stops on time.
        let ended = self
            .js
            .client()
            .subscribe(request.reply_subject.clone())
            .await
            .ok();
        let preview = if self.streaming {
            self.js
                .client()
                .subscribe(request.reply_subject.clone())
                .await
                .ok()
        } else {
            None
        };
        self.publish(self.ns.turn(agent_id), &turn_id, &request)
            .await?;
        if let Some(events) = preview {
            tokio::spawn(super::preview::follow(
                self.api.clone(),
                self.state.clone(),
                super::preview::key(&self.account, &turn_id),
                message.chat_id,
                events,
            ));
        }
        tracing::info!(%turn_id, chat = message.chat_id, "telegram message handed to the agent");
        self.typing.start(message.chat_id, ended);
        Ok(())
    }

    /// Downloads the message's media into the media store. A file that cannot be fetched is left
    /// out (the text still names it), so one broken download never holds up the chat.
    async fn attachments(&self, message: &Inbound) -> Vec<Attachment> {
        let Some(media) = &message.media else {
            return Vec::new();
        };
        let bytes = match self
            .api
            .download(&media.file_id, self.media_max_bytes)
            .await
        {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, kind = media.kind, "attachment not downloaded");
                return Vec::new();
            }
        };
        let object = format!(
            "tg-{}-{}",
            super::key_token(&self.account),
            message.update_id
        );
        let size = bytes.len() as u64;
        if let Err(error) = self.media.put(object.as_str(), &mut bytes.as_slice()).await {
            tracing::warn!(%error, "attachment not stored");
            return Vec::new();
        }
        let extension = match media.kind {
            "photo" => "jpg",
            "voice" => "ogg",
            "video" => "mp4",
            _ => "bin",
        };
        vec![Attachment {
            file_name: format!(
                "telegram-{}-{}.{extension}",
                message.chat_id, message.message_id
            ),
            object,
            kind: media.kind.to_owned(),
            size,
        }]
    }

    fn delivery(&self, message: &Inbound) -> Delivery {
        Delivery {
            channel: "telegram".to_owned(),
            account: self.account.clone(),
            chat_id: message.chat_id,
            // In a private chat a plain answer reads better; in a group, show what it answers.
            reply_to_message_id: (!message.private).then_some(message.message_id),
        }
    }

    async fn reply(&self, message: &Inbound, id: &str, text: String) -> Result<(), IngestError> {
        let outbound = OutboundMessage {
            turn_id: id.to_owned(),
            to: self.delivery(message),
            text,
            failed: false,
        };
        self.publish(self.ns.channel_outbound("telegram"), id, &outbound)
            .await
    }

    async fn publish<T: serde::Serialize>(
        &self,
        subject: String,
        id: &str,
        payload: &T,
    ) -> Result<(), IngestError> {
        pincer_bus::publish::durable_json(&self.js, subject.clone(), id, payload)
            .await
            .map(|_| ())
            .map_err(|error| IngestError::Publish {
                subject,
                reason: error.to_string(),
            })
    }
}

/// The agent's input: who wrote, where, and the message with what it quotes or forwards. A
/// session command (`/status`, `/new`, ...) goes as it is, so the runner recognises it.
pub fn agent_input(message: &Inbound) -> String {
    if message.text.trim_start().starts_with('/') && message.media.is_none() {
        return message.text.trim().to_owned();
    }
    let who = match &message.username {
        Some(username) => format!(
            "{} (@{username}, id {})",
            message.first_name, message.sender_id
        ),
        None => format!("{} (id {})", message.first_name, message.sender_id),
    };
    let mut text = if message.private {
        format!("[Telegram DM from {who}]\n")
    } else {
        format!("[Telegram group {}, from {who}]\n", message.chat_id)
    };
    if let Some(origin) = &message.forwarded_from {
        text.push_str(&format!("(forwarded from {origin})\n"));
    }
    if let Some(quoted) = &message.quoted {
        let short: String = quoted.chars().take(300).collect();
        text.push_str(&format!("(replying to: \"{short}\")\n"));
    }
    if let Some(media) = &message.media {
        let size = media
            .size
            .map_or_else(String::new, |s| format!(", {s} bytes"));
        // The agent-runner adds where the file was saved (or why it could not be).
        text.push_str(&format!("(sent a {}{size})\n", media.kind));
    }
    text.push_str(&message.text);
    text
}
