//! The executable's contract with Docker and the operator: `healthcheck` exits 1 when no bridge
//! serves, and a config key it does not know stops it at start with exit code 78, naming the key.

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_pincer-channel-bridge");

#[test]
fn healthcheck_exits_1_when_no_bridge_serves() {
    // A port nobody listens on: bound, read, let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let output = Command::new(BINARY)
        .arg("healthcheck")
        .env(
            "PINCER_CHANNEL_BRIDGE_HEALTH_LISTEN",
            format!("127.0.0.1:{port}"),
        )
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unhealthy"),
        "{output:?}"
    );
}

#[test]
fn an_unknown_channels_key_stops_it_at_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("pincer.json5");
    std::fs::write(
        &config,
        "{ channels: { telegram: { enabled: false, pollingMode: true } } }",
    )
    .expect("the config is written");
    let output = Command::new(BINARY)
        .env("PINCER_CONFIG", &config)
        .env("PINCER_NATS_URL", "nats://127.0.0.1:1")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("channels.telegram.pollingMode"),
        "the key path is not named: {stderr}"
    );
}
