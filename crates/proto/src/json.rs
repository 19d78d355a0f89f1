//! The router's catalogue and health as JSON, in one shape for every consumer (`pincer models
//! --json`, the gateway's `models.list` / `models.status` control methods and the Control UI).

use serde_json::{Value, json};

use crate::llm::v1 as pb;

/// `ListModels` as `[{id, name, api, ...}]`.
pub fn models(models: &[pb::ModelInfo]) -> Value {
    models
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "name": m.name, "api": m.api, "source": m.source,
                "contextWindow": m.context_window, "maxTokens": m.max_tokens,
                "supportsTools": m.supports_tools, "belowMinimumContext": m.below_minimum_context,
                "inputCostPerMTok": m.input_cost_per_mtok, "outputCostPerMTok": m.output_cost_per_mtok,
                "health": m.health.as_ref().map(health),
            })
        })
        .collect()
}

/// `Status` as `{sharedHealth, warnings, providers: [...], models: [...]}`.
pub fn status(status: &pb::StatusResponse) -> Value {
    json!({
        "sharedHealth": status.shared_health,
        "warnings": status.warnings,
        "providers": status.providers.iter().map(|p| json!({
            "id": p.id, "api": p.api, "baseUrl": p.base_url,
            "health": p.health.as_ref().map(health),
            "keys": p.keys.iter().map(health).collect::<Vec<_>>(),
            "probe": p.probe.as_ref().map(|probe| json!({
                "reachable": probe.reachable, "httpStatus": probe.http_status,
                "error": probe.error, "latencyMs": probe.latency_ms,
            })),
        })).collect::<Vec<_>>(),
        "models": status.models.iter().map(|m| json!({
            "id": m.id, "health": m.health.as_ref().map(health),
            "lastServedUnixMs": m.last_served_unix_ms,
        })).collect::<Vec<_>>(),
    })
}

/// One breaker's state.
pub fn health(health: &pb::Health) -> Value {
    let state = match health.state() {
        pb::BreakerState::Open => "open",
        pb::BreakerState::HalfOpen => "half-open",
        _ => "closed",
    };
    json!({
        "state": state,
        "cooldownUntilUnixMs": health.cooldown_until_unix_ms,
        "consecutiveFailures": health.consecutive_failures,
        "lastError": health.last_error,
        "lastErrorKind": health.last_error_kind().as_str_name(),
        "lastFailureUnixMs": health.last_failure_unix_ms,
        "lastSuccessUnixMs": health.last_success_unix_ms,
    })
}
