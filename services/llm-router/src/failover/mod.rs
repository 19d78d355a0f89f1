//! One call across the candidate models: primary, then fallbacks.
//!
//! For each model: skip it while its provider or it is cooling down; skip it when the prompt cannot
//! fit its window; otherwise try it, rotating API keys on auth/quota/rate-limit failures and retrying
//! transient failures with jittered backoff that honours `Retry-After` ([`policy`] decides which).
//! A model is abandoned for the next one only while nothing has been streamed to the caller: once
//! output went out, a failure ends the call with a typed error and is never replayed on another
//! model (no repeated replies). Context overflow and invalid requests end the call at once: every
//! model would fail the same way, and the caller (agent-runner) can compact and retry.
//!
//! The engine speaks [`events`], not gRPC: `grpc.rs` translates.

pub mod events;
pub mod policy;
mod relay;

use std::collections::HashMap;
use std::sync::Mutex;

use pincer_clock::now_ms;
use pincer_config::Api;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::catalog::Catalog;
use crate::discovery::{self, Discovery};
use crate::guard;
use crate::health::{Admission, HealthBook, Target};
use crate::providers::Deployment;
use crate::providers::{CallRequest, ErrorKind, ProviderError, Tuning};
use events::{Attempt, CallFailure, Event};
pub use policy::RetryPolicy;
use policy::{AttemptState, Blame, Next};
use relay::AttemptResult;

