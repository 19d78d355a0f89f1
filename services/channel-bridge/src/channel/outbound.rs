//! Sending replies, the same way on every channel: a durable consumer on the channel's outbound
//! subject. A reply is split into chunks under the account's limit and each is sent through the
//! channel's [`Transport`]. Each chunk is claimed in KV before it is sent (`sending <ms>`) and
//! marked `sent <id>` after, so a redelivered reply skips what went out and two replicas never send
//! the same chunk; a claim left by a sender that died is taken over after a while, and the
//! transport is first asked whether the platform already has that chunk (Discord's nonce, a Slack
//! message carrying the chunk's key), so a crash between send and mark posts nothing twice. The
//! message is acked only when every chunk is through. A short `retry_after` is waited out; a long
//! one cools the chat (its replies come back after it, in order); server and network errors come
//! back with backoff; a chat that refuses the bot is recorded and its reply dropped.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, kv};
use futures::StreamExt as _;
use pincer_bus::Namespace;
use pincer_bus::messages::{Delivery, OutboundMessage};
use tokio_util::sync::CancellationToken;

use super::key_token;
use crate::chunk;

/// Why a chunk was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The platform asks to wait (HTTP 429 / `retry_after`).
    #[error("rate limited for {0:?}")]
    RetryAfter(Duration),
    /// The chat moved for good (a Telegram group upgraded to a supergroup): send there instead.
    #[error("the chat moved to {0}")]
    Moved(String),
    /// The chat refuses the bot (blocked, removed, no access): recorded, the reply dropped.
    #[error("the chat refuses the bot: {0}")]
    Refused(String),
    /// A server or network failure: the reply comes back later.
    #[error("{0}")]
    Transient(String),
    /// The platform rejected the message itself: retrying would not help.
    #[error("{0}")]
    Rejected(String),
}

/// One account's way to send on its platform.
pub trait Transport: Send + Sync + 'static {
    /// Longest chunk, in UTF-16 code units.
    fn chunk_limit(&self) -> usize;

    /// Least time between two messages to `to`'s chat.
    fn spacing(&self, to: &Delivery) -> Duration;

    /// Least time between any two sends of this channel.
    fn global_spacing(&self) -> Duration;

    /// Sends chunk `index` of a reply. `key` names the chunk for good (the same after a crash):
    /// a platform with idempotent sends uses it. `reply_to` is set on the first chunk only.
    /// Returns the platform's id of the message.
    fn send(
        &self,
        to: &Delivery,
        text: &str,
        key: &str,
        reply_to: Option<&str>,
    ) -> impl Future<Output = Result<String, SendError>> + Send;

    /// Turns an earlier message of the bot (a streaming preview, a placeholder) into `text`.
    fn edit(
        &self,
        to: &Delivery,
        message_id: &str,
        text: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Whether the platform already has the chunk named `key`, sent since `since_ms` by a sender
    /// that died before marking it (its id if so). Platforms whose sends are idempotent by key
    /// need not look.
    fn find_sent(
        &self,
        _to: &Delivery,
        _key: &str,
        _since_ms: u64,
    ) -> impl Future<Output = Option<String>> + Send {
        async { None }
    }

    /// The reply to `to` is about to go out: stop showing that the bot is working there.
    fn stop_working(&self, _to: &Delivery) {}
}

/// One sending side per channel: where its replies are read from and how its accounts send.
pub struct Sender<T> {
    /// `telegram`, `discord`, `slack`.
    pub channel: &'static str,
    /// The transports by account name.
    pub accounts: HashMap<String, T>,
    /// Channel state: chunk markers, previews, blocked chats, the sender lease.
    pub state: kv::Store,
    /// A claim older than this belongs to a sender that died mid-send and is taken over.
    pub stale_claim: Duration,
    /// The bridge's metrics.
    pub metrics: crate::metrics::Metrics,
}

/// Spacing map key for "any chat".
const ALL_CHATS: &str = "\u{0}all";
/// Longest `retry_after` waited in place; longer ones hand the message back to the stream.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(5);
/// The sender lease's life; refreshed every third of it.
const SENDER_LEASE_TTL: Duration = Duration::from_secs(20);

/// Per-process sending state: when each chat (and all of them) last got a message, and chats
/// cooling down after a long `retry_after`.
#[derive(Default)]
struct Pacing {
    last_send: HashMap<String, tokio::time::Instant>,
    cooling: HashMap<String, tokio::time::Instant>,
}

enum Step {
    Done,
    Later(Duration),
}

/// What a chunk's marker says.
enum Claim {
    /// This sender owns the chunk now (marker revision), taken over from a dead sender if stale.
    Mine { revision: u64, taken_over: bool },
    /// The platform already accepted it.
    Sent,
    /// Another replica is sending it right now.
    Busy,
}

