//! `pincer onboard`: a first config, interactively or entirely from flags (`--non-interactive`).
//!
//! Asks for providers (Ollama local or remote, OpenRouter, an OpenAI-compatible API, Anthropic),
//! offers the models each one lists for the primary and fallback models, a Telegram bot and its DM
//! policy; writes the JSON5 config (secrets as `${VAR}` references) and `.env` (mode 0600, with a
//! 64-hex gateway token unless one exists), creates the agent's workspace files, and can start the
//! stack. Re-running it edits both files in place: other settings and comments stay.
//!
//! One step per file: [`providers`], [`models`], [`telegram`], then [`write`]; each adds to a
//! [`Plan`] of config edits and `.env` values, which is applied only once every step has passed.

mod models;
mod prompter;
mod providers;
mod telegram;
mod write;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use crate::target::exit;
use prompter::Prompter;

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
    /// The .env file for secrets (default: next to compose.yml, else ~/.pincer/.env).
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// The agent's workspace directory (default: ~/.pincer/workspace).
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// Ollama base URL (local http://127.0.0.1:11434, or the 8 GB host's tailnet address).
    #[arg(long)]
    pub ollama_url: Option<String>,
    /// OpenRouter API key.
    #[arg(long)]
    pub openrouter_key: Option<String>,
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
    /// Telegram bot token (from @BotFather).
    #[arg(long)]
    pub telegram_token: Option<String>,
    /// Telegram DM policy: pairing, allowlist, open, disabled.
    #[arg(long)]
    pub dm_policy: Option<String>,
    /// Telegram user ids or @names allowed to talk (allowlist policy; repeat the flag).
    #[arg(long = "allow-from")]
    pub allow_from: Vec<String>,
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
        crate::sources::env_value(&self.env_path, name)
    }
}

/// What the answers add up to: config edits, `.env` values, and the models on offer.
#[derive(Default)]
struct Plan {
    /// `.env` lines to set, in order.
    env_values: Vec<(String, String)>,
    /// Config paths to set, in order.
    sets: Vec<(&'static str, Value)>,
    /// `provider/model` references the providers listed.
    offered: Vec<String>,
}

impl Plan {
    fn env(&mut self, name: &str, value: &str) {
        self.env_values.push((name.to_owned(), value.to_owned()));
    }

    fn set(&mut self, path: &'static str, value: Value) {
        self.sets.push((path, value));
    }

    fn offer(&mut self, provider: &str, models: Vec<String>) {
        self.offered.extend(
            models
                .into_iter()
                .map(|model| format!("{provider}/{model}")),
        );
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
    let env_file = args.env_file.clone().unwrap_or_else(|| {
        if checkout {
            PathBuf::from(".env")
        } else {
            home.join(".env")
        }
    });
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
    let mut ask = Prompter {
        interactive,
        input: std::io::stdin().lock(),
    };
    let files = Files::read(&args);
    if interactive {
        println!(
            "Pincer onboarding: {} and {}{}",
            files.config_path.display(),
            files.env_path.display(),
            if files.config.is_empty() {
                " (new)"
            } else {
                " (editing)"
            }
        );
    }
    let mut plan = Plan::default();
    providers::choose(&args, &mut ask, &files, &mut plan).await;
    let steps = models::choose(&args, &mut ask, &mut plan)
        .and_then(|()| telegram::choose(&args, &mut ask, &files, &mut plan))
        .and_then(|()| {
            write::gateway(&files, &mut plan);
            write::write(&files, &plan)
        });
    if let Err(stop) = steps {
        eprintln!("pincer: {}", stop.message);
        return ExitCode::from(stop.code);
    }
    println!(
        "wrote {} and {} (mode 600)",
        files.config_path.display(),
        files.env_path.display()
    );
    println!("workspace: {}", files.workspace.display());
    println!("next: pincer doctor, then pincer gateway start and pincer dashboard");
    let start = args.start || (interactive && ask.yes("Start the stack now?", false));
    if start {
        return match crate::stack::Stack::find(Some(&files.config_path)) {
            Ok(stack) => stack.start().await,
            Err(code) => code,
        };
    }
    ExitCode::SUCCESS
}
