//! `pincer models list|status|set|fallbacks`: what the llm-router knows and how healthy it is (read
//! through the gateway, [`crate::catalogue`]), for a person at a terminal or, with `--json`, for
//! scripts; and the agent's primary and fallback models ([`crate::models_edit`]).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::catalogue::Catalogue;

/// `pincer models`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer models list\n  pincer models status --json\n  pincer models pull ollama/llama3.2:3b\n  pincer models set ollama/qwen2.5:14b\n  pincer models fallbacks add openrouter/anthropic/claude-sonnet-4"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Ask the llm-router at this gRPC address directly (default: $PINCER_LLM_ROUTER_URL, else the gateway).
    #[arg(long, global = true)]
    router: Option<String>,
    /// Gateway base URL (default: $PINCER_GATEWAY_URL or http://127.0.0.1:<gateway.port>).
    #[arg(long, global = true)]
    url: Option<String>,
    /// Config file (set/fallbacks edit it; list/status find the gateway with it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Change this agent's entry instead of agents.defaults.
    #[arg(long, global = true)]
    agent: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Configured and discovered (Ollama) models: context window, tool support, health, price.
    List,
    /// Health of every provider, API key and model: cooldowns, breakers, last errors, warnings.
    Status,
    /// Download a model on the Ollama host of a provider. Example: pincer models pull ollama/llama3.2:3b
    Pull {
        /// provider/model (the provider must use Ollama's API).
        model: String,
        /// The Ollama base URL to use instead of the provider's baseUrl.
        #[arg(long = "ollama-url")]
        ollama_url: Option<String>,
    },
    /// Set the primary model. Example: pincer models set openrouter/anthropic/claude-sonnet-4
    Set {
        /// provider/model.
        model: String,
    },
    /// The fallback chain: list, add, remove.
    Fallbacks {
        #[command(subcommand)]
        command: FallbacksCommand,
    },
}

#[derive(clap::Subcommand)]
enum FallbacksCommand {
    /// Primary and fallbacks, in order.
    List,
    /// Append a fallback.
    Add {
        /// provider/model.
        model: String,
    },
    /// Remove a fallback.
    Remove {
        /// provider/model.
        model: String,
    },
}

/// Runs `pincer models ...`.
pub async fn run(args: Args) -> ExitCode {
    if let Command::Pull { model, ollama_url } = &args.command {
        let sources = crate::sources::Sources::find(args.config.as_deref());
        let pulled =
            crate::models_pull::pull(&sources, model, ollama_url.as_deref(), args.json).await;
        return done(pulled, args.json, |result| {
            println!(
                "pulled {} at {}",
                result["model"].as_str().unwrap_or(""),
                result["url"].as_str().unwrap_or("")
            );
        });
    }
    let catalogue = match Catalogue::choose(args.router, args.url, args.config.as_deref()) {
        Ok(catalogue) => catalogue,
        Err(error) => {
            eprintln!("pincer: {error}");
            return ExitCode::from(crate::target::exit::CONFIG);
        }
    };
    let file = crate::sources::config_file_or_default(args.config.as_deref());
    let agent = args.agent.as_deref();
    match args.command {
        Command::Pull { .. } => ExitCode::SUCCESS,
        Command::List => done(catalogue.models().await, args.json, print_models),
        Command::Status => done(catalogue.status().await, args.json, print_status),
        Command::Set { model } => crate::models_edit::set(&file, agent, &model, &catalogue).await,
        Command::Fallbacks { command } => {
            let (action, model) = match &command {
                FallbacksCommand::List => ("list", None),
                FallbacksCommand::Add { model } => ("add", Some(model.as_str())),
                FallbacksCommand::Remove { model } => ("remove", Some(model.as_str())),
            };
            crate::models_edit::fallbacks(&file, agent, action, model, &catalogue, args.json).await
        }
    }
}

fn done(result: Result<Value, u8>, json_out: bool, human: fn(&Value)) -> ExitCode {
    crate::output::print_result(result, json_out, human)
}

fn print_models(models: &Value) {
    let models = models.as_array().cloned().unwrap_or_default();
    println!(
        "{:<44} {:<10} {:>12} {:<5} {:<22} PRICE in/out per 1M",
        "MODEL", "SOURCE", "CONTEXT", "TOOLS", "HEALTH"
    );
    for m in &models {
        let small = m["belowMinimumContext"] == true;
        let context = match m["contextWindow"].as_u64().unwrap_or(0) {
            0 => "?".to_owned(),
            n if small => format!("{n} <64K!"),
            n => n.to_string(),
        };
        let price = match (
            m["inputCostPerMTok"].as_f64(),
            m["outputCostPerMTok"].as_f64(),
        ) {
            (Some(i), Some(o)) => format!("${i}/${o}"),
            _ => "-".to_owned(),
        };
        println!(
            "{:<44} {:<10} {:>12} {:<5} {:<22} {price}",
            m["id"].as_str().unwrap_or("?"),
            m["source"].as_str().unwrap_or("?"),
            context,
            if m["supportsTools"] == true {
                "yes"
            } else {
                "no"
            },
            health_text(&m["health"])
        );
    }
    if models.iter().any(|m| m["belowMinimumContext"] == true) {
        println!(
            "\n<64K!: multi-step agent work needs a context window of at least 64K tokens; pick a larger model or raise contextWindow/num_ctx."
        );
    }
}

fn print_status(status: &Value) {
    println!("Providers");
    for p in status["providers"].as_array().into_iter().flatten() {
        println!(
            "  {:<16} {:<20} {:<32} {}",
            p["id"].as_str().unwrap_or("?"),
            p["api"].as_str().unwrap_or("?"),
            p["baseUrl"].as_str().unwrap_or(""),
            health_text(&p["health"])
        );
        for (index, key) in p["keys"].as_array().into_iter().flatten().enumerate() {
            println!("      key #{}: {}", index + 1, health_text(key));
        }
    }
    println!("Models");
    for m in status["models"].as_array().into_iter().flatten() {
        let served = match m["lastServedUnixMs"].as_u64().unwrap_or(0) {
            0 => String::new(),
            at => format!("  last served {}", crate::output::ago(at)),
        };
        println!(
            "  {:<44} {}{served}",
            m["id"].as_str().unwrap_or("?"),
            health_text(&m["health"])
        );
    }
    let warnings = status["warnings"].as_array().cloned().unwrap_or_default();
    if !warnings.is_empty() {
        println!("Warnings");
        for warning in &warnings {
            println!("  - {}", warning.as_str().unwrap_or(""));
        }
    }
}

fn health_text(health: &Value) -> String {
    let last_error = short(health["lastError"].as_str().unwrap_or(""));
    match health["state"].as_str() {
        Some("open") => format!(
            "cooling {}s ({last_error})",
            health["cooldownUntilUnixMs"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(pincer_clock::now_ms())
                .div_ceil(1000)
        ),
        Some("half-open") => format!("probing ({last_error})"),
        _ => "healthy".to_owned(),
    }
}

fn short(text: &str) -> String {
    let mut out: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        out.push('…');
    }
    out
}
