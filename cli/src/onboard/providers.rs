//! The providers step: Ollama (local or a remote host), OpenRouter, Anthropic and an
//! OpenAI-compatible API; each one's key goes to `.env` and the models it lists are offered next.

use std::time::Duration;

use serde_json::{Value, json};

use super::prompter::Prompter;
use super::{Args, Files, Plan};

/// Asks for each provider and records it in `plan`, with the models it lists.
pub(super) async fn choose(args: &Args, ask: &mut Prompter, files: &Files, plan: &mut Plan) {
    let existing = |name: &str| files.existing(name);
    let ollama = match (&args.ollama_url, ask.interactive) {
        (Some(url), _) => Some(url.clone()),
        (None, true) => {
            let current =
                existing("OLLAMA_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:11434".to_owned());
            let answer = ask.ask(
                "Ollama URL (local, or your 8 GB host's tailnet address; 'none' to skip)",
                &current,
            );
            (answer != "none").then_some(answer)
        }
        (None, false) => None,
    };
    if let Some(url) = &ollama {
        plan.env("OLLAMA_BASE_URL", url);
        plan.set(
            "models.providers.ollama",
            json!({ "baseUrl": "${OLLAMA_BASE_URL}", "api": "ollama" }),
        );
        plan.offer("ollama", list_models("ollama", url, None).await);
    }
    let keyed = [
        (
            "openrouter",
            "OPENROUTER_API_KEY",
            "OpenRouter API key",
            args.openrouter_key.clone(),
            "https://openrouter.ai/api/v1",
            "openai-completions",
        ),
        (
            "anthropic",
            "ANTHROPIC_API_KEY",
            "Anthropic API key",
            args.anthropic_key.clone(),
            "https://api.anthropic.com",
            "anthropic-messages",
        ),
    ];
    for (provider, variable, question, flag, base, api) in keyed {
        let key = flag
            .or_else(|| ask.secret(question, existing(variable).is_some()))
            .or_else(|| {
                existing(variable).filter(|_| {
                    files.config.contains(&format!("providers.{provider}"))
                        || files.config.contains(variable)
                })
            });
        if let Some(key) = key {
            plan.env(variable, &key);
            plan.set(
                if provider == "openrouter" {
                    "models.providers.openrouter"
                } else {
                    "models.providers.anthropic"
                },
                json!({ "baseUrl": base, "apiKey": format!("${{{variable}}}"), "api": api }),
            );
            plan.offer(provider, list_models(api, base, Some(&key)).await);
        }
    }
    let openai_base = args.openai_base_url.clone().or_else(|| {
        let answer = ask.ask(
            "Base URL of an OpenAI-compatible API ('none' to skip)",
            "none",
        );
        (ask.interactive && answer != "none").then_some(answer)
    });
    if let Some(base) = &openai_base {
        let key = args
            .openai_key
            .clone()
            .or_else(|| ask.secret("Its API key", existing("OPENAI_API_KEY").is_some()))
            .or_else(|| existing("OPENAI_API_KEY"));
        let mut provider = json!({ "baseUrl": base, "api": "openai-completions" });
        if let Some(key) = &key {
            plan.env("OPENAI_API_KEY", key);
            provider["apiKey"] = json!("${OPENAI_API_KEY}");
        }
        plan.set("models.providers.openai", provider);
        plan.offer(
            "openai",
            list_models("openai-completions", base, key.as_deref()).await,
        );
    }
}

/// The models a provider lists (empty when it cannot be asked).
async fn list_models(api: &str, base: &str, key: Option<&str>) -> Vec<String> {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .build()
    else {
        return Vec::new();
    };
    let base = base.trim_end_matches('/');
    let request = match api {
        "ollama" => client.get(format!("{base}/api/tags")),
        "anthropic-messages" => client
            .get(format!("{base}/v1/models"))
            .header("x-api-key", key.unwrap_or_default())
            .header("anthropic-version", "2023-06-01"),
        _ => {
            let request = client.get(format!("{base}/models"));
            match key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        }
    };
    let Ok(response) = request.send().await else {
        return Vec::new();
    };
    let Ok(body) = response.json::<Value>().await else {
        return Vec::new();
    };
    let entries = body["models"]
        .as_array()
        .or_else(|| body["data"].as_array())
        .cloned()
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|m| {
            m["name"]
                .as_str()
                .or_else(|| m["id"].as_str())
                .or_else(|| m["model"].as_str())
        })
        .map(str::to_owned)
        .collect()
}
