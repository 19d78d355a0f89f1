//! Model providers asked from this machine, by onboarding and `doctor`: the models a provider
//! lists, whether it answers and takes the key, and one short chat that proves a model answers.
//! Keys travel only in headers and never appear in what is returned.

use std::time::{Duration, Instant};

use pincer_config::Api;
use serde_json::{Value, json};

/// Patience for one request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What asking a provider gave.
#[derive(Debug)]
pub enum Answer {
    /// A 2xx answer with its body (JSON when it parsed) and how long it took.
    Ok(Value, Duration),
    /// Any other HTTP status, with the provider's message (key removed).
    Status(u16, String),
    /// No answer: DNS, refused, TLS, timeout.
    Unreachable(String),
}

impl Answer {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Answer::Ok(_, took) => format!("answered in {} ms", took.as_millis()),
            Answer::Status(401 | 403, message) => {
                format!("refused the key (HTTP 401/403): {message}")
            }
            Answer::Status(status, message) => format!("answered HTTP {status}: {message}"),
            Answer::Unreachable(why) => format!("not reachable: {why}"),
        }
    }
}

fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()
}

/// Adds the provider's authentication to a request.
fn authenticate(
    request: reqwest::RequestBuilder,
    api: Api,
    key: Option<&str>,
) -> reqwest::RequestBuilder {
    match (api, key) {
        (Api::AnthropicMessages, key) => request
            .header("x-api-key", key.unwrap_or_default())
            .header("anthropic-version", "2023-06-01"),
        (_, Some(key)) => request.bearer_auth(key),
        (_, None) => request,
    }
}

async fn send(request: reqwest::RequestBuilder, key: Option<&str>) -> Answer {
    let started = Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Answer::Unreachable(reason(&error)),
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let took = started.elapsed();
    if (200..300).contains(&status) {
        return Answer::Ok(serde_json::from_str(&text).unwrap_or(Value::Null), took);
    }
    Answer::Status(status, pincer_lifecycle::probe::error_message(&text, key))
}

/// Why a request got no answer, without the URL (which may carry credentials).
fn reason(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    match pincer_lifecycle::probe::innermost_cause(error) {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

/// `GET` the provider's model list (Ollama `/api/tags`, OpenAI-compatible `/models`, Anthropic
/// `/v1/models`).
pub async fn list(api: Api, base: &str, key: Option<&str>) -> Answer {
    let Some(client) = client() else {
        return Answer::Unreachable("no HTTP client".to_owned());
    };
    let url = format!("{}{}", base.trim_end_matches('/'), api.models_path());
    send(authenticate(client.get(url), api, key), key).await
}

/// The model ids of a list answer (`models[].name` for Ollama, `data[].id` otherwise).
pub fn model_ids(body: &Value) -> Vec<String> {
    body["models"]
        .as_array()
        .or_else(|| body["data"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m["name"]
                .as_str()
                .filter(|_| m.get("id").is_none())
                .or_else(|| m["id"].as_str())
                .or_else(|| m["model"].as_str())
        })
        .map(str::to_owned)
        .collect()
}

/// OpenRouter's `GET /key`: whether it takes `key` (401 when not).
pub async fn openrouter_key(base: &str, key: &str) -> Answer {
    let Some(client) = client() else {
        return Answer::Unreachable("no HTTP client".to_owned());
    };
    let url = format!("{}/key", base.trim_end_matches('/'));
    send(client.get(url).bearer_auth(key), Some(key)).await
}

/// One short chat with `model`: proves the model exists and the key may use it. `Ok` carries the
/// reply's text.
pub async fn short_chat(api: Api, base: &str, key: Option<&str>, model: &str) -> Answer {
    let Some(client) = client() else {
        return Answer::Unreachable("no HTTP client".to_owned());
    };
    let base = base.trim_end_matches('/');
    let prompt = json!([{ "role": "user", "content": "Reply with one word: ready" }]);
    let request = match api {
        Api::Ollama => client.post(format!("{base}/api/chat")).json(&json!({
            "model": model, "messages": prompt, "stream": false, "options": { "num_predict": 8 },
        })),
        Api::AnthropicMessages => client.post(format!("{base}/v1/messages")).json(&json!({
            "model": model, "messages": prompt, "max_tokens": 8,
        })),
        _ => client
            .post(format!("{base}/chat/completions"))
            .json(&json!({
                "model": model, "messages": prompt, "max_tokens": 8,
            })),
    };
    match send(authenticate(request, api, key), key).await {
        Answer::Ok(body, took) => {
            let text = body["message"]["content"]
                .as_str()
                .or_else(|| body["choices"][0]["message"]["content"].as_str())
                .or_else(|| body["content"][0]["text"].as_str())
                .unwrap_or("")
                .trim()
                .chars()
                .take(60)
                .collect::<String>();
            Answer::Ok(Value::String(text), took)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_read_every_wire() {
        let ollama = json!({ "models": [{ "name": "llama3.2:3b", "model": "llama3.2:3b" }] });
        assert_eq!(model_ids(&ollama), ["llama3.2:3b"]);
        let openrouter = json!({ "data": [{ "id": "openrouter/auto", "name": "Auto Router" }, { "id": "openai/gpt-4o-mini", "name": "OpenAI: GPT-4o-mini" }] });
        assert_eq!(
            model_ids(&openrouter),
            ["openrouter/auto", "openai/gpt-4o-mini"]
        );
        assert!(model_ids(&json!({ "error": "no" })).is_empty());
    }
}
