//! `pincer config validate|get|set|unset|schema`.
//!
//! `set` and `unset` edit the file in place with `pincer_config::edit` (comments, layout and
//! `${VAR}` references stay), validate the result the way the services load it, and replace the
//! file atomically (same permissions). Secrets are never printed: `get` masks them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pincer_config::edit;
use serde_json::Value;

use crate::output;
use crate::target::exit;

/// `pincer config`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer config get agents.defaults.model\n  pincer config set agents.defaults.timeout 120\n  pincer config unset channels.telegram.groups\n  pincer config validate config/pincer.json5\n  pincer config schema > pincer.schema.json"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Config file (default: $PINCER_CONFIG, ./config/pincer.json5, ~/.pincer/pincer.json5);
    /// `--config` as every other command calls it.
    #[arg(long, global = true, visible_alias = "config")]
    file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Validate a config file: syntax, unknown keys, types and ${VAR}s (exit 78 when invalid).
    Validate {
        /// Path of the JSON5 config (default: $PINCER_CONFIG or ~/.pincer/pincer.json5).
        path: Option<PathBuf>,
    },
    /// Print a value (secrets masked). Example: pincer config get agents.defaults.model
    Get {
        /// Dotted path (`a.b.0.c`, `a["key.with.dots"]`).
        path: String,
    },
    /// Set a value (JSON5, else text), validated before it is written; comments stay.
    #[command(
        after_help = "Examples:\n  pincer config set agents.defaults.timeout 120\n  pincer config set channels.telegram.dmPolicy pairing\n  pincer config set gateway.controlUi.allowedOrigins '[\"https://box.tail1.ts.net\"]'"
    )]
    Set {
        /// Dotted path.
        path: String,
        /// The value.
        value: String,
    },
    /// Remove a key.
    Unset {
        /// Dotted path.
        path: String,
    },
    /// Print the JSON Schema of the config file.
    Schema,
}

/// Runs `pincer config ...`.
pub fn run(args: Args) -> ExitCode {
    let Args {
        command,
        file: explicit,
        json,
    } = args;
    let file = || crate::sources::config_file_or_default(explicit.as_deref());
    match command {
        Command::Validate { path } => validate(
            path.or_else(|| explicit.clone())
                .unwrap_or_else(pincer_lifecycle::env::config_path),
        ),
        Command::Get { path } => get(&file(), &path, json),
        Command::Set { path, value } => set(&file(), &path, &value),
        Command::Unset { path } => unset(&file(), &path),
        Command::Schema => schema(),
    }
}

/// Validates every section of `file` with the process environment, then the config's own `.env`
/// and `./.env` (what the services are given).
fn validate(file: PathBuf) -> ExitCode {
    let sources = crate::sources::Sources::with_config(Some(file.clone()));
    match sources.load(pincer_config::Scope::All) {
        Ok(loaded) => {
            // What the gateway would refuse to listen beyond loopback with.
            if let Some((key, why)) = loaded
                .as_ref()
                .and_then(pincer_config::exposure::weak_exposed_secret)
            {
                eprintln!("invalid config: {}: {key}: {why}", file.display());
                return ExitCode::from(exit::CONFIG);
            }
            let read: Vec<String> = sources
                .env_files
                .iter()
                .filter(|(_, text)| text.is_some())
                .map(|(path, _)| crate::sources::shown(path))
                .collect();
            if read.is_empty() {
                println!("config ok: {}", file.display());
            } else {
                println!("config ok: {} (with {})", file.display(), read.join(", "));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("invalid config: {error}");
            ExitCode::from(exit::CONFIG)
        }
    }
}

fn read(file: &Path) -> Result<String, ExitCode> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => {
            eprintln!("pincer: cannot read {}: {error}", file.display());
            Err(ExitCode::from(exit::IO))
        }
    }
}

fn path_of(path: &str) -> Result<Vec<edit::Step>, ExitCode> {
    edit::parse_path(path).map_err(|error| {
        eprintln!("pincer: {error}");
        ExitCode::from(exit::USAGE)
    })
}

