//! `pincer channels status`: every channel account, how its connection is doing as the
//! channel-bridge reports it, and its queues, through the gateway's control plane.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::output;
use crate::target::{self, Gateway};

/// `pincer channels`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  pincer channels status\n  pincer channels status --json")]
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
    /// Each account: mode, connection state (and why it failed), last event, queued messages.
    Status,
}

/// Runs `pincer channels ...`.
pub async fn run(args: Args) -> ExitCode {
    let gateway = match target::resolve_or_exit(&args.target) {
        Ok(gateway) => gateway,
        Err(code) => return code,
    };
    match args.command {
        Command::Status => status(&gateway, args.json).await,
    }
}

async fn status(gateway: &Gateway, json_out: bool) -> ExitCode {
    let result = target::call(gateway, "channels.status", json!({})).await;
    let failed = result.as_ref().is_ok_and(|payload| {
        payload["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["connection"]["state"] == "failed")
    });
    let code = output::print_result(result, json_out, |payload| {
        let channels = payload["channels"].as_array().cloned().unwrap_or_default();
        if channels.is_empty() {
            println!(
                "no channel is configured (channels.telegram, discord, slack, whatsapp, signal, bluebubbles)"
            );
            return;
        }
        let rows: Vec<Vec<String>> = channels.iter().map(row).collect();
        output::table(
            &[
                "CHANNEL",
                "ACCOUNT",
                "MODE",
                "STATE",
                "LAST EVENT",
                "IN",
                "OUT",
                "DETAIL",
            ],
            &rows,
        );
    });
    if failed && code == ExitCode::SUCCESS {
        // A script can tell that an account needs attention.
        return ExitCode::from(target::exit::UNAVAILABLE);
    }
    code
}

fn row(channel: &Value) -> Vec<String> {
    let connection = &channel["connection"];
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let state = match connection["bot"].as_str() {
        Some(bot) => format!("{} as {bot}", text(&connection["state"])),
        None => text(&connection["state"]),
    };
    let last_event = connection["lastEventMs"]
        .as_u64()
        .filter(|ms| *ms > 0)
        .map_or_else(|| "-".to_owned(), output::ago);
    let queue = |queue: &Value| {
        queue["pending"]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |n| n.to_string())
    };
    vec![
        text(&channel["channel"]),
        text(&channel["account"]),
        text(&channel["mode"]),
        state,
        last_event,
        queue(&channel["inbound"]),
        queue(&channel["outbound"]),
        connection["detail"].as_str().unwrap_or("").to_owned(),
    ]
}
