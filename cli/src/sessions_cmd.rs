//! `pincer sessions list|show|reset`, through the gateway's control plane.

use std::process::ExitCode;

use serde_json::json;

use crate::output;
use crate::target::{self, Gateway};

/// `pincer sessions`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer sessions list\n  pincer sessions show agent:main:telegram:dm:42\n  pincer sessions reset agent:main:telegram:dm:42"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    target: target::GatewayArgs,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Sessions, most recent first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A session's messages.
    Show {
        /// The session key (as `sessions list` shows it).
        key: String,
        /// The last this many messages.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Start a session over (its history is cleared).
    Reset {
        /// The session key.
        key: String,
    },
}

/// Runs `pincer sessions ...`.
pub async fn run(args: Args) -> ExitCode {
    let gateway = match target::resolve_or_exit(&args.target) {
        Ok(gateway) => gateway,
        Err(code) => return code,
    };
    match args.command {
        Command::List { limit } => list(&gateway, limit, args.json).await,
        Command::Show { key, limit } => show(&gateway, &key, limit, args.json).await,
        Command::Reset { key } => reset(&gateway, &key, args.json).await,
    }
}

/// `pincer sessions list`.
async fn list(gateway: &Gateway, limit: usize, json_out: bool) -> ExitCode {
    let result = target::call(gateway, "sessions.list", json!({ "limit": limit })).await;
    output::print_result(result, json_out, |payload| {
        let sessions = payload["sessions"].as_array().cloned().unwrap_or_default();
        if sessions.is_empty() {
            println!("no sessions yet");
            return;
        }
        let rows: Vec<Vec<String>> = sessions
            .iter()
            .map(|s| {
                vec![
                    s["sessionKey"].as_str().unwrap_or("").to_owned(),
                    s["messages"].to_string(),
                    output::ago(s["updatedAt"].as_u64().unwrap_or(0)),
                    format!(
                        "{}",
                        s["totals"]["promptTokens"].as_u64().unwrap_or(0)
                            + s["totals"]["completionTokens"].as_u64().unwrap_or(0)
                    ),
                    output::usd(&s["totals"]["costUsd"]),
                    s["lastModel"].as_str().unwrap_or("-").to_owned(),
                ]
            })
            .collect();
        output::table(
            &[
                "SESSION",
                "MESSAGES",
                "UPDATED",
                "TOKENS",
                "COST",
                "LAST MODEL",
            ],
            &rows,
        );
    })
}

/// `pincer sessions show KEY`.
async fn show(gateway: &Gateway, key: &str, limit: usize, json_out: bool) -> ExitCode {
    let result = target::call(
        gateway,
        "chat.history",
        json!({ "sessionKey": key, "limit": limit }),
    )
    .await;
    // The gateway answers a session nobody wrote to with an empty history; asked for by name,
    // it is most likely a mistyped key.
    let result = result.and_then(|payload| {
        if payload["exists"] == false {
            eprintln!("pincer: no session {key:?} (see pincer sessions list)");
            return Err(target::exit::DATA);
        }
        Ok(payload)
    });
    output::print_result(result, json_out, |payload| {
        let messages = payload["messages"].as_array().cloned().unwrap_or_default();
        println!("{key}: {} messages", messages.len());
        for message in &messages {
            let role = message["role"].as_str().unwrap_or("?");
            let content = message["content"].as_str().unwrap_or("");
            let label = match role {
                "user" => output::paint("user", "1;34"),
                "assistant" => output::paint("assistant", "1;32"),
                other => output::paint(other, "2"),
            };
            println!("\n{label}: {content}");
            for call in message["toolCalls"].as_array().into_iter().flatten() {
                println!(
                    "  -> {}({})",
                    call["name"].as_str().unwrap_or("?"),
                    call["arguments"].as_str().unwrap_or("")
                );
            }
        }
    })
}

/// `pincer sessions reset KEY`: only a session that exists (a mistyped key would reset nothing
/// and leave an empty session behind under the typo).
async fn reset(gateway: &Gateway, key: &str, json_out: bool) -> ExitCode {
    let known = target::call(
        gateway,
        "chat.history",
        json!({ "sessionKey": key, "limit": 1 }),
    )
    .await;
    // A history that cannot be read (damaged) is what a reset is for: only a session known
    // not to exist is refused.
    let result = match known {
        Ok(payload) if payload["exists"] == false => {
            eprintln!("pincer: no session {key:?} (see pincer sessions list)");
            Err(target::exit::DATA)
        }
        _ => target::call(gateway, "sessions.reset", json!({ "sessionKey": key })).await,
    };
    output::print_result(result, json_out, |_| println!("session {key} starts over"))
}
