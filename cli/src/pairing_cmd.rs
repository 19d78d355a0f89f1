//! `pincer pairing list|approve|reject`: DM pairing requests of every channel account, through the
//! gateway's control plane (the one port a deployment publishes).

use std::process::ExitCode;

use serde_json::json;

use crate::output;
use crate::target::{self, Gateway};

/// `pincer pairing`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer pairing list\n  pincer pairing approve discord AB3DE7GH\n  pincer pairing approve AB3DE7GH\n  pincer pairing reject slack AB3DE7GH --account ops"
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
    /// Pending requests: code, account, sender, username.
    List,
    /// Let the sender of CODE talk to the agent (the code works once): [CHANNEL] CODE.
    Approve(Decision),
    /// Drop the request with CODE: [CHANNEL] CODE.
    Reject(Decision),
}

/// `[CHANNEL] CODE [--account NAME]`: the channel and account narrow the search; the code alone
/// finds its request on any channel.
#[derive(clap::Args)]
struct Decision {
    /// `telegram`, `discord`, `slack`, `whatsapp`, `signal` or `bluebubbles` (optional), then the
    /// 8-character code the sender got.
    #[arg(value_name = "[CHANNEL] CODE", num_args = 1..=2, required = true)]
    words: Vec<String>,
    /// The channel account (bot) that issued the code.
    #[arg(long)]
    account: Option<String>,
}

impl Decision {
    /// The request's parameters for the control plane.
    fn params(&self) -> serde_json::Value {
        let (channel, code) = match self.words.as_slice() {
            [channel, code] => (Some(channel.as_str()), code.as_str()),
            [code] => (None, code.as_str()),
            _ => (None, ""),
        };
        let mut params = json!({ "code": code });
        if let Some(channel) = channel {
            params["channel"] = json!(channel.to_ascii_lowercase());
        }
        if let Some(account) = &self.account {
            params["account"] = json!(account);
        }
        params
    }
}

/// Runs `pincer pairing ...`.
pub async fn run(args: Args) -> ExitCode {
    let gateway = match target::resolve_or_exit(&args.target) {
        Ok(gateway) => gateway,
        Err(code) => return code,
    };
    match args.command {
        Command::List => list(&gateway, args.json).await,
        Command::Approve(decision) => decide(&gateway, &decision, true, args.json).await,
        Command::Reject(decision) => decide(&gateway, &decision, false, args.json).await,
    }
}

/// Lists pending requests.
async fn list(gateway: &Gateway, json_out: bool) -> ExitCode {
    match target::call(gateway, "pairing.list", json!({})).await {
        Ok(payload) if json_out => {
            output::json(&payload["pending"]);
            ExitCode::SUCCESS
        }
        Ok(payload) => {
            let pending = payload["pending"].as_array().cloned().unwrap_or_default();
            if pending.is_empty() {
                println!("no pending pairing requests");
                return ExitCode::SUCCESS;
            }
            let rows: Vec<Vec<String>> = pending
                .iter()
                .map(|p| {
                    vec![
                        p["code"].as_str().unwrap_or("").to_owned(),
                        format!(
                            "{}/{}",
                            p["channel"].as_str().unwrap_or(""),
                            p["account"].as_str().unwrap_or("")
                        ),
                        p["senderId"].as_str().unwrap_or("").to_owned(),
                        p["username"]
                            .as_str()
                            .map_or("-".to_owned(), |u| format!("@{u}")),
                        output::ago(p["createdAt"].as_u64().unwrap_or(0)),
                    ]
                })
                .collect();
            output::table(&["CODE", "ACCOUNT", "SENDER", "USERNAME", "ASKED"], &rows);
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}

/// Approves (`approve = true`) or rejects a code.
async fn decide(gateway: &Gateway, decision: &Decision, approve: bool, json_out: bool) -> ExitCode {
    let method = if approve {
        "pairing.approve"
    } else {
        "pairing.reject"
    };
    match target::call(gateway, method, decision.params()).await {
        Ok(payload) if json_out => {
            output::json(&payload);
            ExitCode::SUCCESS
        }
        Ok(payload) => {
            let sender = payload["senderId"].as_str().unwrap_or("?");
            let channel = payload["channel"].as_str().unwrap_or("?");
            if approve {
                println!("approved {channel} sender {sender}: they can talk to the agent now");
            } else {
                println!("rejected the request of {channel} sender {sender}");
            }
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}
