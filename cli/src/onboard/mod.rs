//! `pincer onboard`: a first config, interactively or entirely from flags (`--non-interactive`).
//!
//! Asks how the stack will run (docker compose from a checkout, or processes on this machine),
//! for providers (Ollama local or remote, OpenRouter, Anthropic, an OpenAI-compatible API), each
//! checked as it is entered, then offers the models they list, numbered, for the primary model
//! (tried with one short request) and the fallbacks, then a Telegram bot. It writes a commented
//! JSON5 config (secrets as `${VAR}` references) and the `.env` beside it (mode 0600, with a
//! 64-hex gateway token unless one exists, and the deployment), and creates the agent's
//! workspace. Re-running it edits both files in place: other settings and comments stay.
//!
//! A wrong answer (an unreachable URL, a malformed or refused key, an unknown model) is said and
//! asked again; Ctrl-D twice quits. Nothing is written until every step has passed.
//!
//! One step per file: [`deployment`], [`providers`], [`models`], [`telegram`], [`chat_apps`]
//! (Discord, Slack), then [`write`];
//! each adds to a [`Plan`] of config edits and `.env` values.

mod chat_apps;
pub mod configure;
mod deployment;
mod models;
mod phone_apps;
mod prompter;
mod providers;
mod telegram;
mod write;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use crate::sources::shown;
use crate::target::exit;
use prompter::{Prompter, Quit};

/// The exit code when the person quits (as a shell reports an interrupted command).
const CANCELLED: u8 = 130;

/// Flags (each answers one question; `--non-interactive` asks none).
#[derive(clap::Args, Debug, Default)]
#[command(
    after_help = "Examples:\n  pincer onboard\n  pincer onboard --non-interactive --ollama-url http://100.64.0.7:11434 --primary ollama/llama3.1:8b --telegram-token $TOKEN --dm-policy pairing"
)]
pub struct Args {
    /// Ask nothing: use the flags and defaults.
    #[arg(long)]
    pub non_interactive: bool,
    /// Config file to create or edit (default: ./config/pincer.json5 in a Pincer checkout, else ~/.pincer/pincer.json5).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The .env file for secrets (default: beside the config; a checkout's own .env for its config).
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// The agent's workspace directory (default: ~/.pincer/workspace).
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// How the stack runs: compose (docker compose from a checkout) or native (pincer dev).
    #[arg(long, value_parser = ["compose", "native"])]
    pub deploy: Option<String>,
    /// The Pincer checkout whose compose.yml runs the stack (default: this directory or the one pincer was built in).
    #[arg(long)]
    pub compose_dir: Option<PathBuf>,
    /// Host port of the gateway (default 18789).
    #[arg(long)]
    pub gateway_port: Option<u16>,
    /// Ollama base URL (local http://127.0.0.1:11434, or the 8 GB host's tailnet address).
    #[arg(long)]
    pub ollama_url: Option<String>,
    /// OpenRouter API key.
    #[arg(long)]
    pub openrouter_key: Option<String>,
    /// OpenRouter's API base URL (default https://openrouter.ai/api/v1; a proxy or a test double).
    #[arg(long)]
    pub openrouter_url: Option<String>,
    /// Base URL of an OpenAI-compatible API.
    #[arg(long)]
    pub openai_base_url: Option<String>,
    /// Its API key.
    #[arg(long)]
    pub openai_key: Option<String>,
    /// Anthropic API key.
    #[arg(long)]
    pub anthropic_key: Option<String>,
    /// Primary model (provider/model).
    #[arg(long)]
    pub primary: Option<String>,
    /// Fallback models, in order (repeat the flag).
    #[arg(long = "fallback")]
    pub fallbacks: Vec<String>,
    /// Try the primary model with one short request before writing anything.
    #[arg(long)]
    pub test_model: bool,
    /// Telegram bot token (from @BotFather).
    #[arg(long)]
    pub telegram_token: Option<String>,
    /// Telegram DM policy: pairing, allowlist, open, disabled.
    #[arg(long)]
    pub dm_policy: Option<String>,
    /// Telegram user ids or @names allowed to talk (allowlist policy; repeat the flag).
    #[arg(long = "allow-from")]
    pub allow_from: Vec<String>,
    /// Discord bot token (developer portal > Bot).
    #[arg(long)]
    pub discord_token: Option<String>,
    /// Slack bot token (xoxb-...).
    #[arg(long)]
    pub slack_bot_token: Option<String>,
    /// Slack app-level token for Socket Mode (xapp-...).
    #[arg(long)]
    pub slack_app_token: Option<String>,
    /// WhatsApp Cloud API phone number id (digits; Meta app > WhatsApp > API Setup).
    #[arg(long)]
    pub whatsapp_phone_number_id: Option<String>,
    /// WhatsApp Cloud API access token.
    #[arg(long)]
    pub whatsapp_access_token: Option<String>,
    /// The Meta app secret that signs WhatsApp's webhook calls.
    #[arg(long)]
    pub whatsapp_app_secret: Option<String>,
    /// Signal number registered in a signal-cli daemon (+15551234567).
    #[arg(long)]
    pub signal_account: Option<String>,
    /// The signal-cli daemon's HTTP address.
    #[arg(long)]
    pub signal_http_url: Option<String>,
    /// BlueBubbles server URL (iMessage through a Mac).
    #[arg(long)]
    pub bluebubbles_url: Option<String>,
    /// BlueBubbles server password.
    #[arg(long)]
    pub bluebubbles_password: Option<String>,
    /// Start the stack when done (`pincer gateway start`).
    #[arg(long)]
    pub start: bool,
}

