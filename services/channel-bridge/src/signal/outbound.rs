//! Signal's way to send ([`Transport`]): plain-text chunks of at most 4,000 characters by default
//! (`textChunkLimit`), through `send` to the author of a DM or to a group's id; the first chunk of
//! an answer in a group quotes the message it answers. `send` has no idempotency key and no way
//! to look up what was sent, so the channel core's claim on a chunk is taken over only long after
//! its sender went quiet (see `stale_claim` in [`super::run`]). signal-cli's failures map onto the
//! core's: a rate limit waits its `retryAfterSeconds`, a network failure comes back later, an
//! unregistered recipient or a group the number left refuses the bot.

use std::time::Duration;

use pincer_bus::messages::Delivery;

use super::rpc::{self, Rpc, RpcError, Target};
use super::typing::Indicator;
use crate::channel::outbound::{SendError, Transport};

/// The longest chunk by default (OpenClaw's).
pub const SIGNAL_CHUNK: usize = 4000;

/// One number's sending side.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its JSON-RPC client.
    pub rpc: Rpc,
    /// Its typing indicators.
    pub typing: Indicator,
    /// `textChunkLimit`, or [`SIGNAL_CHUNK`].
    pub chunk_limit: usize,
}

/// The longest chunk for `textChunkLimit`.
pub fn chunk_limit(configured: Option<u32>) -> usize {
    configured
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(SIGNAL_CHUNK, |limit| limit.clamp(100, 64_000))
}

/// The author and timestamp of a message id as [`super::envelope`] makes them
/// (`<author>:<timestamp>`): what a quote names.
pub fn quoted(message_id: &str) -> Option<(&str, u64)> {
    let (author, timestamp) = message_id.rsplit_once(':')?;
    let timestamp = timestamp.parse().ok()?;
    (!author.is_empty()).then_some((author, timestamp))
}

/// What a failed `send` to `target` means for the reply.
pub fn send_error(error: &RpcError, target: Target<'_>) -> SendError {
    let RpcError::Remote { code, message, .. } = error else {
        // Not reached, or no answer: the reply comes back later.
        return SendError::Transient(error.to_string());
    };
    let rate_limited = *code == rpc::RATE_LIMIT || error.has_result("RATE_LIMIT_FAILURE");
    match *code {
        _ if rate_limited => {
            if let Some(token) = error.challenge() {
                // Waiting alone does not lift it: the reply keeps waiting (and going out once the
                // challenge is solved), and the operator is told what to do.
                tracing::error!(
                    %token,
                    "Signal requires a captcha for this number before it sends again: solve one at https://signalcaptchas.org/challenge/generate, then run `signal-cli -a <number> submitRateLimitChallenge --challenge <token> --captcha <the captcha's signalcaptcha:// link>`"
                );
            }
            SendError::RetryAfter(error.retry_after().unwrap_or(Duration::from_secs(5)))
        }
        rpc::USER_ERROR if error.has_result("NETWORK_FAILURE") => {
            SendError::Transient(error.to_string())
        }
        rpc::USER_ERROR if error.has_result("UNREGISTERED_FAILURE") => {
            SendError::Refused("the recipient is not on Signal (any more)".to_owned())
        }
        // An unknown group, one the number left or was removed from.
        rpc::USER_ERROR if matches!(target, Target::Group(_)) => {
            SendError::Refused(message.clone())
        }
        rpc::USER_ERROR | rpc::METHOD_NOT_FOUND => SendError::Rejected(error.to_string()),
        rpc::UNTRUSTED_IDENTITY => SendError::Transient(format!(
            "{error} (the recipient's safety number changed: trust it with `signal-cli trust`)"
        )),
        // An account the daemon does not have (yet), an I/O or internal error: later.
        _ => SendError::Transient(error.to_string()),
    }
}

impl Transport for Account {
    fn chunk_limit(&self) -> usize {
        self.chunk_limit
    }

    fn spacing(&self, _to: &Delivery) -> Duration {
        // Signal publishes no limits; bursts bring rate limits and captchas, so a steady pace.
        Duration::from_millis(300)
    }

    fn global_spacing(&self) -> Duration {
        Duration::from_millis(50)
    }

    async fn send(
        &self,
        to: &Delivery,
        text: &str,
        _key: &str,
        reply_to: Option<&str>,
    ) -> Result<String, SendError> {
        let target = Target::of(&to.chat_id);
        let quote = reply_to.and_then(quoted);
        // Signal shows Markdown's marks as typed: they are dropped, links kept.
        let text = crate::render::to_plain(text);
        self.rpc
            .send(target, &text, quote)
            .await
            .map(|timestamp| timestamp.to_string())
            .map_err(|error| send_error(&error, target))
    }

    async fn edit(&self, _to: &Delivery, _message_id: &str, _text: &str) -> Result<(), SendError> {
        // The bridge shows no preview on Signal, so there is never a message of its own to edit.
        Err(SendError::Rejected(
            "signal replies are sent whole, never edited".to_owned(),
        ))
    }

    fn stop_working(&self, to: &Delivery) {
        self.typing.stop(&to.chat_id);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn remote(code: i64, message: &str, results: serde_json::Value) -> RpcError {
        RpcError::Remote {
            code,
            message: message.into(),
            data: Some(json!({"response": {"timestamp": 1, "results": results}})),
        }
    }

    #[test]
    fn failures_map_onto_the_cores() {
        let person = Target::Person("+15550001111");
        let group = Target::Group("R3JvdXBJZA==");
        let limited = remote(
            rpc::RATE_LIMIT,
            "Failed to send message due to rate limiting",
            json!([{"type": "RATE_LIMIT_FAILURE", "retryAfterSeconds": 7}]),
        );
        assert_eq!(
            send_error(&limited, person),
            SendError::RetryAfter(Duration::from_secs(7))
        );
        let network = remote(
            rpc::USER_ERROR,
            "Failed to send message",
            json!([{"type": "NETWORK_FAILURE"}]),
        );
        assert!(matches!(
            send_error(&network, person),
            SendError::Transient(_)
        ));
        let unregistered = remote(
            rpc::USER_ERROR,
            "Failed to send message",
            json!([{"type": "UNREGISTERED_FAILURE"}]),
        );
        assert!(matches!(
            send_error(&unregistered, person),
            SendError::Refused(_)
        ));
        let left = RpcError::Remote {
            code: rpc::USER_ERROR,
            message: "User is not a member in group".into(),
            data: None,
        };
        assert!(matches!(send_error(&left, group), SendError::Refused(_)));
        assert!(matches!(send_error(&left, person), SendError::Rejected(_)));
        let unknown_account = RpcError::Remote {
            code: rpc::INVALID_PARAMS,
            message: "Specified account does not exist".into(),
            data: None,
        };
        assert!(matches!(
            send_error(&unknown_account, person),
            SendError::Transient(_)
        ));
        assert!(matches!(
            send_error(&RpcError::Http(502), group),
            SendError::Transient(_)
        ));
    }

    #[test]
    fn quotes_and_limits() {
        let aci = "cb3c2bd0-5c34-4d3e-9f5e-2b7c8a1f0e11";
        assert_eq!(
            quoted(&format!("{aci}:1700000000123")),
            Some((aci, 1_700_000_000_123))
        );
        assert_eq!(quoted("+15550001111:17"), Some(("+15550001111", 17)));
        assert_eq!(quoted("no-timestamp"), None);
        assert_eq!(quoted(":17"), None);
        assert_eq!(chunk_limit(None), 4000);
        assert_eq!(chunk_limit(Some(10)), 100);
        assert_eq!(chunk_limit(Some(2000)), 2000);
    }
}
