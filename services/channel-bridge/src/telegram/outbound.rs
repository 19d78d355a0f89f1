//! Sending replies: a durable consumer on the outbound stream. A reply is split into chunks, each
//! rendered to HTML (plain text if Telegram rejects the entities) and sent. Each chunk is claimed
//! in KV before it is sent (`sending <ms>`) and marked `sent` after, so a redelivered reply skips
//! what went out and two replicas never send the same chunk (a claim left by a sender that died
//! is taken over after two minutes). The message is acked only when every chunk is through. A
//! short 429 is waited out; a long one cools the chat (its replies come back after it, in
//! order); 5xx and network errors come back with backoff; 403 (blocked) is recorded.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, kv};
use futures::StreamExt as _;
use pincer_bus::Namespace;
use pincer_bus::messages::OutboundMessage;
use tokio_util::sync::CancellationToken;

use super::client::{ApiError, BotApi};
use super::key_token;
use super::typing::Typing;
use crate::{chunk, render};

/// One bot's sending side.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its API client.
    pub api: BotApi,
    /// Its typing indicators.
    pub typing: Typing,
}

/// Spacing between two messages to the same private chat (Telegram: about one a second per chat).
const PER_CHAT_SPACING: Duration = Duration::from_millis(1000);
/// Spacing in a group (Telegram: at most 20 messages a minute per group).
const PER_GROUP_SPACING: Duration = Duration::from_millis(3000);
/// Spacing between any two sends of this bridge (Telegram: about 30 messages a second overall).
const GLOBAL_SPACING: Duration = Duration::from_millis(35);
/// Key under which the last send of all chats is remembered in the spacing map.
const ALL_CHATS: i64 = i64::MIN;
/// Longest `retry_after` waited in place; longer ones hand the message back to the stream.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(5);

