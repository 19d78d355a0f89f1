//! `pincer import openclaw [PATH]`: converts an OpenClaw config (`~/.openclaw/openclaw.json`,
//! JSON5 with `${VAR}`s, `agents.list` or `agents.entries`) into a Pincer config, listing what
//! Pincer does not support, and copies the agent workspace files.
//!
//! Pincer reads OpenClaw's keys, so the conversion keeps the document and drops what the strict
//! loader refuses: each unknown key or unsupported value is removed and reported, until the rest
//! loads. `${VAR}` references are kept as written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pincer_config::edit;
use serde_json::{Value, json};

use crate::output;
use crate::target::exit;

/// `pincer import`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer import openclaw\n  pincer import openclaw ~/backup/openclaw.json --out config/pincer.json5 --force"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Convert an OpenClaw config and copy its workspace files.
    Openclaw(Options),
}

/// `pincer import openclaw`.
#[derive(clap::Args)]
struct Options {
    /// The OpenClaw config (default ~/.openclaw/openclaw.json).
    #[arg(value_name = "PATH")]
    source: Option<PathBuf>,
    /// Where to write the Pincer config.
    #[arg(long, default_value = "config/pincer.json5")]
    out: PathBuf,
    /// Where to copy the workspace files (default ~/.pincer/workspace).
    #[arg(long)]
    workspace: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Drops what Pincer refuses, one key at a time; returns the kept text and the dropped paths.
pub fn convert(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let mut document: Value = json5::from_str(text).map_err(|e| format!("not JSON5: {e}"))?;
    let mut dropped = Vec::new();
    // OpenClaw's WhatsApp is a linked device (WhatsApp Web); Pincer's is the Cloud API, which
    // names a phone number id. A linked-device block would stop the bridge at startup.
    if let Some(channels) = document.get_mut("channels").and_then(Value::as_object_mut)
        && channels.get("whatsapp").is_some_and(|w| !cloud_api(w))
    {
        channels.remove("whatsapp");
        dropped.push((
            "channels.whatsapp".to_owned(),
            "WhatsApp Web (a linked device) is not supported: set up the Cloud API (transport \"cloud\", phoneNumberId, accessToken) instead".to_owned(),
        ));
    }
    let mut current = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
    let lenient = |_: &str| Some("imported".to_owned());
    for _ in 0..1000 {
        match pincer_config::parse_str(
            &current,
            "openclaw.json",
            &lenient,
            // Every section's checks, so what a service would refuse at start is left out here.
            pincer_config::Scope::All,
        ) {
            Ok(_) => return Ok((current, dropped)),
            Err(error) => {
                let Some(path) = error.path().filter(|p| *p != ".").map(str::to_owned) else {
                    return Err(error.to_string());
                };
                let steps = edit::parse_path(&path).map_err(|e| e.to_string())?;
                let edited =
                    edit::unset(&current, &steps).map_err(|e| format!("{path}: {e} ({error})"))?;
                let reason = error.to_string();
                let reason = reason
                    .split_once(": ")
                    .map_or(reason.as_str(), |(_, r)| r)
                    .to_owned();
                dropped.push((path, reason));
                current = edited.text;
            }
        }
    }
    Err("too many unsupported keys".to_owned())
}

/// Whether a `channels.whatsapp` block is for the Cloud API (a phone number id, at the top or in
/// an account).
fn cloud_api(whatsapp: &Value) -> bool {
    let has_id = |block: &Value| block.get("phoneNumberId").is_some();
    has_id(whatsapp)
        || whatsapp
            .get("accounts")
            .and_then(Value::as_object)
            .is_some_and(|accounts| accounts.values().any(has_id))
}

/// Copies `from` into `to` recursively, never overwriting; returns (copied, kept existing).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<(usize, usize)> {
    let mut copied = 0;
    let mut kept = 0;
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let name = entry.file_name();
            if name == ".git" || name == "node_modules" {
                continue;
            }
            let (c, k) = copy_tree(&entry.path(), &target)?;
            copied += c;
            kept += k;
        } else if kind.is_file() {
            if target.exists() {
                kept += 1;
            } else {
                std::fs::copy(entry.path(), &target)?;
                copied += 1;
            }
        }
    }
    Ok((copied, kept))
}

/// Runs `pincer import openclaw`.
pub fn run(args: Args) -> ExitCode {
    let Command::Openclaw(options) = args.command;
    import(options)
}

