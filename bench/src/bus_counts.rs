//! How many bus messages a turn costs, read from nats-server's monitoring endpoint.
//!
//! `in_msgs` counts what clients publish (JetStream publishes, acks, KV reads and writes, pull
//! requests, events); `out_msgs` what the server delivers (replies, pulled turns, events). Per
//! connection, so each service's share shows: the services name their connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

/// Message counters at one moment.
#[derive(Clone, Default)]
pub struct Counters {
    in_msgs: u64,
    out_msgs: u64,
    /// Connection name -> (in, out), summed over connections of the same name.
    by_name: BTreeMap<String, (u64, u64)>,
}

impl Counters {
    /// Reads `/varz` and `/connz` of the server monitored at `monitor`.
    pub async fn read(monitor: SocketAddr) -> anyhow::Result<Self> {
        let varz = crate::http_json::get(monitor, "/varz").await?;
        let connz = crate::http_json::get(monitor, "/connz?limit=1024").await?;
        let mut by_name = BTreeMap::new();
        for connection in connz["connections"].as_array().into_iter().flatten() {
            let name = connection["name"].as_str().unwrap_or("unnamed").to_owned();
            let entry: &mut (u64, u64) = by_name.entry(name).or_default();
            entry.0 += connection["in_msgs"].as_u64().unwrap_or(0);
            entry.1 += connection["out_msgs"].as_u64().unwrap_or(0);
        }
        Ok(Self {
            in_msgs: varz["in_msgs"].as_u64().unwrap_or(0),
            out_msgs: varz["out_msgs"].as_u64().unwrap_or(0),
            by_name,
        })
    }

    /// Messages per turn between `self` (before) and `after`, for `turns` turns.
    pub fn per_turn(&self, after: &Self, turns: usize) -> Value {
        let per = |before: u64, after: u64| {
            crate::round(after.saturating_sub(before) as f64 / turns.max(1) as f64)
        };
        let by_connection: serde_json::Map<String, Value> = after
            .by_name
            .iter()
            .map(|(name, (inn, out))| {
                let (inn0, out0) = self.by_name.get(name).copied().unwrap_or_default();
                (
                    name.clone(),
                    json!({ "in": per(inn0, *inn), "out": per(out0, *out) }),
                )
            })
            .collect();
        json!({
            "published_by_clients": per(self.in_msgs, after.in_msgs),
            "delivered_to_clients": per(self.out_msgs, after.out_msgs),
            "by_connection": by_connection,
        })
    }
}
