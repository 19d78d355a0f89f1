//! From an accepted message to JetStream, on every channel: a turn for the agent (with where to
//! deliver the answer), a pairing code for an unknown sender, or a short refusal for media over
//! the size limit. Each is published with a message id made from the message's own id, and the
//! turn id is made from it too, so handling a message twice (a redelivered event, a replay after a
//! reconnect, a crash before the platform's cursor moved) never yields two runs or two replies:
//! JetStream drops the copy within its duplicate window, and after it the agent-runner answers
//! the turn id from its record and the sender skips chunks already marked sent.

use async_nats::jetstream::{self, kv};
use pincer_bus::Namespace;
use pincer_bus::messages::{Attachment, ChatMessage, Delivery, OutboundMessage, Role, TurnRequest};
use pincer_store::pairing::{Pairing, PairingError};

use super::access::{Decision, Rules};
use super::inbound::{Inbound, MediaRef};
use super::routing;

/// Why a message could not be handled now (the adapter retries it, or leaves it unacknowledged).
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

/// What a channel adapter does around ingest: download attachments, and show that the bot is
/// working while a turn runs (a typing indicator, a streaming preview, a placeholder message).
pub trait Platform: Send + Sync + 'static {
    /// What the adapter keeps between subscribing to a turn's events and the turn being published.
    type Watch: Send;

    /// `Telegram`, `Discord`, `Slack`: how the agent is told where a message came from.
    fn label(&self) -> &'static str;

    /// Downloads an attachment of at most `limit` bytes.
    fn download(
        &self,
        media: &MediaRef,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<u8>, String>> + Send;

    /// Subscribes to what it needs of the turn's events, before the turn is published (so no
    /// event is missed).
    fn prepare(
        &self,
        client: &async_nats::Client,
        message: &Inbound,
        turn: &TurnRequest,
    ) -> impl Future<Output = Self::Watch> + Send;

    /// The turn is on its way: show that the bot is working on it.
    fn working(&self, message: &Inbound, turn: &TurnRequest, watch: Self::Watch);
}

/// Everything needed to handle one account's messages.
pub struct Ingest<P> {
    /// JetStream.
    pub js: jetstream::Context,
    /// Subjects.
    pub ns: Namespace,
    /// `telegram`, `discord`, `slack`.
    pub channel: &'static str,
    /// Short tag in turn ids (`tg`, `dc`, `sl`).
    pub tag: &'static str,
    /// The account (bot) name, part of ids and keys.
    pub account: String,
    /// Who may reach the agent.
    pub rules: Rules,
    /// Approved senders and pending codes of this account.
    pub pairing: Pairing,
    /// `session.dmScope: main`: every DM in one session.
    pub shared_dm_session: bool,
    /// `bindings`: which agent answers which account or chat.
    pub bindings: Vec<pincer_config::Binding>,
    /// Largest attachment handed to the agent.
    pub media_max_bytes: u64,
    /// Where attachments wait for the agent-runner.
    pub media: jetstream::object_store::ObjectStore,
    /// Show the answer as it is written (live run events).
    pub streaming: bool,
    /// Where handled message ids are remembered, for platforms that may deliver a message again
    /// after JetStream's duplicate window (a gateway replay after resume, a late retry). `None`
    /// where the platform's own cursor prevents that (Telegram's offset).
    pub seen: Option<kv::Store>,
    /// The bridge's metrics.
    pub metrics: crate::metrics::Metrics,
    /// The platform side.
    pub platform: P,
}

impl<P: Platform> Ingest<P> {
    /// Handles one message. `Ok` means it is durably dealt with (handed on, answered or dropped).
    pub async fn handle(&self, message: &Inbound) -> Result<(), IngestError> {
        let seen_key = format!(
            "{}.{}.seen.{}",
            self.channel,
            super::key_token(&self.account),
            super::key_token(&message.id)
        );
        if let Some(seen) = &self.seen
            && seen.get(&seen_key).await.ok().flatten().is_some()
        {
            tracing::debug!(channel = self.channel, id = %message.id, "message seen before; skipped");
            return Ok(());
        }
        self.decide(message).await?;
        if let Some(seen) = &self.seen
            && let Err(error) = seen.put(&seen_key, "1".into()).await
        {
            // Only an optimisation over the ids JetStream and the runner deduplicate by.
            tracing::debug!(%error, "message not marked seen");
        }
        Ok(())
    }

    async fn decide(&self, message: &Inbound) -> Result<(), IngestError> {
        let approved = if message.direct {
            self.pairing.is_approved(&message.sender.id).await?
        } else {
            false
        };
        match self.rules.decide(message, approved) {
            Decision::Ignore(reason) => {
                tracing::debug!(
                    channel = self.channel,
                    id = %message.id,
                    chat = %message.chat,
                    reason,
                    "message ignored"
                );
                Ok(())
            }
            Decision::Pair => self.pair(message).await,
            Decision::Accept => self.accept(message).await,
        }
    }

