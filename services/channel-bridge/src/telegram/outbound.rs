//! Telegram's way to send ([`Transport`]): Markdown rendered to HTML (plain text when Telegram
//! cannot parse the entities), chunks under Telegram's 4,096 UTF-16 units, Telegram's pacing
//! (about one message a second per private chat, 20 a minute per group, 30 a second overall), and
//! its errors mapped to what the channel core does about them. The sending loop itself, with its
//! exactly-once claims, is [`crate::channel::outbound`].

use std::time::Duration;

use pincer_bus::messages::Delivery;

use super::client::{ApiError, BotApi};
use crate::channel::outbound::{SendError, Transport};
use crate::channel::typing::{Indicate, Typing};
use crate::{chunk, render};

/// One bot's sending side.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its API client.
    pub api: BotApi,
    /// Its typing indicators.
    pub typing: Typing<BotApi>,
    /// `textChunkLimit`, at most Telegram's own.
    pub chunk_limit: usize,
}

/// Spacing between two messages to the same private chat.
const PER_CHAT_SPACING: Duration = Duration::from_millis(1000);
/// Spacing in a group.
const PER_GROUP_SPACING: Duration = Duration::from_millis(3000);
/// Spacing between any two sends of this bridge.
const GLOBAL_SPACING: Duration = Duration::from_millis(35);

/// The longest chunk for `textChunkLimit`.
pub fn chunk_limit(configured: Option<u32>) -> usize {
    configured
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(chunk::TELEGRAM_CHUNK, |limit| {
            limit.min(chunk::TELEGRAM_CHUNK)
        })
}

fn chat_of(to: &Delivery) -> Result<i64, SendError> {
    to.chat_id
        .parse()
        .map_err(|_| SendError::Rejected(format!("{:?} is not a Telegram chat id", to.chat_id)))
}

/// The forum topic an answer goes to: the thread of the message it answers.
fn topic_of(to: &Delivery) -> Option<i64> {
    to.thread_id.as_deref().and_then(|topic| topic.parse().ok())
}

/// What a chat's typing indicator is known by: the chat, and the forum topic it shows in.
pub fn typing_key(chat: &str, topic: Option<&str>) -> String {
    match topic {
        Some(topic) => format!("{chat}/{topic}"),
        None => chat.to_owned(),
    }
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::RetryAfter(wait) => SendError::RetryAfter(wait),
            ApiError::Migrated(chat) => SendError::Moved(chat.to_string()),
            ApiError::Forbidden(reason) => SendError::Refused(reason),
            error if error.is_transient() => SendError::Transient(error.to_string()),
            error => SendError::Rejected(error.to_string()),
        }
    }
}

impl Transport for Account {
    fn chunk_limit(&self) -> usize {
        self.chunk_limit
    }

    fn spacing(&self, to: &Delivery) -> Duration {
        if to.chat_id.starts_with('-') {
            PER_GROUP_SPACING
        } else {
            PER_CHAT_SPACING
        }
    }

    fn global_spacing(&self) -> Duration {
        GLOBAL_SPACING
    }

    async fn send(
        &self,
        to: &Delivery,
        text: &str,
        _key: &str,
        reply_to: Option<&str>,
    ) -> Result<String, SendError> {
        let (chat, topic) = (chat_of(to)?, topic_of(to));
        let reply_to = reply_to.and_then(|id| id.parse().ok());
        let html = render::to_html(text);
        let sent = match self
            .api
            .send_message(chat, topic, &html, Some("HTML"), reply_to)
            .await
        {
            Err(ApiError::BadRequest(reason)) if reason.contains("can't parse entities") => {
                tracing::info!(%reason, "entities rejected, sending as plain text");
                self.api
                    .send_message(chat, topic, &render::to_plain(text), None, reply_to)
                    .await
            }
            other => other,
        };
        Ok(sent?.to_string())
    }

    async fn edit(&self, to: &Delivery, message_id: &str, text: &str) -> Result<(), SendError> {
        let chat = chat_of(to)?;
        let message_id: i64 = message_id
            .parse()
            .map_err(|_| SendError::Rejected(format!("{message_id:?} is not a message id")))?;
        let html = render::to_html(text);
        match self
            .api
            .edit_message(chat, message_id, &html, Some("HTML"))
            .await
        {
            Err(ApiError::BadRequest(reason)) if reason.contains("can't parse entities") => {
                self.api
                    .edit_message(chat, message_id, &render::to_plain(text), None)
                    .await
            }
            other => other,
        }
        .map_err(SendError::from)
    }

    fn stop_working(&self, to: &Delivery) {
        self.typing
            .stop(&typing_key(&to.chat_id, to.thread_id.as_deref()));
    }
}

impl Indicate for BotApi {
    fn every(&self) -> Duration {
        // Telegram shows "typing" for about five seconds.
        Duration::from_secs(4)
    }

    async fn typing(&self, key: &str) -> Result<(), String> {
        let (chat, topic) = key
            .split_once('/')
            .map_or((key, None), |(c, t)| (c, Some(t)));
        let chat: i64 = chat
            .parse()
            .map_err(|_| format!("{chat:?} is not a Telegram chat id"))?;
        let topic = topic
            .map(|topic| topic.parse::<i64>())
            .transpose()
            .map_err(|_| format!("{key:?} names no forum topic"))?;
        BotApi::typing(self, chat, topic)
            .await
            .map_err(|error| error.to_string())
    }
}
