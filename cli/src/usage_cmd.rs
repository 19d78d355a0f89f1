//! `pincer usage`: tokens and cost per model, through the gateway's control plane.

use std::process::ExitCode;

use serde_json::json;

use crate::output;
use crate::target::{self, Gateway};

/// `pincer usage`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  pincer usage\n  pincer usage --days 7 --json")]
pub struct Args {
    /// Days back (UTC), 1 to 366.
    #[arg(long, default_value_t = 30)]
    days: u32,
    #[command(flatten)]
    target: target::GatewayArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `pincer usage`.
pub async fn run(args: Args) -> ExitCode {
    match target::resolve_or_exit(&args.target) {
        Ok(gateway) => usage(&gateway, args.days, args.json).await,
        Err(code) => code,
    }
}

/// `pincer usage`.
async fn usage(gateway: &Gateway, days: u32, json_out: bool) -> ExitCode {
    let result = target::call(gateway, "usage.cost", json!({ "days": days })).await;
    output::print_result(result, json_out, |payload| {
        let models = payload["models"].as_array().cloned().unwrap_or_default();
        println!("Usage over the last {days} days (UTC)");
        let mut rows: Vec<Vec<String>> = models
            .iter()
            .map(|m| {
                vec![
                    m["model"].as_str().unwrap_or("?").to_owned(),
                    m["turns"].to_string(),
                    m["promptTokens"].to_string(),
                    m["completionTokens"].to_string(),
                    output::usd(&m["costUsd"]),
                ]
            })
            .collect();
        let total = &payload["total"];
        rows.push(vec![
            "total".to_owned(),
            total["turns"].to_string(),
            total["promptTokens"].to_string(),
            total["completionTokens"].to_string(),
            output::usd(&total["costUsd"]),
        ]);
        output::table(&["MODEL", "TURNS", "PROMPT", "COMPLETION", "COST"], &rows);
    })
}