/// Consumes the telegram outbound stream until `shutdown`.
pub async fn run(
    js: jetstream::Context,
    ns: Namespace,
    state: kv::Store,
    accounts: HashMap<String, Account>,
    instance: &str,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let stream = js
        .get_stream(ns.channel_outbound_stream())
        .await
        .map_err(|e| e.to_string())?;
    let consumer = stream
        .get_or_create_consumer(
            "channel-bridge-telegram",
            consumer::pull::Config {
                durable_name: Some("channel-bridge-telegram".to_owned()),
                filter_subject: ns.channel_outbound("telegram"),
                ack_wait: Duration::from_secs(120),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut pacing = Pacing::default();
    // The replica's stable identity: restarted, it takes its own lease back at once.
    let holder = format!("{instance}/sender");
    // One sending replica at a time: the pacing below is then the whole bridge's, so Telegram's
    // global and per-chat limits hold with any number of replicas (the others stand by).
    while !shutdown.is_cancelled() {
        let mut lease =
            match pincer_bus::lease::acquire(&state, SENDER_LEASE, &holder, SENDER_LEASE_TTL).await
            {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(SENDER_LEASE_TTL / 3) => continue,
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot take the sender lease");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
        tracing::info!("sending telegram replies");
        let mut refreshed = tokio::time::Instant::now();
        'sending: while !shutdown.is_cancelled() {
            let batch = tokio::select! {
                () = shutdown.cancelled() => break,
                batch = consumer.fetch().max_messages(16).expires(Duration::from_secs(5)).messages() => batch,
            };
            let mut messages = match batch {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(%error, "cannot fetch outbound replies");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            while let Some(message) = messages.next().await {
                let Ok(message) = message else { continue };
                if refreshed.elapsed() > SENDER_LEASE_TTL / 3 {
                    if let Err(error) = lease.refresh(&state, &holder, SENDER_LEASE_TTL).await {
                        tracing::warn!(%error, "sender lease lost; another replica sends now");
                        let _ = message.ack_with(AckKind::Nak(None)).await;
                        break 'sending;
                    }
                    refreshed = tokio::time::Instant::now();
                }
                let attempt = message.info().map_or(1, |info| info.delivered.max(1));
                let outcome = match serde_json::from_slice::<OutboundMessage>(&message.payload) {
                    Ok(reply) => {
                        // Long waits inside must not let the stream hand this reply to another replica.
                        let _ = message.ack_with(AckKind::Progress).await;
                        deliver(&state, &accounts, &mut pacing, &reply, attempt, &shutdown).await
                    }
                    Err(error) => {
                        tracing::error!(%error, "unreadable outbound message dropped");
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
                if let Err(error) = lease.refresh(&state, &holder, SENDER_LEASE_TTL).await {
                    tracing::warn!(%error, "sender lease lost; another replica sends now");
                    break;
                }
                refreshed = tokio::time::Instant::now();
            }
        }
        lease.release(&state).await;
    }
    Ok(())
}

/// The KV key of the sending replica's lease.
const SENDER_LEASE: &str = "telegram.sender";
/// Its life; refreshed every third of it.
const SENDER_LEASE_TTL: Duration = Duration::from_secs(20);

enum Step {
    Done,
    Later(Duration),
}

/// What a chunk's marker says.
enum Claim {
    /// This sender owns the chunk now (marker revision).
    Mine(u64),
    /// Telegram already accepted it.
    Sent,
    /// Another replica is sending it right now.
    Busy,
}

/// A claim older than this belongs to a sender that died mid-send; it may be taken over (the
/// chunk may then go out twice: the one window Telegram's API leaves open).
const STALE_CLAIM_MS: u64 = 120_000;

/// Per-process sending state: when each chat (and all of them) last got a message, and chats
/// cooling down after a long 429.
#[derive(Default)]
pub struct Pacing {
    last_send: HashMap<i64, tokio::time::Instant>,
    cooling: HashMap<i64, tokio::time::Instant>,
}

async fn deliver(
    state: &kv::Store,
    accounts: &HashMap<String, Account>,
    pacing: &mut Pacing,
    reply: &OutboundMessage,
    attempt: i64,
    shutdown: &CancellationToken,
) -> Step {
    let Some(account) = accounts.get(&reply.to.account) else {
        // A config change in progress, or a bot that failed to start: keep the reply for later.
        tracing::error!(account = %reply.to.account, "reply for an unknown telegram account, keeping it");
        return Step::Later(Duration::from_secs(30));
    };
    let mut chat = reply.to.chat_id;
    if let Some(until) = pacing.cooling.get(&chat).copied() {
        let now = tokio::time::Instant::now();
        if until > now {
            // Keep the chat's order: nothing goes to it until its cooldown ends.
            return Step::Later(until - now);
        }
        pacing.cooling.remove(&chat);
    }
    account.typing.stop(chat);
    let chunks = chunk::split(&reply.text, chunk::TELEGRAM_CHUNK);
    for (index, text) in chunks.iter().enumerate() {
        let marker = format!(
            "telegram.{}.sent.{}.{index}",
            key_token(&reply.to.account),
            key_token(&reply.turn_id)
        );
        let revision = match claim(state, &marker).await {
            Ok(Claim::Mine(revision)) => revision,
            Ok(Claim::Sent) => continue,
            Ok(Claim::Busy) => return Step::Later(Duration::from_secs(5)),
            Err(error) => {
                tracing::warn!(%error, "cannot claim a reply chunk");
                return Step::Later(Duration::from_secs(2));
            }
        };
        let reply_to = if index == 0 {
            reply.to.reply_to_message_id
        } else {
            None
        };
        let outcome = loop {
            let spacing = if chat < 0 {
                PER_GROUP_SPACING
            } else {
                PER_CHAT_SPACING
            };
            if let Some(at) = pacing.last_send.get(&chat) {
                tokio::time::sleep_until(*at + spacing).await;
            }
            if let Some(at) = pacing.last_send.get(&ALL_CHATS) {
                tokio::time::sleep_until(*at + GLOBAL_SPACING).await;
            }
            let sent = if index == 0
                && let Some(preview) = preview_of(state, &reply.to.account, &reply.turn_id).await
            {
                // The streaming preview becomes the answer: one message, never a second copy.
                edit_chunk(&account.api, chat, preview, text).await
            } else {
                send_chunk(&account.api, chat, text, reply_to).await
            };
            let now = tokio::time::Instant::now();
            pacing.last_send.insert(chat, now);
            pacing.last_send.insert(ALL_CHATS, now);
            match sent {
                Ok(_) => break None,
                Err(ApiError::RetryAfter(wait)) if wait <= MAX_INLINE_WAIT => {
                    tracing::info!(?wait, chat, "telegram rate limit, waiting");
                    tokio::select! {
                        () = shutdown.cancelled() => break Some(Step::Later(wait)),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Err(ApiError::RetryAfter(wait)) => {
                    tracing::info!(?wait, chat, "telegram rate limit, chat cooling down");
                    pacing.cooling.insert(chat, now + wait);
                    break Some(Step::Later(wait));
                }
                Err(ApiError::Migrated(new_chat)) => {
                    // The old id is gone for good: send there instead, and tell the operator,
                    // whose `groups` allowlist still names the old id.
                    tracing::warn!(
                        old = chat,
                        new = new_chat,
                        "group upgraded to a supergroup; update channels.telegram.groups"
                    );
                    chat = new_chat;
                }
                Err(ApiError::Forbidden(reason)) => {
                    tracing::warn!(%reason, chat, "chat refuses the bot (blocked or removed); reply dropped");
                    let key = format!("telegram.{}.blocked.{chat}", key_token(&reply.to.account));
                    if let Err(error) = state.put(key, reason.into_bytes().into()).await {
                        tracing::warn!(%error, "cannot record the blocked chat");
                    }
                    break Some(Step::Done);
                }
                Err(error) if error.is_transient() => {
                    // 2, 4, 8 ... seconds, at most a minute, by how often this reply was tried.
                    let delay =
                        Duration::from_secs(1 << attempt.clamp(1, 6)).min(Duration::from_secs(60));
                    tracing::warn!(%error, chat, ?delay, "send failed, will retry");
                    break Some(Step::Later(delay));
                }
                Err(error) => {
                    tracing::error!(%error, chat, "telegram rejected the reply; dropped");
                    break Some(Step::Done);
                }
            }
        };
        match outcome {
            None => {
                if let Err(error) = state.update(&marker, "sent".into(), revision).await {
                    // Sent but not marked: after a crash this one chunk could go out again.
                    tracing::warn!(%error, "cannot mark a sent chunk");
                }
            }
            Some(step) => {
                // Not sent: give the claim back so the retry (here or elsewhere) can take it.
                let _ = state.delete_expect_revision(&marker, Some(revision)).await;
                return step;
            }
        }
    }
    Step::Done
}

/// Claims `marker` for sending: creates it as `sending <unix ms>`, or takes over a stale claim.
async fn claim(state: &kv::Store, marker: &str) -> Result<Claim, String> {
    let now = pincer_clock::now_ms();
    let value = format!("sending {now}");
    match state.create(marker, value.clone().into()).await {
        Ok(revision) => return Ok(Claim::Mine(revision)),
        Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(error) => return Err(error.to_string()),
    }
    let Some(entry) = state.entry(marker).await.map_err(|e| e.to_string())? else {
        return Ok(Claim::Busy);
    };
    if entry.operation != kv::Operation::Put {
        // Deleted (a failed send gave it back): claim it again.
        return match state.update(marker, value.into(), entry.revision).await {
            Ok(revision) => Ok(Claim::Mine(revision)),
            Err(_) => Ok(Claim::Busy),
        };
    }
    let text = String::from_utf8_lossy(&entry.value);
    let claimed_at = text
        .strip_prefix("sending ")
        .and_then(|ms| ms.trim().parse::<u64>().ok());
    match claimed_at {
        None => Ok(Claim::Sent),
        Some(at) if now.saturating_sub(at) > STALE_CLAIM_MS => {
            match state.update(marker, value.into(), entry.revision).await {
                Ok(revision) => Ok(Claim::Mine(revision)),
                Err(_) => Ok(Claim::Busy),
            }
        }
        Some(_) => Ok(Claim::Busy),
    }
}

/// The message id of the turn's streaming preview, if one was shown.
async fn preview_of(state: &kv::Store, account: &str, turn_id: &str) -> Option<i64> {
    let bytes = state
        .get(super::preview::key(account, turn_id))
        .await
        .ok()??;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

/// Edits the preview message into the chunk (HTML, plain text when Telegram refuses the entities).
async fn edit_chunk(api: &BotApi, chat: i64, message_id: i64, text: &str) -> Result<i64, ApiError> {
    let html = render::to_html(text);
    match api
        .edit_message(chat, message_id, &html, Some("HTML"))
        .await
    {
        Err(ApiError::BadRequest(reason)) if reason.contains("can't parse entities") => {
            api.edit_message(chat, message_id, text, None).await
        }
        other => other,
    }
    .map(|()| message_id)
}

/// Sends one chunk as HTML, or as plain text when Telegram cannot parse the entities.
async fn send_chunk(
    api: &BotApi,
    chat: i64,
    text: &str,
    reply_to: Option<i64>,
) -> Result<i64, ApiError> {
    let html = render::to_html(text);
    match api.send_message(chat, &html, Some("HTML"), reply_to).await {
        Err(ApiError::BadRequest(reason)) if reason.contains("can't parse entities") => {
            tracing::info!(%reason, "entities rejected, sending as plain text");
            api.send_message(chat, text, None, reply_to).await
        }
        other => other,
    }
}
