//! `pincer`: the command line. Every command prints for a person by default and JSON with
//! `--json`; colours only on a terminal; exit codes follow sysexits (64 usage, 65 refused data,
//! 69 unavailable, 74 I/O, 77 permission, 78 config).
//!
//! Each command lives in its own module, with its clap arguments (`Args`) and its `run`; this
//! file only dispatches. Settings are found the same way by every command ([`sources`]).

mod audit;
mod build_log;
mod bus_cmd;
mod catalogue;
mod channels_cmd;
mod compose;
mod config_cmd;
mod cron_cmd;
mod dashboard_cmd;
mod deploy;
mod dev;
mod docker;
mod doctor;
mod executables;
mod gateway_cmd;
mod import_cmd;
mod mcp_cmd;
mod models_cmd;
mod models_edit;
mod models_pull;
mod native;
mod onboard;
mod output;
mod pairing_cmd;
mod progress;
mod provider_http;
mod secrets;
mod sessions_cmd;
mod sources;
mod stack;
mod systemd;
mod target;
mod usage_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pincer",
    version,
    about = "Pincer: a small, fast personal AI agent gateway",
    after_help = "Start with `pincer onboard`, then `pincer doctor`, `pincer gateway start` and `pincer dashboard`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or edit the config and .env, step by step (or all from flags with --non-interactive).
    Onboard(Box<onboard::Args>),
    /// Edit one section (models, telegram, ...) with the onboarding questions.
    Configure(onboard::configure::Args),
    /// Work with the config file.
    Config(config_cmd::Args),
    /// Models the llm-router knows and their health; the agent's primary and fallback models.
    Models(models_cmd::Args),
    /// The deployment: health, version and memory of each service; start, stop, logs.
    Gateway(gateway_cmd::Args),
    /// DM pairing requests of every channel account, through the gateway.
    Pairing(pairing_cmd::Args),
    /// Channel accounts (Telegram, Discord, Slack, WhatsApp, Signal, iMessage): connection state and
    /// queues.
    Channels(channels_cmd::Args),
    /// Conversations: list them, show one, start one over.
    Sessions(sessions_cmd::Args),
    /// Scheduled jobs: reminders and recurring turns, delivered to a chat.
    Cron(cron_cmd::Args),
    /// Tokens and cost per model over the last days.
    Usage(usage_cmd::Args),
    /// Check the deployment and say how to fix what is wrong; --repair applies the safe fixes.
    Doctor(doctor::Args),
    /// Security checks.
    Security(audit::Args),
    /// Import from another gateway.
    Import(import_cmd::Args),
    /// MCP servers: add, list, remove, and try their tools from the terminal.
    Mcp(mcp_cmd::Args),
    /// Print the Control UI's URL (with the gateway token in the fragment, never sent to a server).
    Dashboard(dashboard_cmd::Args),
    /// Run the whole stack as local processes (development loop and benchmarks).
    Dev(dev::Args),
    /// The message bus: the NATS server's users and permissions (one per service).
    Bus(bus_cmd::Args),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Example: pincer completions bash > /etc/bash_completion.d/pincer")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Onboard(args) => block_on(onboard::run(*args)),
        Command::Configure(args) => block_on(onboard::configure::run(args)),
        Command::Config(args) => config_cmd::run(args),
        Command::Models(args) => block_on(models_cmd::run(args)),
        Command::Gateway(args) => block_on(gateway_cmd::run(args)),
        Command::Pairing(args) => block_on(pairing_cmd::run(args)),
        Command::Channels(args) => block_on(channels_cmd::run(args)),
        Command::Sessions(args) => block_on(sessions_cmd::run(args)),
        Command::Cron(args) => block_on(cron_cmd::run(args)),
        Command::Usage(args) => block_on(usage_cmd::run(args)),
        Command::Doctor(args) => block_on(doctor::run(args)),
        Command::Security(args) => audit::run(args),
        Command::Import(args) => import_cmd::run(args),
        Command::Mcp(args) => block_on(mcp_cmd::run(args)),
        Command::Dashboard(args) => block_on(dashboard_cmd::run(args)),
        Command::Dev(args) => block_on(dev::run(args)),
        Command::Bus(args) => bus_cmd::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "pincer", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

/// Runs a command's future on a current-thread runtime (TLS for the clients installed first).
fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(error) => {
            eprintln!("pincer: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}
