//! Behaviour switches per app ([`Knobs`]), forced Web API failures per method, and the retry
//! policy of signed HTTP deliveries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-app behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// An envelope not acked within this many milliseconds is redelivered (Slack: 3 s).
    pub ack_timeout_ms: u64,
    /// Redeliveries after the first delivery before Slack gives up.
    pub max_retries: u32,
    /// After `disconnect`, the socket is closed this many milliseconds later (Slack: ~10 s).
    pub disconnect_grace_ms: u64,
    /// The bot's own posts (and edits) come back as `message` events, as on Slack; clients must
    /// ignore them.
    pub echo_bot_messages: bool,
    /// Channels the bot is not a member of: posts get `not_in_channel`.
    pub not_in_channels: Vec<String>,
    /// WebSocket pings to each socket every this many milliseconds (0: none).
    pub ping_interval_ms: u64,
    /// The next N sockets get `disconnect` with `too_many_websockets` instead of `hello` (the
    /// app's sockets are all taken).
    #[serde(default)]
    pub refuse_sockets_next: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            ack_timeout_ms: 3_000,
            max_retries: 3,
            disconnect_grace_ms: 10_000,
            echo_bot_messages: false,
            not_in_channels: Vec::new(),
            ping_interval_ms: 10_000,
            refuse_sockets_next: 0,
        }
    }
}

impl Knobs {
    /// The ack deadline.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }
}

/// Failures forced on one Web API method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Forced {
    /// The next N calls get HTTP 429 `{"ok":false,"error":"ratelimited"}`.
    pub rate_limit_next: u32,
    /// Seconds in their `Retry-After`.
    pub retry_after_secs: u64,
    /// The next N calls get HTTP 500 `{"ok":false,"error":"internal_error"}`.
    pub fail_next: u32,
    /// The next N calls get HTTP 200 `{"ok":false,"error":<error>}`.
    #[serde(default)]
    pub error_next: u32,
    /// The error code of those answers (`message_not_found`, `cant_update_message`, ...).
    #[serde(default)]
    pub error: String,
}

/// How signed HTTP event deliveries are retried (Slack: 3 s timeout; retries at once, after a
/// minute and after five; compressed by default so tests stay quick).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpRetryPolicy {
    /// An answer slower than this is a timeout.
    pub timeout_ms: u64,
    /// Delay before each retry; their number is the number of retries.
    pub retry_delays_ms: Vec<u64>,
}

impl Default for HttpRetryPolicy {
    fn default() -> Self {
        Self {
            timeout_ms: 3_000,
            retry_delays_ms: vec![0, 1_000, 2_000],
        }
    }
}
