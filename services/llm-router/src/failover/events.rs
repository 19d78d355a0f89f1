//! What a call reports, free of any wire format: events while it streams, then one failure or a
//! [`Done`]. `grpc.rs` translates both.

use crate::providers::{ErrorKind, ProviderError, ToolCall, Usage};

/// One item of a call's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Assistant text.
    Text(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// Reasoning blocks to hand back with the reply (a JSON array).
    Reasoning(String),
    /// The call succeeded; nothing follows.
    Done(Done),
}

/// The end of a successful call.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    /// The model that served, as `provider/model`.
    pub model: String,
    /// The model the caller asked for.
    pub requested_model: String,
    /// Normalised finish reason.
    pub finish_reason: String,
    /// Token counts.
    pub usage: Usage,
    /// From the served model's configured prices.
    pub cost_usd: Option<f64>,
    /// Models that failed before this one, in order.
    pub failed_attempts: Vec<Attempt>,
}

/// A model that failed (or was skipped), for the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// `provider/model`.
    pub model: String,
    /// Why.
    pub error: ProviderError,
    /// Attempts made (retries and key rotations included; 0 when skipped).
    pub tries: u32,
    /// For a model skipped while cooling down: when it is available again (unix ms).
    pub cooling_until_ms: Option<u64>,
}

impl Attempt {
    /// A model that was not tried.
    pub fn skipped(model: &str, error: ProviderError) -> Self {
        Self {
            model: model.to_owned(),
            error,
            tries: 0,
            cooling_until_ms: None,
        }
    }
}

/// Why a call ended without an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct CallFailure {
    /// The failure that decided the outcome.
    pub kind: ErrorKind,
    /// A summary for people.
    pub message: String,
    /// Output had been streamed: the caller holds a partial answer that was not replayed.
    pub after_output: bool,
    /// Every model, in order.
    pub attempts: Vec<Attempt>,
    /// When the earliest cooling model is available again (unix ms).
    pub retry_at_ms: Option<u64>,
    /// The model the caller asked for.
    pub requested_model: String,
}

impl CallFailure {
    /// The failure after `attempts`; `after_output` is the error that broke a started stream.
    pub fn new(
        requested_model: &str,
        attempts: Vec<Attempt>,
        after_output: Option<ProviderError>,
    ) -> Self {
        // The deciding failure: the one that broke the stream, else the last real failure (a
        // model that was only cooling down says less than one that was tried).
        let kind = after_output.as_ref().map(|e| e.kind).unwrap_or_else(|| {
            attempts
                .iter()
                .rev()
                .map(|a| a.error.kind)
                .find(|kind| *kind != ErrorKind::CoolingDown)
                .unwrap_or(if attempts.is_empty() {
                    ErrorKind::BadRequest
                } else {
                    ErrorKind::CoolingDown
                })
        });
        let message = match &after_output {
            Some(error) => format!("the model failed after partial output: {error}"),
            None if attempts.is_empty() => "no model configured for this call".to_owned(),
            None => format!(
                "all models failed: {}",
                attempts
                    .iter()
                    .map(|a| format!("{}: {}", a.model, a.error))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        Self {
            kind,
            message,
            after_output: after_output.is_some(),
            retry_at_ms: attempts.iter().filter_map(|a| a.cooling_until_ms).min(),
            attempts,
            requested_model: requested_model.to_owned(),
        }
    }

    /// Whether every attempt failed with one of `kinds` (and there was one).
    pub fn all_failed_with(&self, kinds: &[ErrorKind]) -> bool {
        !self.attempts.is_empty() && self.attempts.iter().all(|a| kinds.contains(&a.error.kind))
    }

    /// A call refused before any model was considered.
    pub fn refused(requested_model: &str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::BadRequest,
            message: message.into(),
            after_output: false,
            attempts: Vec::new(),
            retry_at_ms: None,
            requested_model: requested_model.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(model: &str, kind: ErrorKind, cooling_until_ms: Option<u64>) -> Attempt {
        Attempt {
            cooling_until_ms,
            ..Attempt::skipped(model, ProviderError::new(kind, "why"))
        }
    }

    #[test]
    fn the_last_real_failure_decides_and_the_earliest_cooldown_is_reported() {
        let failure = CallFailure::new(
            "a/1",
            vec![
                attempt("a/1", ErrorKind::Overloaded, None),
                attempt("b/2", ErrorKind::CoolingDown, Some(9_000)),
                attempt("c/3", ErrorKind::CoolingDown, Some(5_000)),
            ],
            None,
        );
        assert_eq!(failure.kind, ErrorKind::Overloaded);
        assert_eq!(failure.retry_at_ms, Some(5_000));
        assert!(failure.message.starts_with("all models failed: a/1: "));
        assert!(!failure.after_output);
    }

    #[test]
    fn a_break_after_output_decides_over_everything() {
        let failure = CallFailure::new(
            "a/1",
            vec![attempt("a/1", ErrorKind::StreamBroken, None)],
            Some(ProviderError::new(ErrorKind::StreamBroken, "reset")),
        );
        assert!(failure.after_output);
        assert_eq!(failure.retry_at_ms, None);
        assert!(failure.message.contains("after partial output"));
    }

    #[test]
    fn no_attempts_is_a_bad_request() {
        let failure = CallFailure::new("a/1", Vec::new(), None);
        assert_eq!(failure.kind, ErrorKind::BadRequest);
        assert!(!failure.all_failed_with(&[ErrorKind::BadRequest]));
    }
}
