//! The models step: the primary model, offered by number from what the providers listed (with a
//! default), found by a word, or typed as `provider/model`; tried with one short request; then
//! the fallbacks. A config is never written without a primary model.

use serde_json::json;

use super::prompter::Prompter;
use super::{Args, Files, Plan, Stop};
use crate::provider_http::{self, Answer};
use crate::target::exit;

/// How many models of one provider are shown before "type a word to search".
const SHOWN_PER_PROVIDER: usize = 12;

/// Asks for the primary and fallback models and records them in `plan`.
pub(super) async fn choose(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let menu = Menu::new(plan, files);
    if ask.interactive {
        menu.print();
    }
    let primary = loop {
        let primary = match &args.primary {
            Some(primary) => menu
                .resolve(primary)
                .map_err(|why| Stop::new(exit::USAGE, format!("--primary {primary}: {why}")))?,
            None if !ask.interactive => menu.default().ok_or_else(|| {
                Stop::new(
                    exit::USAGE,
                    "no primary model: pass --primary provider/model (no provider listed one to default to); nothing written",
                )
            })?,
            None => pick(ask, &menu)?,
        };
        let try_it = if ask.interactive {
            ask.yes(&format!("Try {primary} now with one short request?"), true)?
        } else {
            args.test_model
        };
        if !try_it || try_model(plan, &primary).await {
            break primary;
        }
        if !ask.interactive {
            return Err(Stop::new(
                exit::UNAVAILABLE,
                format!("{primary} did not answer; nothing written"),
            ));
        }
        if !ask.yes("Choose another primary model?", true)? {
            break primary;
        }
    };
    let fallbacks =
        if args.fallbacks.is_empty() && ask.interactive {
            pick_fallbacks(ask, &menu, &primary)?
        } else {
            let mut checked = Vec::new();
            for fallback in &args.fallbacks {
                checked.push(menu.resolve(fallback).map_err(|why| {
                    Stop::new(exit::USAGE, format!("--fallback {fallback}: {why}"))
                })?);
            }
            checked
        };
    let local: Vec<&str> = std::iter::once(&primary)
        .chain(&fallbacks)
        .filter_map(|m| m.strip_prefix("ollama/"))
        .collect();
    if !local.is_empty() {
        // What the compose `ollama-pull` job downloads.
        plan.env("OLLAMA_MODELS", &local.join(" "));
    }
    if fallbacks.is_empty() {
        plan.set("agents.defaults.model", json!(primary));
    } else {
        // Two edits, so the file says primary before fallbacks.
        plan.set("agents.defaults.model", json!({ "primary": primary }));
        plan.set("agents.defaults.model.fallbacks", json!(fallbacks));
    }
    Ok(())
}

/// The models on offer, numbered across providers, and the providers a reference may name.
struct Menu {
    /// Every listed `provider/model`, numbered from 1 in this order.
    models: Vec<String>,
    /// Providers configured here or before: `(id, listed)`; unlisted ones accept any model name.
    providers: Vec<(String, bool)>,
}

impl Menu {
    fn new(plan: &Plan, files: &Files) -> Self {
        let mut providers: Vec<(String, bool)> = plan
            .providers
            .iter()
            // An Ollama host with nothing pulled yet takes any name (compose's ollama-pull job
            // downloads it).
            .map(|p| {
                (
                    p.id.clone(),
                    p.models.as_ref().is_some_and(|m| !m.is_empty()),
                )
            })
            .collect();
        let doc: serde_json::Value = json5::from_str(&files.config).unwrap_or_default();
        for id in doc["models"]["providers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(id, _)| id)
        {
            if !providers.iter().any(|(known, _)| known == id) {
                providers.push((id.clone(), false));
            }
        }
        Self {
            models: plan.offered(),
            providers,
        }
    }

    /// A sensible default: a local model (free, private), else OpenRouter's auto router, else
    /// the first listed.
    fn default(&self) -> Option<String> {
        self.models
            .iter()
            .find(|m| m.starts_with("ollama/"))
            .or_else(|| self.models.iter().find(|m| *m == "openrouter/auto"))
            .or_else(|| self.models.first())
            .cloned()
    }

    fn number_of(&self, model: &str) -> Option<usize> {
        self.models.iter().position(|m| m == model).map(|i| i + 1)
    }

    fn print(&self) {
        if self.models.is_empty() {
            return;
        }
        println!("\nModels the providers list:");
        let mut per_provider: Vec<(String, usize)> = Vec::new();
        for (index, model) in self.models.iter().enumerate() {
            let provider = model.split('/').next().unwrap_or("").to_owned();
            let shown = match per_provider.iter_mut().find(|(p, _)| *p == provider) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    per_provider.push((provider, 1));
                    1
                }
            };
            if shown <= SHOWN_PER_PROVIDER {
                let note = if model == "openrouter/auto" {
                    "  (OpenRouter picks a model per request)"
                } else {
                    ""
                };
                println!("  {:>3}) {model}{note}", index + 1);
            }
        }
        for (provider, count) in per_provider {
            if count > SHOWN_PER_PROVIDER {
                println!(
                    "       ... {} more from {provider}: type a word to search them",
                    count - SHOWN_PER_PROVIDER
                );
            }
        }
    }

    /// Matches for a word, with their numbers.
    fn search(&self, word: &str) -> Vec<(usize, &String)> {
        let word = word.to_lowercase();
        self.models
            .iter()
            .enumerate()
            .filter(|(_, m)| m.to_lowercase().contains(&word))
            .map(|(i, m)| (i + 1, m))
            .collect()
    }

    /// A number or a `provider/model` reference, checked against what the providers list.
    fn resolve(&self, answer: &str) -> Result<String, String> {
        let answer = answer.trim();
        if let Ok(number) = answer.parse::<usize>() {
            return number
                .checked_sub(1)
                .and_then(|i| self.models.get(i))
                .cloned()
                .ok_or_else(|| format!("there is no model number {number}"));
        }
        let Some((provider, model)) = pincer_config::parse_model_ref(answer) else {
            return Err(format!(
                "{answer:?} is not a number or a provider/model reference"
            ));
        };
        let Some((_, listed)) = self.providers.iter().find(|(id, _)| id == provider) else {
            let known: Vec<&str> = self.providers.iter().map(|(id, _)| id.as_str()).collect();
            return Err(if known.is_empty() {
                format!("no provider is configured, so {provider}/{model} cannot be used")
            } else {
                format!(
                    "{provider} is not configured here (configured: {})",
                    known.join(", ")
                )
            });
        };
        if *listed && !self.models.iter().any(|m| m == answer) {
            return Err(format!(
                "{provider} does not list {model:?}; pick a number or a listed name"
            ));
        }
        Ok(answer.to_owned())
    }
}

