//! The gateway's auth modes over HTTP and the control WebSocket, each with good and bad
//! credentials and browser origins (the bind half of the matrix is in `bind.rs`'s unit tests).

use pincer_control_client::{ALL_SCOPES, ControlClient, Refused};
use pincer_fake_provider::Knobs;
use pincer_system_tests::{Stack, TOKEN};
use serde_json::json;

fn config(auth: &str, extra_gateway: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {auth} {extra_gateway} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }} }},
}}"#
    )
}

async fn models_status(stack: &Stack, headers: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::new().get(format!("{}/v1/models", stack.gateway_url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("answers").status().as_u16()
}

fn ws_url(stack: &Stack) -> String {
    format!("{}/ws", stack.gateway_url.replacen("http://", "ws://", 1))
}

async fn ws_sign_in(
    stack: &Stack,
    headers: &[(&str, &str)],
    auth: serde_json::Value,
) -> Result<(), String> {
    match ControlClient::connect_with(&ws_url(stack), headers, auth, &ALL_SCOPES).await {
        Ok(_) => Ok(()),
        Err(Refused::Error(error)) => Err(error["code"].as_str().unwrap_or("?").to_owned()),
        Err(Refused::Http(status)) => Err(format!("http {status}")),
        Err(Refused::Other(other)) => Err(other),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode() {
    let stack = Stack::start_with(
        &config(r#"{ mode: "token", token: "${GATEWAY_TOKEN}" }"#, ""),
        Knobs::default(),
    )
    .await;
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        models_status(&stack, &[("authorization", &bearer)]).await,
        200
    );
    assert_eq!(
        models_status(&stack, &[("authorization", "Bearer wrong")]).await,
        401
    );
    assert_eq!(models_status(&stack, &[]).await, 401);
    // A browser page from another site is refused even with the token; the gateway's own page is not.
    assert_eq!(
        models_status(
            &stack,
            &[
                ("authorization", &bearer),
                ("origin", "https://evil.example")
            ]
        )
        .await,
        403
    );
    let own = stack.gateway_url.clone();
    assert_eq!(
        models_status(&stack, &[("authorization", &bearer), ("origin", &own)]).await,
        200
    );
    assert_eq!(
        ws_sign_in(&stack, &[], json!({ "token": TOKEN })).await,
        Ok(())
    );
    assert_eq!(
        ws_sign_in(&stack, &[], json!({ "password": TOKEN })).await,
        Ok(()),
        "the secret may come in either field"
    );
    assert_eq!(
        ws_sign_in(&stack, &[], json!({ "token": "nope" })).await,
        Err("UNAUTHORIZED".into())
    );
    assert_eq!(
        ws_sign_in(&stack, &[("origin", &own)], json!({ "token": TOKEN })).await,
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_mode() {
    let stack = Stack::start_with(
        &config(
            r#"{ mode: "password", password: "correct horse battery" }"#,
            "",
        ),
        Knobs::default(),
    )
    .await;
    assert_eq!(
        models_status(&stack, &[("authorization", "Bearer correct horse battery")]).await,
        200
    );
    assert_eq!(
        models_status(&stack, &[("authorization", &format!("Bearer {TOKEN}"))]).await,
        401
    );
    assert_eq!(
        ws_sign_in(&stack, &[], json!({ "password": "correct horse battery" })).await,
        Ok(())
    );
    assert_eq!(
        ws_sign_in(&stack, &[], json!({ "password": "correct horse" })).await,
        Err("UNAUTHORIZED".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_mode_accepts_only_the_proxy_and_listed_users() {
    let stack = Stack::start_with(
        &config(
            r#"{ mode: "trusted-proxy", trustedProxy: { userHeader: "x-auth-user", allowUsers: ["ana"] } }"#,
            r#", trustedProxies: ["127.0.0.1", "::1"]"#,
        ),
        Knobs::default(),
    )
    .await;
    // The test client connects from 127.0.0.1, the listed proxy.
    assert_eq!(models_status(&stack, &[("x-auth-user", "ana")]).await, 200);
    assert_eq!(models_status(&stack, &[("x-auth-user", "bob")]).await, 401);
    assert_eq!(models_status(&stack, &[]).await, 401);
    // A bearer token means nothing in this mode.
    assert_eq!(
        models_status(&stack, &[("authorization", &format!("Bearer {TOKEN}"))]).await,
        401
    );
    assert_eq!(
        ws_sign_in(&stack, &[("x-auth-user", "ana")], json!({})).await,
        Ok(())
    );
    assert_eq!(
        ws_sign_in(&stack, &[("x-auth-user", "bob")], json!({})).await,
        Err("UNAUTHORIZED".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_mode_refuses_clients_that_bypass_the_proxy() {
    let stack = Stack::start_with(
        &config(
            r#"{ mode: "trusted-proxy" }"#,
            r#", trustedProxies: ["10.9.9.9"]"#,
        ),
        Knobs::default(),
    )
    .await;
    // The header is forged: the request did not come through 10.9.9.9.
    assert_eq!(
        models_status(&stack, &[("x-forwarded-user", "ana")]).await,
        403
    );
    assert_eq!(
        ws_sign_in(&stack, &[("x-forwarded-user", "ana")], json!({})).await,
        Err("FORBIDDEN".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_mode_on_loopback() {
    let stack = Stack::start_with(&config(r#"{ mode: "none" }"#, ""), Knobs::default()).await;
    assert_eq!(models_status(&stack, &[]).await, 200);
    assert_eq!(ws_sign_in(&stack, &[], json!({})).await, Ok(()));
    // Origins are still enforced for browsers.
    assert_eq!(
        models_status(&stack, &[("origin", "https://evil.example")]).await,
        403
    );
}
