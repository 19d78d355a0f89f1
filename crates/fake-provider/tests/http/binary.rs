//! The `pincer-fake-provider` binary: listening line, healthcheck subcommand, SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::get_json;

const BIN: &str = env!("CARGO_BIN_EXE_pincer-fake-provider");

#[tokio::test]
async fn prints_address_answers_health_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--tokens", "2", "--echo"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .unwrap()
    .unwrap();
    let listening: Value = serde_json::from_str(&line).unwrap();
    let addr = listening["listening"].as_str().unwrap().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let knobs: Value = get_json(&format!("http://{addr}/control")).await;
    assert_eq!(
        (knobs["echo"].clone(), knobs["tokens"].clone()),
        (Value::Bool(true), Value::from(2))
    );

    let healthy = Command::new(BIN)
        .args(["healthcheck", "--url", &format!("http://{addr}/health")])
        .status()
        .await
        .unwrap();
    assert!(healthy.success());

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");

    let unhealthy = Command::new(BIN)
        .args(["healthcheck", "--url", &format!("http://{addr}/health")])
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert_eq!(unhealthy.code(), Some(1));
}