/// `pincer config get PATH`: the value (secrets masked), JSON with `--json`.
fn get(file: &Path, path: &str, json_out: bool) -> ExitCode {
    let steps = match path_of(path) {
        Ok(steps) => steps,
        Err(code) => return code,
    };
    let text = match read(file) {
        Ok(text) => text,
        Err(code) => return code,
    };
    match edit::get(&text, &steps) {
        Ok(Some(mut value)) => {
            let keys = steps.iter().filter_map(|step| match step {
                edit::Step::Key(key) => Some(key.as_str()),
                edit::Step::Index(_) => None,
            });
            if pincer_config::redact::is_secret_path(keys) {
                pincer_config::redact::mask_all(&mut value);
            } else {
                pincer_config::redact::redact(&mut value);
            }
            match (&value, json_out) {
                (Value::String(text), false) => println!("{text}"),
                _ => output::json(&value),
            }
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("pincer: {path} is not set in {}", file.display());
            ExitCode::from(exit::DATA)
        }
        Err(error) => {
            eprintln!("pincer: {}: {error}", file.display());
            ExitCode::from(exit::CONFIG)
        }
    }
}

/// Reads a value from the command line: JSON5 when it parses (`30`, `true`, `["a"]`, `{a: 1}`,
/// `"quoted"`), otherwise the text itself.
pub fn parse_value(raw: &str) -> Value {
    json5::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// `pincer config set PATH VALUE`.
fn set(file: &Path, path: &str, raw: &str) -> ExitCode {
    let value = parse_value(raw);
    apply(file, path, |text, steps| edit::set(text, steps, &value))
}

/// `pincer config unset PATH`.
fn unset(file: &Path, path: &str) -> ExitCode {
    apply(file, path, edit::unset)
}

/// Edits, validates and writes; prints what changed (never the value of a secret).
pub fn apply(
    file: &Path,
    path: &str,
    change: impl FnOnce(&str, &[edit::Step]) -> Result<edit::Edited, edit::EditError>,
) -> ExitCode {
    let steps = match path_of(path) {
        Ok(steps) => steps,
        Err(code) => return code,
    };
    let text = match read(file) {
        Ok(text) => text,
        Err(code) => return code,
    };
    let edited = match change(&text, &steps) {
        Ok(edited) => edited,
        Err(error) => {
            eprintln!("pincer: {error}");
            return ExitCode::from(exit::DATA);
        }
    };
    if let Err(code) = write_validated(file, &edited.text) {
        return code;
    }
    if edited.rewritten {
        eprintln!(
            "pincer: note: {} was rewritten as JSON (its layout could not be kept); comments are gone",
            file.display()
        );
    }
    println!("updated {path} in {}", file.display());
    ExitCode::SUCCESS
}

/// Checks `text` as the services would (unknown keys and types everywhere; `${VAR}`s may be set
/// only in the services' environment, so they are not required here) and replaces `file`.
pub fn write_validated(file: &Path, text: &str) -> Result<(), ExitCode> {
    if let Err(error) = pincer_config::parse_str(
        text,
        &file.display().to_string(),
        &pincer_config::process_env,
        pincer_config::Scope::Sections(&[]),
    ) {
        eprintln!("pincer: not written, the result would be invalid: {error}");
        return Err(ExitCode::from(exit::CONFIG));
    }
    write_atomically(file, text).map_err(|error| {
        eprintln!("pincer: cannot write {}: {error}", file.display());
        ExitCode::from(exit::IO)
    })
}

/// Writes `text` next to `file` and renames it into place, keeping the file's permissions (a new
/// file is created 0600: configs hold secrets).
pub fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let staging = file.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&staging, text)?;
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&staging, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&staging);
    })
}

/// `pincer config schema`: the JSON Schema of the config file.
fn schema() -> ExitCode {
    output::json(&pincer_config::json_schema());
    ExitCode::SUCCESS
}
