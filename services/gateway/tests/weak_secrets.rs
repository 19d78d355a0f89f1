//! The gateway binary refuses to face the network with a secret that can be guessed, and only
//! warns about one on loopback.

use std::process::{Command, Output};

/// Runs the gateway with `token` on `bind`. The port is held here, so a gateway that got past its
/// config exits when it cannot listen (code 1) rather than with a config error (78).
fn start(bind: &str, token: &str) -> Output {
    let held = std::net::TcpListener::bind("0.0.0.0:0").expect("a port");
    let port = held.local_addr().expect("bound").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("pincer.json5");
    std::fs::write(
        &config,
        r#"{ gateway: { port: PORT, auth: { mode: "token", token: "${TOKEN_UNDER_TEST}" } },
             models: { providers: { ollama: { baseUrl: "http://127.0.0.1:9", api: "ollama", models: [{ id: "m" }] } } },
             agents: { defaults: { model: "ollama/m" } } }"#
            .replace("PORT", &port.to_string()),
    )
    .expect("config written");
    let child = Command::new(env!("CARGO_BIN_EXE_pincer-gateway"))
        .env("PINCER_CONFIG", &config)
        .env("PINCER_GATEWAY_BIND", bind)
        .env("TOKEN_UNDER_TEST", token)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let output = child.wait_with_output().expect("gateway exits");
    drop(held);
    output
}

#[test]
fn a_weak_token_keeps_the_gateway_off_the_network() {
    let refused = start("lan", "pincer-test-token");
    assert_eq!(refused.status.code(), Some(78), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("gateway.auth.token") && stderr.contains("bits"),
        "{stderr}"
    );
}

#[test]
fn a_weak_token_on_loopback_is_warned_about_and_a_strong_one_is_not() {
    let warned = start("loopback", "test-token");
    assert_eq!(warned.status.code(), Some(1), "{warned:?}");
    let logs = String::from_utf8_lossy(&warned.stdout).into_owned()
        + &String::from_utf8_lossy(&warned.stderr);
    assert!(logs.contains("weak secret"), "{logs}");

    let strong = start("lan", "3f9c1e0b7a5d4c2e8f6a1b3d5c7e9f0a2b4c6d8e");
    assert_eq!(strong.status.code(), Some(1), "{strong:?}");
    let logs = String::from_utf8_lossy(&strong.stdout).into_owned()
        + &String::from_utf8_lossy(&strong.stderr);
    assert!(!logs.contains("weak secret"), "{logs}");
}
