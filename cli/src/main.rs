//! `pincer`: the command line.
//!
//! - `pincer dev --config FILE`: the whole stack (nats-server + the four services) as plain
//!   processes in the foreground; Ctrl-C or SIGTERM stops all of them.
//! - `pincer config validate FILE`: checks a config file the way the services will.
//! - `pincer models list|status`: the llm-router's catalogue and health.
//! - `pincer pairing list|approve|reject`: DM pairing requests of a channel account.
//! - `pincer dashboard`: the Control UI's address, signed in.

mod config_cmd;
mod dashboard_cmd;
mod dev;
mod models_cmd;
mod pairing_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pincer",
    version,
    about = "Pincer: a small, fast personal AI agent gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole stack as local processes (development loop and benchmarks).
    Dev(dev::Args),
    /// Work with the config file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Models the llm-router knows, and their health.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
        /// llm-router gRPC address (default: $PINCER_LLM_ROUTER_URL or http://127.0.0.1:50051).
        #[arg(long, global = true)]
        router: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Print the Control UI's URL (with the gateway token in the fragment, never sent to a server).
    Dashboard {
        /// Gateway base URL (default: $PINCER_GATEWAY_URL or http://127.0.0.1:<gateway.port>).
        #[arg(long)]
        url: Option<String>,
        /// Config file to read the port and token from.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the URL without the token.
        #[arg(long)]
        no_token: bool,
    },
    /// DM pairing requests (examples: `pincer pairing list`, `pincer pairing approve AB3DE7GH`).
    Pairing {
        #[command(subcommand)]
        command: PairingCommand,
        /// The channel (only `telegram` so far).
        #[arg(long, global = true, default_value = "telegram")]
        channel: String,
        /// The channel account (bot); `default` is channels.telegram.botToken.
        #[arg(long, global = true, default_value = "default")]
        account: String,
        /// NATS URL (default: $PINCER_NATS_URL or nats://127.0.0.1:4222).
        #[arg(long, global = true)]
        nats: Option<String>,
        /// Print JSON (list).
        #[arg(long, global = true)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PairingCommand {
    /// Pending requests: code, sender, username.
    List,
    /// Let the sender of CODE talk to the agent (the code works once).
    Approve {
        /// The 8-character code the sender got.
        code: String,
    },
    /// Drop the request with CODE.
    Reject {
        /// The 8-character code.
        code: String,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Configured and discovered (Ollama) models: context window, tool support, health, price.
    List,
    /// Health of every provider, API key and model: cooldowns, breakers, last errors, warnings.
    Status,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file: syntax, unknown keys, types and ${VAR}s (exit 78 when invalid).
    Validate {
        /// Path of the JSON5 config (default: $PINCER_CONFIG or ~/.pincer/pincer.json5).
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Validate { file },
        } => config_cmd::validate(file.unwrap_or_else(pincer_lifecycle::env::config_path)),
        Command::Dev(args) => block_on(dev::run(args)),
        Command::Dashboard {
            url,
            config,
            no_token,
        } => block_on(dashboard_cmd::run(dashboard_cmd::Options {
            url,
            config,
            no_token,
        })),
        Command::Models {
            command,
            router,
            json,
        } => {
            let url = models_cmd::router_url(router);
            match command {
                ModelsCommand::List => block_on(models_cmd::list(url, json)),
                ModelsCommand::Status => block_on(models_cmd::status(url, json)),
            }
        }
        Command::Pairing {
            command,
            channel,
            account,
            nats,
            json,
        } => {
            let target = pairing_cmd::Target {
                nats_url: pairing_cmd::nats_url(nats),
                channel,
                account,
            };
            match command {
                PairingCommand::List => block_on(pairing_cmd::list(target, json)),
                PairingCommand::Approve { code } => {
                    block_on(pairing_cmd::decide(target, &code, true))
                }
                PairingCommand::Reject { code } => {
                    block_on(pairing_cmd::decide(target, &code, false))
                }
            }
        }
    }
}

fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
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
