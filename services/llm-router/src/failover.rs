//! One call across the candidate models: primary, then fallbacks.
//!
//! For each model: skip it while its provider or it is cooling down; skip it when the prompt cannot
//! fit its window; otherwise try it, rotating API keys on auth/quota/rate-limit failures and retrying
//! transient failures with jittered backoff that honours `Retry-After`. A model is abandoned for the
//! next one only while nothing has been streamed to the caller: once output went out, a failure ends
//! the call with a typed error and is never replayed on another model (no repeated replies).
//! Context overflow and invalid requests end the call at once: every model would fail the same way,
//! and the caller (agent-runner) can compact and retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use pincer_config::Api;
use pincer_proto::llm::v1 as pb;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Status;

use crate::catalog::{Catalog, Deployment};
use crate::discovery::{self, Discovery};
use crate::guard;
use crate::health::{Admission, HealthBook, Target, now_ms, record::counts_against_target};
use crate::providers::{self, CallRequest, ErrorKind, ProviderError, ProviderEvent, Tuning};

/// Where events go; a closed channel means the caller went away.
pub type Sink = mpsc::Sender<Result<pb::ChatEvent, Status>>;

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

/// Everything a call needs, shared by all calls.
pub struct Engine {
    /// Providers and models.
    pub catalog: Catalog,
    /// Breakers and cooldowns.
    pub book: HealthBook,
    /// Ollama metadata.
    pub discovery: Discovery,
    /// Retry behaviour.
    pub policy: RetryPolicy,
    /// Last time each model served a call (unix ms).
    served: Mutex<HashMap<String, u64>>,
    /// Next key to start with, per provider (round robin spreads load over keys).
    key_cursor: Mutex<HashMap<String, usize>>,
}

impl Engine {
    /// Creates the engine.
    pub fn new(catalog: Catalog, book: HealthBook, policy: RetryPolicy) -> Self {
        Self {
            catalog,
            book,
            discovery: Discovery::default(),
            policy,
            served: Mutex::new(HashMap::new()),
            key_cursor: Mutex::new(HashMap::new()),
        }
    }

    /// When `reference` last served a call through this replica (unix ms, 0 = never).
    pub fn last_served(&self, reference: &str) -> u64 {
        lock(&self.served).get(reference).copied().unwrap_or(0)
    }

    /// The tuning and effective window for `deployment` (Ollama: from `/api/show`).
    pub async fn tuning(&self, deployment: &Deployment) -> (Tuning, Option<u32>) {
        if deployment.api != Api::Ollama {
            return (Tuning::default(), deployment.context_window);
        }
        let meta = self.discovery.show(deployment).await;
        let num_ctx = discovery::num_ctx(
            deployment.num_ctx,
            deployment.context_window,
            meta.context_length,
        );
        (
            Tuning {
                num_ctx,
                tools_supported: meta.tools != Some(false),
            },
            num_ctx.or(deployment.context_window),
        )
    }

    fn key_order(&self, provider: &str, keys: usize) -> Vec<Option<usize>> {
        if keys == 0 {
            return vec![None];
        }
        let start = {
            let mut cursor = lock(&self.key_cursor);
            let next = cursor.entry(provider.to_owned()).or_insert(0);
            let start = *next % keys;
            *next = next.wrapping_add(1);
            start
        };
        (0..keys).map(|i| Some((start + i) % keys)).collect()
    }
}

/// One chat call: what was asked, in which order to try models, and until when.
pub struct Call {
    /// The model the caller asked for.
    pub requested: String,
    /// Requested model first, then fallbacks.
    pub candidates: Vec<String>,
    /// The conversation.
    pub request: CallRequest,
    /// Whole-call deadline.
    pub deadline: Instant,
}

/// A failed model, for the final report.
struct Attempt {
    model: String,
    error: ProviderError,
    tries: u32,
    /// For a model skipped while cooling down: when it is available again (unix ms).
    cooling_until_ms: u64,
}

enum Outcome {
    Completed,
    CallerGone,
    /// Output was streamed, then the model failed: the call ends here.
    FailedAfterOutput(ProviderError),
    /// Nothing was streamed; `tries` attempts were made.
    Failed(ProviderError, u32),
}

