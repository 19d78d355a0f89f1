//! The circuit breaker of one target (a provider, an API key or a model): a pure state machine over
//! wall-clock milliseconds, so every replica that reads the same record reaches the same decision.
//!
//! Closed → (a failure after retries) → Open for a cooldown from the ladder → HalfOpen once the
//! cooldown is over, where exactly one caller probes: success closes it, failure re-opens it one rung
//! higher. The ladder is short on purpose (OpenClaw's hour-long lockouts were its most reported
//! failover complaint) and a `Retry-After` longer than the rung wins.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::providers::ErrorKind;

/// Cooldowns for transient failures (rate limits, overload, timeouts, refused connections).
const TRANSIENT_LADDER: &[u64] = &[15, 30, 60, 120, 300];
/// Cooldowns for failures a person must fix (bad key, no credit, unknown model). Keys are
/// fingerprinted, so a corrected key is a new target and is not held back by these.
const PERSISTENT_LADDER: &[u64] = &[60, 300, 900, 1800];
/// Longest `Retry-After` honoured as a cooldown; providers asking for more are re-probed earlier.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// The stored health of one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthRecord {
    /// Failures since the last success; 0 = closed.
    pub failures: u32,
    /// Unix ms until which the target is skipped.
    pub open_until_ms: u64,
    /// Unix ms until which a half-open probe is in flight (others keep skipping).
    pub probe_until_ms: u64,
    /// Short reason of the last failure (never contains a secret).
    pub last_error: String,
    /// Kind of the last failure.
    pub last_kind: Option<ErrorKind>,
    /// Unix ms of the last failure.
    pub last_failure_ms: u64,
    /// Unix ms of the last success.
    pub last_success_ms: u64,
}

/// The breaker state at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Serving.
    Closed,
    /// Cooling down until the given unix ms.
    Open {
        /// Unix ms.
        until_ms: u64,
    },
    /// Cooldown over; the next caller probes.
    HalfOpen,
}

/// What a caller may do with a target now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Use it.
    Go,
    /// Use it as the half-open probe; the record was changed to claim the probe.
    Probe,
    /// Skip it until the given unix ms.
    Cooling {
        /// Unix ms.
        until_ms: u64,
    },
}

impl HealthRecord {
    /// The state at `now_ms`.
    pub fn state(&self, now_ms: u64) -> State {
        if self.failures == 0 {
            State::Closed
        } else if now_ms < self.open_until_ms {
            State::Open {
                until_ms: self.open_until_ms,
            }
        } else {
            State::HalfOpen
        }
    }

    /// Decides whether a caller may use the target; a half-open target admits one probe for
    /// `probe_lease` and records the claim in `self`.
    pub fn admit(&mut self, now_ms: u64, probe_lease: Duration) -> Admission {
        match self.state(now_ms) {
            State::Closed => Admission::Go,
            State::Open { until_ms } => Admission::Cooling { until_ms },
            State::HalfOpen if now_ms < self.probe_until_ms => Admission::Cooling {
                until_ms: self.probe_until_ms,
            },
            State::HalfOpen => {
                self.probe_until_ms = now_ms.saturating_add(millis(probe_lease));
                Admission::Probe
            }
        }
    }

    /// Records a failure that should cool the target down, one rung higher than the last.
    pub fn fail(
        &mut self,
        kind: ErrorKind,
        reason: &str,
        retry_after: Option<Duration>,
        now_ms: u64,
    ) {
        self.failures = self.failures.saturating_add(1);
        let cooldown = cooldown(kind, self.failures, retry_after);
        // Re-cooling never shortens an existing deadline (LiteLLM kept the first, shorter one).
        self.open_until_ms = self
            .open_until_ms
            .max(now_ms.saturating_add(millis(cooldown)));
        self.probe_until_ms = 0;
        self.last_error = reason.chars().take(300).collect();
        self.last_kind = Some(kind);
        self.last_failure_ms = now_ms;
    }

    /// Records a success: the breaker closes and the ladder starts over.
    pub fn succeed(&mut self, now_ms: u64) {
        self.failures = 0;
        self.open_until_ms = 0;
        self.probe_until_ms = 0;
        self.last_success_ms = now_ms;
    }

