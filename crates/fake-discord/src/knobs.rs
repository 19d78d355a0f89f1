//! Behaviour switches: per bot ([`Knobs`], REST failures and privileges) and for the whole gateway
//! ([`GatewayConfig`], timings).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a forced 429 looks, to test clients that read only one of the two places Discord puts
/// the delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TooManyShape {
    /// JSON body with `retry_after` and the `Retry-After` / `X-RateLimit-*` headers.
    #[default]
    Full,
    /// Headers only, empty body (what a proxy in front of Discord may produce).
    HeadersOnly,
    /// JSON body only, no `Retry-After` header.
    BodyOnly,
}

/// Per-bot behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// The bot may use the privileged MESSAGE_CONTENT intent (else IDENTIFY asking for it is
    /// closed with 4014).
    pub message_content_allowed: bool,
    /// Messages a bot may send (or edit) per channel per window before 429; 0 turns the bucket
    /// off.
    pub bucket_limit: u32,
    /// The bucket's window in milliseconds.
    pub bucket_window_ms: u64,
    /// The next N sends and edits are answered 429.
    pub rate_limit_next: u32,
    /// Seconds in a forced 429's `retry_after`.
    pub retry_after: f64,
    /// A forced 429 is the global limit (`global: true`, `X-RateLimit-Global`).
    pub rate_limit_global: bool,
    /// Where a forced 429 puts the delay.
    pub rate_limit_shape: TooManyShape,
    /// The next N sends and edits are answered 500.
    pub fail_next: u32,
    /// Channels where the bot lacks permission: sends, edits and typing get 403 (50013).
    pub forbidden_channels: Vec<String>,
    /// The bot's own messages come back as MESSAGE_CREATE on its gateway sessions, as on Discord
    /// (clients must ignore them).
    pub echo_own_messages: bool,
    /// Answer heartbeats with op 11.
    pub ack_heartbeats: bool,
    /// How long an `enforce_nonce` nonce is remembered, in seconds.
    pub nonce_window_secs: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            message_content_allowed: true,
            bucket_limit: 5,
            bucket_window_ms: 5_000,
            rate_limit_next: 0,
            retry_after: 1.0,
            rate_limit_global: false,
            rate_limit_shape: TooManyShape::Full,
            fail_next: 0,
            forbidden_channels: Vec::new(),
            echo_own_messages: true,
            ack_heartbeats: true,
            nonce_window_secs: 300,
        }
    }
}

/// Gateway timings, shared by every bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// HELLO's `heartbeat_interval` in milliseconds (Discord's is about 41250).
    pub heartbeat_interval_ms: u64,
    /// How long a disconnected session stays resumable, in seconds.
    pub session_ttl_secs: u64,
    /// After op 7 RECONNECT the fake closes the connection (4000) if the client has not, after
    /// this many milliseconds.
    pub reconnect_grace_ms: u64,
    /// Dispatches kept per session for RESUME.
    pub resume_buffer: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 41_250,
            session_ttl_secs: 180,
            reconnect_grace_ms: 5_000,
            resume_buffer: 2_000,
        }
    }
}

impl GatewayConfig {
    /// The resumable window.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }
}
