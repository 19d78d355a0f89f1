//! Asking each provider, now, whether it answers: one model-list request with its first key, from
//! where the router runs (its network, its name resolution). `pincer doctor` asks for this
//! through the gateway's `models.status`, so a provider only the containers can reach is not
//! reported down by a host that cannot.

use std::time::{Duration, Instant};

use pincer_config::Api;
use pincer_proto::llm::v1 as pb;

use crate::providers::Deployment;

/// Patience for one provider.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the provider behind `deployment` for its model list.
pub async fn probe(deployment: &Deployment) -> pb::Probe {
    let url = format!("{}{}", deployment.base_url, deployment.api.models_path());
    let mut request = deployment
        .http
        .get(url)
        .headers(crate::providers::common_headers(deployment))
        .timeout(PROBE_TIMEOUT);
    if let Some(key) = &deployment.api_key {
        request = match deployment.api {
            Api::AnthropicMessages => request
                .header("x-api-key", key.expose())
                .header("anthropic-version", "2023-06-01"),
            _ => request.bearer_auth(key.expose()),
        };
    }
    let started = Instant::now();
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let error = if status.is_success() {
                String::new()
            } else {
                let body = response.text().await.unwrap_or_default();
                message_of(&body, deployment)
            };
            pb::Probe {
                reachable: status.is_success(),
                http_status: u32::from(status.as_u16()),
                error,
                latency_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
            }
        }
        Err(error) => pb::Probe {
            reachable: false,
            http_status: 0,
            error: reason(&error),
            latency_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        },
    }
}

/// The provider's own error message, short, with the key scrubbed should it be echoed.
fn message_of(body: &str, deployment: &Deployment) -> String {
    let key = deployment.api_key.as_ref().map(|key| key.expose());
    pincer_lifecycle::probe::error_message(body, key)
}

/// Why there was no answer, without the URL (it may carry credentials).
fn reason(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        format!("no answer within {PROBE_TIMEOUT:?}")
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    match pincer_lifecycle::probe::innermost_cause(error) {
        Some(cause) => format!("{what}: {cause}"),
        None => what,
    }
}