/// Runs `call` and reports on `sink`: events then `Done`, or a status with [`pb::ChatFailure`].
pub async fn run(engine: &Engine, call: &Call, sink: &Sink) {
    let estimate = guard::estimate_prompt_tokens(&call.request);
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut cooling: Vec<(u64, Deployment)> = Vec::new();
    let mut tried_any = false;
    for reference in &call.candidates {
        if Instant::now() >= call.deadline {
            attempts.push(Attempt {
                model: reference.clone(),
                error: ProviderError::new(
                    ErrorKind::Timeout,
                    "the call deadline passed before this model was tried",
                ),
                tries: 0,
                cooling_until_ms: 0,
            });
            continue;
        }
        let deployment = match engine.catalog.resolve(reference) {
            Ok(deployment) => deployment,
            Err(error) => {
                tracing::warn!(model = %reference, reason = %error, "skipping model");
                attempts.push(Attempt {
                    model: reference.clone(),
                    error,
                    tries: 0,
                    cooling_until_ms: 0,
                });
                continue;
            }
        };
        if let Some((until_ms, reason)) = cooling_until(engine, &deployment).await {
            tracing::info!(model = %reference, %reason, "skipping a model that is cooling down");
            attempts.push(Attempt {
                model: reference.clone(),
                error: ProviderError::new(ErrorKind::CoolingDown, reason),
                tries: 0,
                cooling_until_ms: until_ms,
            });
            cooling.push((until_ms, deployment));
            continue;
        }
        tried_any = true;
        let outcome = try_model(engine, call, &deployment, estimate, &attempts, sink).await;
        if finish(call, outcome, &deployment, &mut attempts, sink).await {
            return;
        }
    }
    // Everything was cooling down: rather than fail without trying, probe the model that frees up
    // first. A cooldown must never be the only reason a user gets no answer.
    if !tried_any && let Some((_, deployment)) = cooling.into_iter().min_by_key(|(until, _)| *until)
    {
        tracing::info!(model = %deployment.reference, "every model is cooling down; trying the one that frees up first");
        let outcome = try_model(engine, call, &deployment, estimate, &attempts, sink).await;
        if finish(call, outcome, &deployment, &mut attempts, sink).await {
            return;
        }
    }
    let _ = sink.send(Err(failure_status(call, &attempts, None))).await;
}

/// Handles one model's outcome; true when the call is over.
async fn finish(
    call: &Call,
    outcome: Outcome,
    deployment: &Deployment,
    attempts: &mut Vec<Attempt>,
    sink: &Sink,
) -> bool {
    match outcome {
        Outcome::Completed | Outcome::CallerGone => true,
        Outcome::FailedAfterOutput(error) => {
            tracing::warn!(model = %deployment.reference, reason = %error, "stream broke after output was sent; not replaying it");
            attempts.push(Attempt {
                model: deployment.reference.clone(),
                error: error.clone(),
                tries: 1,
                cooling_until_ms: 0,
            });
            let _ = sink
                .send(Err(failure_status(call, attempts, Some(error))))
                .await;
            true
        }
        Outcome::Failed(error, tries) => {
            let terminal = error.kind.is_terminal() && tries > 0;
            tracing::warn!(model = %deployment.reference, kind = ?error.kind, reason = %error, terminal, "model failed");
            attempts.push(Attempt {
                model: deployment.reference.clone(),
                error,
                tries,
                cooling_until_ms: 0,
            });
            if terminal {
                let _ = sink.send(Err(failure_status(call, attempts, None))).await;
            }
            terminal
        }
    }
}

/// When `deployment`'s provider or model is cooling down: until when and why.
async fn cooling_until(engine: &Engine, deployment: &Deployment) -> Option<(u64, String)> {
    let provider = Target::Provider(deployment.provider_id.clone());
    let model = Target::Model(deployment.reference.clone());
    let lease = engine.policy.probe_lease;
    for (target, what) in [(&provider, "provider"), (&model, "model")] {
        if let Admission::Cooling { until_ms } = engine.book.admit(target, lease).await {
            if what == "model" {
                engine.book.release_probe(&provider).await;
            }
            let record = engine.book.get(target);
            let seconds = until_ms.saturating_sub(now_ms()).div_ceil(1000);
            return Some((
                until_ms,
                format!(
                    "{what} cooling down for {seconds}s more after: {}",
                    if record.last_error.is_empty() {
                        "a probe in flight"
                    } else {
                        &record.last_error
                    }
                ),
            ));
        }
    }
    None
}

