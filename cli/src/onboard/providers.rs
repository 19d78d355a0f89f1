//! The providers step: Ollama (local or a remote host), OpenRouter, Anthropic and an
//! OpenAI-compatible API. Each is asked for its models as soon as it is entered: a URL that does
//! not answer or a key that is malformed or refused is said and asked again; what each lists is
//! offered in the models step. Keys go to `.env`, the config names them.

use pincer_config::Api;
use serde_json::json;

use super::prompter::Prompter;
use super::{Args, Files, Plan, Provider, Stop};
use crate::provider_http::{self, Answer};
use crate::target::exit;

/// OpenRouter's API.
const OPENROUTER: &str = "https://openrouter.ai/api/v1";
/// Anthropic's API.
const ANTHROPIC: &str = "https://api.anthropic.com";

/// Asks for each provider and records it in `plan`, with the models it lists.
pub(super) async fn choose(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    ollama(args, ask, files, plan).await?;
    openrouter(args, ask, files, plan).await?;
    anthropic(args, ask, files, plan).await?;
    openai_compatible(args, ask, files, plan).await
}

/// Whether a provider this run did not touch is already in the config (its key is kept).
fn configured(files: &Files, id: &str) -> bool {
    let doc: serde_json::Value = json5::from_str(&files.config).unwrap_or_default();
    doc["models"]["providers"][id].is_object()
}

async fn ollama(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let current = files
        .existing("OLLAMA_BASE_URL")
        .unwrap_or_else(|| "http://127.0.0.1:11434".to_owned());
    let question = "Ollama URL (local, or your 8 GB host's tailnet address; 'none' to skip)";
    let mut answer = match &args.ollama_url {
        Some(url) => url.clone(),
        None if ask.interactive => ask.ask(question, &current)?,
        None => return Ok(()),
    };
    loop {
        if answer == "none" {
            return Ok(());
        }
        let problem = url_problem(&answer, plan.compose_dir.is_some());
        let listed = match &problem {
            Some(_) => None,
            None => match provider_http::list(Api::Ollama, &answer, None).await {
                Answer::Ok(body, _) => Some(provider_http::model_ids(&body)),
                other => {
                    println!("  Ollama at {answer}: {}", other.describe());
                    None
                }
            },
        };
        if let Some(problem) = &problem {
            println!("  {problem}");
        }
        if let Some(ids) = listed {
            if ids.is_empty() {
                println!(
                    "  Ollama at {answer} answers but has no model yet: `ollama pull llama3.2:3b` on that host"
                );
            } else {
                println!("  Ollama at {answer} lists {} model(s)", ids.len());
            }
            record_ollama(plan, &answer, Some(ids));
            return Ok(());
        }
        if !ask.interactive {
            if problem.is_some() {
                return Err(Stop::new(
                    exit::USAGE,
                    format!("--ollama-url {answer}: {}", problem.unwrap_or_default()),
                ));
            }
            println!("  kept: it may answer where the services run");
            record_ollama(plan, &answer, None);
            return Ok(());
        }
        let retry = ask.ask(
            "Ollama URL: another one, 'keep' to use it anyway (a name only the containers resolve, a host that is down now), or 'none'",
            &answer,
        )?;
        if retry == "keep" && problem.is_none() {
            record_ollama(plan, &answer, None);
            return Ok(());
        }
        answer = retry;
    }
}

fn record_ollama(plan: &mut Plan, url: &str, listed: Option<Vec<String>>) {
    plan.env("OLLAMA_BASE_URL", url);
    plan.set(
        "models.providers.ollama.baseUrl",
        json!("${OLLAMA_BASE_URL}"),
    );
    plan.set("models.providers.ollama.api", json!("ollama"));
    plan.providers.push(Provider {
        id: "ollama".to_owned(),
        api: Api::Ollama,
        base: url.to_owned(),
        key: None,
        models: listed.map(|ids| ids.into_iter().map(|id| format!("ollama/{id}")).collect()),
    });
}

/// What is wrong with a base URL before anything is sent, if anything.
fn url_problem(url: &str, compose: bool) -> Option<String> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Some(format!("{url:?} is not a URL: http://host:port"));
    };
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host.is_empty() {
        return Some(format!("{url:?} names no host"));
    }
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (compose && loopback).then(|| {
        format!("{url} is this machine's loopback: inside the compose containers it is the container itself. Use the host's address on the docker network (e.g. http://172.17.0.1:11434, with Ollama listening there), a tailnet address, or http://ollama:11434 (profile ollama)")
    })
}

