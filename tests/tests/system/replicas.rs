//! Several agent-runner replicas on one JetStream work queue: twice the sessions at once, one turn
//! per session at a time and in order, and a killed replica's turn finished by another, once.

use std::time::Duration;

use pincer_fake_provider::Knobs;
use pincer_system_tests::Stack;
use serde_json::{Value, json};

const ONE_AT_A_TIME: &str = r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30, maxConcurrent: 1 } },
}"#;

fn turn(user: &str, text: &str) -> Value {
    json!({ "model": "pincer/default", "user": user, "messages": [{ "role": "user", "content": text }] })
}

async fn answers(stack: &Stack, turns: Vec<Value>) -> Vec<Value> {
    let pending: Vec<_> = turns
        .iter()
        .map(|body| {
            let request = stack.chat(body);
            tokio::spawn(async move {
                let response = request.send().await.expect("gateway answers");
                assert_eq!(response.status(), 200);
                response.json::<Value>().await.expect("json")
            })
        })
        .collect();
    let mut out = Vec::new();
    for handle in pending {
        out.push(handle.await.expect("request task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_holds_across_replicas() {
    let mut stack = Stack::start_with(
        ONE_AT_A_TIME,
        Knobs {
            delay_ms: 400,
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    let four = |tag: &str| (0..4).map(|i| turn(&format!("{tag}{i}"), "hi")).collect();
    answers(&stack, four("solo")).await;
    assert_eq!(
        stack.fake.stats().delayed_max,
        1,
        "maxConcurrent 1: one replica runs one turn at a time"
    );
    stack.add_agent_runner().await;
    answers(&stack, four("duo")).await;
    assert_eq!(
        stack.fake.stats().delayed_max,
        1,
        "maxConcurrent is global (the seed's concurrency queue): a second replica adds no slot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_runs_one_turn_at_a_time_in_order_across_replicas() {
    let mut stack = Stack::start(Knobs {
        echo: true,
        delay_ms: 50,
        ..Knobs::default()
    })
    .await;
    stack.add_agent_runner().await;
    stack.add_agent_runner().await;
    let turns = (1..=8).map(|i| turn("hana", &format!("m{i}"))).collect();
    let replies = answers(&stack, turns).await;

    // echo answers `messages=<n> last=<text>`: n = system + 2 per earlier turn + this message, so
    // the n seen by the eight turns are 2, 4, ... 16 exactly once each when the turns ran one after
    // another on the history of all the earlier ones.
    let mut counts: Vec<u32> = replies
        .iter()
        .map(|body| {
            let text = body["choices"][0]["message"]["content"]
                .as_str()
                .expect("text");
            let n = text
                .split_whitespace()
                .next()
                .and_then(|w| w.strip_prefix("messages="));
            n.and_then(|n| n.parse().ok()).expect("echo reply")
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).map(|k| 2 * k).collect::<Vec<u32>>());

    // The history holds every message once, each followed by its own answer.
    let response = stack
        .chat(&turn("hana", "last"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let sent = stack.fake.requests().pop().expect("recorded").body;
    let messages = sent["messages"].as_array().expect("messages");
    let texts: Vec<&str> = messages[1..messages.len() - 1]
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(texts.len(), 16, "{texts:?}");
    for pair in texts.chunks(2) {
        assert!(pair[1].ends_with(&format!("last={}", pair[0])), "{pair:?}");
    }
    let mut users: Vec<&str> = texts.iter().step_by(2).copied().collect();
    users.sort_unstable();
    assert_eq!(users, ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_turn_is_finished_by_another_and_answered_once() {
    let mut stack = Stack::start(Knobs {
        delay_ms: 1500,
        tokens: 2,
        ..Knobs::default()
    })
    .await;
    let waiting = stack.chat(&turn("ivo", "survive this"));
    let pending = tokio::spawn(async move { waiting.send().await });
    let fake = &stack.fake;
    pincer_test_support::eventually(
        "the first replica to call the provider",
        Duration::from_secs(10),
        || async { (fake.stats().chat > 0).then_some(()) },
    )
    .await;
    // A second replica is up before the first dies: it gets the redelivery.
    stack.add_agent_runner().await;
    stack.crash_agent_runner_at(0).await;
    stack.fake.set_knobs(Knobs {
        tokens: 2,
        ..Knobs::default()
    });

    let response = pending.await.expect("task").expect("answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "alpha bravo");

    assert_eq!(
        stack
            .chat(&turn("ivo", "and then?"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
    let sent = stack.fake.requests().pop().expect("recorded").body;
    let texts: Vec<&str> = sent["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .skip(1)
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(texts, ["survive this", "alpha bravo", "and then?"]);
}