    /// The id of a reply the bridge itself sends (a pairing code, a refusal). Telegram's keep the
    /// shape of earlier versions, whose replies may still be queued.
    fn notice_id(&self, what: &str, message: &Inbound) -> String {
        if self.channel == "telegram" {
            format!("{what}-{}-{}", self.account, message.id)
        } else {
            format!("{}-{what}-{}-{}", self.tag, self.account, message.id)
        }
    }

    async fn pair(&self, message: &Inbound) -> Result<(), IngestError> {
        let pending = match self
            .pairing
            .request(&message.sender.id, message.sender.username.as_deref())
            .await
        {
            Ok((pending, true)) => pending,
            // The code was sent already: more messages get no more replies (no spam amplifier).
            Ok((_, false)) => return Ok(()),
            Err(PairingError::TooManyPending) => {
                tracing::warn!(
                    channel = self.channel,
                    sender = %message.sender.id,
                    "pairing request dropped: too many pending"
                );
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        tracing::info!(channel = self.channel, sender = %message.sender.id, "pairing code issued");
        let account = if self.account == pincer_config::DEFAULT_ACCOUNT {
            String::new()
        } else {
            format!(" --account {}", self.account)
        };
        let text = format!(
            "Hi! I don't know you yet. Your pairing code is {code} (valid for one hour).\n\
             Ask my owner to approve it: pincer pairing approve {channel} {code}{account}",
            code = pending.code,
            channel = self.channel,
        );
        self.reply(message, &self.notice_id("pair", message), text)
            .await
    }

    async fn accept(&self, message: &Inbound) -> Result<(), IngestError> {
        if let Some(media) = message
            .media
            .iter()
            .find(|m| m.size.is_some_and(|size| size > self.media_max_bytes))
        {
            let text = format!(
                "That {} is too large for me (limit {} MB).",
                media.kind,
                self.media_max_bytes / (1024 * 1024)
            );
            return self
                .reply(message, &self.notice_id("media", message), text)
                .await;
        }
        let turn_id = format!("{}-{}-{}", self.tag, self.account, message.id);
        let route = routing::route(
            &self.bindings,
            self.channel,
            &self.account,
            message,
            self.shared_dm_session,
        );
        let request = TurnRequest {
            reply_subject: self.ns.run_events(&turn_id),
            turn_id: turn_id.clone(),
            agent_id: route.agent_id.clone(),
            session_key: route.session_key,
            persist: true,
            messages: vec![ChatMessage {
                attachments: self.attachments(message).await,
                images: Vec::new(),
                ..ChatMessage::text(Role::User, agent_input(self.platform.label(), message))
            }],
            live_deltas: self.streaming,
            source: self.channel.to_owned(),
            accepted_at_ms: pincer_clock::now_ms(),
            deliver: Some(self.delivery(message)),
            thinking: None,
            model: None,
            spawn_depth: 0,
            parent_turn_id: None,
            sampling: Default::default(),
            client_tools: Vec::new(),
            timeout_secs: None,
            record_only: false,
        };
        let watch = self
            .platform
            .prepare(&self.js.client(), message, &request)
            .await;
        self.publish(self.ns.turn(&route.agent_id), &turn_id, &request)
            .await?;
        tracing::info!(channel = self.channel, %turn_id, chat = %message.chat, "message handed to the agent");
        self.metrics.inbound(self.channel);
        self.platform.working(message, &request, watch);
        Ok(())
    }

    /// Downloads the message's attachments into the media store. A file that cannot be fetched is
    /// left out (the text still names it), so one broken download never holds up the chat.
    async fn attachments(&self, message: &Inbound) -> Vec<Attachment> {
        let mut out = Vec::new();
        for (index, media) in message.media.iter().enumerate() {
            let bytes = match self.platform.download(media, self.media_max_bytes).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::warn!(%error, kind = media.kind, "attachment not downloaded");
                    continue;
                }
            };
            let object = media_object_name(self.tag, &self.account, &message.id, index);
            let size = bytes.len() as u64;
            if let Err(error) = self.media.put(object.as_str(), &mut bytes.as_slice()).await {
                tracing::warn!(%error, "attachment not stored");
                continue;
            }
            out.push(Attachment {
                file_name: file_name(self.channel, message, media, index),
                object,
                kind: media.kind.to_owned(),
                size,
            });
        }
        out
    }

    /// Where the answer to `message` goes.
    fn delivery(&self, message: &Inbound) -> Delivery {
        Delivery {
            channel: self.channel.to_owned(),
            account: self.account.clone(),
            chat_id: message.chat.clone(),
            thread_id: message
                .thread
                .clone()
                .or_else(|| message.reply_thread.clone()),
            // In a DM a plain answer reads better; in a group, show what it answers.
            reply_to_message_id: (!message.direct).then(|| message.message_id.clone()),
        }
    }