/// Asks until the answer names a model: a number, a reference, or a word that narrows the list.
fn pick(ask: &mut Prompter, menu: &Menu) -> Result<String, Stop> {
    let default = menu.default();
    let default_shown = default
        .as_ref()
        .map(|m| {
            menu.number_of(m)
                .map_or_else(|| m.clone(), |n| n.to_string())
        })
        .unwrap_or_default();
    loop {
        let answer = ask.ask(
            "Primary model (number, provider/model, or a word to search)",
            &default_shown,
        )?;
        if answer.is_empty() {
            println!(
                "  Pincer needs a primary model: type provider/model (e.g. ollama/llama3.2:3b)"
            );
            continue;
        }
        let looks_like_a_choice = answer.parse::<usize>().is_ok() || answer.contains('/');
        if !looks_like_a_choice {
            let found = menu.search(&answer);
            if found.is_empty() {
                println!("  nothing listed matches {answer:?}");
            }
            for (number, model) in found.iter().take(30) {
                println!("  {number:>3}) {model}");
            }
            continue;
        }
        match menu.resolve(&answer) {
            Ok(model) => return Ok(model),
            Err(why) => println!("  {why}"),
        }
    }
}

fn pick_fallbacks(ask: &mut Prompter, menu: &Menu, primary: &str) -> Result<Vec<String>, Stop> {
    'again: loop {
        let answer = ask.ask(
            "Fallback models, in order (numbers or refs, comma separated; empty for none)",
            "",
        )?;
        let mut fallbacks = Vec::new();
        for part in answer.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match menu.resolve(part) {
                Ok(model) if model == primary => {
                    println!("  {model} is the primary model already");
                    continue 'again;
                }
                Ok(model) if !fallbacks.contains(&model) => fallbacks.push(model),
                Ok(_) => {}
                Err(why) => {
                    println!("  {part}: {why}");
                    continue 'again;
                }
            }
        }
        return Ok(fallbacks);
    }
}

/// Sends one short request to `model` through its provider from here; says how it went.
async fn try_model(plan: &Plan, model: &str) -> bool {
    let Some((provider_id, name)) = pincer_config::parse_model_ref(model) else {
        return false;
    };
    let Some(provider) = plan.providers.iter().find(|p| p.id == provider_id) else {
        println!("  not tried: {provider_id} was configured before; `pincer doctor` checks it");
        return true;
    };
    if provider.models.is_none() && provider.id == "ollama" {
        println!("  not tried: {} cannot be reached from here", provider.base);
        return true;
    }
    // OpenRouter's own routers keep their prefix on the wire (openrouter/auto).
    let wire = if provider.id == "openrouter" && !name.contains('/') {
        format!("openrouter/{name}")
    } else {
        name.to_owned()
    };
    match provider_http::short_chat(provider.api, &provider.base, provider.key.as_deref(), &wire)
        .await
    {
        Answer::Ok(reply, took) => {
            println!(
                "  {model} answered in {} ms: {}",
                took.as_millis(),
                reply.as_str().unwrap_or("")
            );
            true
        }
        other => {
            println!("  {model} did not answer: {}", other.describe());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Menu {
        Menu {
            models: vec![
                "ollama/llama3.2:3b".into(),
                "openrouter/auto".into(),
                "openrouter/openai/gpt-4o-mini".into(),
            ],
            providers: vec![
                ("ollama".into(), true),
                ("openrouter".into(), true),
                ("anthropic".into(), false),
            ],
        }
    }

    #[test]
    fn answers_resolve_to_listed_models_or_say_why_not() {
        let menu = menu();
        assert_eq!(menu.default().as_deref(), Some("ollama/llama3.2:3b"));
        assert_eq!(menu.resolve("2").unwrap(), "openrouter/auto");
        assert_eq!(
            menu.resolve("openrouter/openai/gpt-4o-mini").unwrap(),
            "openrouter/openai/gpt-4o-mini"
        );
        assert!(menu.resolve("9").unwrap_err().contains("no model number 9"));
        assert!(
            menu.resolve("ollama/nope")
                .unwrap_err()
                .contains("does not list")
        );
        assert!(
            menu.resolve("mistral/x")
                .unwrap_err()
                .contains("not configured")
        );
        assert!(menu.resolve("gpt").is_err());
        // A provider that could not list its models takes any name.
        assert_eq!(
            menu.resolve("anthropic/claude-x").unwrap(),
            "anthropic/claude-x"
        );
        assert_eq!(menu.search("GPT").len(), 1);
        let no_local = Menu {
            models: vec!["openrouter/x/y".into(), "openrouter/auto".into()],
            providers: vec![("openrouter".into(), true)],
        };
        assert_eq!(no_local.default().as_deref(), Some("openrouter/auto"));
    }
}
