//! What the router tells operators: the model list (configured and discovered, with window, tool
//! support and health) and per-provider/key/model health, plus configuration warnings.

use pincer_config::Api;
use pincer_proto::llm::v1 as pb;

use crate::catalog::display_origin;
use crate::failover::Engine;
use crate::guard;
use crate::health::{HealthRecord, State, Target};
use crate::providers::Deployment;
use pincer_clock::now_ms;

/// Every configured model, then every model an Ollama provider has pulled, or a self-hosted
/// OpenAI-compatible one lists, that the config does not list.
pub async fn models(engine: &Engine) -> Vec<pb::ModelInfo> {
    let mut lookups = Vec::new();
    for (provider_id, provider) in engine.catalog.providers() {
        for entry in &provider.models {
            let reference = format!("{provider_id}/{}", entry.id);
            let name = entry.name.clone().unwrap_or_else(|| entry.id.clone());
            if let Ok(deployment) = engine.catalog.resolve(&reference) {
                lookups.push((deployment, name, "config"));
            }
        }
        // Hosted APIs' own lists run to hundreds of models, most not for chat, and this list
        // also serves the runner's window lookups: only a server on this machine or its
        // network (vLLM, LM Studio, llama.cpp; also under the name `openai`, as onboarding
        // writes it) is asked what it offers.
        let api = provider.api_for(provider_id);
        let self_hosted_openai =
            api == Api::OpenaiCompletions && provider.base_url.as_deref().is_some_and(is_local_url);
        if api != Api::Ollama && !self_hosted_openai {
            continue;
        }
        let Ok(probe) = engine.catalog.resolve(&format!("{provider_id}/-")) else {
            continue;
        };
        for pulled in engine.discovery.tags(&probe).await {
            if provider.models.iter().any(|entry| entry.id == pulled) {
                continue;
            }
            if let Ok(deployment) = engine.catalog.resolve(&format!("{provider_id}/{pulled}")) {
                lookups.push((deployment, pulled, "discovered"));
            }
        }
    }
    let infos = lookups
        .into_iter()
        .map(|(deployment, name, source)| model_info(engine, deployment, name, source));
    futures::future::join_all(infos).await
}

async fn model_info(
    engine: &Engine,
    deployment: Deployment,
    name: String,
    source: &str,
) -> pb::ModelInfo {
    let (tuning, window) = engine.tuning(&deployment).await;
    pb::ModelInfo {
        id: deployment.reference.clone(),
        name,
        api: deployment.api.as_str().to_owned(),
        context_window: window.unwrap_or(0),
        max_tokens: deployment.max_tokens.unwrap_or(0),
        source: source.to_owned(),
        supports_tools: tuning.tools_supported,
        below_minimum_context: guard::small_window_warning(&deployment.reference, window).is_some(),
        health: Some(health(
            &engine
                .book
                .get(&Target::Model(deployment.reference.clone())),
        )),
        input_cost_per_mtok: deployment.cost.map(|c| c.input),
        output_cost_per_mtok: deployment.cost.map(|c| c.output),
    }
}

