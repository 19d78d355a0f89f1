//! The gateway's metrics, and `GET /metrics` for the whole stack: this registry, then the text of
//! every replica of every service that answered its scrape over NATS within [`SCRAPE_PATIENCE`],
//! with `pincer_scrape_up{service}` and `pincer_scrape_replicas{service}` saying who did.
//!
//! Turns are counted where the gateway follows them ([`crate::turns::Submitted`]): API, control
//! plane and hooks. Queue depth is read from JetStream when scraped, never kept.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use pincer_bus::Namespace;
use pincer_bus::access::Role;
use pincer_metrics::{LatencyFamily, latency_family};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// How long a scrape waits for each service.
pub const SCRAPE_PATIENCE: Duration = Duration::from_secs(1);

/// The services that answer scrapes over NATS, each on the subject named after its bus user (the
/// tool host has no NATS: its MCP servers' states come with the agent-runner's figures).
pub const SCRAPED: [Role; 3] = [Role::AgentRunner, Role::LlmRouter, Role::ChannelBridge];

/// Where a turn came from (`http`, `control`, `hook`) and for which agent.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TurnLabels {
    /// The turn's source.
    pub source: String,
    /// The agent.
    pub agent: String,
}

/// How a followed turn ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    source: String,
    agent: String,
    /// `done`, an error code (`provider_unavailable`, ...), or `no_answer`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    agent: String,
    /// `main` (people, hooks, jobs) or `subagents`.
    lane: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

/// The gateway's registry and its metrics (cheap to clone: they share the same series).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    accepted: Family<TurnLabels, Counter>,
    finished: Family<OutcomeLabels, Counter>,
    duration: LatencyFamily<SourceLabel>,
    first_token: LatencyFamily<SourceLabel>,
    queue_depth: Family<QueueLabels, Gauge>,
    scrape_up: Family<ServiceLabel, Gauge>,
    scrape_replicas: Family<ServiceLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        let mut root = Registry::with_prefix("pincer");
        let accepted = Family::<TurnLabels, Counter>::default();
        let finished = Family::<OutcomeLabels, Counter>::default();
        let duration = latency_family();
        let first_token = latency_family();
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        let scrape_up = Family::<ServiceLabel, Gauge>::default();
        let scrape_replicas = Family::<ServiceLabel, Gauge>::default();
        // One name across the stack for "did this service answer"; the rest is the gateway's own.
        root.register(
            "scrape_up",
            "Whether the service answered this scrape (1) or not (0)",
            scrape_up.clone(),
        );
        root.register(
            "scrape_replicas",
            "How many replicas of the service answered this scrape",
            scrape_replicas.clone(),
        );
        let registry = root.sub_registry_with_prefix("gateway");
        registry.register(
            "turns_accepted",
            "Turns the gateway put on the queue and follows",
            accepted.clone(),
        );
        registry.register(
            "turns_finished",
            "Followed turns by how they ended: done, an error code, or no_answer",
            finished.clone(),
        );
        registry.register_with_unit(
            "turn_duration",
            "From a turn's acceptance to its outcome",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            "time_to_first_token",
            "From a streamed turn's acceptance to its first text",
            Unit::Seconds,
            first_token.clone(),
        );
        registry.register(
            "queue_depth",
            "Turns on the queue, waiting or running, per agent and lane (read when scraped)",
            queue_depth.clone(),
        );
        Self {
            registry: Arc::new(root),
            accepted,
            finished,
            duration,
            first_token,
            queue_depth,
            scrape_up,
            scrape_replicas,
        }
    }
}

/// A followed turn's timings, recorded once each.
#[derive(Debug)]
pub struct TurnTimer {
    metrics: Metrics,
    labels: TurnLabels,
    accepted: tokio::time::Instant,
    first_token_seen: bool,
    finished: bool,
}

impl TurnTimer {
    /// Counts `labels`' turn as accepted now.
    pub fn accepted(metrics: &Metrics, labels: TurnLabels) -> Self {
        metrics.accepted.get_or_create(&labels).inc();
        Self {
            metrics: metrics.clone(),
            labels,
            accepted: tokio::time::Instant::now(),
            first_token_seen: false,
            finished: false,
        }
    }

    /// A piece of text arrived: the first one sets the time to first token.
    pub fn text(&mut self) {
        if std::mem::replace(&mut self.first_token_seen, true) {
            return;
        }
        self.metrics
            .first_token
            .get_or_create(&self.source())
            .observe(self.accepted.elapsed().as_secs_f64());
    }

