//! `pincer sessions list|show|reset` and `pincer usage`, through the gateway's control plane.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::output;
use crate::target::{self, Gateway};

fn done(result: Result<Value, u8>, json_out: bool, human: impl FnOnce(&Value)) -> ExitCode {
    match result {
        Ok(payload) if json_out => {
            output::json(&payload);
            ExitCode::SUCCESS
        }
        Ok(payload) => {
            human(&payload);
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}

fn usd(value: &Value) -> String {
    format!("${:.4}", value.as_f64().unwrap_or(0.0))
}

/// `pincer sessions list`.
pub async fn list(gateway: &Gateway, limit: usize, json_out: bool) -> ExitCode {
    let result = target::call(gateway, "sessions.list", json!({ "limit": limit })).await;
    done(result, json_out, |payload| {
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
                    usd(&s["totals"]["costUsd"]),
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
pub async fn show(gateway: &Gateway, key: &str, limit: usize, json_out: bool) -> ExitCode {
    let result = target::call(
        gateway,
        "chat.history",
        json!({ "sessionKey": key, "limit": limit }),
    )
    .await;
    done(result, json_out, |payload| {
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

/// `pincer sessions reset KEY`.
pub async fn reset(gateway: &Gateway, key: &str, json_out: bool) -> ExitCode {
    let result = target::call(gateway, "sessions.reset", json!({ "sessionKey": key })).await;
    done(result, json_out, |_| println!("session {key} starts over"))
}

/// `pincer usage`.
pub async fn usage(gateway: &Gateway, days: u32, json_out: bool) -> ExitCode {
    let result = target::call(gateway, "usage.cost", json!({ "days": days })).await;
    done(result, json_out, |payload| {
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
                    usd(&m["costUsd"]),
                ]
            })
            .collect();
        let total = &payload["total"];
        rows.push(vec![
            "total".to_owned(),
            total["turns"].to_string(),
            total["promptTokens"].to_string(),
            total["completionTokens"].to_string(),
            usd(&total["costUsd"]),
        ]);
        output::table(&["MODEL", "TURNS", "PROMPT", "COMPLETION", "COST"], &rows);
    })
}
