//! One chat turn through all four services (in-process) over a real NATS and the fake provider.

use std::time::Duration;

use pincer_fake_provider::{Failure, Knobs};
use pincer_system_tests::{Stack, TOKEN};
use serde_json::{Value, json};

fn hi(user: Option<&str>) -> Value {
    let mut body =
        json!({ "model": "pincer/default", "messages": [{ "role": "user", "content": "hi" }] });
    if let Some(user) = user {
        body["user"] = json!(user);
    }
    body
}

fn chat_requests(stack: &Stack) -> Vec<pincer_fake_provider::RecordedRequest> {
    stack
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat") || r.path.ends_with("/chat/completions"))
        .collect()
}

fn contents(request: &pincer_fake_provider::RecordedRequest) -> Vec<String> {
    request.body["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_returns_an_openai_completion_from_the_provider() {
    let stack = Stack::start(Knobs {
        tokens: 3,
        ..Knobs::default()
    })
    .await;
    let response = stack.chat(&hi(None)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["id"],
        format!("chatcmpl-{request_id}"),
        "the request id is the turn's"
    );
    assert_eq!(body["model"], "pincer/default");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "alpha bravo charlie"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    let calls = chat_requests(&stack);
    assert_eq!(calls.len(), 1, "exactly one provider call per turn");
    assert_eq!(
        calls[0].path, "/api/chat",
        "the primary is the native Ollama API"
    );
    assert_eq!(calls[0].body["model"], "fake-model");
    let sent = contents(&calls[0]);
    assert_eq!(sent.last().map(String::as_str), Some("hi"));
    assert!(
        calls[0].body_bytes < 8 * 1024,
        "prompt for 'hi' is {} bytes",
        calls[0].body_bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_returns_openai_sse_chunks_ending_with_done() {
    let stack = Stack::start(Knobs {
        tokens: 4,
        ..Knobs::default()
    })
    .await;
    let mut body = hi(Some("sse-user"));
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let response = stack.chat(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "content type"
    );
    let text = response.text().await.unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(
        data.last(),
        Some(&"[DONE]"),
        "stream ends with [DONE]: {text}"
    );
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let mut content = String::new();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(piece);
        }
    }
    assert_eq!(content, "alpha bravo charlie delta");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = chunks
        .iter()
        .find(|c| c["choices"][0]["finish_reason"].is_string())
        .expect("a finish chunk");
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]), "usage chunk has empty choices");
    assert!(usage["usage"]["completion_tokens"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_turn_sends_the_history_also_after_restarting_everything() {
    let mut stack = Stack::start(Knobs {
        tokens: 2,
        ..Knobs::default()
    })
    .await;
    let first = stack.chat(&hi(Some("alice"))).send().await.unwrap();
    assert_eq!(first.status(), 200);

    let second = json!({ "model": "pincer/default", "user": "alice",
        "messages": [{ "role": "user", "content": "and again" }] });
    assert_eq!(stack.chat(&second).send().await.unwrap().status(), 200);
    let calls = chat_requests(&stack);
    let sent = contents(calls.last().unwrap());
    assert_eq!(
        sent[1..],
        ["hi", "alpha bravo", "and again"],
        "history then the new turn"
    );

    // Another user's conversation is separate.
    stack.chat(&hi(Some("bob"))).send().await.unwrap();
    let bob = contents(chat_requests(&stack).last().unwrap());
    assert_eq!(bob[1..], ["hi"]);

    stack.restart_everything().await;
    let third = json!({ "model": "pincer/default", "user": "alice",
        "messages": [{ "role": "user", "content": "after restart" }] });
    let response = stack.chat(&third).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let sent = contents(chat_requests(&stack).last().unwrap());
    assert_eq!(
        sent[1..],
        [
            "hi",
            "alpha bravo",
            "and again",
            "alpha bravo",
            "after restart"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_resend_full_history_do_not_duplicate_it() {
    let stack = Stack::start(Knobs {
        tokens: 1,
        ..Knobs::default()
    })
    .await;
    stack.chat(&hi(Some("carol"))).send().await.unwrap();
    let resent = json!({ "model": "pincer/default", "user": "carol", "messages": [
        { "role": "user", "content": "hi" },
        { "role": "assistant", "content": "alpha" },
        { "role": "user", "content": "next" } ] });
    assert_eq!(stack.chat(&resent).send().await.unwrap().status(), 200);
    let sent = contents(chat_requests(&stack).last().unwrap());
    assert_eq!(sent[1..], ["hi", "alpha", "next"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_with_the_same_idempotency_key_runs_once() {
    let stack = Stack::start(Knobs::default()).await;
    // With a stored session (`user`) and without one (a one-off carrying its own history).
    for (user, key) in [(Some("dave"), "order-42"), (None, "order-43")] {
        for _ in 0..2 {
            let response = stack
                .chat(&hi(user))
                .header("Idempotency-Key", key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "user {user:?}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .starts_with("alpha"),
                "{body}"
            );
        }
    }
    // A streaming client's retry gets the stored answer too, in one chunk.
    let mut streamed = hi(None);
    streamed["stream"] = json!(true);
    let text = stack
        .chat(&streamed)
        .header("Idempotency-Key", "order-43")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("alpha") && text.contains("[DONE]"), "{text}");
    assert_eq!(
        chat_requests(&stack).len(),
        2,
        "each duplicate was answered from the stored outcome"
    );
    let other_key = stack
        .chat(&hi(None))
        .header("Idempotency-Key", "order-44")
        .send()
        .await
        .unwrap();
    assert_eq!(other_key.status(), 200);
    assert_eq!(
        chat_requests(&stack).len(),
        3,
        "another key is another turn"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_clients_sampling_choices_reach_the_model() {
    let stack = Stack::start(Knobs::default()).await;
    let mut body = hi(Some("erin"));
    body["temperature"] = json!(0.25);
    body["max_tokens"] = json!(42);
    body["top_p"] = json!(0.5);
    body["stop"] = json!(["END"]);
    body["seed"] = json!(7);
    body["response_format"] = json!({"type": "json_object"});
    let response = stack.chat(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let plain = stack.chat(&hi(None)).send().await.unwrap();
    assert_eq!(plain.status(), 200);

    let calls = chat_requests(&stack);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body["options"]["temperature"], 0.25);
    assert_eq!(calls[0].body["options"]["num_predict"], 42);
    assert_eq!(calls[0].body["options"]["top_p"], 0.5);
    assert_eq!(calls[0].body["options"]["stop"], json!(["END"]));
    assert_eq!(calls[0].body["options"]["seed"], 7);
    assert_eq!(calls[0].body["format"], "json");
    assert!(
        calls[1].body["options"].get("temperature").is_none(),
        "nothing chosen, nothing sent: {}",
        calls[1].body
    );

    let mut too_hot = hi(None);
    too_hot["temperature"] = json!(3);
    let refused = stack.chat(&too_hot).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["param"], "temperature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_header_picks_the_backend_model_of_one_turn() {
    let stack = Stack::start(Knobs::default()).await;
    // The default agent's primary is the native Ollama API; OpenClaw's header picks another.
    let response = stack
        .chat(&hi(Some("fay")))
        .header("x-openclaw-model", "compat/fake-model")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let plain = stack.chat(&hi(Some("fay"))).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    let paths: Vec<String> = chat_requests(&stack).into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/v1/chat/completions", "/api/chat"],
        "the header held for one turn"
    );

    let refused = stack
        .chat(&hi(None))
        .header("x-pincer-model", "no-provider")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["param"], "x-pincer-model", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_clients_inline_image_reaches_a_vision_model() {
    let config = pincer_system_tests::CONFIG.replace(
        r#"{ id: "fake-model", contextWindow: 131072 }"#,
        r#"{ id: "fake-model", contextWindow: 131072, input: ["text", "image"] }"#,
    );
    assert_ne!(config, pincer_system_tests::CONFIG, "the entry was found");
    let stack = Stack::start_with(&config, Knobs::default()).await;
    let picture = "iVBORw0KGgo="; // the PNG signature, base64
    let body = json!({ "model": "pincer/default", "user": "frank", "messages": [{ "role": "user", "content": [
        { "type": "text", "text": "what is this?" },
        { "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{picture}"), "detail": "low" } },
    ] }] });
    let response = stack.chat(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let calls = chat_requests(&stack);
    let last = calls[0].body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .expect("the user message");
    assert_eq!(last["images"], json!([picture]));
    assert!(
        last["content"]
            .as_str()
            .is_some_and(|c| c.contains("what is this?") && c.contains("inbox/")),
        "{last}"
    );

    let fetched = json!({ "model": "pincer/default", "messages": [{ "role": "user", "content": [
        { "type": "image_url", "image_url": { "url": "https://example.com/cat.png" } },
    ] }] });
    let refused = stack.chat(&fetched).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(
        error["error"]["param"],
        "messages[0].content[0].image_url.url"
    );
    assert_eq!(
        chat_requests(&stack).len(),
        1,
        "nothing ran for the refused one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_id_of_the_caller_reaches_the_provider() {
    let stack = Stack::start(Knobs::default()).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = stack
        .chat(&hi(None))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let calls = chat_requests(&stack);
    let traceparent = calls[0]
        .headers
        .get("traceparent")
        .expect("provider call carries traceparent");
    assert!(
        traceparent.contains(trace_id),
        "trace id crossed HTTP → NATS → gRPC → HTTP: {traceparent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_serves_when_the_primary_fails() {
    let stack = Stack::start(Knobs::default()).await;
    // The fake fails the next two requests (the Ollama primary and its one retry), then recovers
    // for the fallback.
    stack.fake.set_knobs(Knobs {
        fail: Some(Failure::http(503, Some(2))),
        ..Knobs::default()
    });
    let response = stack.chat(&hi(None)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let calls = chat_requests(&stack);
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].path, "/api/chat");
    assert_eq!(calls[1].path, "/api/chat");
    assert_eq!(calls[2].path, "/v1/chat/completions");
    assert_eq!(
        calls[2].headers.get("authorization").map(String::as_str),
        Some("Bearer sk-test-compat")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_down_is_a_502_and_the_turn_stays_in_history() {
    let stack = Stack::start(Knobs::default()).await;
    stack.fake.set_knobs(Knobs {
        fail: Some(Failure::http(500, None)),
        ..Knobs::default()
    });
    let lost = json!({ "model": "pincer/default", "user": "erin",
        "messages": [{ "role": "user", "content": "remember me" }] });
    let response = stack.chat(&lost).send().await.unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("all models failed"), "{message}");
    assert!(
        !message.contains("sk-test-compat"),
        "no secret in errors: {message}"
    );

    stack.fake.set_knobs(Knobs::default());
    let next = json!({ "model": "pincer/default", "user": "erin",
        "messages": [{ "role": "user", "content": "are you back?" }] });
    assert_eq!(stack.chat(&next).send().await.unwrap().status(), 200);
    let sent = contents(chat_requests(&stack).last().unwrap());
    assert_eq!(sent[1..], ["remember me", "are you back?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() {
    let stack = Stack::start(Knobs::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", stack.gateway_url);

    for auth in [None, Some("Bearer wrong"), Some(&*format!("Basic {TOKEN}"))] {
        let mut request = client.post(&url).json(&hi(None));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let text = response.text().await.unwrap();
        assert!(
            !text.contains(TOKEN) && !text.contains("test-token"),
            "no token hint: {text}"
        );
    }

    let cases: [(&[u8], u16, Option<&str>); 6] = [
        (b"{not json", 400, None),
        (br#"{"model":"pincer/default"}"#, 400, Some("messages")),
        (
            br#"{"model":"pincer/default","messages":[{"role":"user","content":7}]}"#,
            400,
            Some("messages[0].content"),
        ),
        (
            br#"{"model":"pincer/default","messages":[],"stream":1}"#,
            400,
            Some("messages"),
        ),
        (
            br#"{"model":"pincer/nobody","messages":[{"role":"user","content":"x"}]}"#,
            404,
            Some("model"),
        ),
        (
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#,
            404,
            Some("model"),
        ),
    ];
    for (body, status, param) in cases {
        let response = client
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            status,
            "{}",
            String::from_utf8_lossy(body)
        );
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].is_string());
        assert_eq!(error["error"]["param"].as_str(), param, "{error}");
    }
    let unknown: Value = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(
            &json!({ "model": "pincer/nobody", "messages": [{ "role": "user", "content": "x" }] }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = unknown["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("pincer/default") && message.contains("pincer/helper"),
        "{message}"
    );

    let huge = json!({ "model": "pincer/default", "messages": [{ "role": "user", "content": "x".repeat(100_000) }] });
    let response = stack.chat(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "request_too_large");

    assert!(
        chat_requests(&stack).is_empty(),
        "no bad request reached the provider"
    );
    // The stack still works.
    assert_eq!(stack.chat(&hi(None)).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_models_and_readiness() {
    let mut stack = Stack::start(Knobs::default()).await;
    let client = reqwest::Client::new();
    let live: Value = client
        .get(format!("{}/healthz", stack.gateway_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["ok"], true);
    let ready = client
        .get(format!("{}/readyz", stack.gateway_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let unauthorized = client
        .get(format!("{}/v1/models", stack.gateway_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let models: Value = client
        .get(format!("{}/v1/models", stack.gateway_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"pincer/default") && ids.contains(&"pincer/helper"),
        "{ids:?}"
    );
    // One model by its name, as OpenAI's `GET /v1/models/{model}` (the name holds a `/`).
    let one = |model: &str| {
        client
            .get(format!("{}/v1/models/{model}", stack.gateway_url))
            .bearer_auth(TOKEN)
            .send()
    };
    let helper: Value = one("pincer/helper").await.unwrap().json().await.unwrap();
    assert_eq!(helper["id"], "pincer/helper");
    assert_eq!(helper["object"], "model");
    let unknown = one("pincer/nobody").await.unwrap();
    assert_eq!(unknown.status(), 404);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["error"]["code"], "model_not_found", "{unknown}");
    assert_eq!(
        client
            .get(format!("{}/v1/models/pincer/helper", stack.gateway_url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // With NATS gone, readiness says so (and liveness does not care).
    stack.nats.stop();
    let url = format!("{}/readyz", stack.gateway_url);
    let report: Value = pincer_test_support::eventually(
        "readyz to fail without NATS",
        Duration::from_secs(10),
        || {
            let request = client.get(&url).send();
            async move {
                let response = request.await.ok()?;
                (response.status() == 503).then_some(())?;
                // A peer check (runner ping over NATS) can fail before the client notices the
                // disconnect: wait for the report that names NATS.
                let report = response.json::<Value>().await.ok()?;
                (report["nats"]["ok"] == false).then_some(report)
            }
        },
    )
    .await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["nats"]["ok"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_survives_an_agent_runner_crash_and_is_answered_once() {
    let mut stack = Stack::start(Knobs {
        delay_ms: 1500,
        tokens: 2,
        ..Knobs::default()
    })
    .await;
    let waiting = stack.chat(&json!({ "model": "pincer/default", "user": "frank",
        "messages": [{ "role": "user", "content": "survive this" }] }));
    let pending = tokio::spawn(async move { waiting.send().await });

    // Crash the runner while the provider is still thinking about the turn.
    let fake = &stack.fake;
    pincer_test_support::eventually(
        "the provider to receive the turn",
        Duration::from_secs(10),
        || async { (!chat_requests_of(fake).is_empty()).then_some(()) },
    )
    .await;
    stack.crash_agent_runner().await;
    stack.fake.set_knobs(Knobs {
        tokens: 2,
        ..Knobs::default()
    });
    stack.start_agent_runner().await;

    // JetStream redelivers the unacknowledged turn; the waiting client gets the answer.
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "alpha bravo");

    // The transcript holds the turn once.
    let next = json!({ "model": "pincer/default", "user": "frank",
        "messages": [{ "role": "user", "content": "and then?" }] });
    assert_eq!(stack.chat(&next).send().await.unwrap().status(), 200);
    let calls = chat_requests(&stack);
    assert_eq!(
        calls.len(),
        3,
        "the crashed call, its redelivery, the follow-up"
    );
    let sent = contents(calls.last().unwrap());
    assert_eq!(sent[1..], ["survive this", "alpha bravo", "and then?"]);
}

fn chat_requests_of(
    fake: &pincer_fake_provider::RunningFake,
) -> Vec<pincer_fake_provider::RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_sent_while_no_runner_is_up_is_kept_and_runs_later() {
    let mut stack = Stack::start(Knobs {
        tokens: 1,
        ..Knobs::default()
    })
    .await;
    stack.crash_agent_runner().await;

    // A streaming client learns quickly that nobody picked the turn up, from the status (no
    // stream began: nothing was said yet).
    let body = json!({ "model": "pincer/default", "user": "gina", "stream": true,
        "messages": [{ "role": "user", "content": "queued while down" }] });
    let response = stack.chat(&body).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no agent-runner picked the turn up")),
        "{error}"
    );
    assert!(chat_requests(&stack).is_empty());

    // The turn stayed in JetStream: a runner that comes back runs it, and it is in the history.
    stack.start_agent_runner().await;
    let fake = &stack.fake;
    pincer_test_support::eventually(
        "the queued turn to run",
        Duration::from_secs(20),
        || async { (!chat_requests_of(fake).is_empty()).then_some(()) },
    )
    .await;
    let next = json!({ "model": "pincer/default", "user": "gina",
        "messages": [{ "role": "user", "content": "did it run?" }] });
    assert_eq!(stack.chat(&next).send().await.unwrap().status(), 200);
    let sent = contents(chat_requests(&stack).last().unwrap());
    assert_eq!(sent[1..], ["queued while down", "alpha", "did it run?"]);
}