/// The KV key of the preview (or placeholder) message of a turn, which its first chunk replaces.
pub fn preview_key(channel: &str, account: &str, turn_id: &str) -> String {
    format!(
        "{channel}.{}.preview.{}",
        key_token(account),
        key_token(turn_id)
    )
}

/// The KV key a preview's follower sets once it will edit the preview no more: the answer may
/// replace the preview then without a late progress edit landing over it.
pub fn preview_done_key(preview_key: &str) -> String {
    format!("{preview_key}.done")
}

/// Longest wait for a preview's follower to finish (one that died never says so).
const PREVIEW_SETTLE: Duration = Duration::from_secs(5);

impl<T: Transport> Sender<T> {
    /// Consumes the channel's outbound replies until `shutdown`. One replica sends at a time (a
    /// KV lease), so the pacing here is the whole bridge's and the platform's limits hold with any
    /// number of replicas; the others stand by.
    pub async fn run(
        self,
        js: jetstream::Context,
        ns: Namespace,
        instance: &str,
        shutdown: CancellationToken,
    ) -> Result<(), String> {
        let stream = js
            .get_stream(ns.channel_outbound_stream())
            .await
            .map_err(|e| e.to_string())?;
        let name = format!("channel-bridge-{}", self.channel);
        let consumer = stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: ns.channel_outbound(self.channel),
                    ack_wait: Duration::from_secs(120),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut pacing = Pacing::default();
        // The replica's stable identity: restarted, it takes its own lease back at once.
        let holder = format!("{instance}/sender");
        let lease_key = format!("{}.sender", self.channel);
        while !shutdown.is_cancelled() {
            let what = format!("{} sender", self.channel);
            let acquired = super::lease::acquire(
                &self.state,
                &lease_key,
                &holder,
                SENDER_LEASE_TTL,
                &what,
                &shutdown,
            )
            .await;
            let Some(mut lease) = acquired else { break };
            tracing::info!(channel = self.channel, "sending replies");
            let mut refreshed = tokio::time::Instant::now();
            'sending: while !shutdown.is_cancelled() {
                let batch = tokio::select! {
                    () = shutdown.cancelled() => break,
                    batch = consumer.fetch().max_messages(16).expires(Duration::from_secs(5)).messages() => batch,
                };
                let mut messages = match batch {
                    Ok(messages) => messages,
                    Err(error) => {
                        tracing::warn!(%error, channel = self.channel, "cannot fetch outbound replies");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                while let Some(message) = messages.next().await {
                    let Ok(message) = message else { continue };
                    if refreshed.elapsed() > SENDER_LEASE_TTL / 3 {
                        if let Err(error) =
                            lease.refresh(&self.state, &holder, SENDER_LEASE_TTL).await
                        {
                            tracing::warn!(%error, channel = self.channel, "sender lease lost; another replica sends now");
                            let _ = message.ack_with(AckKind::Nak(None)).await;
                            break 'sending;
                        }
                        refreshed = tokio::time::Instant::now();
                    }
                    let attempt = message.info().map_or(1, |info| info.delivered.max(1));
                    let outcome = match serde_json::from_slice::<OutboundMessage>(&message.payload)
                    {
                        Ok(reply) => {
                            // Long waits inside must not let the stream hand it to another replica.
                            let _ = message.ack_with(AckKind::Progress).await;
                            self.deliver(&mut pacing, &reply, attempt, &shutdown).await
                        }
                        Err(error) => {
                            tracing::error!(%error, channel = self.channel, "unreadable outbound message dropped");
                            self.metrics.delivery(self.channel, "unreadable");
                            Step::Done
                        }
                    };
                    let ack = match outcome {
                        Step::Done => message.ack().await,
                        Step::Later(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
                    };
                    if let Err(error) = ack {
                        tracing::warn!(%error, "outbound ack failed; the reply may come again (its chunks are marked)");
                    }
                }
                if refreshed.elapsed() > SENDER_LEASE_TTL / 3 {
                    if let Err(error) = lease.refresh(&self.state, &holder, SENDER_LEASE_TTL).await
                    {
                        tracing::warn!(%error, channel = self.channel, "sender lease lost; another replica sends now");
                        break;
                    }
                    refreshed = tokio::time::Instant::now();
                }
            }
            lease.release(&self.state).await;
        }
        Ok(())
    }

    async fn deliver(
        &self,
        pacing: &mut Pacing,
        reply: &OutboundMessage,
        attempt: i64,
        shutdown: &CancellationToken,
    ) -> Step {
        let Some(transport) = self.accounts.get(&reply.to.account) else {
            // A config change in progress, or an account that failed to start: keep it for later.
            tracing::error!(channel = self.channel, account = %reply.to.account, "reply for an unknown account, keeping it");
            return Step::Later(Duration::from_secs(30));
        };
        let mut to = reply.to.clone();
        if let Some(until) = pacing.cooling.get(&to.chat_id).copied() {
            let now = tokio::time::Instant::now();
            if until > now {
                // Keep the chat's order: nothing goes to it until its cooldown ends.
                return Step::Later(until - now);
            }
            pacing.cooling.remove(&to.chat_id);
        }
        transport.stop_working(&to);
        let chunks = chunk::split(&reply.text, transport.chunk_limit());
        for (index, text) in chunks.iter().enumerate() {
            let marker = format!(
                "{}.{}.sent.{}.{index}",
                self.channel,
                key_token(&to.account),
                key_token(&reply.turn_id)
            );
            let (revision, taken_over) = match self.claim(&marker).await {
                Ok(Claim::Mine {
                    revision,
                    taken_over,
                }) => (revision, taken_over),
                Ok(Claim::Sent) => continue,
                Ok(Claim::Busy) => {
                    self.metrics.retry(self.channel, "busy");
                    return Step::Later(Duration::from_secs(5));
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot claim a reply chunk");
                    return Step::Later(Duration::from_secs(2));
                }
            };
            if taken_over {
                let since = pincer_clock::now_ms().saturating_sub(
                    u64::try_from(self.stale_claim.as_millis() * 4).unwrap_or(u64::MAX),
                );
                if let Some(id) = transport.find_sent(&to, &marker, since).await {
                    tracing::info!(
                        channel = self.channel,
                        "a chunk sent before a crash was found; not sending it again"
                    );
                    self.mark(&marker, &id, revision).await;
                    continue;
                }
            }
            let reply_to = if index == 0 {
                to.reply_to_message_id.clone()
            } else {
                None
            };
            let preview = if index == 0 {
                self.preview_of(&to.account, &reply.turn_id).await
            } else {
                None
            };
            if preview.is_some() {
                self.preview_settled(&to.account, &reply.turn_id).await;
            }
            let outcome = loop {
                if let Some(at) = pacing.last_send.get(&to.chat_id) {
                    tokio::time::sleep_until(*at + transport.spacing(&to)).await;
                }
                if let Some(at) = pacing.last_send.get(ALL_CHATS) {
                    tokio::time::sleep_until(*at + transport.global_spacing()).await;
                }
                let sent = match &preview {
                    // The preview becomes the answer: one message, never a second copy.
                    Some(message_id) => match transport.edit(&to, message_id, text).await {
                        Ok(()) => Ok(message_id.clone()),
                        // The preview is gone (deleted by someone) or can no longer be edited:
                        // the answer goes out as a message of its own rather than not at all.
                        Err(SendError::Rejected(reason)) => {
                            tracing::warn!(%reason, chat = %to.chat_id, channel = self.channel, "the preview cannot become the answer; sending the answer as a new message");
                            transport
                                .send(&to, text, &marker, reply_to.as_deref())
                                .await
                        }
                        Err(error) => Err(error),
                    },
                    None => {
                        transport
                            .send(&to, text, &marker, reply_to.as_deref())
                            .await
                    }
                };
                let now = tokio::time::Instant::now();
                pacing.last_send.insert(to.chat_id.clone(), now);
                pacing.last_send.insert(ALL_CHATS.to_owned(), now);
                match sent {
                    Ok(id) => break Ok(id),
                    Err(SendError::RetryAfter(wait)) if wait <= MAX_INLINE_WAIT => {
                        tracing::info!(?wait, chat = %to.chat_id, channel = self.channel, "rate limited, waiting");
                        self.metrics.retry(self.channel, "rate_limited");
                        tokio::select! {
                            () = shutdown.cancelled() => break Err(Step::Later(wait)),
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                    Err(SendError::RetryAfter(wait)) => {
                        tracing::info!(?wait, chat = %to.chat_id, channel = self.channel, "rate limited, chat cooling down");
                        self.metrics.retry(self.channel, "rate_limited");
                        pacing.cooling.insert(to.chat_id.clone(), now + wait);
                        break Err(Step::Later(wait));
                    }
                    Err(SendError::Moved(new_chat)) => {
                        tracing::warn!(old = %to.chat_id, new = %new_chat, channel = self.channel, "the chat moved; sending there (update the config's ids)");
                        to.chat_id = new_chat;
                    }
                    Err(SendError::Refused(reason)) => {
                        tracing::warn!(%reason, chat = %to.chat_id, channel = self.channel, "chat refuses the bot; reply dropped");
                        self.metrics.delivery(self.channel, "refused");
                        let key = format!(
                            "{}.{}.blocked.{}",
                            self.channel,
                            key_token(&to.account),
                            key_token(&to.chat_id)
                        );
                        if let Err(error) = self.state.put(key, reason.into_bytes().into()).await {
                            tracing::warn!(%error, "cannot record the blocked chat");
                        }
                        break Err(Step::Done);
                    }
                    Err(SendError::Transient(error)) => {
                        // 2, 4, 8 ... seconds, at most a minute, by how often this reply was tried.
                        let delay = Duration::from_secs(1 << attempt.clamp(1, 6))
                            .min(Duration::from_secs(60));
                        tracing::warn!(%error, chat = %to.chat_id, ?delay, channel = self.channel, "send failed, will retry");
                        self.metrics.retry(self.channel, "transient");
                        break Err(Step::Later(delay));
                    }
                    Err(SendError::Rejected(error)) => {
                        tracing::error!(%error, chat = %to.chat_id, channel = self.channel, "the platform rejected the reply; dropped");
                        self.metrics.delivery(self.channel, "rejected");
                        break Err(Step::Done);
                    }
                }
            };
            match outcome {
                Ok(id) => self.mark(&marker, &id, revision).await,
                Err(step) => {
                    // Not sent: give the claim back so the retry (here or elsewhere) can take it.
                    let _ = self
                        .state
                        .delete_expect_revision(&marker, Some(revision))
                        .await;
                    return step;
                }
            }
        }
        self.metrics.delivery(self.channel, "sent");
        Step::Done
    }

    async fn mark(&self, marker: &str, id: &str, revision: u64) {
        let value = format!("sent {id}");
        if let Err(error) = self.state.update(marker, value.into(), revision).await {
            // Sent but not marked: after a crash this one chunk is looked up before a resend.
            tracing::warn!(%error, "cannot mark a sent chunk");
        }
    }

    /// Claims `marker` for sending: creates it as `sending <unix ms>`, or takes over a stale claim.
    async fn claim(&self, marker: &str) -> Result<Claim, String> {
        let now = pincer_clock::now_ms();
        let value = format!("sending {now}");
        match self.state.create(marker, value.clone().into()).await {
            Ok(revision) => {
                return Ok(Claim::Mine {
                    revision,
                    taken_over: false,
                });
            }
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(error) => return Err(error.to_string()),
        }
        let Some(entry) = self.state.entry(marker).await.map_err(|e| e.to_string())? else {
            return Ok(Claim::Busy);
        };
        if entry.operation != kv::Operation::Put {
            // Deleted (a failed send gave it back): claim it again.
            return match self
                .state
                .update(marker, value.into(), entry.revision)
                .await
            {
                Ok(revision) => Ok(Claim::Mine {
                    revision,
                    taken_over: false,
                }),
                Err(_) => Ok(Claim::Busy),
            };
        }
        let text = String::from_utf8_lossy(&entry.value);
        let claimed_at = text
            .strip_prefix("sending ")
            .and_then(|ms| ms.trim().parse::<u64>().ok());
        let stale_ms = u64::try_from(self.stale_claim.as_millis()).unwrap_or(u64::MAX);
        match claimed_at {
            None => Ok(Claim::Sent),
            Some(at) if now.saturating_sub(at) > stale_ms => {
                match self
                    .state
                    .update(marker, value.into(), entry.revision)
                    .await
                {
                    Ok(revision) => Ok(Claim::Mine {
                        revision,
                        taken_over: true,
                    }),
                    Err(_) => Ok(Claim::Busy),
                }
            }
            Some(_) => Ok(Claim::Busy),
        }
    }

    /// Waits (at most [`PREVIEW_SETTLE`]) until the follower of the turn's preview stopped editing
    /// it; its edits are sequential, so once it says so none is in flight.
    async fn preview_settled(&self, account: &str, turn_id: &str) {
        let key = preview_done_key(&preview_key(self.channel, account, turn_id));
        let deadline = tokio::time::Instant::now() + PREVIEW_SETTLE;
        while tokio::time::Instant::now() < deadline {
            if self.state.get(&key).await.ok().flatten().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tracing::debug!(
            turn_id,
            "preview follower never finished; replacing the preview anyway"
        );
    }

    /// The message id of the turn's preview (or placeholder), if one was shown.
    async fn preview_of(&self, account: &str, turn_id: &str) -> Option<String> {
        let bytes = self
            .state
            .get(preview_key(self.channel, account, turn_id))
            .await
            .ok()??;
        let id = std::str::from_utf8(&bytes).ok()?.trim().to_owned();
        (!id.is_empty()).then_some(id)
    }
}
