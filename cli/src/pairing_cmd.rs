//! `pincer pairing list|approve|reject`: DM pairing requests of every channel account, through the
//! gateway's control plane (the one port a deployment publishes).

use std::process::ExitCode;

use serde_json::json;

use crate::output;
use crate::target::{self, Gateway};

/// Lists pending requests.
pub async fn list(gateway: &Gateway, json_out: bool) -> ExitCode {
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
pub async fn decide(gateway: &Gateway, code: &str, approve: bool, json_out: bool) -> ExitCode {
    let method = if approve {
        "pairing.approve"
    } else {
        "pairing.reject"
    };
    match target::call(gateway, method, json!({ "code": code })).await {
        Ok(payload) if json_out => {
            output::json(&payload);
            ExitCode::SUCCESS
        }
        Ok(payload) => {
            let sender = payload["senderId"].as_str().unwrap_or("?");
            if approve {
                println!("approved sender {sender}: they can talk to the agent now");
            } else {
                println!("rejected the request of sender {sender}");
            }
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}
