//! Sending replies: a durable consumer on the outbound stream. A reply is split into chunks, each
//! rendered to HTML (plain text if Telegram rejects the entities) and sent; a marker per chunk in
//! KV makes a redelivered reply skip what was already sent. The message is acked only when every
//! chunk is through. 429 waits the `retry_after` it names; 5xx and network errors come back later;
//! 403 (blocked) is recorded and not retried.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, kv};
use futures::StreamExt as _;
use pincer_bus::Namespace;
use pincer_bus::messages::OutboundMessage;
use tokio_util::sync::CancellationToken;

use super::client::{ApiError, BotApi};
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

/// Spacing between two messages to the same chat (Telegram: about one a second per chat).
const PER_CHAT_SPACING: Duration = Duration::from_millis(1000);
/// Spacing between any two sends of this bridge (Telegram: about 30 messages a second overall).
const GLOBAL_SPACING: Duration = Duration::from_millis(35);
/// Key under which the last send of all chats is remembered in the spacing map.
const ALL_CHATS: i64 = i64::MIN;
/// Longest `retry_after` waited in place; longer ones hand the message back to the stream.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(60);

/// Consumes the telegram outbound stream until `shutdown`.
pub async fn run(
    js: jetstream::Context,
    ns: Namespace,
    state: kv::Store,
    accounts: HashMap<String, Account>,
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
    let mut last_send: HashMap<i64, tokio::time::Instant> = HashMap::new();
    while !shutdown.is_cancelled() {
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
            let attempt = message.info().map_or(1, |info| info.delivered.max(1));
            let outcome = match serde_json::from_slice::<OutboundMessage>(&message.payload) {
                Ok(reply) => {
                    deliver(
                        &state,
                        &accounts,
                        &mut last_send,
                        &reply,
                        attempt,
                        &shutdown,
                    )
                    .await
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
    }
    Ok(())
}

enum Step {
    Done,
    Later(Duration),
}

async fn deliver(
    state: &kv::Store,
    accounts: &HashMap<String, Account>,
    last_send: &mut HashMap<i64, tokio::time::Instant>,
    reply: &OutboundMessage,
    attempt: i64,
    shutdown: &CancellationToken,
) -> Step {
    let Some(account) = accounts.get(&reply.to.account) else {
        tracing::error!(account = %reply.to.account, "reply for an unknown telegram account dropped");
        return Step::Done;
    };
    let chat = reply.to.chat_id;
    account.typing.stop(chat);
    let chunks = chunk::split(&reply.text, chunk::TELEGRAM_CHUNK);
    for (index, text) in chunks.iter().enumerate() {
        let marker = format!(
            "telegram.{}.sent.{}.{index}",
            key_token(&reply.to.account),
            key_token(&reply.turn_id)
        );
        match state.get(&marker).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot read sent markers");
                return Step::Later(Duration::from_secs(2));
            }
        }
        let reply_to = if index == 0 {
            reply.to.reply_to_message_id
        } else {
            None
        };
        loop {
            if let Some(at) = last_send.get(&chat) {
                tokio::time::sleep_until(*at + PER_CHAT_SPACING).await;
            }
            if let Some(at) = last_send.get(&ALL_CHATS) {
                tokio::time::sleep_until(*at + GLOBAL_SPACING).await;
            }
            let sent = send_chunk(&account.api, chat, text, reply_to).await;
            let now = tokio::time::Instant::now();
            last_send.insert(chat, now);
            last_send.insert(ALL_CHATS, now);
            match sent {
                Ok(_) => break,
                Err(ApiError::RetryAfter(wait)) if wait <= MAX_INLINE_WAIT => {
                    tracing::info!(?wait, chat, "telegram rate limit, waiting");
                    tokio::select! {
                        () = shutdown.cancelled() => return Step::Later(wait),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Err(ApiError::RetryAfter(wait)) => return Step::Later(wait),
                Err(ApiError::Forbidden(reason)) => {
                    tracing::warn!(%reason, chat, "chat refuses the bot (blocked or removed); reply dropped");
                    let key = format!("telegram.{}.blocked.{chat}", key_token(&reply.to.account));
                    if let Err(error) = state.put(key, reason.into_bytes().into()).await {
                        tracing::warn!(%error, "cannot record the blocked chat");
                    }
                    return Step::Done;
                }
                Err(error) if error.is_transient() => {
                    // 2, 4, 8 ... seconds, at most a minute, by how often this reply was tried.
                    let delay =
                        Duration::from_secs(1 << attempt.clamp(1, 6)).min(Duration::from_secs(60));
                    tracing::warn!(%error, chat, ?delay, "send failed, will retry");
                    return Step::Later(delay);
                }
                Err(error) => {
                    tracing::error!(%error, chat, "telegram rejected the reply; dropped");
                    return Step::Done;
                }
            }
        }
        if let Err(error) = state.put(&marker, "1".into()).await {
            // Sent but not marked: a redelivery could repeat this one chunk; keep going.
            tracing::warn!(%error, "cannot mark a sent chunk");
        }
    }
    Step::Done
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

fn key_token(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
