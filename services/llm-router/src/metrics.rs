//! The llm-router's metrics: provider calls by provider, model and outcome (`ok` or the failure's
//! class), fallbacks taken, key rotations, time to first token per provider, and the breakers'
//! states read from the health book when scraped. Answered to the gateway's scrape over NATS.

use std::sync::Arc;
use std::time::Duration;

use pincer_metrics::{LatencyFamily, latency_family};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::health::{HealthBook, State};
use crate::providers::ErrorKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    provider: String,
    model: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    /// `provider/<id>`, `model/<provider>/<model>` or `key/<provider>/<fingerprint>`.
    target: String,
}

/// The router's registry and its metrics (cheap to clone: clones share the series).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    provider_calls: Family<CallLabels, Counter>,
    fallbacks: Family<ModelLabel, Counter>,
    key_rotations: Family<ProviderLabel, Counter>,
    first_token: LatencyFamily<ProviderLabel>,
    breaker_state: Family<TargetLabel, Gauge>,
}

impl Metrics {
    /// An empty registry for the replica `replica`.
    pub fn new(replica: &str) -> Self {
        let mut registry = pincer_metrics::replica_registry("pincer_router", replica);
        let metrics = Self {
            registry: Arc::default(),
            provider_calls: Family::default(),
            fallbacks: Family::default(),
            key_rotations: Family::default(),
            first_token: latency_family(),
            breaker_state: Family::default(),
        };
        registry.register(
            "provider_calls",
            "Attempts at a provider by provider, model and outcome: ok, caller_gone, or the failure's class",
            metrics.provider_calls.clone(),
        );
        registry.register(
            "fallbacks",
            "Calls handed to a fallback model, by the model tried",
            metrics.fallbacks.clone(),
        );
        registry.register(
            "key_rotations",
            "Moves to a provider's next API key after a key's failure",
            metrics.key_rotations.clone(),
        );
        registry.register_with_unit(
            "time_to_first_token",
            "From an attempt's start to the provider's first output",
            Unit::Seconds,
            metrics.first_token.clone(),
        );
        registry.register(
            "breaker_state",
            "Circuit breakers of providers, keys and models: 0 closed, 1 half-open, 2 open (read when scraped)",
            metrics.breaker_state.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// An attempt at `model` of `provider` ended: `Ok` or with a failure of `kind`.
    pub fn provider_call(&self, provider: &str, model: &str, outcome: Result<(), ErrorKind>) {
        let outcome = match outcome {
            Ok(()) => "ok",
            Err(kind) => kind_label(kind),
        };
        self.count_call(provider, model, outcome);
    }

    /// The caller went away during an attempt.
    pub fn caller_gone(&self, provider: &str, model: &str) {
        self.count_call(provider, model, "caller_gone");
    }

    fn count_call(&self, provider: &str, model: &str, outcome: &str) {
        self.provider_calls
            .get_or_create(&CallLabels {
                provider: provider.to_owned(),
                model: model.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The call went on to `model`, a fallback of the one asked for.
    pub fn fallback(&self, model: &str) {
        self.fallbacks
            .get_or_create(&ModelLabel {
                model: model.to_owned(),
            })
            .inc();
    }

    /// One of `provider`'s keys failed and the next is tried.
    pub fn key_rotation(&self, provider: &str) {
        self.key_rotations
            .get_or_create(&ProviderLabel {
                provider: provider.to_owned(),
            })
            .inc();
    }

    /// `provider`'s first output came `after` the attempt started.
    pub fn first_token(&self, provider: &str, after: Duration) {
        self.first_token
            .get_or_create(&ProviderLabel {
                provider: provider.to_owned(),
            })
            .observe(after.as_secs_f64());
    }

    /// The registry as text, with every breaker in `book` as it stands now.
    pub fn render(&self, book: &HealthBook) -> String {
        let now = pincer_clock::now_ms();
        for (target, record) in book.snapshot() {
            let state = match record.state(now) {
                State::Closed => 0,
                State::HalfOpen => 1,
                State::Open { .. } => 2,
            };
            self.breaker_state
                .get_or_create(&TargetLabel { target })
                .set(state);
        }
        pincer_metrics::render(&self.registry)
    }
}

/// A failure class as a label: the variant in snake case.
fn kind_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::QuotaExhausted => "quota_exhausted",
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::ContextOverflow => "context_overflow",
        ErrorKind::Auth => "auth",
        ErrorKind::NotFound => "not_found",
        ErrorKind::BadRequest => "bad_request",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Transport => "transport",
        ErrorKind::StreamBroken => "stream_broken",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Upstream => "upstream",
        ErrorKind::CoolingDown => "cooling_down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Target;

    #[tokio::test]
    async fn calls_fallbacks_and_breakers_render() {
        let metrics = Metrics::new("r1");
        metrics.provider_call("fake", "fake/a", Err(ErrorKind::RateLimited));
        metrics.provider_call("fake", "fake/b", Ok(()));
        metrics.fallback("fake/b");
        metrics.key_rotation("fake");
        metrics.first_token("fake", Duration::from_millis(80));
        let book = HealthBook::new();
        book.fail(
            &Target::Model("fake/a".to_owned()),
            ErrorKind::RateLimited,
            "429",
            None,
        )
        .await;

        let text = metrics.render(&book);
        for line in [
            "pincer_router_provider_calls_total{replica=\"r1\",provider=\"fake\",model=\"fake/a\",outcome=\"rate_limited\"} 1\n",
            "pincer_router_provider_calls_total{replica=\"r1\",provider=\"fake\",model=\"fake/b\",outcome=\"ok\"} 1\n",
            "pincer_router_fallbacks_total{replica=\"r1\",model=\"fake/b\"} 1\n",
            "pincer_router_key_rotations_total{replica=\"r1\",provider=\"fake\"} 1\n",
            "pincer_router_time_to_first_token_seconds_count{replica=\"r1\",provider=\"fake\"} 1\n",
            "pincer_router_breaker_state{replica=\"r1\",target=\"model/fake/a\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