/// Where a call's events go, then its failure if it fails; a closed channel means the caller
/// went away.
pub type Sink = mpsc::Sender<Result<Event, CallFailure>>;

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
    /// Calls, fallbacks and first-token latency, for the gateway's scrape.
    pub metrics: crate::metrics::Metrics,
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
            // Routers have no name of their own: a random one tells replicas apart in a scrape.
            metrics: crate::metrics::Metrics::new(&format!("llm-router-{:08x}", fastrand::u32(..))),
        }
    }

    /// When `reference` last served a call through this replica (unix ms, 0 = never).
    pub fn last_served(&self, reference: &str) -> u64 {
        lock(&self.served).get(reference).copied().unwrap_or(0)
    }

    /// The tuning and effective window for `deployment` (Ollama: from `/api/show`).
    pub async fn tuning(&self, deployment: &Deployment) -> (Tuning, Option<u32>) {
        if deployment.api != Api::Ollama {
            let tuning = Tuning {
                images: deployment.input_images,
                ..Tuning::default()
            };
            return (tuning, deployment.context_window);
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
                images: deployment.input_images || meta.vision,
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

/// How one model ended.
enum Outcome {
    Completed,
    CallerGone,
    /// Output was streamed, then the model failed: the call ends here.
    FailedAfterOutput(ProviderError),
    /// Nothing was streamed; `tries` attempts were made; the next candidate may do better.
    Failed(ProviderError, u32),
    /// Nothing was streamed, and every model would fail the same way ([`Next::Stop`]).
    Stopped(ProviderError, u32),
}

/// Runs `call` and reports on `sink`: events then [`Event::Done`], or one [`CallFailure`].
pub async fn run(engine: &Engine, call: &Call, sink: &Sink) {
    let estimate = guard::estimate_prompt_tokens(&call.request);
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut cooling: Vec<(u64, Deployment)> = Vec::new();
    let mut tried_any = false;
    for reference in &call.candidates {
        if Instant::now() >= call.deadline {
            attempts.push(Attempt::skipped(
                reference,
                ProviderError::new(
                    ErrorKind::Timeout,
                    "the call deadline passed before this model was tried",
                ),
            ));
            continue;
        }
        let deployment = match engine.catalog.resolve(reference) {
            Ok(deployment) => deployment,
            Err(error) => {
                tracing::warn!(model = %reference, reason = %error, "skipping model");
                attempts.push(Attempt::skipped(reference, error));
                continue;
            }
        };
        if let Some(cooldown) = cooldown_of(engine, &deployment).await {
            tracing::info!(model = %reference, reason = %cooldown.reason, "skipping a model that is cooling down");
            attempts.push(Attempt {
                cooling_until_ms: Some(cooldown.until_ms),
                ..Attempt::skipped(
                    reference,
                    ProviderError::new(ErrorKind::CoolingDown, cooldown.reason),
                )
            });
            cooling.push((cooldown.until_ms, deployment));
            continue;
        }
        tried_any = true;
        if *reference != call.requested {
            engine.metrics.fallback(reference);
        }
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
        if deployment.reference != call.requested {
            engine.metrics.fallback(&deployment.reference);
        }
        let outcome = try_model(engine, call, &deployment, estimate, &attempts, sink).await;
        if finish(call, outcome, &deployment, &mut attempts, sink).await {
            return;
        }
    }
    let _ = sink
        .send(Err(CallFailure::new(&call.requested, attempts, None)))
        .await;
}

/// Handles one model's outcome; true when the call is over.
async fn finish(
    call: &Call,
    outcome: Outcome,
    deployment: &Deployment,
    attempts: &mut Vec<Attempt>,
    sink: &Sink,
) -> bool {
    let (error, tries, over) = match outcome {
        Outcome::Completed | Outcome::CallerGone => return true,
        Outcome::FailedAfterOutput(error) => {
            tracing::warn!(model = %deployment.reference, reason = %error, "stream broke after output was sent; not replaying it");
            attempts.push(Attempt {
                tries: 1,
                ..Attempt::skipped(&deployment.reference, error.clone())
            });
            let failure = CallFailure::new(&call.requested, std::mem::take(attempts), Some(error));
            let _ = sink.send(Err(failure)).await;
            return true;
        }
        Outcome::Failed(error, tries) => (error, tries, false),
        Outcome::Stopped(error, tries) => (error, tries, true),
    };
    tracing::warn!(model = %deployment.reference, kind = ?error.kind, reason = %error, terminal = over, "model failed");
    attempts.push(Attempt {
        tries,
        ..Attempt::skipped(&deployment.reference, error)
    });
    if over {
        let failure = CallFailure::new(&call.requested, std::mem::take(attempts), None);
        let _ = sink.send(Err(failure)).await;
    }
    over
}

/// A provider or model that is cooling down.
struct Cooldown {
    /// When it may be tried again (unix ms).
    until_ms: u64,
    /// Why, for the report.
    reason: String,
}

/// Whether `deployment`'s provider or model is cooling down. Admission may make this call the
/// half-open probe of either; a probe that will not be used is given back.
async fn cooldown_of(engine: &Engine, deployment: &Deployment) -> Option<Cooldown> {
    let provider = Target::Provider(deployment.provider_id.clone());
    let model = Target::Model(deployment.reference.clone());
    let lease = engine.policy.probe_lease;
    let (target, until_ms, what) =
        if let Admission::Cooling { until_ms } = engine.book.admit(&provider, lease).await {
            (provider, until_ms, "provider")
        } else if let Admission::Cooling { until_ms } = engine.book.admit(&model, lease).await {
            engine.book.release_probe(&provider).await;
            (model, until_ms, "model")
        } else {
            return None;
        };
    let record = engine.book.get(&target);
    let seconds = until_ms.saturating_sub(now_ms()).div_ceil(1000);
    let after = if record.last_error.is_empty() {
        "a probe in flight"
    } else {
        &record.last_error
    };
    Some(Cooldown {
        until_ms,
        reason: format!("{what} cooling down for {seconds}s more after: {after}"),
    })
}

/// Tries one model: every key in rotation, each with the retry budget ([`try_key`]).
async fn try_model(
    engine: &Engine,
    call: &Call,
    deployment: &Deployment,
    estimate: u32,
    attempts: &[Attempt],
    sink: &Sink,
) -> Outcome {
    let targets = ModelTargets {
        provider: Target::Provider(deployment.provider_id.clone()),
        model: Target::Model(deployment.reference.clone()),
    };
    let (tuning, window) = engine.tuning(deployment).await;
    if let Some(reason) = guard::does_not_fit(estimate, window) {
        release(engine, &[&targets.provider, &targets.model]).await;
        // Not terminal: a fallback with a larger window may still take it.
        return Outcome::Failed(ProviderError::new(ErrorKind::ContextOverflow, reason), 0);
    }
    let mut tries = 0u32;
    let mut last_error =
        ProviderError::new(ErrorKind::CoolingDown, "every API key is cooling down");
    for key_index in engine.key_order(&deployment.provider_id, deployment.keys.len()) {
        let keyed = match key_index {
            Some(index) => deployment.with_key(index),
            None => deployment.clone(),
        };
        let key_target = keyed
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
        let attempt = KeyAttempt {
            deployment: &keyed,
            key_target: key_target.as_ref(),
            tuning,
        };
        match try_key(engine, call, &targets, attempt, attempts, sink, &mut tries).await {
            KeyOutcome::Finished(outcome) => return outcome,
            KeyOutcome::NextKey(error) => last_error = error,
        }
    }
    release(engine, &[&targets.provider, &targets.model]).await;
    Outcome::Failed(last_error, tries)
}

/// The health-book entries a model's attempts count against.
struct ModelTargets {
    provider: Target,
    model: Target,
}

/// One key of a model: the deployment with that key selected, and its health-book entry.
#[derive(Clone, Copy)]
struct KeyAttempt<'a> {
    deployment: &'a Deployment,
    key_target: Option<&'a Target>,
    tuning: Tuning,
}

/// What one key's attempts came to.
enum KeyOutcome {
    /// The model is done with: answered, stopped, or handed to the next model.
    Finished(Outcome),
    /// This key failed in a way another key may not: try the next one.
    NextKey(ProviderError),
}

/// Calls the model with one key until it answers or [`policy::after_failure`] moves on; keeps the
/// health book of the provider, the model and the key.
async fn try_key(
    engine: &Engine,
    call: &Call,
    targets: &ModelTargets,
    key: KeyAttempt<'_>,
    attempts: &[Attempt],
    sink: &Sink,
    tries: &mut u32,
) -> KeyOutcome {
    let mut all = vec![&targets.provider, &targets.model];
    all.extend(key.key_target);
    let mut retries = 0u32;
    loop {
        *tries += 1;
        let result = relay::attempt(
            key.deployment,
            call,
            key.tuning,
            attempts,
            &engine.metrics,
            sink,
        )
        .await;
        count_attempt(&engine.metrics, key.deployment, &result);
        let error = match result {
            AttemptResult::Completed => {
                for target in &all {
                    engine.book.succeed(target).await;
                }
                lock(&engine.served).insert(key.deployment.reference.clone(), now_ms());
                return KeyOutcome::Finished(Outcome::Completed);
            }
            AttemptResult::CallerGone => {
                release(engine, &all).await;
                return KeyOutcome::Finished(Outcome::CallerGone);
            }
            AttemptResult::FailedAfterOutput(error) => {
                let blamed = crate::health::record::counts_against_target(error.kind)
                    .then_some(&targets.model);
                settle(engine, &all, blamed, &error).await;
                return KeyOutcome::Finished(Outcome::FailedAfterOutput(error));
            }
            AttemptResult::FailedBeforeOutput(error) => error,
        };
        tracing::info!(model = %key.deployment.reference, kind = ?error.kind, reason = %error, tries = *tries, "attempt failed");
        let state = AttemptState {
            retries,
            keys: key.deployment.keys.len(),
            time_left: call.deadline.saturating_duration_since(Instant::now()),
        };
        match policy::after_failure(&engine.policy, &error, state) {
            Next::Retry(wait) => {
                retries += 1;
                tokio::time::sleep(wait).await;
            }
            Next::NextKey => {
                engine.metrics.key_rotation(&key.deployment.provider_id);
                if let Some(key_target) = key.key_target {
                    engine
                        .book
                        .fail(key_target, error.kind, &error.message, error.retry_after)
                        .await;
                }
                return KeyOutcome::NextKey(error);
            }
            Next::Stop => {
                release(engine, &all).await;
                return KeyOutcome::Finished(Outcome::Stopped(error, *tries));
            }
            Next::NextModel { blame } => {
                let blamed = match blame {
                    Some(Blame::Provider) => Some(&targets.provider),
                    Some(Blame::Model) => Some(&targets.model),
                    None => None,
                };
                settle(engine, &all, blamed, &error).await;
                return KeyOutcome::Finished(Outcome::Failed(error, *tries));
            }
        }
    }
}

fn count_attempt(
    metrics: &crate::metrics::Metrics,
    deployment: &Deployment,
    result: &AttemptResult,
) {
    let (provider, model) = (&deployment.provider_id, &deployment.reference);
    match result {
        AttemptResult::Completed => metrics.provider_call(provider, model, Ok(())),
        AttemptResult::CallerGone => metrics.caller_gone(provider, model),
        AttemptResult::FailedBeforeOutput(error) | AttemptResult::FailedAfterOutput(error) => {
            metrics.provider_call(provider, model, Err(error.kind));
        }
    }
}

/// Ends a model's attempts without an answer: `blamed` (if any) cools down for `error`, and the
/// half-open probes this call holds on the others are given back. A probe kept past its call
/// stopped everyone else from using its provider, model or key until its lease ran out.
async fn settle(
    engine: &Engine,
    targets: &[&Target],
    blamed: Option<&Target>,
    error: &ProviderError,
) {
    for target in targets {
        if Some(*target) == blamed {
            engine
                .book
                .fail(target, error.kind, &error.message, error.retry_after)
                .await;
        } else {
            engine.book.release_probe(target).await;
        }
    }
}

async fn release(engine: &Engine, targets: &[&Target]) {
    for target in targets {
        engine.book.release_probe(target).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