/// Tries one model: every key in rotation, each with the retry budget.
async fn try_model(
    engine: &Engine,
    call: &Call,
    deployment: &Deployment,
    estimate: u32,
    attempts: &[Attempt],
    sink: &Sink,
) -> Outcome {
    let provider_target = Target::Provider(deployment.provider_id.clone());
    let model_target = Target::Model(deployment.reference.clone());
    let (tuning, window) = engine.tuning(deployment).await;
    if let Some(reason) = guard::does_not_fit(estimate, window) {
        release(engine, &[&provider_target, &model_target]).await;
        // Not terminal: a fallback with a larger window may still take it.
        return Outcome::Failed(ProviderError::new(ErrorKind::ContextOverflow, reason), 0);
    }
    let mut tries = 0u32;
    let mut last_error =
        ProviderError::new(ErrorKind::CoolingDown, "every API key is cooling down");
    for key_index in engine.key_order(&deployment.provider_id, deployment.keys.len()) {
        let attempt_deployment = match key_index {
            Some(index) => deployment.with_key(index),
            None => deployment.clone(),
        };
        let key_target = attempt_deployment
            .api_key
            .as_ref()
            .map(|key| Target::key(&deployment.provider_id, key));
        if let Some(key_target) = &key_target
            && let Admission::Cooling { .. } = engine
                .book
                .admit(key_target, engine.policy.probe_lease)
                .await
        {
            continue;
        }
        let mut retries = 0u32;
        loop {
            tries += 1;
            let result = attempt(&attempt_deployment, call, tuning, attempts, sink).await;
            let error = match result {
                AttemptResult::Completed => {
                    for target in [
                        Some(&provider_target),
                        Some(&model_target),
                        key_target.as_ref(),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        engine.book.succeed(target).await;
                    }
                    lock(&engine.served).insert(deployment.reference.clone(), now_ms());
                    return Outcome::Completed;
                }
                AttemptResult::CallerGone => {
                    let mut targets = vec![&provider_target, &model_target];
                    targets.extend(key_target.as_ref());
                    release(engine, &targets).await;
                    return Outcome::CallerGone;
                }
                AttemptResult::FailedAfterOutput(error) => {
                    if counts_against_target(error.kind) {
                        engine
                            .book
                            .fail(&model_target, error.kind, &error.message, None)
                            .await;
                    }
                    return Outcome::FailedAfterOutput(error);
                }
                AttemptResult::FailedBeforeOutput(error) => error,
            };
            tracing::info!(model = %deployment.reference, kind = ?error.kind, reason = %error, tries, "attempt failed");
            if error.kind.is_terminal() {
                release(engine, &[&provider_target, &model_target]).await;
                return Outcome::Failed(error, tries);
            }
            let rotate = error.kind.is_key_scoped()
                || (error.kind == ErrorKind::RateLimited && deployment.keys.len() > 1);
            if rotate && let Some(key_target) = &key_target {
                engine
                    .book
                    .fail(key_target, error.kind, &error.message, error.retry_after)
                    .await;
                last_error = error;
                break;
            }
            let wait = backoff(&engine.policy, retries, error.retry_after);
            let retry = error.kind.is_retryable()
                && retries < engine.policy.retries_per_model
                && wait.is_some_and(|wait| Instant::now() + wait < call.deadline);
            if let (true, Some(wait)) = (retry, wait) {
                retries += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
            // Not worth another key: the model or the provider is the problem.
            let target = if error.kind == ErrorKind::Transport {
                &provider_target
            } else {
                &model_target
            };
            if counts_against_target(error.kind) {
                engine
                    .book
                    .fail(target, error.kind, &error.message, error.retry_after)
                    .await;
            }
            return Outcome::Failed(error, tries);
        }
    }
    release(engine, &[&provider_target, &model_target]).await;
    Outcome::Failed(last_error, tries)
}

async fn release(engine: &Engine, targets: &[&Target]) {
    for target in targets {
        engine.book.release_probe(target).await;
    }
}

/// The wait before retry number `retries + 1`: `Retry-After` when given (or `None` when it is too
/// long to wait in-line), else full-jitter exponential backoff.
fn backoff(policy: &RetryPolicy, retries: u32, retry_after: Option<Duration>) -> Option<Duration> {
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

enum AttemptResult {
    Completed,
    CallerGone,
    FailedBeforeOutput(ProviderError),
    FailedAfterOutput(ProviderError),
}

/// One HTTP call to one model with one key, relayed to the caller.
async fn attempt(
    deployment: &Deployment,
    call: &Call,
    tuning: Tuning,
    attempts: &[Attempt],
    sink: &Sink,
) -> AttemptResult {
    let remaining = call.deadline.saturating_duration_since(Instant::now());
    let started = tokio::time::timeout(
        remaining,
        providers::start(deployment, &call.request, tuning),
    )
    .await;
    let stream = match started {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return AttemptResult::FailedBeforeOutput(error),
        Err(_) => {
            return AttemptResult::FailedBeforeOutput(ProviderError::new(
                ErrorKind::Timeout,
                "the call deadline passed while connecting",
            ));
        }
    };
    relay(stream, deployment, call, attempts, sink).await
}

async fn relay(
    mut stream: providers::EventStream,
    deployment: &Deployment,
    call: &Call,
    attempts: &[Attempt],
    sink: &Sink,
) -> AttemptResult {
    use pb::chat_event::Event;
    let mut delivered = false;
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
        let event = match next {
            Some(Ok(ProviderEvent::Text(text))) => Event::Delta(pb::TextDelta { text }),
            Some(Ok(ProviderEvent::ToolCall(call))) => Event::ToolCall(pb::ToolCall {
                id: call.id,
                name: call.name,
                arguments_json: call.arguments,
            }),
            Some(Ok(ProviderEvent::Finish { reason, usage })) => {
                let done = pb::Done {
                    model: deployment.reference.clone(),
                    finish_reason: reason,
                    usage: Some(pb::Usage {
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                        cached_tokens: usage.cached_tokens,
                        cache_write_tokens: usage.cache_write_tokens,
                    }),
                    failed_attempts: attempts.iter().map(failed_attempt).collect(),
                    requested_model: call.requested.clone(),
                    cost_usd: crate::cost::usd(deployment.cost.as_ref(), &usage),
                };
                if sink
                    .send(Ok(pb::ChatEvent {
                        event: Some(Event::Done(done)),
                    }))
                    .await
                    .is_err()
                {
                    return AttemptResult::CallerGone;
                }
                return AttemptResult::Completed;
            }
            Some(Err(error)) if delivered => return AttemptResult::FailedAfterOutput(error),
            Some(Err(error)) => return AttemptResult::FailedBeforeOutput(error),
            None => {
                let error =
                    ProviderError::new(ErrorKind::StreamBroken, "stream ended without a finish");
                return if delivered {
                    AttemptResult::FailedAfterOutput(error)
                } else {
                    AttemptResult::FailedBeforeOutput(error)
                };
            }
        };
        delivered = true;
        if sink
            .send(Ok(pb::ChatEvent { event: Some(event) }))
            .await
            .is_err()
        {
            tracing::info!(model = %deployment.reference, "caller went away, cancelling the provider call");
            return AttemptResult::CallerGone;
        }
    }
}

fn failed_attempt(attempt: &Attempt) -> pb::FailedAttempt {
    pb::FailedAttempt {
        model: attempt.model.clone(),
        reason: attempt.error.to_string(),
        kind: attempt.error.kind.to_proto().into(),
        tries: attempt.tries,
    }
}

/// The status that ends a failed call. Its details carry a [`pb::ChatFailure`]; its code reflects
/// the deciding failure so plain gRPC clients can still tell "fix your keys" from "try later".
fn failure_status(
    call: &Call,
    attempts: &[Attempt],
    after_output: Option<ProviderError>,
) -> Status {
    let deciding = after_output.as_ref().map(|e| e.kind).unwrap_or_else(|| {
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
    let summary = attempts
        .iter()
        .map(|a| format!("{}: {}", a.model, a.error))
        .collect::<Vec<_>>()
        .join("; ");
    let message = match &after_output {
        Some(error) => format!("the model failed after partial output: {error}"),
        None if attempts.is_empty() => "no model configured for this call".to_owned(),
        None => format!("all models failed: {summary}"),
    };
    let every = |kinds: &[ErrorKind]| attempts.iter().all(|a| kinds.contains(&a.error.kind));
    let code = if after_output.is_some() {
        tonic::Code::Unavailable
    } else if attempts.is_empty() || deciding.is_terminal() {
        tonic::Code::InvalidArgument
    } else if every(&[ErrorKind::Auth, ErrorKind::QuotaExhausted]) {
        tonic::Code::PermissionDenied
    } else if every(&[ErrorKind::Timeout]) {
        tonic::Code::DeadlineExceeded
    } else {
        tonic::Code::Unavailable
    };
    let retry_at = attempts
        .iter()
        .map(|a| a.cooling_until_ms)
        .filter(|until| *until > 0)
        .min()
        .unwrap_or(0);
    let failure = pb::ChatFailure {
        kind: deciding.to_proto().into(),
        message: message.clone(),
        after_output: after_output.is_some(),
        attempts: attempts.iter().map(failed_attempt).collect(),
        retry_at_unix_ms: retry_at,
        requested_model: call.requested.clone(),
    };
    Status::with_details(code, message, failure.encode_to_vec().into())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