    /// The turn ended with `outcome` (`done`, an error code, `no_answer`); later calls are ignored.
    pub fn finished(&mut self, outcome: &str) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let labels = OutcomeLabels {
            source: self.labels.source.clone(),
            agent: self.labels.agent.clone(),
            outcome: outcome.to_owned(),
        };
        self.metrics.finished.get_or_create(&labels).inc();
        self.metrics
            .duration
            .get_or_create(&self.source())
            .observe(self.accepted.elapsed().as_secs_f64());
    }

    fn source(&self) -> SourceLabel {
        SourceLabel {
            source: self.labels.source.clone(),
        }
    }
}

/// What a scrape reads besides the registry.
pub struct Stack<'a> {
    /// NATS, to ask the services.
    pub client: &'a async_nats::Client,
    /// JetStream, for the turn queue.
    pub js: &'a jetstream::Context,
    /// Subject and stream names.
    pub namespace: &'a Namespace,
    /// The configured agents (the queue is reported for each).
    pub agents: Vec<String>,
}

impl Metrics {
    /// The page `GET /metrics` serves: the queue read now, this registry, then every replica of
    /// every service that answered in time.
    pub async fn page(&self, stack: Stack<'_>) -> String {
        let ns = stack.namespace;
        let asks = SCRAPED.map(|service| {
            pincer_metrics::scrape::gather(
                stack.client,
                ns.metrics(service.user()),
                SCRAPE_PATIENCE,
            )
        });
        let (answers, ()) = tokio::join!(
            futures::future::join_all(asks),
            self.read_queues(stack.js, ns, &stack.agents)
        );
        for (service, answer) in SCRAPED.iter().zip(&answers) {
            let label = ServiceLabel {
                service: service.user().to_owned(),
            };
            self.scrape_up
                .get_or_create(&label)
                .set(i64::from(!answer.is_empty()));
            self.scrape_replicas
                .get_or_create(&label)
                .set(i64::try_from(answer.len()).unwrap_or(i64::MAX));
        }
        let mut page = pincer_metrics::render(&self.registry);
        for texts in &answers {
            page.push_str(&pincer_metrics::merge::merge(texts));
        }
        page
    }

    /// Sets the queue depth of every agent, both lanes, from the turn stream's per-subject counts
    /// (a work queue: a message stays until its turn is acked, so this is waiting plus running).
    async fn read_queues(&self, js: &jetstream::Context, ns: &Namespace, agents: &[String]) {
        type Subject = fn(&Namespace, &str) -> String;
        let lanes: [(&str, String, Subject); 2] = [
            ("main", ns.turns_filter(), Namespace::turn),
            (
                "subagents",
                ns.subagent_turns_filter(),
                Namespace::subagent_turn,
            ),
        ];
        for (lane, filter, subject_of) in lanes {
            let Some(counts) = subject_counts(js, &ns.turns_stream(), &filter).await else {
                continue;
            };
            for agent in agents {
                let depth = counts.get(&subject_of(ns, agent)).copied().unwrap_or(0);
                let labels = QueueLabels {
                    agent: agent.clone(),
                    lane: lane.to_owned(),
                };
                self.queue_depth
                    .get_or_create(&labels)
                    .set(i64::try_from(depth).unwrap_or(i64::MAX));
            }
        }
    }
}

/// Messages per subject of `stream` under `filter`, or `None` (logged) when it cannot be read.
async fn subject_counts(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Option<HashMap<String, usize>> {
    let read = async {
        let stream = js.get_stream(stream).await.map_err(|e| e.to_string())?;
        let mut subjects = stream
            .info_with_subjects(filter)
            .await
            .map_err(|e| e.to_string())?;
        let mut counts = HashMap::new();
        while let Some(entry) = subjects.next().await {
            let (subject, count) = entry.map_err(|e| e.to_string())?;
            counts.insert(subject, count);
        }
        Ok::<_, String>(counts)
    };
    match tokio::time::timeout(SCRAPE_PATIENCE, read).await {
        Ok(Ok(counts)) => Some(counts),
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot read the turn queue for metrics");
            None
        }
        Err(_) => {
            tracing::warn!("the turn queue did not answer in time for metrics");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_counts_once_with_its_first_token_and_duration() {
        let metrics = Metrics::new();
        let labels = TurnLabels {
            source: "http".to_owned(),
            agent: "main".to_owned(),
        };
        let mut timer = TurnTimer::accepted(&metrics, labels);
        timer.text();
        timer.text();
        timer.finished("done");
        timer.finished("no_answer");

        let text = pincer_metrics::render(&metrics.registry);
        assert!(
            text.contains(
                "pincer_gateway_turns_accepted_total{source=\"http\",agent=\"main\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "pincer_gateway_turns_finished_total{source=\"http\",agent=\"main\",outcome=\"done\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("outcome=\"no_answer\""), "{text}");
        assert!(
            text.contains("pincer_gateway_time_to_first_token_seconds_count{source=\"http\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("pincer_gateway_turn_duration_seconds_count{source=\"http\"} 1\n"),
            "{text}"
        );
    }
}
