//! Discord's way to send ([`Transport`]): chunks under 2,000 characters (code fences closed and
//! reopened by the chunker), each with a nonce made from the chunk's key and `enforce_nonce`, so
//! a send repeated after a crash returns the message Discord already has instead of posting a
//! second one; mentions in the model's text ping nobody; Discord's rate limits answered with
//! `retry_after`.

use std::time::Duration;

use pincer_bus::messages::Delivery;

use super::rest::{Rest, RestError};
use crate::channel::outbound::{SendError, Transport};
use crate::channel::typing::{Indicate, Typing};

/// Discord's limit on a message's content.
pub const DISCORD_LIMIT: usize = 2000;

/// One bot's sending side.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its REST client.
    pub rest: Rest,
    /// Its typing indicators.
    pub typing: Typing<Rest>,
    /// `textChunkLimit`, at most Discord's own.
    pub chunk_limit: usize,
}

/// The longest chunk for `textChunkLimit`.
pub fn chunk_limit(configured: Option<u32>) -> usize {
    configured
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(DISCORD_LIMIT, |limit| limit.min(DISCORD_LIMIT))
}

/// A nonce (at most 25 characters, as Discord allows) that names the chunk `key` for good.
pub fn nonce(key: &str) -> String {
    // FNV-1a over the key, twice with different offsets: 128 bits, stable across versions.
    let hash = |seed: u64| {
        key.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let wide =
        (u128::from(hash(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(hash(0x8422_2325_cbf2_9ce4));
    // Base 36 fits 128 bits in 25 characters.
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut value = wide;
    let mut out = Vec::with_capacity(25);
    while value > 0 {
        out.push(digits[(value % 36) as usize]);
        value /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl From<RestError> for SendError {
    fn from(error: RestError) -> Self {
        match error {
            RestError::RetryAfter(wait) => SendError::RetryAfter(wait),
            RestError::NoAccess(reason) => SendError::Refused(reason),
            RestError::BadRequest(reason) => SendError::Rejected(reason),
            // A revoked token: the reply waits until the token is fixed.
            error @ RestError::Unauthorized => SendError::Transient(error.to_string()),
            error => SendError::Transient(error.to_string()),
        }
    }
}

impl Transport for Account {
    fn chunk_limit(&self) -> usize {
        self.chunk_limit
    }

    fn spacing(&self, _to: &Delivery) -> Duration {
        // Discord allows bursts of five per channel; a steady pace under that, 429s waited out.
        Duration::from_millis(250)
    }

    fn global_spacing(&self) -> Duration {
        // 50 requests a second per bot.
        Duration::from_millis(20)
    }

    async fn send(
        &self,
        to: &Delivery,
        text: &str,
        key: &str,
        reply_to: Option<&str>,
    ) -> Result<String, SendError> {
        Ok(self
            .rest
            .create_message(&to.chat_id, text, &nonce(key), reply_to)
            .await?)
    }

    async fn edit(&self, to: &Delivery, message_id: &str, text: &str) -> Result<(), SendError> {
        Ok(self
            .rest
            .edit_message(&to.chat_id, message_id, text)
            .await?)
    }

    fn stop_working(&self, to: &Delivery) {
        self.typing.stop(&to.chat_id);
    }
}

impl Indicate for Rest {
    fn every(&self) -> Duration {
        // Discord shows "typing" for about ten seconds.
        Duration::from_secs(8)
    }

    async fn typing(&self, chat: &str) -> Result<(), String> {
        Rest::typing(self, chat)
            .await
            .map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_short_stable_and_distinct() {
        let a = nonce("discord.default.sent.dc-default-1.0");
        assert!(a.len() <= 25, "{a}");
        assert_eq!(a, nonce("discord.default.sent.dc-default-1.0"));
        assert_ne!(a, nonce("discord.default.sent.dc-default-1.1"));
        assert_eq!(chunk_limit(Some(5000)), 2000);
        assert_eq!(chunk_limit(Some(1500)), 1500);
    }
}
