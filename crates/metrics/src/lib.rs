//! Prometheus metrics for the services.
//!
//! - [`render`]: a registry as Prometheus text (format 0.0.4), what `GET /metrics` serves.
//! - [`latency_family`]: histograms with the latency buckets every service uses.
//! - [`scrape`]: each service answering the gateway's scrape over NATS, and the gateway asking
//!   every replica; [`merge`]: the replicas' texts as one page.
//!
//! Every service keeps one registry with a prefix of its own (`pincer_gateway_`,
//! `pincer_runner_`, `pincer_router_`, `pincer_bridge_`), so the gateway can join the services'
//! texts without two families sharing a name. Labels are bounded by the configuration (agents,
//! providers, models, tools, channels) and never name a session, a user or a chat: a registry
//! stays a few kilobytes however long the process runs.

pub mod merge;
pub mod scrape;

pub use prometheus_client;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency buckets, in seconds: from a fast first token to a long agent run.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// A family of latency histograms, one per label set.
pub type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// A new latency histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A registry for one replica of a service: names prefixed `prefix`, every series labelled with
/// the replica's id (`replica`; not `instance`, which Prometheus sets to the scraped target) so
/// the gateway can serve several replicas' figures side by side.
pub fn replica_registry(prefix: &str, instance: &str) -> Registry {
    let label = (
        std::borrow::Cow::Borrowed("replica"),
        std::borrow::Cow::Owned(instance.to_owned()),
    );
    Registry::with_prefix_and_labels(prefix, std::iter::once(label))
}

/// An empty [`LatencyFamily`].
pub fn latency_family<L>() -> LatencyFamily<L>
where
    L: Clone + std::hash::Hash + Eq,
{
    Family::new_with_constructor(latency_histogram as fn() -> Histogram)
}

/// `registry` as Prometheus text.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an error here would be a label that cannot be encoded,
    // and a partial page is more useful to an operator than none.
    if let Err(error) = prometheus_text::encode(&mut text, registry) {
        tracing::warn!(%error, "cannot render the metrics");
    }
    text
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct AgentLabel {
        agent: String,
    }

    #[test]
    fn a_registry_renders_counters_and_histograms_with_units_and_labels() {
        let mut registry = Registry::with_prefix("pincer_test");
        let turns = Family::<AgentLabel, Counter>::default();
        let latency = latency_family::<AgentLabel>();
        registry.register("turns", "Turns", turns.clone());
        registry.register_with_unit(
            "turn_duration",
            "Turn duration",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let main = AgentLabel {
            agent: "main".to_owned(),
        };
        turns.get_or_create(&main).inc_by(2);
        latency.get_or_create(&main).observe(0.3);

        let text = render(&registry);
        assert!(
            text.contains("# TYPE pincer_test_turns_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("pincer_test_turns_total{agent=\"main\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "pincer_test_turn_duration_seconds_bucket{agent=\"main\",le=\"0.5\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "pincer_test_turn_duration_seconds_bucket{agent=\"main\",le=\"0.25\"} 0\n"
            ),
            "{text}"
        );
        assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
    }
}