/// One API-key provider: its names and how its keys look.
struct Keyed {
    id: &'static str,
    name: &'static str,
    variable: &'static str,
    prefix: &'static str,
    api: Api,
}

const OPENROUTER_KEYED: Keyed = Keyed {
    id: "openrouter",
    name: "OpenRouter",
    variable: "OPENROUTER_API_KEY",
    prefix: "sk-or-",
    api: Api::OpenaiCompletions,
};

const ANTHROPIC_KEYED: Keyed = Keyed {
    id: "anthropic",
    name: "Anthropic",
    variable: "ANTHROPIC_API_KEY",
    prefix: "sk-ant-",
    api: Api::AnthropicMessages,
};

async fn openrouter(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let spec = OPENROUTER_KEYED;
    let base = args
        .openrouter_url
        .clone()
        .unwrap_or_else(|| OPENROUTER.to_owned());
    let Some(key) = key_for(&spec, args.openrouter_key.clone(), &base, ask, files).await? else {
        return Ok(());
    };
    let answer = provider_http::list(spec.api, &base, Some(&key)).await;
    let models = match &answer {
        Answer::Ok(body, _) => {
            let mut refs = vec!["openrouter/auto".to_owned()];
            for id in provider_http::model_ids(body) {
                // OpenRouter's own routers are named without the repeat (openrouter/auto).
                let reference = match id.strip_prefix("openrouter/") {
                    Some(own) => format!("openrouter/{own}"),
                    None => format!("openrouter/{id}"),
                };
                if !refs.contains(&reference) {
                    refs.push(reference);
                }
            }
            println!("  OpenRouter lists {} model(s)", refs.len());
            Some(refs)
        }
        other => {
            println!("  OpenRouter did not list its models: {}", other.describe());
            None
        }
    };
    spec.record(plan, &base, OPENROUTER, key, models);
    Ok(())
}

async fn anthropic(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let spec = ANTHROPIC_KEYED;
    let Some(key) = key_for(&spec, args.anthropic_key.clone(), ANTHROPIC, ask, files).await? else {
        return Ok(());
    };
    let models = match provider_http::list(spec.api, ANTHROPIC, Some(&key)).await {
        Answer::Ok(body, _) => Some(
            provider_http::model_ids(&body)
                .into_iter()
                .map(|id| format!("anthropic/{id}"))
                .collect(),
        ),
        _ => None,
    };
    spec.record(plan, ANTHROPIC, ANTHROPIC, key, models);
    Ok(())
}

impl Keyed {
    /// The key to `.env`, the provider to the config (its `baseUrl` only when not the usual
    /// one), and its models on offer.
    fn record(
        &self,
        plan: &mut Plan,
        base: &str,
        usual: &str,
        key: String,
        models: Option<Vec<String>>,
    ) {
        plan.env(self.variable, &key);
        let at = format!("models.providers.{}", self.id);
        if base != usual {
            plan.set(format!("{at}.baseUrl"), json!(base));
        }
        plan.set(
            format!("{at}.apiKey"),
            json!(format!("${{{}}}", self.variable)),
        );
        plan.providers.push(Provider {
            id: self.id.to_owned(),
            api: self.api,
            base: base.to_owned(),
            key: Some(key),
            models,
        });
    }
}

/// The key of a keyed provider: from the flag, typed (checked, with second chances), or the one
/// `.env` already has for a provider the config has. `None`: the provider is skipped.
async fn key_for(
    spec: &Keyed,
    flag: Option<String>,
    base: &str,
    ask: &mut Prompter,
    files: &Files,
) -> Result<Option<String>, Stop> {
    let existing = files
        .existing(spec.variable)
        .filter(|_| configured(files, spec.id));
    let question = format!("{} API key ({}...)", spec.name, spec.prefix);
    let mut typed = match flag {
        Some(key) => Some(key),
        None => ask.secret(&question, existing.is_some())?,
    };
    loop {
        let Some(key) = typed.take() else {
            return Ok(existing);
        };
        let refusal = match key_problem(spec, &key) {
            Some(problem) => Some(problem),
            None => check_key(spec, base, &key).await,
        };
        let Some(refusal) = refusal else {
            return Ok(Some(key));
        };
        if !ask.interactive {
            return Err(Stop::new(exit::DATA, refusal));
        }
        println!("  {refusal}; try again, or Enter to skip {}", spec.name);
        typed = ask.secret(&question, existing.is_some())?;
    }
}

