//! `pincer onboard`: a first config, interactively or entirely from flags (`--non-interactive`).
//!
//! Asks for providers (Ollama local or remote, OpenRouter, an OpenAI-compatible API, Anthropic),
//! offers the models each one lists for the primary and fallback models, a Telegram bot and its DM
//! policy; writes the JSON5 config (secrets as `${VAR}` references) and `.env` (mode 0600, with a
//! 64-hex gateway token unless one exists), creates the agent's workspace files, and can start the
//! stack. Re-running it edits both files in place: other settings and comments stay.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use pincer_config::edit;
use serde_json::{Value, json};

use crate::target::exit;

/// Flags (each answers one question; `--non-interactive` asks none).
#[derive(clap::Args, Debug, Default)]
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

struct Prompter {
    interactive: bool,
    input: std::io::StdinLock<'static>,
}

impl Prompter {
    fn ask(&mut self, question: &str, default: &str) -> String {
        if !self.interactive {
            return default.to_owned();
        }
        if default.is_empty() {
            print!("{question}: ");
        } else {
            print!("{question} [{default}]: ");
        }
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if self.input.read_line(&mut line).unwrap_or(0) == 0 {
            return default.to_owned();
        }
        let answer = line.trim();
        if answer.is_empty() {
            default.to_owned()
        } else {
            answer.to_owned()
        }
    }

    /// Reads a secret without echoing it on a terminal.
    fn secret(&mut self, question: &str, existing: bool) -> Option<String> {
        if !self.interactive {
            return None;
        }
        let hint = if existing {
            " (Enter keeps the current one)"
        } else {
            " (Enter to skip)"
        };
        print!("{question}{hint}: ");
        let _ = std::io::stdout().flush();
        let echo_off = EchoOff::new();
        let mut line = String::new();
        let read = self.input.read_line(&mut line).unwrap_or(0);
        drop(echo_off);
        println!();
        let answer = line.trim();
        (read > 0 && !answer.is_empty()).then(|| answer.to_owned())
    }

    fn yes(&mut self, question: &str, default: bool) -> bool {
        let answer = self.ask(question, if default { "Y/n" } else { "y/N" });
        match answer.to_ascii_lowercase().as_str() {
            "y" | "yes" => true,
            "n" | "no" => false,
            _ => default,
        }
    }
}

/// Turns terminal echo off while alive (no-op when stdin is not a terminal).
struct EchoOff(Option<nix::sys::termios::Termios>);

impl EchoOff {
    fn new() -> Self {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        let Ok(original) = termios::tcgetattr(&stdin) else {
            return Self(None);
        };
        let mut quiet = original.clone();
        quiet.local_flags.remove(termios::LocalFlags::ECHO);
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &quiet);
        Self(Some(original))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(original) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                original,
            );
        }
    }
}

/// The models a provider lists (empty when it cannot be asked).
async fn list_models(api: &str, base: &str, key: Option<&str>) -> Vec<String> {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .build()
    else {
        return Vec::new();
    };
    let base = base.trim_end_matches('/');
    let request = match api {
        "ollama" => client.get(format!("{base}/api/tags")),
        "anthropic-messages" => client
            .get(format!("{base}/v1/models"))
            .header("x-api-key", key.unwrap_or_default())
            .header("anthropic-version", "2023-06-01"),
        _ => {
            let request = client.get(format!("{base}/models"));
            match key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        }
    };
    let Ok(response) = request.send().await else {
        return Vec::new();
    };
    let Ok(body) = response.json::<Value>().await else {
        return Vec::new();
    };
    let entries = body["models"]
        .as_array()
        .or_else(|| body["data"].as_array())
        .cloned()
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|m| {
            m["name"]
                .as_str()
                .or_else(|| m["id"].as_str())
                .or_else(|| m["model"].as_str())
        })
        .map(str::to_owned)
        .collect()
}