/// The files onboarding edits, as they are before it starts.
struct Files {
    config_path: PathBuf,
    env_path: PathBuf,
    workspace: PathBuf,
    /// The config's text (empty when it does not exist yet).
    config: String,
    /// The `.env`'s text.
    env: String,
}

impl Files {
    fn read(args: &Args) -> Self {
        let (config_path, env_path, workspace) = default_paths(args);
        Self {
            config: std::fs::read_to_string(&config_path).unwrap_or_default(),
            env: std::fs::read_to_string(&env_path).unwrap_or_default(),
            config_path,
            env_path,
            workspace,
        }
    }

    /// A variable's value in the `.env` file, if set there.
    fn existing(&self, name: &str) -> Option<String> {
        crate::sources::env_value_in(&self.env, name)
    }
}

/// A provider configured in this run: how to ask it, and what it listed.
struct Provider {
    id: String,
    api: pincer_config::Api,
    base: String,
    key: Option<String>,
    /// `provider/model` references it lists; `None` when it could not be asked from here.
    models: Option<Vec<String>>,
}

/// What the answers add up to: config edits, `.env` values, and the providers on offer.
#[derive(Default)]
struct Plan {
    /// `.env` lines to set, in order.
    env_values: Vec<(String, String)>,
    /// Config paths to set, in order.
    sets: Vec<(String, Value)>,
    /// The providers configured in this run.
    providers: Vec<Provider>,
    /// Compose (with its checkout) or native.
    compose_dir: Option<PathBuf>,
}

impl Plan {
    fn env(&mut self, name: &str, value: &str) {
        self.env_values.retain(|(known, _)| known != name);
        self.env_values.push((name.to_owned(), value.to_owned()));
    }

    fn set(&mut self, path: impl Into<String>, value: Value) {
        self.sets.push((path.into(), value));
    }

    /// Every `provider/model` the providers listed, in the order they were asked.
    fn offered(&self) -> Vec<String> {
        self.providers
            .iter()
            .flat_map(|p| p.models.iter().flatten().cloned())
            .collect()
    }
}

/// Why onboarding stopped, with the exit code it stops with.
struct Stop {
    code: u8,
    message: String,
}

impl Stop {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<Quit> for Stop {
    fn from(_: Quit) -> Self {
        Stop::new(CANCELLED, "onboarding cancelled: nothing was written")
    }
}

fn default_paths(args: &Args) -> (PathBuf, PathBuf, PathBuf) {
    let home = std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".pincer");
    let checkout = Path::new("compose.yml").is_file();
    let config = args.config.clone().unwrap_or_else(|| {
        if checkout {
            PathBuf::from("config/pincer.json5")
        } else {
            home.join("pincer.json5")
        }
    });
    let env_file = args
        .env_file
        .clone()
        .unwrap_or_else(|| crate::sources::own_env_file(&config));
    let workspace = args
        .workspace
        .clone()
        .unwrap_or_else(|| home.join("workspace"));
    (config, env_file, workspace)
}

/// Runs the wizard.
pub async fn run(args: Args) -> ExitCode {
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    if !args.non_interactive && !interactive {
        eprintln!(
            "pincer: stdin is not a terminal: pass --non-interactive with the answers as flags (pincer onboard --help)"
        );
        return ExitCode::from(exit::USAGE);
    }
    let mut ask = Prompter::new(interactive);
    let files = Files::read(&args);
    if interactive {
        println!(
            "Pincer onboarding: {} and {}{}",
            shown(&files.config_path),
            shown(&files.env_path),
            if files.config.is_empty() {
                " (new)"
            } else {
                " (editing)"
            }
        );
        println!(
            "Secrets go to the .env (mode 600); the config names them as ${{VAR}}. Nothing is written before the end; Ctrl-D twice quits.\n"
        );
    }
    let mut plan = Plan::default();
    if let Err(stop) = steps(&args, &mut ask, &files, &mut plan).await {
        eprintln!("pincer: {}", stop.message);
        return ExitCode::from(stop.code);
    }
    println!(
        "\nwrote {}, and the secrets to {} (mode 600)",
        shown(&files.config_path),
        shown(&files.env_path)
    );
    println!("workspace: {}", shown(&files.workspace));
    println!("next: pincer doctor, then pincer gateway start, then pincer dashboard --open");
    let start =
        args.start || (interactive && ask.yes("Start the stack now?", false).unwrap_or(false));
    if start {
        return match crate::stack::Stack::find(Some(&files.config_path)) {
            Ok(stack) => stack.start().await,
            Err(code) => code,
        };
    }
    ExitCode::SUCCESS
}

async fn steps(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    deployment::choose(args, ask, files, plan)?;
    providers::choose(args, ask, files, plan).await?;
    models::choose(args, ask, files, plan).await?;
    telegram::choose(args, ask, files, plan)?;
    chat_apps::discord(args, ask, files, plan)?;
    chat_apps::slack(args, ask, files, plan)?;
    phone_apps::whatsapp(args, ask, files, plan)?;
    phone_apps::signal(args, ask, plan)?;
    phone_apps::bluebubbles(args, ask, files, plan)?;
    write::gateway(args, files, plan);
    write::write(files, plan)
}
