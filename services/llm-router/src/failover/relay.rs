//! One HTTP call to one model with one key, relayed to the caller event by event, with the
//! first-token and idle timeouts.

use futures::StreamExt;
use tokio::time::Instant;

use super::events::{Attempt, Done, Event};
use super::{Call, Sink};
use crate::providers::Deployment;
use crate::providers::{self, ErrorKind, ProviderError, ProviderEvent, Tuning};

/// How one attempt ended.
pub(super) enum AttemptResult {
    /// `Done` went out.
    Completed,
    /// The caller went away; the provider call was dropped.
    CallerGone,
    /// Failed with nothing streamed: another try (or model) is safe.
    FailedBeforeOutput(ProviderError),
    /// Failed after output went out: never replayed.
    FailedAfterOutput(ProviderError),
}

/// Calls `deployment` and relays its stream to `sink`; `attempts` are the failures so far, for
/// the `Done` report; the time to the first output goes to `metrics`.
pub(super) async fn attempt(
    deployment: &Deployment,
    call: &Call,
    tuning: Tuning,
    attempts: &[Attempt],
    metrics: &crate::metrics::Metrics,
    sink: &Sink,
) -> AttemptResult {
    let begun = Instant::now();
    let remaining = call.deadline.saturating_duration_since(Instant::now());
    let started = tokio::time::timeout(
        remaining,
        providers::start(deployment, &call.request, tuning),
    )
    .await;
    let mut stream = match started {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return AttemptResult::FailedBeforeOutput(error),
        Err(_) => {
            return AttemptResult::FailedBeforeOutput(ProviderError::new(
                ErrorKind::Timeout,
                "the call deadline passed while connecting",
            ));
        }
    };
    let mut delivered = false;
    let failed = |delivered: bool, error| {
        if delivered {
            AttemptResult::FailedAfterOutput(error)
        } else {
            AttemptResult::FailedBeforeOutput(error)
        }
    };
    loop {
        let (limit, what) = if delivered {
            (deployment.idle_timeout, "idle timeout: no data")
        } else {
            (
                deployment.first_token_timeout,
                "first-token timeout: nothing",
            )
        };
        let patience = limit.min(call.deadline.saturating_duration_since(Instant::now()));
        let next = match tokio::time::timeout(patience, stream.next()).await {
            Ok(next) => next,
            Err(_) => Some(Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("{what} from the provider for {patience:?}"),
            ))),
        };
        let (event, last) = match next {
            Some(Ok(ProviderEvent::Text(text))) => (Event::Text(text), false),
            Some(Ok(ProviderEvent::ToolCall(tool_call))) => (Event::ToolCall(tool_call), false),
            Some(Ok(ProviderEvent::Reasoning(blocks))) => (Event::Reasoning(blocks), false),
            Some(Ok(ProviderEvent::Finish { reason, usage })) => {
                let done = Done {
                    model: deployment.reference.clone(),
                    requested_model: call.requested.clone(),
                    finish_reason: reason,
                    cost_usd: crate::cost::usd(deployment.cost.as_ref(), &usage),
                    usage,
                    failed_attempts: attempts.to_vec(),
                };
                (Event::Done(done), true)
            }
            Some(Err(error)) => return failed(delivered, error),
            None => {
                let error =
                    ProviderError::new(ErrorKind::StreamBroken, "stream ended without a finish");
                return failed(delivered, error);
            }
        };
        if !delivered {
            metrics.first_token(&deployment.provider_id, begun.elapsed());
        }
        if sink.send(Ok(event)).await.is_err() {
            tracing::info!(model = %deployment.reference, "caller went away, cancelling the provider call");
            return AttemptResult::CallerGone;
        }
        if last {
            return AttemptResult::Completed;
        }
        delivered = true;
    }
}