/// Sets `KEY=value` lines in an env file's text (replacing existing ones, appending new ones).
pub fn set_env_lines(text: &str, values: &[(String, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (key, value) in values {
        let prefix = format!("{key}=");
        match lines.iter_mut().find(|l| {
            l.trim_start().starts_with(&prefix)
                || l.trim_start().starts_with(&format!("# {prefix}"))
        }) {
            Some(line) => *line = format!("{key}={value}"),
            None => lines.push(format!("{key}={value}")),
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
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
    let (config_path, env_path, workspace) = default_paths(&args);
    let mut text = std::fs::read_to_string(&config_path).unwrap_or_default();
    let mut env_text = std::fs::read_to_string(&env_path).unwrap_or_default();
    let existing = |name: &str| crate::target::env_file_value(&env_path, name);
    if interactive {
        println!(
            "Pincer onboarding: {} and {}{}",
            config_path.display(),
            env_path.display(),
            if text.is_empty() {
                " (new)"
            } else {
                " (editing)"
            }
        );
    }

    let mut env_values: Vec<(String, String)> = Vec::new();
    let mut sets: Vec<(&str, Value)> = Vec::new();
    let mut offered: Vec<String> = Vec::new();

    // Providers.
    let ollama = match (&args.ollama_url, interactive) {
        (Some(url), _) => Some(url.clone()),
        (None, true) => {
            let current =
                existing("OLLAMA_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:11434".to_owned());
            let answer = ask.ask(
                "Ollama URL (local, or your 8 GB host's tailnet address; 'none' to skip)",
                &current,
            );
            (answer != "none").then_some(answer)
        }
        (None, false) => None,
    };
    if let Some(url) = &ollama {
        env_values.push(("OLLAMA_BASE_URL".into(), url.clone()));
        sets.push((
            "models.providers.ollama",
            json!({ "baseUrl": "${OLLAMA_BASE_URL}", "api": "ollama" }),
        ));
        offered.extend(
            list_models("ollama", url, None)
                .await
                .into_iter()
                .map(|m| format!("ollama/{m}")),
        );
    }
    let keyed = [
        (
            "openrouter",
            "OPENROUTER_API_KEY",
            "OpenRouter API key",
            args.openrouter_key.clone(),
            "https://openrouter.ai/api/v1",
            "openai-completions",
        ),
        (
            "anthropic",
            "ANTHROPIC_API_KEY",
            "Anthropic API key",
            args.anthropic_key.clone(),
            "https://api.anthropic.com",
            "anthropic-messages",
        ),
    ];
    for (provider, variable, question, flag, base, api) in keyed {
        let key = flag
            .or_else(|| ask.secret(question, existing(variable).is_some()))
            .or_else(|| {
                existing(variable).filter(|_| {
                    text.contains(&format!("providers.{provider}")) || text.contains(variable)
                })
            });
        if let Some(key) = key {
            env_values.push((variable.into(), key.clone()));
            sets.push((
                if provider == "openrouter" {
                    "models.providers.openrouter"
                } else {
                    "models.providers.anthropic"
                },
                json!({ "baseUrl": base, "apiKey": format!("${{{variable}}}"), "api": api }),
            ));
            offered.extend(
                list_models(api, base, Some(&key))
                    .await
                    .into_iter()
                    .map(|m| format!("{provider}/{m}")),
            );
        }
    }
    let openai_base = args.openai_base_url.clone().or_else(|| {
        let answer = ask.ask(
            "Base URL of an OpenAI-compatible API ('none' to skip)",
            "none",
        );
        (interactive && answer != "none").then_some(answer)
    });
    if let Some(base) = &openai_base {
        let key = args
            .openai_key
            .clone()
            .or_else(|| ask.secret("Its API key", existing("OPENAI_API_KEY").is_some()))
            .or_else(|| existing("OPENAI_API_KEY"));
        let mut provider = json!({ "baseUrl": base, "api": "openai-completions" });
        if let Some(key) = &key {
            env_values.push(("OPENAI_API_KEY".into(), key.clone()));
            provider["apiKey"] = json!("${OPENAI_API_KEY}");
        }
        sets.push(("models.providers.openai", provider));
        offered.extend(
            list_models("openai-completions", base, key.as_deref())
                .await
                .into_iter()
                .map(|m| format!("openai/{m}")),
        );
    }

    // Models.
    if interactive && !offered.is_empty() {
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
    let fallbacks: Vec<String> = if args.fallbacks.is_empty() && interactive {
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
    for model in primary.iter().chain(&fallbacks) {
        if pincer_config::parse_model_ref(model).is_none() {
            eprintln!("pincer: {model:?} is not a model reference (provider/model)");
            return ExitCode::from(exit::USAGE);
        }
    }
    let local: Vec<&str> = primary
        .iter()
        .chain(&fallbacks)
        .filter_map(|m| m.strip_prefix("ollama/"))
        .collect();
    if !local.is_empty() {
        // What the compose `ollama-pull` job downloads.
        env_values.push(("OLLAMA_MODELS".into(), local.join(" ")));
    }
    if let Some(primary) = &primary {
        sets.push((
            "agents.defaults.model",
            if fallbacks.is_empty() {
                json!(primary)
            } else {
                json!({ "primary": primary, "fallbacks": fallbacks })
            },
        ));
    }

    // Telegram.
    let telegram_token = args.telegram_token.clone().or_else(|| {
        ask.secret(
            "Telegram bot token from @BotFather",
            existing("TELEGRAM_BOT_TOKEN").is_some(),
        )
    });
    if let Some(token) = &telegram_token {
        env_values.push(("TELEGRAM_BOT_TOKEN".into(), token.clone()));
    }
    if telegram_token.is_some()
        || (existing("TELEGRAM_BOT_TOKEN").is_some() && text.contains("telegram"))
    {
        let policy = args.dm_policy.clone().unwrap_or_else(|| {
            ask.ask(
                "Who may message the bot: pairing (a code you approve), allowlist, open, disabled",
                "pairing",
            )
        });
        if !["pairing", "allowlist", "open", "disabled"].contains(&policy.as_str()) {
            eprintln!(
                "pincer: dm policy {policy:?} is not one of pairing, allowlist, open, disabled"
            );
            return ExitCode::from(exit::USAGE);
        }
        let mut allow = args.allow_from.clone();
        if policy == "allowlist" && allow.is_empty() {
            allow = ask
                .ask("Telegram user ids or @names allowed (comma separated)", "")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if policy == "open" {
            allow = vec!["*".to_owned()];
        }
        let mut telegram =
            json!({ "enabled": true, "botToken": "${TELEGRAM_BOT_TOKEN}", "dmPolicy": policy });
        if !allow.is_empty() {
            telegram["allowFrom"] = json!(allow);
        }
        sets.push(("channels.telegram", telegram));
    }

    // Gateway: loopback, a token from .env (kept when there is one).
    let token = existing("PINCER_GATEWAY_TOKEN")
        .filter(|t| crate::audit::weakness(t).is_none())
        .unwrap_or_else(crate::secrets::random_token);
    env_values.push(("PINCER_GATEWAY_TOKEN".into(), token));
    // The stack's own secrets (bus passwords, service tokens): generated once, then kept.
    for name in crate::secrets::variables() {
        if existing(name).is_none() {
            env_values.push((name.into(), crate::secrets::random_token()));
        }
    }
    let doc: Value =
        json5::from_str(if text.trim().is_empty() { "{}" } else { &text }).unwrap_or_default();
    if doc["gateway"]["bind"].is_null() {
        sets.push(("gateway.bind", json!("loopback")));
    }
    sets.push(("gateway.auth.mode", json!("token")));
    sets.push(("gateway.auth.token", json!("${PINCER_GATEWAY_TOKEN}")));

    for (path, value) in &sets {
        let Ok(steps) = edit::parse_path(path) else {
            return ExitCode::from(exit::USAGE);
        };
        match edit::set(
            if text.trim().is_empty() { "{}" } else { &text },
            &steps,
            value,
        ) {
            Ok(edited) => text = edited.text,
            Err(error) => {
                eprintln!("pincer: cannot set {path}: {error}");
                return ExitCode::from(exit::DATA);
            }
        }
    }
    env_text = set_env_lines(&env_text, &env_values);
    let lookup = |name: &str| {
        crate::target::env_file_value_in(&env_text, name).or_else(|| std::env::var(name).ok())
    };
    if let Err(error) = pincer_config::parse_str(
        &text,
        &config_path.display().to_string(),
        &lookup,
        pincer_config::Scope::All,
    ) {
        eprintln!("pincer: the config would be invalid, nothing written: {error}");
        return ExitCode::from(exit::CONFIG);
    }
    if let Err(error) = crate::config_cmd::write_atomically(&env_path, &env_text)
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&env_path, std::fs::Permissions::from_mode(0o600))
        })
        .and_then(|()| crate::config_cmd::write_atomically(&config_path, &text))
    {
        eprintln!("pincer: cannot write the files: {error}");
        return ExitCode::from(exit::IO);
    }
    if let Err(error) = pincer_workspace::Workspace::open(&workspace) {
        eprintln!(
            "pincer: cannot create the workspace {}: {error}",
            workspace.display()
        );
        return ExitCode::from(exit::IO);
    }
    println!(
        "wrote {} and {} (mode 600)",
        config_path.display(),
        env_path.display()
    );
    println!("workspace: {}", workspace.display());
    println!("next: pincer doctor, then pincer gateway start and pincer dashboard");
    let start = args.start || (interactive && ask.yes("Start the stack now?", false));
    if start {
        return crate::gateway_cmd::start();
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_are_replaced_uncommented_or_appended() {
        let text = "# comment\nPINCER_GATEWAY_TOKEN=old\n# OPENROUTER_API_KEY=sk-or-...\n";
        let out = set_env_lines(
            text,
            &[
                ("PINCER_GATEWAY_TOKEN".into(), "new".into()),
                ("OPENROUTER_API_KEY".into(), "k".into()),
                ("X".into(), "1".into()),
            ],
        );
        assert_eq!(
            out,
            "# comment\nPINCER_GATEWAY_TOKEN=new\nOPENROUTER_API_KEY=k\nX=1\n"
        );
    }
}
