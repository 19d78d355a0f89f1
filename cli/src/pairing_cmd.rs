//! `pincer pairing list|approve|reject`: the DM pairing requests of a channel account, kept in
//! NATS KV (`pincer_pairing`), which every channel-bridge replica reads on each message.

use std::process::ExitCode;
use std::time::Duration;

/// Where and what.
pub struct Target {
    /// NATS URL.
    pub nats_url: String,
    /// `telegram`.
    pub channel: String,
    /// Channel account (`default`).
    pub account: String,
}

/// `$PINCER_NATS_URL`, else the local default.
pub fn nats_url(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("PINCER_NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned())
}

async fn open(target: &Target) -> Result<pincer_bus::pairing::Pairing, String> {
    let client =
        pincer_bus::connect::connect(&target.nats_url, "pincer-cli", Duration::from_secs(3))
            .await
            .map_err(|e| e.to_string())?;
    let js = async_nats::jetstream::new(client);
    let bucket = pincer_bus::setup::pairing_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(pincer_bus::pairing::Pairing::new(
        bucket,
        &target.channel,
        &target.account,
    ))
}

/// Lists pending requests.
pub async fn list(target: Target, json: bool) -> ExitCode {
    let pending = match open(&target).await {
        Ok(pairing) => pairing.pending().await.map_err(|e| e.to_string()),
        Err(error) => Err(error),
    };
    match pending {
        Ok(pending) if json => {
            let rows: Vec<serde_json::Value> = pending
                .iter()
                .map(|p| serde_json::json!({ "code": p.code, "sender_id": p.sender_id, "username": p.username, "created_ms": p.created_ms }))
                .collect();
            println!("{}", serde_json::Value::Array(rows));
            ExitCode::SUCCESS
        }
        Ok(pending) if pending.is_empty() => {
            println!(
                "no pending pairing requests for {} ({})",
                target.channel, target.account
            );
            ExitCode::SUCCESS
        }
        Ok(pending) => {
            println!("{:<10} {:<16} USERNAME", "CODE", "SENDER");
            for p in pending {
                println!(
                    "{:<10} {:<16} {}",
                    p.code,
                    p.sender_id,
                    p.username
                        .as_deref()
                        .map_or("-".to_owned(), |u| format!("@{u}"))
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pincer: cannot read pairing requests: {error}");
            ExitCode::from(69)
        }
    }
}

/// Approves (`approve = true`) or rejects a code.
pub async fn decide(target: Target, code: &str, approve: bool) -> ExitCode {
    let pairing = match open(&target).await {
        Ok(pairing) => pairing,
        Err(error) => {
            eprintln!("pincer: cannot reach the pairing store: {error}");
            return ExitCode::from(69);
        }
    };
    let outcome = if approve {
        pairing.approve(code).await.map(|a| {
            format!(
                "approved sender {} ({})",
                a.sender_id,
                a.username
                    .map_or("no username".to_owned(), |u| format!("@{u}"))
            )
        })
    } else {
        pairing
            .reject(code)
            .await
            .map(|p| format!("rejected the request of sender {}", p.sender_id))
    };
    match outcome {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pincer: {error}");
            ExitCode::from(65)
        }
    }
}