    async fn reply(&self, message: &Inbound, id: &str, text: String) -> Result<(), IngestError> {
        let outbound = OutboundMessage {
            turn_id: id.to_owned(),
            to: self.delivery(message),
            text,
            failed: false,
        };
        self.publish(self.ns.channel_outbound(self.channel), id, &outbound)
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

/// The media store's name for one upload of a message's attachment: where it came from, plus a
/// part of its own. The same message can be taken in twice at once (a webhook and the catch-up
/// query, a platform's retry): both uploads would otherwise share one name, and the second would
/// replace the first's chunks while the agent-runner reads them for the turn that carries the
/// first (JetStream keeps the first of the two turns), leaving that read waiting forever. The
/// upload nobody's turn names ages out with the store.
fn media_object_name(tag: &str, account: &str, message_id: &str, index: usize) -> String {
    let mut object = format!(
        "{tag}-{}-{}",
        super::key_token(account),
        super::key_token(message_id)
    );
    if index > 0 {
        object.push_str(&format!("-{index}"));
    }
    object.push_str(&format!("-{}", uuid::Uuid::new_v4().simple()));
    object
}

/// The name the agent sees for an attachment: the platform's, else one made from where it came.
fn file_name(channel: &str, message: &Inbound, media: &MediaRef, index: usize) -> String {
    if let Some(name) = media.file_name.as_deref().filter(|n| !n.trim().is_empty()) {
        return name.to_owned();
    }
    let extension = match media.kind {
        "photo" => "jpg",
        "voice" => "ogg",
        "video" => "mp4",
        // Telegram's and WhatsApp's (still) stickers.
        "sticker" => "webp",
        _ => "bin",
    };
    let suffix = if index > 0 {
        format!("-{index}")
    } else {
        String::new()
    };
    format!(
        "{channel}-{}-{}{suffix}.{extension}",
        message.chat, message.message_id
    )
}

/// The agent's input: who wrote, where, and the message with what it quotes or forwards. A
/// session command (`/status`, `/new`, ...) goes as it is, so the runner recognises it.
pub fn agent_input(label: &str, message: &Inbound) -> String {
    if message.text.trim_start().starts_with('/') && message.media.is_empty() {
        return message.text.trim().to_owned();
    }
    let sender = &message.sender;
    let who = match &sender.username {
        Some(username) => format!("{} (@{username}, id {})", sender.name, sender.id),
        None => format!("{} (id {})", sender.name, sender.id),
    };
    let mut text = if message.direct {
        format!("[{label} DM from {who}]\n")
    } else if label == "Telegram" {
        format!("[{label} group {}, from {who}]\n", message.chat)
    } else {
        format!("[{label} channel {}, from {who}]\n", message.chat)
    };
    if let Some(origin) = &message.forwarded_from {
        text.push_str(&format!("(forwarded from {origin})\n"));
    }
    if let Some(quoted) = &message.quoted {
        let short: String = quoted.chars().take(300).collect();
        text.push_str(&format!("(replying to: \"{short}\")\n"));
    }
    for media in &message.media {
        let size = media
            .size
            .map_or_else(String::new, |s| format!(", {s} bytes"));
        // The agent-runner adds where the file was saved (or why it could not be).
        text.push_str(&format!("(sent a {}{size})\n", media.kind));
    }
    text.push_str(&message.text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::inbound::Sender;

    fn message(direct: bool) -> Inbound {
        Inbound {
            id: "9".into(),
            message_id: "77".into(),
            chat: "C1".into(),
            direct,
            sender: Sender {
                id: "U1".into(),
                username: Some("ana".into()),
                name: "Ana".into(),
                ..Sender::default()
            },
            text: "what's new?".into(),
            quoted: Some("the old plan".into()),
            ..Inbound::default()
        }
    }

    #[test]
    fn two_uploads_of_one_attachment_never_share_a_media_name() {
        let first = media_object_name("bb", "default", "GUID-1", 0);
        let again = media_object_name("bb", "default", "GUID-1", 0);
        assert_ne!(first, again);
        assert!(first.starts_with("bb-default-GUID-1-"), "{first}");
        assert!(
            media_object_name("bb", "default", "GUID-1", 2).starts_with("bb-default-GUID-1-2-")
        );
    }

    #[test]
    fn the_agent_is_told_who_wrote_where() {
        let dm = agent_input("Discord", &message(true));
        assert!(
            dm.starts_with("[Discord DM from Ana (@ana, id U1)]\n"),
            "{dm}"
        );
        assert!(dm.contains("(replying to: \"the old plan\")"));
        assert!(dm.ends_with("what's new?"));
        let channel = agent_input("Slack", &message(false));
        assert!(
            channel.starts_with("[Slack channel C1, from Ana"),
            "{channel}"
        );
        let mut command = message(true);
        command.text = " /status ".into();
        assert_eq!(agent_input("Slack", &command), "/status");
    }

    #[test]
    fn attachments_keep_their_names_or_get_one() {
        let media = MediaRef {
            kind: "photo",
            locator: "x".into(),
            file_name: None,
            size: None,
        };
        assert_eq!(
            file_name("discord", &message(false), &media, 0),
            "discord-C1-77.jpg"
        );
        assert_eq!(
            file_name("discord", &message(false), &media, 2),
            "discord-C1-77-2.jpg"
        );
        let named = MediaRef {
            file_name: Some("report.pdf".into()),
            ..media
        };
        assert_eq!(file_name("slack", &message(false), &named, 0), "report.pdf");
    }
}
