//! What an unauthenticated or slow client can make the gateway do: nothing costly. Credentials
//! are checked from the headers before any body is read; a request head that trickles in is cut
//! off; connections per address are capped.

use std::time::Duration;

use pincer_fake_provider::Knobs;
use pincer_system_tests::Stack;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const CONFIG: &str = r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30 } },
  hooks: { enabled: true, token: "${HOOKS_TOKEN}" },
}"#;

fn addr(stack: &Stack) -> String {
    stack.gateway_url.trim_start_matches("http://").to_owned()
}

/// What the server sends before it closes or the deadline passes (it never gets the body).
async fn answer_without_body(stack: &Stack, head: &str) -> String {
    let mut tcp = TcpStream::connect(addr(stack)).await.expect("connects");
    tcp.write_all(head.as_bytes()).await.expect("head sent");
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .expect("an answer before any body was sent")
        .expect("read");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

fn env() -> Vec<(&'static str, String)> {
    vec![("HOOKS_TOKEN", "hooks-token-0123456789abcdef".to_owned())]
}

async fn stack() -> Stack {
    Stack::start_with_env(CONFIG, Knobs::default(), env()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_uploads_are_refused_before_their_body_is_read() {
    let stack = stack().await;
    for (path, credential) in [
        ("/v1/chat/completions", ""),
        ("/v1/chat/completions", "Authorization: Bearer wrong\r\n"),
        ("/hooks/agent", "Authorization: Bearer wrong\r\n"),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n{credential}\r\n"
        );
        let answer = answer_without_body(&stack, &head).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{path}: {answer}");
    }
    // With the right token the gateway does wait for the body (and times it out).
    let ok = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", stack.gateway_url))
        .bearer_auth(pincer_system_tests::TOKEN)
        .json(&serde_json::json!({"model": "pincer/default", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("answers");
    assert_eq!(ok.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_trickles_in_is_cut_off() {
    let limits = pincer_gateway::serve::Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let stack = Stack::start_limited(CONFIG, Knobs::default(), env(), limits).await;
    let mut tcp = TcpStream::connect(addr(&stack)).await.expect("connects");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("part of a head");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was not closed");
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_from_one_address_are_capped() {
    let limits = pincer_gateway::serve::Limits {
        per_address: 3,
        ..Default::default()
    };
    let stack = Stack::start_limited(CONFIG, Knobs::default(), env(), limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(addr(&stack)).await.expect("connects");
        // A complete request keeps the connection open (keep-alive) and proves it is served.
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("request");
        let mut answer = [0u8; 64];
        let read = tcp.read(&mut answer).await.expect("answer");
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
        held.push(tcp);
    }
    let mut refused = TcpStream::connect(addr(&stack))
        .await
        .expect("tcp connects");
    let _ = refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), refused.read_to_end(&mut answer))
        .await
        .expect("closed at once");
    assert!(read.is_err() || answer.is_empty(), "the fourth was served");
    drop(held.pop());
    pincer_test_support::wait_http_ok(
        &format!("{}/healthz", stack.gateway_url),
        Duration::from_secs(10),
    )
    .await;
}
