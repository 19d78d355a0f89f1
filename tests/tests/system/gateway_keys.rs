//! Gateway keys that used to be parsed and ignored, each taking effect: the OpenAI endpoint's
//! switch, the Control UI's base path, and Tailscale (with a fake `tailscale` CLI that records its
//! calls and answers `whois` for one tailnet address).

use std::time::Duration;

use pincer_control_client::{ALL_SCOPES, ControlClient, Refused};
use pincer_fake_provider::Knobs;
use pincer_system_tests::{Stack, TOKEN};
use pincer_test_support::eventually;
use serde_json::json;

/// A token-auth config with `extra_auth` and `extra_gateway` keys and `top_level` sections.
fn config(extra_auth: &str, extra_gateway: &str, top_level: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" {extra_auth} }} {extra_gateway} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }} }},
  {top_level}
}}"#
    )
}

async fn get(stack: &Stack, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", stack.gateway_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn sign_in(
    stack: &Stack,
    path: &str,
    headers: &[(&str, &str)],
    auth: serde_json::Value,
) -> Result<(), String> {
    let url = format!(
        "{}{path}",
        stack.gateway_url.replacen("http://", "ws://", 1)
    );
    match ControlClient::connect_with(&url, headers, auth, &ALL_SCOPES).await {
        Ok(_) => Ok(()),
        Err(Refused::Error(error)) => Err(error["code"].as_str().unwrap_or("?").to_owned()),
        Err(Refused::Http(status)) => Err(format!("http {status}")),
        Err(Refused::Other(other)) => Err(other),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_endpoint_can_be_turned_off() {
    let stack = Stack::start_with(
        &config(
            "",
            r#", http: { endpoints: { chatCompletions: { enabled: false } } }"#,
            "",
        ),
        Knobs::default(),
    )
    .await;
    let response = stack
        .chat(&json!({ "model": "pincer/default", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("chatCompletions.enabled")),
        "{body}"
    );
    assert_eq!(get(&stack, "/v1/models").await.0, 404);
    assert!(
        stack.fake.requests().is_empty(),
        "no turn ran: {:?}",
        stack.fake.requests()
    );
    // The control plane is another door and stays open.
    assert_eq!(
        sign_in(&stack, "/ws", &[], json!({ "token": TOKEN })).await,
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_ui_moves_under_its_base_path() {
    let stack = Stack::start_with(
        &config("", r#", controlUi: { basePath: "/pincer/" }"#, ""),
        Knobs::default(),
    )
    .await;
    for path in ["/pincer", "/pincer/"] {
        let (status, page) = get(&stack, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            page.contains("<html") || page.contains("<!doctype"),
            "{path}"
        );
    }
    assert_eq!(get(&stack, "/").await.0, 404, "not at the root any more");
    assert_eq!(
        sign_in(&stack, "/pincer/ws", &[], json!({ "token": TOKEN })).await,
        Ok(()),
        "the page's socket is beside it"
    );
    assert_eq!(
        sign_in(&stack, "/ws", &[], json!({ "token": TOKEN })).await,
        Ok(()),
        "the CLI's socket stays where it was"
    );
}

/// A `tailscale` that appends each call to `calls` and knows one tailnet user.
fn fake_tailscale(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let calls = dir.join("calls");
    let program = dir.join("tailscale");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> '{calls}'
if [ "$1" = whois ]; then
  if [ "$3" = 100.101.102.103 ]; then
    echo '{{"Node": {{"Name": "laptop"}}, "UserProfile": {{"ID": 1, "LoginName": "alice@example.com", "DisplayName": "Alice"}}}}'
  else
    echo "peer not found" >&2
    exit 1
  fi
fi
"#,
        calls = calls.display()
    );
    std::fs::write(&program, script).expect("fake tailscale");
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("executable");
    (program, calls)
}

fn calls(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailscale_serve_publishes_the_gateway_and_vouches_for_tailnet_users() {
    let dir = tempfile::tempdir().expect("dir");
    let (program, log) = fake_tailscale(dir.path());
    let mut stack = Stack::start_with_tailscale(
        &config(
            ", allowTailscale: true",
            "",
            r#"tailscale: { mode: "serve", resetOnExit: true },"#,
        ),
        Knobs::default(),
        program,
    )
    .await;
    let port = stack
        .gateway_url
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let publish = format!("serve --bg --yes --https=443 http://127.0.0.1:{port}");
    eventually(
        "the gateway to publish itself",
        Duration::from_secs(10),
        || {
            let published = calls(&log).contains(&publish);
            async move { published.then_some(()) }
        },
    )
    .await;

    let served = |login: &'static str, from: &'static str| {
        [
            ("x-forwarded-for", from),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "box.tail1234.ts.net"),
            ("tailscale-user-login", login),
        ]
    };
    assert_eq!(
        sign_in(
            &stack,
            "/ws",
            &served("alice@example.com", "100.101.102.103"),
            json!({})
        )
        .await,
        Ok(()),
        "whois confirms alice owns the address"
    );
    assert_eq!(
        sign_in(
            &stack,
            "/ws",
            &served("bob@example.com", "100.101.102.103"),
            json!({})
        )
        .await,
        Err("UNAUTHORIZED".into()),
        "the headers claim someone whois does not name"
    );
    assert_eq!(
        sign_in(
            &stack,
            "/ws",
            &served("alice@example.com", "100.9.9.9"),
            json!({})
        )
        .await,
        Err("UNAUTHORIZED".into()),
        "whois does not know the address"
    );
    assert!(
        calls(&log)
            .iter()
            .any(|c| c == "whois --json 100.101.102.103"),
        "{:?}",
        calls(&log)
    );
    // The identity opens the control plane only; the HTTP API still wants the token.
    let mut request = reqwest::Client::new().get(format!("{}/v1/models", stack.gateway_url));
    for (name, value) in served("alice@example.com", "100.101.102.103") {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.expect("answers").status(), 401);

    stack.stop_services().await;
    assert!(
        calls(&log).contains(&"serve --https=443 off".to_owned()),
        "resetOnExit undoes it: {:?}",
        calls(&log)
    );
}
