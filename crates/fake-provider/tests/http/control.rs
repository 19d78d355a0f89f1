//! Runtime control, echo, recording, stats, health and shutdown.

use std::time::{Duration, Instant};

use pincer_fake_provider::{FakeProvider, Knobs, health};
use serde_json::{Value, json};

use crate::support::{client, get_json, ndjson, post, start};

#[tokio::test]
async fn control_switches_to_echo_mode() {
    let fake = start(Knobs::default()).await;
    let base = fake.base_url();
    let (status, _, text) = post(
        &format!("{base}/control"),
        &json!({"echo": true, "chunk_delay_ms": 1}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let knobs: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (knobs["echo"].clone(), knobs["tokens"].clone()),
        (json!(true), json!(16))
    );
    assert!(fake.knobs().echo);

    let body = json!({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second  question"}]});
    let (_, _, text) = post(&format!("{base}/api/chat"), &body).await;
    let lines = ndjson(&text);
    let content: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(content, "messages=4 last=second  question");
    assert_eq!(lines.len(), 4, "one word per chunk plus done: {lines:?}");

    let (_, _, text) = post(
        &format!("{base}/v1/chat/completions"),
        &json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "parts"}]}]}),
    )
    .await;
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "messages=1 last=parts"
    );
}

#[tokio::test]
async fn control_rejects_bad_knobs_and_keeps_the_old_ones() {
    let fake = start(Knobs::default()).await;
    let url = format!("{}/control", fake.base_url());
    let (status, _, text) = post(&url, &json!({"tokenz": 3})).await;
    assert_eq!(status, 400);
    assert!(text.contains("tokenz"), "{text}");
    let (status, _, text) = post(&url, &json!({"fail": {"status": 200}})).await;
    assert_eq!(status, 400);
    assert!(text.contains("400..=599"), "{text}");
    assert_eq!(fake.knobs(), Knobs::default());
    let current: Value = get_json(&url).await;
    assert_eq!(current["model"], "fake-model");
}

#[tokio::test]
async fn recorder_captures_headers_and_body() {
    let fake = start(Knobs::default()).await;
    let base = fake.base_url();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let body =
        json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "hi"}]});
    let response = client()
        .post(format!("{base}/v1/chat/completions"))
        .header("traceparent", traceparent)
        .header("authorization", "Bearer sk-test")
        .header("x-title", "pincer")
        .header("x-unrelated", "dropped")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let recorded = &requests[0];
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.body, body);
    assert_eq!(recorded.body_bytes, body.to_string().len());
    assert_eq!(recorded.headers["traceparent"], traceparent);
    assert_eq!(recorded.headers["authorization"], "Bearer sk-test");
    assert_eq!(recorded.headers["x-title"], "pincer");
    assert!(!recorded.headers.contains_key("x-unrelated"));

    let stats: Value = get_json(&format!("{base}/stats")).await;
    assert_eq!(stats["chat"], 1);
    assert_eq!(stats["messages_max"], 1);
    assert_eq!(stats["by_path"]["/v1/chat/completions"], 1);
    assert_eq!(stats["last_request"]["headers"]["traceparent"], traceparent);
    assert_eq!(stats["last_request"]["body"], body);

    let (status, _, _) = post(&format!("{base}/stats/reset"), &json!({})).await;
    assert_eq!(status, 200);
    assert!(fake.requests().is_empty());
    fake.reset();
    assert_eq!(fake.stats().requests, 0);
}

#[tokio::test]
async fn delay_comes_before_the_reply() {
    let fake = start(Knobs {
        delay_ms: 150,
        tokens: 1,
        ..Knobs::default()
    })
    .await;
    let started = Instant::now();
    let (status, _, _) = post(
        &format!("{}/api/chat", fake.base_url()),
        &json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn health_probe_and_shutdown() {
    let fake = start(Knobs::default()).await;
    let url = format!("{}/health", fake.base_url());
    health::probe(&url, Duration::from_secs(2)).await.unwrap();
    let missing = format!("{}/nope", fake.base_url());
    assert!(matches!(
        health::probe(&missing, Duration::from_secs(2)).await,
        Err(health::ProbeError::Status(404))
    ));
    let addr = fake.addr;
    fake.shutdown().await.unwrap();
    assert!(health::probe(&url, Duration::from_secs(2)).await.is_err());
    // The port is free again.
    let again = FakeProvider::start(Knobs::default(), addr).await.unwrap();
    assert_eq!(again.addr, addr);
}