/// Runs the import.
fn import(options: Options) -> ExitCode {
    let source = options
        .source
        .clone()
        .unwrap_or_else(|| home().join(".openclaw").join("openclaw.json"));
    let text = match std::fs::read_to_string(&source) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("pincer: cannot read {}: {error}", source.display());
            return ExitCode::from(exit::IO);
        }
    };
    let (converted, dropped) = match convert(&text) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("pincer: cannot convert {}: {error}", source.display());
            return ExitCode::from(exit::DATA);
        }
    };
    if options.out.exists() && !options.force {
        eprintln!(
            "pincer: {} exists; pass --force to replace it (or --out another file)",
            options.out.display()
        );
        return ExitCode::from(exit::USAGE);
    }
    let mut header = format!(
        "// Imported from {} by `pincer import openclaw`.\n",
        source.display()
    );
    if !dropped.is_empty() {
        header.push_str("// Not supported by Pincer, left out:\n");
        for (path, reason) in &dropped {
            header.push_str(&format!("//   {path}: {reason}\n"));
        }
    }
    if let Err(error) =
        crate::config_cmd::write_atomically(&options.out, &format!("{header}{converted}\n"))
    {
        eprintln!("pincer: cannot write {}: {error}", options.out.display());
        return ExitCode::from(exit::IO);
    }

    // The workspace: the configured one, else OpenClaw's default.
    let document: Value = json5::from_str(&text).unwrap_or_default();
    let from = document["agents"]["defaults"]["workspace"]
        .as_str()
        .map(|p| PathBuf::from(p.replacen('~', &home().display().to_string(), 1)))
        .unwrap_or_else(|| home().join(".openclaw").join("workspace"));
    let to = options
        .workspace
        .clone()
        .unwrap_or_else(|| home().join(".pincer").join("workspace"));
    let copied = if from.is_dir() {
        copy_tree(&from, &to).ok()
    } else {
        None
    };

    if options.json {
        output::json(&json!({
            "source": source.display().to_string(),
            "config": options.out.display().to_string(),
            "dropped": dropped.iter().map(|(p, r)| json!({ "path": p, "reason": r })).collect::<Vec<_>>(),
            "workspace": copied.map(|(c, k)| json!({ "from": from.display().to_string(), "to": to.display().to_string(), "copied": c, "keptExisting": k })),
        }));
    } else {
        println!("wrote {} from {}", options.out.display(), source.display());
        if dropped.is_empty() {
            println!("every setting was carried over");
        } else {
            println!("left out ({}), Pincer does not support:", dropped.len());
            for (path, reason) in &dropped {
                println!("  - {path}: {reason}");
            }
        }
        match copied {
            Some((c, k)) => println!(
                "workspace: copied {c} file(s) from {} to {} ({k} already there, kept)",
                from.display(),
                to.display()
            ),
            None => println!("workspace: {} not found, nothing copied", from.display()),
        }
        println!("next: pincer config validate {}", options.out.display());
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_configs_keep_what_pincer_reads_and_list_the_rest() {
        let openclaw = r#"{
          // OpenClaw
          gateway: { mode: "local", port: 18789, bind: "loopback", auth: { mode: "token", token: "${OPENCLAW_GATEWAY_TOKEN}" },
                     tailscale: { mode: "serve" }, controlUi: { dangerouslyDisableDeviceAuth: true } },
          models: { providers: { openrouter: { baseUrl: "https://openrouter.ai/api/v1", apiKey: "${OPENROUTER_API_KEY}", api: "openai-completions" } } },
          agents: { defaults: { model: { primary: "openrouter/anthropic/claude-sonnet-4", fallbacks: [] }, thinkingDefault: "low" },
                    list: [{ id: "main", default: true }] },
          channels: { telegram: { botToken: "${TELEGRAM_BOT_TOKEN}", dmPolicy: "pairing" }, discord: { token: "x" },
                      whatsapp: { dmPolicy: "pairing" } },
          cron: { enabled: true, sessionRetention: "24h" },
        }"#;
        let (text, dropped) = convert(openclaw).unwrap();
        let paths: Vec<&str> = dropped.iter().map(|(p, _)| p.as_str()).collect();
        for gone in [
            "channels.whatsapp",
            "cron.sessionRetention",
            "gateway.controlUi.dangerouslyDisableDeviceAuth",
        ] {
            assert!(paths.contains(&gone), "{gone} not reported: {paths:?}");
        }
        let kept: Value = json5::from_str(&text).unwrap();
        assert_eq!(kept["cron"]["enabled"], true, "the scheduler is read now");
        assert_eq!(
            kept["channels"]["telegram"]["botToken"],
            "${TELEGRAM_BOT_TOKEN}"
        );
        assert_eq!(
            kept["channels"]["discord"]["token"], "x",
            "Discord is read now"
        );
        assert_eq!(kept["agents"]["list"][0]["id"], "main");
        assert_eq!(
            kept["gateway"]["auth"]["token"],
            "${OPENCLAW_GATEWAY_TOKEN}"
        );
        // What is left loads.
        let lenient = |_: &str| Some("x".to_owned());
        pincer_config::parse_str(&text, "out", &lenient, pincer_config::Scope::Sections(&[]))
            .unwrap();
    }
}
