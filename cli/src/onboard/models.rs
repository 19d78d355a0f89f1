//! The models step: the primary model and its fallbacks, by number from what the providers listed
//! or as `provider/model`.

use serde_json::json;

use super::prompter::Prompter;
use super::{Args, Plan, Stop};
use crate::target::exit;

/// Asks for the primary and fallback models and records them in `plan`.
pub(super) fn choose(args: &Args, ask: &mut Prompter, plan: &mut Plan) -> Result<(), Stop> {
    let offered = plan.offered.clone();
    if ask.interactive && !offered.is_empty() {
        println!("Models the providers list:");
        for (index, model) in offered.iter().enumerate().take(40) {
            println!("  {:>2}) {model}", index + 1);
        }
    }
    let pick = |answer: &str| -> String {
        answer
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|n| offered.get(n.wrapping_sub(1)).cloned())
            .unwrap_or_else(|| answer.trim().to_owned())
    };
    let primary = match &args.primary {
        Some(primary) => Some(primary.clone()),
        None => {
            let default = offered.first().cloned().unwrap_or_default();
            let answer = ask.ask("Primary model (number or provider/model)", &default);
            (!answer.is_empty()).then(|| pick(&answer))
        }
    };
    let fallbacks: Vec<String> = if args.fallbacks.is_empty() && ask.interactive {
        let answer = ask.ask(
            "Fallback models, in order (numbers or refs, comma separated; empty for none)",
            "",
        );
        answer
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(pick)
            .collect()
    } else {
        args.fallbacks.clone()
    };
    if let Some(model) = primary
        .iter()
        .chain(&fallbacks)
        .find(|model| pincer_config::parse_model_ref(model).is_none())
    {
        return Err(Stop::new(
            exit::USAGE,
            format!("{model:?} is not a model reference (provider/model)"),
        ));
    }
    let local: Vec<&str> = primary
        .iter()
        .chain(&fallbacks)
        .filter_map(|m| m.strip_prefix("ollama/"))
        .collect();
    if !local.is_empty() {
        // What the compose `ollama-pull` job downloads.
        plan.env("OLLAMA_MODELS", &local.join(" "));
    }
    if let Some(primary) = &primary {
        plan.set(
            "agents.defaults.model",
            if fallbacks.is_empty() {
                json!(primary)
            } else {
                json!({ "primary": primary, "fallbacks": fallbacks })
            },
        );
    }
    Ok(())
}