    /// Releases a probe claim without a verdict (the caller went away or failed for its own reasons).
    pub fn release_probe(&mut self) {
        self.probe_until_ms = 0;
    }

    /// Whether a success would change nothing (lets the hot path skip a write).
    pub fn is_clean(&self) -> bool {
        self.failures == 0 && self.probe_until_ms == 0
    }
}

/// The cooldown after the `failures`-th consecutive failure of `kind`.
pub fn cooldown(kind: ErrorKind, failures: u32, retry_after: Option<Duration>) -> Duration {
    let ladder = match kind {
        ErrorKind::Auth | ErrorKind::QuotaExhausted | ErrorKind::NotFound => PERSISTENT_LADDER,
        _ => TRANSIENT_LADDER,
    };
    let rung = usize::try_from(failures.saturating_sub(1))
        .unwrap_or(usize::MAX)
        .min(ladder.len() - 1);
    let base = Duration::from_secs(ladder[rung]);
    base.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
}

/// Whether a failure of `kind` says something about the target's health. Caller mistakes
/// (bad request, context overflow) and unsupported APIs do not cool anything down.
pub fn counts_against_target(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::BadRequest
            | ErrorKind::ContextOverflow
            | ErrorKind::Unsupported
            | ErrorKind::CoolingDown
    )
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(60);

    #[test]
    fn a_failure_opens_then_half_opens_and_admits_one_probe() {
        let mut record = HealthRecord::default();
        assert_eq!(record.admit(1_000, LEASE), Admission::Go);
        record.fail(ErrorKind::RateLimited, "429", None, 1_000);
        assert_eq!(
            record.admit(2_000, LEASE),
            Admission::Cooling { until_ms: 16_000 }
        );
        assert_eq!(record.state(16_000), State::HalfOpen);
        assert_eq!(record.admit(16_000, LEASE), Admission::Probe);
        assert_eq!(
            record.admit(16_001, LEASE),
            Admission::Cooling { until_ms: 76_000 },
            "a second caller must not probe while the first probe is in flight"
        );
        record.succeed(20_000);
        assert_eq!(record.admit(20_001, LEASE), Admission::Go);
        assert!(record.is_clean());
    }

    #[test]
    fn ladder_climbs_and_caps() {
        let secs = |n| cooldown(ErrorKind::Overloaded, n, None).as_secs();
        assert_eq!(
            [secs(1), secs(2), secs(3), secs(4), secs(5), secs(50)],
            [15, 30, 60, 120, 300, 300]
        );
        assert_eq!(cooldown(ErrorKind::Auth, 1, None).as_secs(), 60);
        assert_eq!(cooldown(ErrorKind::QuotaExhausted, 9, None).as_secs(), 1800);
    }

    #[test]
    fn retry_after_longer_than_the_rung_wins_but_is_capped() {
        assert_eq!(
            cooldown(ErrorKind::RateLimited, 1, Some(Duration::from_secs(42))).as_secs(),
            42
        );
        assert_eq!(
            cooldown(ErrorKind::RateLimited, 1, Some(Duration::from_secs(1))).as_secs(),
            15
        );
        assert_eq!(
            cooldown(ErrorKind::RateLimited, 1, Some(Duration::from_secs(86_400))).as_secs(),
            600
        );
    }

    #[test]
    fn a_failed_probe_reopens_one_rung_higher_and_never_shortens() {
        let mut record = HealthRecord::default();
        record.fail(ErrorKind::Timeout, "slow", None, 0);
        assert_eq!(record.admit(15_000, LEASE), Admission::Probe);
        record.fail(ErrorKind::Timeout, "slow again", None, 15_000);
        assert_eq!(record.state(15_000), State::Open { until_ms: 45_000 });
        assert_eq!(record.last_error, "slow again");
        // A late failure report with a shorter cooldown keeps the later deadline.
        let before = record.open_until_ms;
        record.failures = 0;
        record.fail(ErrorKind::Timeout, "late", None, 1_000);
        assert_eq!(record.open_until_ms, before);
    }

    #[test]
    fn caller_mistakes_do_not_count() {
        assert!(!counts_against_target(ErrorKind::ContextOverflow));
        assert!(!counts_against_target(ErrorKind::BadRequest));
        assert!(counts_against_target(ErrorKind::RateLimited));
        assert!(counts_against_target(ErrorKind::Transport));
    }
}