/// Health of every provider, key and model, with warnings; with `probe`, each provider asked now
/// (all at once, so the answer takes as long as the slowest one).
pub async fn status(engine: &Engine, probe: bool) -> pb::StatusResponse {
    let mut providers = Vec::new();
    let mut probes = Vec::new();
    let mut warnings = startup_warnings(engine);
    for (provider_id, provider) in engine.catalog.providers() {
        let api = provider.api_for(provider_id);
        let base_url = engine
            .catalog
            .base_url(provider_id, provider)
            .map(|url| display_origin(&url))
            .unwrap_or_default();
        providers.push(pb::ProviderStatus {
            id: provider_id.clone(),
            api: api.as_str().to_owned(),
            base_url,
            health: Some(health(
                &engine.book.get(&Target::Provider(provider_id.clone())),
            )),
            keys: provider
                .keys()
                .iter()
                .map(|key| health(&engine.book.get(&Target::key(provider_id, key))))
                .collect(),
            probe: None,
        });
        let deployment = engine.catalog.resolve(&format!("{provider_id}/-")).ok();
        probes.push(async move {
            match deployment {
                Some(deployment) if probe => Some(crate::probe::probe(&deployment).await),
                _ => None,
            }
        });
    }
    for (provider, probe) in providers
        .iter_mut()
        .zip(futures::future::join_all(probes).await)
    {
        provider.probe = probe;
    }
    let mut model_ids: Vec<String> = engine
        .catalog
        .providers()
        .flat_map(|(id, p)| p.models.iter().map(move |m| format!("{id}/{}", m.id)))
        .collect();
    for (name, _) in engine.book.snapshot() {
        if let Some(reference) = name.strip_prefix("model/")
            && !model_ids.iter().any(|m| m == reference)
        {
            model_ids.push(reference.to_owned());
        }
    }
    let models = model_ids
        .into_iter()
        .map(|id| pb::ModelStatus {
            health: Some(health(&engine.book.get(&Target::Model(id.clone())))),
            last_served_unix_ms: engine.last_served(&id),
            id,
        })
        .collect();
    // Ollama models run with the window /api/show and the config allow, which can be smaller
    // than the configured one.
    for info in self::models(engine).await {
        if info.below_minimum_context
            && !warnings
                .iter()
                .any(|w| w.starts_with(&format!("{} ", info.id)))
        {
            warnings.extend(guard::small_window_warning(
                &info.id,
                Some(info.context_window),
            ));
        }
    }
    if !engine.book.is_shared() {
        warnings.push(
            "model health is kept in this replica's memory only (NATS KV not configured or not reachable)"
                .to_owned(),
        );
    }
    warnings.dedup();
    pb::StatusResponse {
        providers,
        models,
        warnings,
        shared_health: engine.book.is_shared(),
    }
}

/// Problems visible from the configuration alone: windows below 64K, APIs this build cannot call.
pub fn startup_warnings(engine: &Engine) -> Vec<String> {
    let mut warnings = Vec::new();
    for (provider_id, provider) in engine.catalog.providers() {
        let api = provider.api_for(provider_id);
        if matches!(api, Api::OpenaiResponses | Api::GoogleGenerativeAi) {
            warnings.push(format!(
                "provider {provider_id:?} uses api {:?}, which this build does not speak; use \"openai-completions\" (OpenAI, OpenRouter and Gemini all offer it)",
                api.as_str()
            ));
        }
        for entry in &provider.models {
            let reference = format!("{provider_id}/{}", entry.id);
            warnings.extend(guard::small_window_warning(
                &reference,
                entry.context_window,
            ));
        }
    }
    warnings
}

/// The wire form of a record at the current time.
pub fn health(record: &HealthRecord) -> pb::Health {
    let now = now_ms();
    let state = match record.state(now) {
        State::Closed => pb::BreakerState::Closed,
        State::Open { .. } => pb::BreakerState::Open,
        State::HalfOpen => pb::BreakerState::HalfOpen,
    };
    pb::Health {
        state: state.into(),
        cooldown_until_unix_ms: if record.open_until_ms > now {
            record.open_until_ms
        } else {
            0
        },
        consecutive_failures: record.failures,
        last_error: record.last_error.clone(),
        last_error_kind: record
            .last_kind
            .map_or(pb::ErrorKind::Unspecified, |k| k.to_proto())
            .into(),
        last_failure_unix_ms: record.last_failure_ms,
        last_success_unix_ms: record.last_success_ms,
    }
}

/// Whether `url` names a host on this machine or its private network: loopback, private or
/// shared (CGNAT, tailnet) addresses, `localhost`, and single-label names (a compose service).
fn is_local_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                // 100.64.0.0/10: CGNAT and tailnets.
                || (ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1]))
        }
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => host == "localhost" || host.ends_with(".localhost") || !host.contains('.'),
    }
}

#[cfg(test)]
mod local_url_tests {
    use super::is_local_url;

    #[test]
    fn only_servers_nearby_count_as_self_hosted() {
        for local in [
            "http://127.0.0.1:8000/v1",
            "http://192.168.1.5:1234/v1",
            "http://100.64.0.7:8080/v1",
            "http://localhost:11434/v1",
            "http://vllm:8000/v1",
            "http://[::1]:8000/v1",
        ] {
            assert!(is_local_url(local), "{local}");
        }
        for hosted in [
            "https://api.groq.com/openai/v1",
            "https://8.8.8.8/v1",
            "not a url",
        ] {
            assert!(!is_local_url(hosted), "{hosted}");
        }
    }
}
