//! `pincer models set REF` and `pincer models fallbacks list|add|remove REF`: the agent's primary
//! model and fallback chain in the config file (`agents.defaults.model`, or an agent's entry with
//! `--agent`). `model` may be written as a string (`"ollama/llama3.1"`) or as `{primary,
//! fallbacks}`; the short form is kept while there are no fallbacks.

use std::path::Path;
use std::process::ExitCode;

use pincer_config::edit;
use serde_json::{Value, json};

use crate::catalogue::Catalogue;
use crate::target::exit;

fn model_path(agent: Option<&str>) -> String {
    match agent {
        Some(id) => format!("agents.entries.{id}.model"),
        None => "agents.defaults.model".to_owned(),
    }
}

fn current(file: &Path, agent: Option<&str>) -> Result<(Option<String>, Vec<String>), ExitCode> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let steps = edit::parse_path(&model_path(agent)).map_err(|_| ExitCode::from(exit::USAGE))?;
    let value = edit::get(&text, &steps).map_err(|error| {
        eprintln!("pincer: {}: {error}", file.display());
        ExitCode::from(exit::CONFIG)
    })?;
    Ok(match value {
        Some(Value::String(primary)) => (Some(primary), Vec::new()),
        Some(Value::Object(map)) => (
            map.get("primary")
                .and_then(Value::as_str)
                .map(str::to_owned),
            map.get("fallbacks")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => (None, Vec::new()),
    })
}

fn check_ref(model: &str) -> Result<(), ExitCode> {
    pincer_config::parse_model_ref(model)
        .map(|_| ())
        .ok_or_else(|| {
            eprintln!("pincer: {model:?} is not a model reference (provider/model)");
            ExitCode::from(exit::USAGE)
        })
}

fn write(
    file: &Path,
    agent: Option<&str>,
    primary: Option<String>,
    fallbacks: Vec<String>,
) -> ExitCode {
    let value = match (primary, fallbacks.is_empty()) {
        (Some(primary), true) => json!(primary),
        (primary, _) => json!({ "primary": primary, "fallbacks": fallbacks }),
    };
    crate::config_cmd::apply(file, &model_path(agent), |text, steps| {
        edit::set(text, steps, &value)
    })
}

/// Warns (does not fail) when the router does not list the model or its window is below 64K.
async fn advise(catalogue: &Catalogue, model: &str) {
    let Ok(models) = catalogue.models().await else {
        eprintln!(
            "pincer: note: the llm-router is not reachable, {model} was not checked against its catalogue"
        );
        return;
    };
    let listed = models
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == model);
    match listed {
        None => eprintln!(
            "pincer: warning: the llm-router does not list {model} (yet); `pincer models list` shows what it knows"
        ),
        Some(info) if info["belowMinimumContext"] == true => eprintln!(
            "pincer: warning: {model} has a {}-token context window, below the 64K an agent with tools needs",
            info["contextWindow"]
        ),
        Some(_) => {}
    }
}

/// `pincer models set REF`.
pub async fn set(file: &Path, agent: Option<&str>, model: &str, catalogue: &Catalogue) -> ExitCode {
    if let Err(code) = check_ref(model) {
        return code;
    }
    let (_, fallbacks) = match current(file, agent) {
        Ok(current) => current,
        Err(code) => return code,
    };
    let code = write(file, agent, Some(model.to_owned()), fallbacks);
    advise(catalogue, model).await;
    code
}

/// `pincer models fallbacks list|add|remove`.
pub async fn fallbacks(
    file: &Path,
    agent: Option<&str>,
    action: &str,
    model: Option<&str>,
    catalogue: &Catalogue,
    json_out: bool,
) -> ExitCode {
    let (primary, mut list) = match current(file, agent) {
        Ok(current) => current,
        Err(code) => return code,
    };
    match (action, model) {
        ("list", _) => {
            if json_out {
                crate::output::json(&json!({ "primary": primary, "fallbacks": list }));
            } else {
                println!("primary: {}", primary.as_deref().unwrap_or("(not set)"));
                for (index, fallback) in list.iter().enumerate() {
                    println!("fallback {}: {fallback}", index + 1);
                }
            }
            ExitCode::SUCCESS
        }
        ("add", Some(model)) => {
            if let Err(code) = check_ref(model) {
                return code;
            }
            if list.iter().any(|m| m == model) || primary.as_deref() == Some(model) {
                eprintln!("pincer: {model} is already in the chain");
                return ExitCode::from(exit::DATA);
            }
            list.push(model.to_owned());
            let code = write(file, agent, primary, list);
            advise(catalogue, model).await;
            code
        }
        ("remove", Some(model)) => {
            let before = list.len();
            list.retain(|m| m != model);
            if list.len() == before {
                eprintln!("pincer: {model} is not a fallback");
                return ExitCode::from(exit::DATA);
            }
            write(file, agent, primary, list)
        }
        _ => ExitCode::from(exit::USAGE),
    }
}
