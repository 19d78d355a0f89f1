//! The model providers, checked from where the services run. With the stack up, the llm-router
//! asks each provider itself (the gateway's `models.status` with `probe`), so a name only the
//! containers resolve (`fake-provider`, `ollama`) is checked where it means something. With the
//! stack down they are asked from this machine, which is where a native stack runs; for compose,
//! a name this machine cannot resolve is skipped, not failed, and a loopback address fails
//! (inside a container it is the container itself).

use pincer_config::Config;
use pincer_control_client::ControlClient;
use serde_json::{Value, json};

use super::{Check, State, check};
use crate::provider_http::{self, Answer};

/// Checks every provider with a base URL: through the router when `client` is signed in to a
/// running gateway, else from here.
pub(super) async fn provider_checks(
    config: &Config,
    client: Option<&mut ControlClient>,
    compose: bool,
    out: &mut Vec<Check>,
) {
    if let Some(client) = client {
        match client.call("models.status", json!({ "probe": true })).await {
            Ok(status) => {
                for provider in status["providers"].as_array().into_iter().flatten() {
                    out.push(from_router(provider, compose));
                }
                return;
            }
            Err(error) => out.push(check(
                "llm-router",
                State::Warn,
                format!(
                    "the gateway could not ask the llm-router ({}); providers checked from this machine instead",
                    error["message"].as_str().unwrap_or("no answer")
                ),
                "pincer gateway logs llm-router",
            )),
        }
    }
    for (name, provider) in &config.models.providers {
        let Some(base) = provider.base_url.as_deref() else {
            continue;
        };
        let key = provider.keys().first().map(|k| k.expose().to_owned());
        out.push(from_here(name, provider.api_for(name), base, key.as_deref(), compose).await);
    }
}

/// A provider as the llm-router found it.
fn from_router(provider: &Value, compose: bool) -> Check {
    let name = format!("provider {}", provider["id"].as_str().unwrap_or("?"));
    let base = provider["baseUrl"].as_str().unwrap_or("?");
    let probe = &provider["probe"];
    let health = &provider["health"];
    let cooling = health["state"] == "open";
    if probe.is_null() {
        // A router without probes: its breaker is all it knows.
        return if cooling {
            check(
                name,
                State::Warn,
                format!(
                    "{base} is cooling down: {}",
                    health["lastError"].as_str().unwrap_or("")
                ),
                "pincer models status",
            )
        } else {
            check(
                name,
                State::Ok,
                format!("{base}: no failures seen by the llm-router"),
                "",
            )
        };
    }
    let status = probe["httpStatus"].as_u64().unwrap_or(0);
    let error = probe["error"].as_str().unwrap_or("");
    let fix_reach = if compose {
        "baseUrl must be reachable from the llm-router container (a compose service name, the host's address on the docker network, or a tailnet address)"
    } else {
        "is the provider running, and is baseUrl right?"
    };
    match (probe["reachable"].as_bool().unwrap_or(false), status) {
        (true, _) if cooling => check(
            name,
            State::Warn,
            format!(
                "{base} answers the llm-router, but it is cooling down after: {}",
                health["lastError"].as_str().unwrap_or("")
            ),
            "pincer models status",
        ),
        (true, _) => check(
            name,
            State::Ok,
            format!(
                "{base} answers the llm-router ({} ms)",
                probe["latencyMs"].as_u64().unwrap_or(0)
            ),
            "",
        ),
        (false, 401 | 403) => check(
            name,
            State::Fail,
            format!("{base} refuses the key (HTTP {status}): {error}"),
            format!(
                "check models.providers.{}.apiKey and its variable in .env",
                provider["id"].as_str().unwrap_or("?")
            ),
        ),
        (false, 0) => check(
            name,
            State::Fail,
            format!("the llm-router cannot reach {base}: {error}"),
            fix_reach,
        ),
        (false, status) => check(
            name,
            State::Warn,
            format!("{base} answers the llm-router with HTTP {status}: {error}"),
            "check the baseUrl",
        ),
    }
}

/// A provider asked from this machine.
async fn from_here(
    name: &str,
    api: pincer_config::Api,
    base: &str,
    key: Option<&str>,
    compose: bool,
) -> Check {
    let label = format!("provider {name}");
    let host = host_of(base);
    if compose && is_loopback(&host) {
        return check(
            label,
            State::Fail,
            format!(
                "{base} is this machine's loopback, which the llm-router container cannot reach"
            ),
            "use an address the containers reach: http://ollama:11434 (profile ollama), the host's address on the docker network, or a tailnet address",
        );
    }
    if compose && tokio::net::lookup_host((host.as_str(), 80)).await.is_err() {
        return check(
            label,
            State::Skip,
            format!(
                "{host} resolves only inside the stack's network; checked through the llm-router once the stack runs"
            ),
            "",
        );
    }
    match provider_http::list(api, base, key).await {
        answer @ Answer::Ok(..) => check(
            label,
            State::Ok,
            format!("{base} {} (from this machine)", answer.describe()),
            "",
        ),
        answer @ Answer::Status(401 | 403, _) => check(
            label,
            State::Fail,
            format!("{base} {}", answer.describe()),
            format!("check models.providers.{name}.apiKey and its variable in .env"),
        ),
        answer @ Answer::Status(..) => check(
            label,
            State::Warn,
            format!("{base} {}", answer.describe()),
            "check the baseUrl",
        ),
        answer @ Answer::Unreachable(_) => check(
            label,
            State::Fail,
            format!("{base}: {}", answer.describe()),
            "is the provider running, and is baseUrl right?",
        ),
    }
}

/// The host of a URL (`http://host:port/path`), lower case, brackets kept off IPv6.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    };
    host.to_ascii_lowercase()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_loopback() {
        assert_eq!(host_of("http://fake-provider:8080"), "fake-provider");
        assert_eq!(host_of("https://openrouter.ai/api/v1"), "openrouter.ai");
        assert_eq!(host_of("http://user:pw@[::1]:11434/x"), "::1");
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("172.17.0.1"));
    }

    #[test]
    fn router_probes_become_checks() {
        let ok = json!({ "id": "ollama", "baseUrl": "http://fake-provider:8080", "health": { "state": "closed" }, "probe": { "reachable": true, "httpStatus": 200, "latencyMs": 3 } });
        assert_eq!(from_router(&ok, true).state, State::Ok);
        let refused = json!({ "id": "openrouter", "baseUrl": "https://openrouter.ai", "health": {}, "probe": { "reachable": false, "httpStatus": 401, "error": "bad key" } });
        assert_eq!(from_router(&refused, true).state, State::Fail);
        let down = json!({ "id": "ollama", "baseUrl": "http://ollama:11434", "health": {}, "probe": { "reachable": false, "error": "dns" } });
        let down = from_router(&down, true);
        assert_eq!(down.state, State::Fail);
        assert!(down.fix.contains("container"), "{}", down.fix);
    }
}
