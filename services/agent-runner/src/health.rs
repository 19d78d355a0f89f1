//! Readiness over NATS: the gateway's `/readyz` asks "is an agent-runner consuming?" with a request
//! on [`pincer_bus::Namespace::agent_runner_ping`]; every replica answers while its consumer runs,
//! with the state of its tool host and MCP servers (`{"tools": {...}}`) as the payload.

use std::sync::Arc;

use futures::StreamExt;
use pincer_bus::Namespace;
use tokio_util::sync::CancellationToken;

/// Answers pings until `shutdown`; the returned handle is aborted when the consumer stops.
pub fn answer_pings(
    client: async_nats::Client,
    ns: Namespace,
    tools: Option<Arc<crate::tool_host::ToolHost>>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pings = match client
            .queue_subscribe(ns.agent_runner_ping(), "agent-runner".to_owned())
            .await
        {
            Ok(pings) => pings,
            Err(error) => {
                tracing::error!(%error, "cannot subscribe to readiness pings");
                return;
            }
        };
        loop {
            let ping = tokio::select! {
                _ = shutdown.cancelled() => break,
                ping = pings.next() => ping,
            };
            let Some(ping) = ping else { break };
            let report = serde_json::json!({
                "tools": tools.as_ref().map_or_else(
                    || serde_json::json!({"host": "none", "ready": true, "tools": 0, "servers": []}),
                    |host| host.offer().report(),
                ),
            });
            if let Some(reply) = ping.reply
                && let Err(error) = client.publish(reply, report.to_string().into()).await
            {
                tracing::debug!(%error, "cannot answer readiness ping");
            }
        }
    })
}