/// What is wrong with a key's form, if anything.
fn key_problem(spec: &Keyed, key: &str) -> Option<String> {
    if key.chars().any(char::is_whitespace) || key.len() < 20 || !key.starts_with(spec.prefix) {
        return Some(format!(
            "that does not look like a key for {}: theirs start with {} and have no spaces",
            spec.name, spec.prefix
        ));
    }
    None
}

/// Asks the provider whether it takes `key`: `Some(why)` when it refuses it. A provider that
/// cannot be asked from here (offline) gets the benefit of the doubt.
async fn check_key(spec: &Keyed, base: &str, key: &str) -> Option<String> {
    let answer = match spec.api {
        Api::OpenaiCompletions => provider_http::openrouter_key(base, key).await,
        api => provider_http::list(api, base, Some(key)).await,
    };
    match answer {
        Answer::Ok(..) => {
            println!("  {} accepts the key", spec.name);
            None
        }
        Answer::Status(401 | 403, message) => {
            Some(format!("{} refuses this key: {message}", spec.name))
        }
        other => {
            println!(
                "  could not check the key with {} ({}); keeping it",
                spec.name,
                other.describe()
            );
            None
        }
    }
}

async fn openai_compatible(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let mut base = match &args.openai_base_url {
        Some(base) => base.clone(),
        None if ask.interactive => ask.ask(
            "Base URL of an OpenAI-compatible API ('none' to skip)",
            "none",
        )?,
        None => return Ok(()),
    };
    loop {
        if base == "none" {
            return Ok(());
        }
        if let Some(problem) = url_problem(&base, plan.compose_dir.is_some()) {
            if !ask.interactive {
                return Err(Stop::new(
                    exit::USAGE,
                    format!("--openai-base-url {base}: {problem}"),
                ));
            }
            println!("  {problem}");
            base = ask.ask(
                "Base URL of an OpenAI-compatible API ('none' to skip)",
                "none",
            )?;
            continue;
        }
        break;
    }
    let key = match &args.openai_key {
        Some(key) => Some(key.clone()),
        None => ask
            .secret("Its API key", files.existing("OPENAI_API_KEY").is_some())?
            .or_else(|| files.existing("OPENAI_API_KEY")),
    };
    let models = match provider_http::list(Api::OpenaiCompletions, &base, key.as_deref()).await {
        Answer::Ok(body, _) => Some(
            provider_http::model_ids(&body)
                .into_iter()
                .map(|id| format!("openai/{id}"))
                .collect(),
        ),
        other => {
            println!("  {base} did not list its models: {}", other.describe());
            None
        }
    };
    plan.set("models.providers.openai.baseUrl", json!(base));
    plan.set("models.providers.openai.api", json!("openai-completions"));
    if let Some(key) = &key {
        plan.env("OPENAI_API_KEY", key);
        plan.set("models.providers.openai.apiKey", json!("${OPENAI_API_KEY}"));
    }
    plan.providers.push(Provider {
        id: "openai".to_owned(),
        api: Api::OpenaiCompletions,
        base,
        key,
        models,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_keys_are_checked_before_anything_is_sent() {
        assert!(url_problem("127.0.0.1:11434", false).is_some());
        assert!(url_problem("http://127.0.0.1:11434", false).is_none());
        assert!(
            url_problem("http://127.0.0.1:11434", true).is_some_and(|p| p.contains("loopback"))
        );
        assert!(url_problem("http://fake-provider:8080", true).is_none());
        let spec = OPENROUTER_KEYED;
        assert!(key_problem(&spec, "sk-or-v1-0123456789abcdef").is_none());
        assert!(key_problem(&spec, "sk-ant-0123456789abcdefghij").is_some());
        assert!(key_problem(&spec, "sk-or-v1 0123456789abcdef").is_some());
        assert!(key_problem(&spec, "sk-or-short").is_some());
    }
}
