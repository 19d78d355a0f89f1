//! Telegram: long polling in, replies out, with the access policy in between.
//!
//! - [`account`]: one bot: identity, then polling.
//! - [`client`]: the Bot API calls and their typed errors.
//! - [`update`]: an update as a message (sender, chat, mentions, media).
//! - [`policy`]: DM and group access, mention gating.
//! - [`ingest`]: accepted messages to JetStream (turns, pairing codes).
//! - [`poller`]: the leased long-polling loop and its saved offset.
//! - [`outbound`]: chunked, idempotent sending with rate-limit handling.
//! - [`preview`]: the streaming preview, edited into the final answer.
//! - [`typing`]: the typing indicator while a turn runs.
//! - [`webhook`]: webhook mode (updates pushed through the gateway).

pub mod account;
pub mod client;
pub mod ingest;
pub mod outbound;
pub mod policy;
pub mod poller;
pub mod preview;
pub mod typing;
pub mod update;
pub mod webhook;

/// `text` as a KV key or consumer-name token: ASCII letters, digits, `-` and `_` kept, anything
/// else `_`, plus a short hash of the original when something was replaced, so `a b` and `a_b`
/// never share a key.
pub fn key_token(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == text && !safe.is_empty() {
        return safe;
    }
    // FNV-1a: stable across processes and versions (unlike the std hasher).
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{safe}_{:08x}", hash & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_tokens_are_safe_and_distinct() {
        assert_eq!(super::key_token("default"), "default");
        assert_ne!(super::key_token("a b"), super::key_token("a_b"));
        assert!(
            super::key_token("büro")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
    }
}
