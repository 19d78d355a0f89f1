//! Faults a test can force on the daemon.

use serde::{Deserialize, Serialize};

/// How the next call of a method fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Signal's servers rate-limit the account: error -5 with each recipient's
    /// `RATE_LIMIT_FAILURE` and `retryAfterSeconds`.
    RateLimit {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// Signal's servers cannot be reached: error -1 ("Failed to send message") with each
    /// recipient's `NETWORK_FAILURE`.
    NetworkFailure,
    /// An exception inside signal-cli: error -32603.
    Internal,
    /// The HTTP request itself fails with this status (a proxy in front, a daemon going down).
    Http(u16),
}
