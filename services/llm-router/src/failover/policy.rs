//! What to do after a failed attempt: the pure part of failover. No network, no clock of its own
//! (the time left is passed in), no bookkeeping: [`after_failure`] decides, the engine acts.

use std::time::Duration;

use crate::health::record::counts_against_target;
use crate::providers::{ErrorKind, ProviderError};

/// Retry behaviour within one model.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Extra attempts on the same model (and key) after a transient failure.
    pub retries_per_model: u32,
    /// First backoff step; doubled per retry, with full jitter.
    pub base_backoff: Duration,
    /// Largest backoff step.
    pub max_backoff: Duration,
    /// Longest `Retry-After` waited for in-line; a longer one moves on to the next model at once
    /// (and cools the model down for that long).
    pub max_inline_wait: Duration,
    /// How long a half-open probe may take before another caller may probe.
    pub probe_lease: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries_per_model: 1,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_inline_wait: Duration::from_secs(10),
            probe_lease: Duration::from_secs(120),
        }
    }
}

/// Where one attempt stood when it failed.
#[derive(Clone, Copy, Debug)]
pub struct AttemptState {
    /// Retries already made with this model and key.
    pub retries: u32,
    /// API keys the provider has (0 when it needs none).
    pub keys: usize,
    /// Time left before the call's deadline.
    pub time_left: Duration,
}

/// The next step after a failed attempt that streamed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The same model and key again, after this wait.
    Retry(Duration),
    /// Cool this key down, then the model's next key.
    NextKey,
    /// Give up on this model for the next candidate, cooling `blame` down when set.
    NextModel {
        /// What the failure counts against.
        blame: Option<Blame>,
    },
    /// End the call: every model would fail the same way (a bad request, a context overflow the
    /// caller can compact).
    Stop,
}

/// What a failure is held against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The provider's endpoint (it could not be reached).
    Provider,
    /// The model.
    Model,
}

/// Decides what follows `error`.
pub fn after_failure(policy: &RetryPolicy, error: &ProviderError, state: AttemptState) -> Next {
    let kind = error.kind;
    if kind.is_terminal() {
        return Next::Stop;
    }
    // Auth and quota belong to the key; a rate limit too when another key may have room.
    if state.keys > 0
        && (kind.is_key_scoped() || (kind == ErrorKind::RateLimited && state.keys > 1))
    {
        return Next::NextKey;
    }
    if kind.is_retryable()
        && state.retries < policy.retries_per_model
        && let Some(wait) = backoff(policy, state.retries, error.retry_after)
        && wait < state.time_left
    {
        return Next::Retry(wait);
    }
    let blame = counts_against_target(kind).then_some(if kind == ErrorKind::Transport {
        Blame::Provider
    } else {
        Blame::Model
    });
    Next::NextModel { blame }
}

/// The wait before retry number `retries + 1`: `Retry-After` when given (or `None` when it is too
/// long to wait in-line), else full-jitter exponential backoff.
pub fn backoff(
    policy: &RetryPolicy,
    retries: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    if let Some(wait) = retry_after {
        return (wait <= policy.max_inline_wait)
            .then(|| wait + Duration::from_millis(fastrand::u64(0..=100)));
    }
    let step = policy
        .base_backoff
        .saturating_mul(1u32 << retries.min(16))
        .min(policy.max_backoff);
    let millis = u64::try_from(step.as_millis()).unwrap_or(u64::MAX);
    Some(Duration::from_millis(fastrand::u64(0..=millis)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLENTY: Duration = Duration::from_secs(600);

    fn state(retries: u32, keys: usize, time_left: Duration) -> AttemptState {
        AttemptState {
            retries,
            keys,
            time_left,
        }
    }

    fn error(kind: ErrorKind) -> ProviderError {
        ProviderError::new(kind, "test")
    }

    #[test]
    fn backoff_honours_short_retry_after_and_refuses_long_ones() {
        let policy = RetryPolicy::default();
        let wait = backoff(&policy, 0, Some(Duration::from_secs(2))).expect("waits");
        assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_millis(2100));
        assert_eq!(backoff(&policy, 0, Some(Duration::from_secs(60))), None);
        for retries in 0..20 {
            let wait = backoff(&policy, retries, None).expect("jittered");
            assert!(wait <= policy.max_backoff);
        }
    }

    #[test]
    fn terminal_failures_end_the_call() {
        let policy = RetryPolicy::default();
        for kind in [ErrorKind::BadRequest, ErrorKind::ContextOverflow] {
            assert_eq!(
                after_failure(&policy, &error(kind), state(0, 2, PLENTY)),
                Next::Stop
            );
        }
    }

    #[test]
    fn key_failures_rotate_keys_and_rate_limits_only_with_a_spare_key() {
        let policy = RetryPolicy::default();
        for kind in [ErrorKind::Auth, ErrorKind::QuotaExhausted] {
            assert_eq!(
                after_failure(&policy, &error(kind), state(0, 1, PLENTY)),
                Next::NextKey
            );
        }
        let limited = error(ErrorKind::RateLimited);
        assert_eq!(
            after_failure(&policy, &limited, state(0, 2, PLENTY)),
            Next::NextKey
        );
        assert!(matches!(
            after_failure(&policy, &limited, state(0, 1, PLENTY)),
            Next::Retry(_)
        ));
    }

    #[test]
    fn transient_failures_retry_within_budget_and_deadline_then_move_on() {
        let policy = RetryPolicy::default();
        let overloaded = error(ErrorKind::Overloaded);
        assert!(matches!(
            after_failure(&policy, &overloaded, state(0, 0, PLENTY)),
            Next::Retry(wait) if wait <= policy.base_backoff
        ));
        let next_model = Next::NextModel {
            blame: Some(Blame::Model),
        };
        assert_eq!(
            after_failure(&policy, &overloaded, state(1, 0, PLENTY)),
            next_model,
            "the retry budget is spent"
        );
        let later = overloaded
            .clone()
            .with_retry_after(Some(Duration::from_secs(5)));
        assert_eq!(
            after_failure(&policy, &later, state(0, 0, Duration::from_secs(3))),
            next_model,
            "the wait would pass the deadline"
        );
        let much_later = overloaded.with_retry_after(Some(Duration::from_secs(60)));
        assert_eq!(
            after_failure(&policy, &much_later, state(0, 0, PLENTY)),
            next_model,
            "too long to wait in-line"
        );
    }

    #[test]
    fn unreachable_providers_are_blamed_not_their_models() {
        let policy = RetryPolicy {
            retries_per_model: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(
            after_failure(&policy, &error(ErrorKind::Transport), state(0, 0, PLENTY)),
            Next::NextModel {
                blame: Some(Blame::Provider)
            }
        );
    }
}
