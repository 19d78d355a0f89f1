//! `pincer models list|status`: what the llm-router knows and how healthy it is, for a person at a
//! terminal or, with `--json`, for scripts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pincer_proto::llm::v1 as pb;
use pincer_proto::llm::v1::llm_router_client::LlmRouterClient;

/// `pincer models`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer models list\n  pincer models status --json\n  pincer models set ollama/qwen2.5:14b\n  pincer models fallbacks add openrouter/anthropic/claude-sonnet-4"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// llm-router gRPC address (default: $PINCER_LLM_ROUTER_URL or http://127.0.0.1:50051).
    #[arg(long, global = true)]
    router: Option<String>,
    /// Config file for set/fallbacks.
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
    let url = router_url(args.router);
    let file = crate::sources::config_file_or_default(args.config.as_deref());
    let agent = args.agent.as_deref();
    match args.command {
        Command::List => list(url, args.json).await,
        Command::Status => status(url, args.json).await,
        Command::Set { model } => crate::models_edit::set(&file, agent, &model, &url).await,
        Command::Fallbacks { command } => {
            let (action, model) = match &command {
                FallbacksCommand::List => ("list", None),
                FallbacksCommand::Add { model } => ("add", Some(model.as_str())),
                FallbacksCommand::Remove { model } => ("remove", Some(model.as_str())),
            };
            crate::models_edit::fallbacks(&file, agent, action, model, &url, args.json).await
        }
    }
}

/// Patience for the router to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The router address: `--router`, else `PINCER_LLM_ROUTER_URL`, else the local default.
fn router_url(explicit: Option<String>) -> String {
    explicit.unwrap_or_else(|| {
        pincer_lifecycle::env::string_or("PINCER_LLM_ROUTER_URL", "http://127.0.0.1:50051")
    })
}

type Client = LlmRouterClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        pincer_service_auth::Caller,
    >,
>;

/// `PINCER_LLM_ROUTER_TOKEN` from the environment, else from `./.env`.
fn router_token() -> Option<pincer_config::Secret> {
    std::env::var("PINCER_LLM_ROUTER_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty())
        .or_else(|| {
            crate::sources::env_value(std::path::Path::new(".env"), "PINCER_LLM_ROUTER_TOKEN")
        })
        .map(pincer_config::Secret::new)
}

async fn client(url: &str) -> anyhow::Result<Client> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the llm-router at {url}: {e} (is the stack up? `pincer gateway status`, or pass --router)"))?;
    let caller = pincer_service_auth::Caller::new(router_token().as_ref())?;
    Ok(LlmRouterClient::with_interceptor(channel, caller))
}

/// `pincer models list`.
async fn list(url: String, as_json: bool) -> ExitCode {
    match list_inner(&url, as_json).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pincer: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The router's catalogue.
pub async fn fetch_models(url: &str) -> anyhow::Result<Vec<pb::ModelInfo>> {
    Ok(client(url)
        .await?
        .list_models(pb::ListModelsRequest {})
        .await?
        .into_inner()
        .models)
}

async fn list_inner(url: &str, as_json: bool) -> anyhow::Result<()> {
    let models = fetch_models(url).await?;
    if as_json {
        let out = pincer_proto::json::models(&models);
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<44} {:<10} {:>12} {:<5} {:<22} PRICE in/out per 1M",
        "MODEL", "SOURCE", "CONTEXT", "TOOLS", "HEALTH"
    );
    for m in &models {
        let context = match m.context_window {
            0 => "?".to_owned(),
            n if m.below_minimum_context => format!("{n} <64K!"),
            n => n.to_string(),
        };
        let price = match (m.input_cost_per_mtok, m.output_cost_per_mtok) {
            (Some(i), Some(o)) => format!("${i}/${o}"),
            _ => "-".to_owned(),
        };
        println!(
            "{:<44} {:<10} {:>12} {:<5} {:<22} {price}",
            m.id,
            m.source,
            context,
            if m.supports_tools { "yes" } else { "no" },
            health_text(m.health.as_ref())
        );
    }
    if models.iter().any(|m| m.below_minimum_context) {
        println!(
            "\n<64K!: multi-step agent work needs a context window of at least 64K tokens; pick a larger model or raise contextWindow/num_ctx."
        );
    }
    Ok(())
}

/// `pincer models status`.
async fn status(url: String, as_json: bool) -> ExitCode {
    match status_inner(&url, as_json).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pincer: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn status_inner(url: &str, as_json: bool) -> anyhow::Result<()> {
    let status = client(url)
        .await?
        .status(pb::StatusRequest {})
        .await?
        .into_inner();
    if as_json {
        let out = pincer_proto::json::status(&status);
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("Providers");
    for p in &status.providers {
        println!(
            "  {:<16} {:<20} {:<32} {}",
            p.id,
            p.api,
            p.base_url,
            health_text(p.health.as_ref())
        );
        for (index, key) in p.keys.iter().enumerate() {
            println!("      key #{}: {}", index + 1, health_text(Some(key)));
        }
    }
    println!("Models");
    for m in &status.models {
        let served = match m.last_served_unix_ms {
            0 => String::new(),
            at => format!("  last served {}", crate::output::ago(at)),
        };
        println!("  {:<44} {}{served}", m.id, health_text(m.health.as_ref()));
    }
    if !status.warnings.is_empty() {
        println!("Warnings");
        for warning in &status.warnings {
            println!("  - {warning}");
        }
    }
    Ok(())
}

fn health_text(health: Option<&pb::Health>) -> String {
    let Some(health) = health else {
        return "healthy".to_owned();
    };
    match health.state() {
        pb::BreakerState::Open => format!(
            "cooling {}s ({})",
            health
                .cooldown_until_unix_ms
                .saturating_sub(pincer_clock::now_ms())
                .div_ceil(1000),
            short(&health.last_error)
        ),
        pb::BreakerState::HalfOpen => format!("probing ({})", short(&health.last_error)),
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
