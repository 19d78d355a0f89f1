//! The channel-bridge's metrics: messages handed to the agent, and replies delivered (or dropped)
//! and retried, per channel. Answered to the gateway's scrape over NATS.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelOutcome {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelReason {
    channel: String,
    reason: String,
}

/// The bridge's registry and its metrics (cheap to clone: clones share the series).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    inbound: Family<ChannelLabel, Counter>,
    deliveries: Family<ChannelOutcome, Counter>,
    retries: Family<ChannelReason, Counter>,
}

impl Metrics {
    /// An empty registry for the replica `replica`.
    pub fn new(replica: &str) -> Self {
        let mut registry = pincer_metrics::replica_registry("pincer_bridge", replica);
        let metrics = Self {
            registry: Arc::default(),
            inbound: Family::default(),
            deliveries: Family::default(),
            retries: Family::default(),
        };
        registry.register(
            "inbound_messages",
            "Messages handed to the agent as turns, per channel",
            metrics.inbound.clone(),
        );
        registry.register(
            "deliveries",
            "Replies by channel and outcome: sent, refused (the chat blocks the bot), rejected, unreadable",
            metrics.deliveries.clone(),
        );
        registry.register(
            "delivery_retries",
            "Sends tried again later, by channel and reason: rate_limited, transient, busy",
            metrics.retries.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// A message of `channel` became a turn.
    pub fn inbound(&self, channel: &str) {
        self.inbound
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .inc();
    }

    /// A reply on `channel` is done with: `sent`, `refused`, `rejected`, `unreadable`.
    pub fn delivery(&self, channel: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&ChannelOutcome {
                channel: channel.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A send on `channel` will be tried again, because of `reason`.
    pub fn retry(&self, channel: &str, reason: &str) {
        self.retries
            .get_or_create(&ChannelReason {
                channel: channel.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The registry as text.
    pub fn render(&self) -> String {
        pincer_metrics::render(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_and_retries_render_per_channel() {
        let metrics = Metrics::new("r1");
        metrics.inbound("telegram");
        metrics.delivery("telegram", "sent");
        metrics.retry("discord", "rate_limited");
        let text = metrics.render();
        for line in [
            "pincer_bridge_inbound_messages_total{replica=\"r1\",channel=\"telegram\"} 1\n",
            "pincer_bridge_deliveries_total{replica=\"r1\",channel=\"telegram\",outcome=\"sent\"} 1\n",
            "pincer_bridge_delivery_retries_total{replica=\"r1\",channel=\"discord\",reason=\"rate_limited\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
