//! The agent-runner's metrics: turns, their duration, model and tool calls, loop-guard stops, and
//! the tool host's MCP servers as its catalogue last reported them (the tool host has no NATS, so
//! its states travel with these figures). Answered to the gateway's scrape over NATS.

use std::sync::Arc;
use std::time::Duration;

use pincer_metrics::{LatencyFamily, latency_family};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::tool_host::ToolHost;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabel {
    agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentOutcome {
    agent: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolOutcome {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

/// The runner's registry and its metrics (cheap to clone: clones share the series).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    turns: Family<AgentOutcome, Counter>,
    turn_duration: LatencyFamily<AgentLabel>,
    model_calls: Family<AgentOutcome, Counter>,
    tool_calls: Family<ToolOutcome, Counter>,
    loop_guard_stops: Family<AgentLabel, Counter>,
    tool_host_up: Gauge,
    mcp_server_up: Family<ServerLabel, Gauge>,
}

impl Metrics {
    /// An empty registry for the replica `replica`.
    pub fn new(replica: &str) -> Self {
        let mut registry = pincer_metrics::replica_registry("pincer_runner", replica);
        let metrics = Self {
            registry: Arc::default(),
            turns: Family::default(),
            turn_duration: latency_family(),
            model_calls: Family::default(),
            tool_calls: Family::default(),
            loop_guard_stops: Family::default(),
            tool_host_up: Gauge::default(),
            mcp_server_up: Family::default(),
        };
        registry.register(
            "turns",
            "Turns whose outcome was stored: answered, command, or the error code",
            metrics.turns.clone(),
        );
        registry.register_with_unit(
            "turn_duration",
            "From taking a turn to storing its outcome",
            Unit::Seconds,
            metrics.turn_duration.clone(),
        );
        registry.register(
            "model_calls",
            "Calls to the llm-router: ok, or the error code",
            metrics.model_calls.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls by tool and outcome: ok, error, denied, timeout, not_run",
            metrics.tool_calls.clone(),
        );
        registry.register(
            "loop_guard_stops",
            "Runs stopped because the model kept repeating a failing call",
            metrics.loop_guard_stops.clone(),
        );
        registry.register(
            "tool_host_up",
            "Whether the tool host is reachable (1) or not (0)",
            metrics.tool_host_up.clone(),
        );
        registry.register(
            "mcp_server_up",
            "Whether each MCP server of the tool host is connected (1) or not (0)",
            metrics.mcp_server_up.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// A turn of `agent` ended with `outcome` after `took`.
    pub fn turn(&self, agent: &str, outcome: &str, took: Duration) {
        self.turns
            .get_or_create(&AgentOutcome {
                agent: agent.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.turn_duration
            .get_or_create(&AgentLabel {
                agent: agent.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A model call of `agent` ended with `outcome` (`ok` or an error code).
    pub fn model_call(&self, agent: &str, outcome: &str) {
        self.model_calls
            .get_or_create(&AgentOutcome {
                agent: agent.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A call of `tool` ended with `outcome`. The caller makes sure `tool` is one the agent was
    /// offered: the model may invent names, and each name would be a series.
    pub fn tool_call(&self, tool: &str, outcome: &str) {
        self.tool_calls
            .get_or_create(&ToolOutcome {
                tool: tool.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A run of `agent` was stopped by the loop guard.
    pub fn loop_guard_stop(&self, agent: &str) {
        self.loop_guard_stops
            .get_or_create(&AgentLabel {
                agent: agent.to_owned(),
            })
            .inc();
    }

    /// The registry as text, with the tool host's states as last reported.
    pub fn render(&self, host: Option<&ToolHost>) -> String {
        if let Some(host) = host {
            let offer = host.offer();
            self.tool_host_up.set(i64::from(offer.reachable));
            // Servers removed from the tool host's config disappear instead of staying at 0.
            self.mcp_server_up.clear();
            for server in &offer.catalog.servers {
                let up = offer.reachable && server.state == "connected";
                self.mcp_server_up
                    .get_or_create(&ServerLabel {
                        server: server.name.clone(),
                    })
                    .set(i64::from(up));
            }
        }
        pincer_metrics::render(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_and_calls_render_with_their_labels() {
        let metrics = Metrics::new("r1");
        metrics.turn("main", "answered", Duration::from_millis(300));
        metrics.turn("main", "provider_unavailable", Duration::from_secs(2));
        metrics.model_call("main", "ok");
        metrics.tool_call("read", "ok");
        metrics.tool_call("exec", "denied");
        metrics.loop_guard_stop("main");

        let text = metrics.render(None);
        for line in [
            "pincer_runner_turns_total{replica=\"r1\",agent=\"main\",outcome=\"answered\"} 1\n",
            "pincer_runner_turns_total{replica=\"r1\",agent=\"main\",outcome=\"provider_unavailable\"} 1\n",
            "pincer_runner_turn_duration_seconds_count{replica=\"r1\",agent=\"main\"} 2\n",
            "pincer_runner_model_calls_total{replica=\"r1\",agent=\"main\",outcome=\"ok\"} 1\n",
            "pincer_runner_tool_calls_total{replica=\"r1\",tool=\"exec\",outcome=\"denied\"} 1\n",
            "pincer_runner_loop_guard_stops_total{replica=\"r1\",agent=\"main\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
