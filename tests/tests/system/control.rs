//! The gateway's control WebSocket end to end: every method against the real stack, sign-in and
//! its refusals (bad token, wrong first frame, foreign origin, lockout, scopes), slow consumers,
//! config patches, and the `/hooks` triggers.

use std::time::Duration;

use pincer_control_client::{ALL_SCOPES, ControlClient, Refused, open, read_json};
use pincer_fake_provider::Knobs;
use pincer_system_tests::{Stack, TOKEN};
use serde_json::{Value, json};

fn ws_url(stack: &Stack) -> String {
    format!("{}/ws", stack.gateway_url.replacen("http://", "ws://", 1))
}

async fn operator(stack: &Stack) -> ControlClient {
    ControlClient::connect(&ws_url(stack), TOKEN, &ALL_SCOPES)
        .await
        .expect("signs in")
}

/// Sends a message and collects its `chat` events up to the final one.
async fn chat(client: &mut ControlClient, session: &str, text: &str) -> (String, Vec<Value>) {
    let sent = client
        .call(
            "chat.send",
            json!({ "sessionKey": session, "message": text, "idempotencyKey": uuid_like(text) }),
        )
        .await
        .expect("chat.send accepted");
    assert_eq!(sent["status"], "accepted");
    let run_id = sent["runId"].as_str().expect("runId").to_owned();
    let mut events = Vec::new();
    loop {
        let event = client.event("chat").await.expect("chat event");
        assert_eq!(event["payload"]["runId"], run_id.as_str());
        let state = event["payload"]["state"]
            .as_str()
            .expect("state")
            .to_owned();
        events.push(event["payload"].clone());
        if state != "delta" {
            return (run_id, events);
        }
    }
}

fn uuid_like(seed: &str) -> String {
    format!("{seed}-{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_has_openclaws_shape_and_lists_the_methods() {
    let stack = Stack::start(Knobs::default()).await;
    let client = operator(&stack).await;
    let hello = &client.hello;
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 4);
    assert_eq!(hello["auth"]["role"], "operator");
    assert_eq!(hello["policy"]["tickIntervalMs"], 15000);
    let methods: Vec<&str> = hello["features"]["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for method in [
        "health",
        "chat.send",
        "chat.abort",
        "sessions.list",
        "pairing.approve",
        "config.patch",
        "usage.cost",
    ] {
        assert!(
            methods.contains(&method),
            "{method} missing from {methods:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_methods_report_the_stack() {
    let stack = Stack::start(Knobs::default()).await;
    let mut client = operator(&stack).await;

    let health = client.call("health", json!({})).await.expect("health");
    assert_eq!(health["ok"], true, "{health}");
    // nats, llm-router, agent-runner and the tool host (no MCP servers configured).
    assert_eq!(
        health["checks"].as_array().map(Vec::len),
        Some(4),
        "{health}"
    );
    assert_eq!(health["tools"]["host"], "reachable");

    let status = client.call("status", json!({})).await.expect("status");
    assert_eq!(status["authMode"], "token");
    assert_eq!(status["connections"], 1);
    let agents = status["agents"].as_array().expect("agents");
    assert!(
        agents.contains(&json!("main")) && agents.contains(&json!("helper")),
        "{status}"
    );

    let models = client
        .call("models.list", json!({}))
        .await
        .expect("models.list");
    let ids: Vec<&str> = models["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"ollama/fake-model"), "{ids:?}");

    let router = client
        .call("models.status", json!({}))
        .await
        .expect("models.status");
    assert!(
        router["providers"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{router}"
    );

    let channels = client
        .call("channels.status", json!({}))
        .await
        .expect("channels.status");
    assert_eq!(
        channels["channels"],
        json!([]),
        "telegram is disabled in this config"
    );
    assert!(
        channels["turns"]["pulling"].as_u64().is_some(),
        "{channels}"
    );

    let unknown = client
        .call("no.such.method", json!({}))
        .await
        .expect_err("unknown");
    assert_eq!(unknown["code"], "NOT_FOUND");
    let bad = client
        .call("usage.cost", json!({ "days": 0 }))
        .await
        .expect_err("bad days");
    assert_eq!(bad["code"], "INVALID_REQUEST");
    let typo = client
        .call("sessions.list", json!({ "limt": 3 }))
        .await
        .expect_err("unknown param");
    assert!(
        typo["message"].as_str().is_some_and(|m| m.contains("limt")),
        "{typo}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_events_and_shows_up_in_sessions_history_and_usage() {
    let stack = Stack::start(Knobs {
        tokens: 6,
        ..Knobs::default()
    })
    .await;
    let mut client = operator(&stack).await;
    let (_, events) = chat(&mut client, "ui", "hello there").await;
    let last = events.last().expect("events");
    assert_eq!(last["state"], "final", "{events:?}");
    assert_eq!(last["stopReason"], "stop", "{last}");
    assert_eq!(last["message"]["model"], "ollama/fake-model", "{last}");
    assert!(
        last.get("model").is_none(),
        "OpenClaw's final event has no model: {last}"
    );
    let deltas: Vec<&Value> = events.iter().filter(|e| e["state"] == "delta").collect();
    assert!(!deltas.is_empty(), "streamed deltas: {events:?}");
    // Each delta carries the text so far; the last one is the whole answer.
    let streamed = deltas.last().expect("delta")["message"]["content"]
        .as_str()
        .expect("text");
    assert_eq!(
        streamed,
        last["message"]["content"].as_str().expect("final text")
    );
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    let sessions = client
        .call("sessions.list", json!({}))
        .await
        .expect("sessions.list");
    let session = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["sessionKey"] == "agent:main:control:ui")
        .unwrap_or_else(|| panic!("dashboard session listed: {sessions}"))
        .clone();
    assert_eq!(session["messages"], 2);
    assert_eq!(session["agentId"], "main");
    assert_eq!(session["key"], "agent:main:control:ui", "OpenClaw's name");
    assert_eq!(session["kind"], "direct");
    assert_eq!(session["lastModel"], "ollama/fake-model");

    let history = client
        .call(
            "chat.history",
            json!({ "sessionKey": "agent:main:control:ui" }),
        )
        .await
        .expect("history");
    let roles: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(history["messages"][0]["content"], "hello there");

    let usage = client
        .call("usage.cost", json!({ "days": 7 }))
        .await
        .expect("usage.cost");
    assert_eq!(usage["days"].as_array().map(Vec::len), Some(7));
    assert_eq!(usage["total"]["turns"], 1, "{usage}");
    assert_eq!(usage["models"][0]["model"], "ollama/fake-model");
    let today = client
        .call("usage.status", json!({}))
        .await
        .expect("usage.status");
    assert_eq!(today["today"]["turns"], 1);

    // OpenClaw's params: `key` (here a short one, the dashboard session) and a reason.
    let reset = client
        .call("sessions.reset", json!({ "key": "ui", "reason": "reset" }))
        .await
        .expect("reset");
    assert_eq!(reset["reset"], true);
    assert_eq!(reset["sessionKey"], "agent:main:control:ui");
    let history = client
        .call(
            "chat.history",
            json!({ "sessionKey": "agent:main:control:ui" }),
        )
        .await
        .expect("history after reset");
    assert_eq!(history["messages"], json!([]));
    // A session nobody wrote to has an empty history; a short key is the dashboard's session.
    let missing = client
        .call(
            "chat.history",
            json!({ "sessionKey": "agent:main:control:nobody" }),
        )
        .await
        .expect("an empty history");
    assert_eq!(missing["messages"], json!([]));
    assert_eq!(missing["exists"], false);
    let short = client
        .call("chat.history", json!({ "sessionKey": "nobody" }))
        .await
        .expect("a short key");
    assert_eq!(short["sessionKey"], "agent:main:control:nobody");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_chat_can_be_aborted() {
    let stack = Stack::start(Knobs {
        tokens: 200,
        chunk_delay_ms: 50,
        ..Knobs::default()
    })
    .await;
    let mut client = operator(&stack).await;
    let sent = client
        .call("chat.send", json!({ "sessionKey": "long", "message": "tell me everything", "idempotencyKey": "a1" }))
        .await
        .expect("accepted");
    let run_id = sent["runId"].as_str().expect("runId").to_owned();
    // Wait until it streams, then stop it.
    let first = client.event("chat").await.expect("chat event");
    assert_eq!(first["payload"]["state"], "delta");
    // A retry of the send (same key) is the same run, and its events are not relayed twice.
    let again = client
        .call("chat.send", json!({ "sessionKey": "long", "message": "tell me everything", "idempotencyKey": "a1" }))
        .await
        .expect("accepted again");
    assert_eq!(again["runId"], run_id.as_str());
    // OpenClaw's form: the session's runs, without naming one.
    let aborted = client
        .call("chat.abort", json!({ "sessionKey": "long" }))
        .await
        .expect("abort");
    assert_eq!(aborted["abortRequested"], true, "{aborted}");
    assert_eq!(aborted["runIds"], json!([run_id]));
    let mut seqs = vec![first["payload"]["seq"].as_u64().expect("seq")];
    let end = loop {
        let event = client.event("chat").await.expect("chat event");
        seqs.push(event["payload"]["seq"].as_u64().expect("seq"));
        if event["payload"]["state"] != "delta" {
            break event;
        }
    };
    assert_eq!(end["payload"]["state"], "aborted", "{end}");
    assert!(
        seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "one relay of the run: {seqs:?}"
    );
    // Sent once more after it ended, nothing of it is relayed again: the next run's events are
    // the next ones.
    client
        .call("chat.send", json!({ "sessionKey": "long", "message": "tell me everything", "idempotencyKey": "a1" }))
        .await
        .expect("accepted");
    let nothing = client
        .call("chat.abort", json!({ "sessionKey": "long" }))
        .await
        .expect("nothing runs");
    assert_eq!(nothing["abortRequested"], false, "{nothing}");
    // The user's message stays in the history, like a failed turn's.
    let history = client
        .call(
            "chat.history",
            json!({ "sessionKey": "agent:main:control:long" }),
        )
        .await
        .expect("history");
    assert_eq!(history["messages"][0]["content"], "tell me everything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_says_so_before_it_closes() {
    let mut stack = Stack::start(Knobs::default()).await;
    let mut client = operator(&stack).await;
    assert!(
        client.hello["features"]["events"]
            .as_array()
            .is_some_and(|events| events.contains(&json!("shutdown")))
    );
    stack.stop_services().await;
    let shutdown = client
        .event("shutdown")
        .await
        .expect("the shutdown event, before the socket closed");
    assert_eq!(
        shutdown["payload"]["reason"], "gateway stopping",
        "{shutdown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_requests_are_listed_approved_and_rejected() {
    let stack = Stack::start(Knobs::default()).await;
    let nats = stack.nats_admin().await;
    let js = async_nats::jetstream::new(nats);
    let bucket = pincer_bus::setup::pairing_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .expect("bucket");
    let pairing = pincer_store::pairing::Pairing::new(bucket.clone(), "telegram", "default");
    let (ana, _) = pairing.request("111", Some("ana")).await.expect("request");
    let (bob, _) = pairing.request("222", None).await.expect("request");
    let other = pincer_store::pairing::Pairing::new(bucket, "telegram", "work");
    let (eve, _) = other.request("333", None).await.expect("request");

    let mut client = operator(&stack).await;
    let listed = client
        .call("pairing.list", json!({}))
        .await
        .expect("pairing.list");
    let codes: Vec<&str> = listed["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(codes.len(), 3, "{listed}");
    for code in [&ana.code, &bob.code, &eve.code] {
        assert!(codes.contains(&code.as_str()));
    }
    let entry = listed["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .find(|p| p["code"] == ana.code.as_str())
        .expect("ana")
        .clone();
    assert_eq!(entry["username"], "ana");
    assert_eq!(
        entry["expiresAt"].as_u64(),
        entry["createdAt"].as_u64().map(|c| c + 3_600_000)
    );

    let approved = client
        .call(
            "pairing.approve",
            json!({ "code": ana.code.to_lowercase() }),
        )
        .await
        .expect("approve without naming the account");
    assert_eq!(approved["senderId"], "111");
    assert!(pairing.is_approved("111").await.expect("lookup"));
    let rejected = client
        .call(
            "pairing.reject",
            json!({ "code": eve.code, "channel": "telegram", "account": "work" }),
        )
        .await
        .expect("reject");
    assert_eq!(rejected["senderId"], "333");
    assert!(!other.is_approved("333").await.expect("lookup"));
    let again = client
        .call("pairing.approve", json!({ "code": ana.code }))
        .await
        .expect_err("single use");
    assert_eq!(again["code"], "NOT_FOUND");
    let left = client
        .call("pairing.list", json!({}))
        .await
        .expect("pairing.list");
    assert_eq!(left["pending"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_get_masks_secrets_and_patches_are_checked_applied_or_refused() {
    let config = r#"{
  // kept through patches
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "test-token-0123456789" } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", apiKey: "sk-very-secret", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30 } },
}"#;
    let stack = Stack::start_with(config, Knobs::default()).await;
    let mut client = operator(&stack).await;
    let got = client
        .call("config.get", json!({}))
        .await
        .expect("config.get");
    let text = got["config"].to_string();
    assert!(
        !text.contains("sk-very-secret") && !text.contains(TOKEN),
        "{text}"
    );
    assert_eq!(got["config"]["gateway"]["auth"]["token"], "••••");
    assert_eq!(
        got["config"]["models"]["providers"]["ollama"]["baseUrl"],
        "${FAKE_URL}"
    );
    let hash = got["hash"].as_str().expect("hash").to_owned();

    // A browser origin is refused, then allowed by a hot patch.
    let url = ws_url(&stack);
    let origin = [("origin", "https://dash.example")];
    let refused =
        ControlClient::connect_with(&url, &origin, json!({ "token": TOKEN }), &ALL_SCOPES).await;
    assert!(matches!(refused, Err(Refused::Http(403))), "{refused:?}");
    let patched = client
        .call("config.patch", json!({ "baseHash": hash, "patch": { "gateway": { "controlUi": { "allowedOrigins": ["https://dash.example"] } } } }))
        .await
        .expect("patch");
    assert_eq!(
        patched["applied"],
        json!(["gateway.controlUi.allowedOrigins"])
    );
    assert_eq!(patched["restartRequired"], json!([]));
    // https origin, so the plain-http sign-in guard does not apply.
    ControlClient::connect_with(&url, &origin, json!({ "token": TOKEN }), &ALL_SCOPES)
        .await
        .expect("the listed origin may sign in now");
    let on_disk = std::fs::read_to_string(stack.config_path()).expect("file");
    assert!(
        on_disk.contains("dash.example")
            && on_disk.contains("sk-very-secret")
            && on_disk.contains("// kept through patches"),
        "{on_disk}"
    );
    assert!(stack.config_path().with_extension("bak").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: std::path::PathBuf| std::fs::metadata(p).expect("file").permissions().mode() & 0o777;
    assert_eq!(
        mode(stack.config_path()),
        0o600,
        "a file of secrets stays private"
    );
    assert_eq!(mode(stack.config_path().with_extension("bak")), 0o600);

    // The old hash is stale now.
    let stale = client
        .call(
            "config.patch",
            json!({ "baseHash": hash, "patch": { "agents": { "defaults": { "timeout": 60 } } } }),
        )
        .await
        .expect_err("stale");
    assert_eq!(stale["code"], "CONFLICT");
    let hash = patched["hash"].as_str().expect("hash");
    let restart = client
        .call(
            "config.patch",
            json!({ "baseHash": hash, "patch": { "agents": { "defaults": { "timeout": 60 } } } }),
        )
        .await
        .expect("written");
    assert_eq!(
        restart["restartRequired"][0]["path"],
        "agents.defaults.timeout"
    );
    let hash = restart["hash"].as_str().expect("hash");
    let auth = client
        .call(
            "config.patch",
            json!({ "baseHash": hash, "patch": { "gateway": { "auth": { "mode": "none" } } } }),
        )
        .await
        .expect_err("auth is not remote-editable");
    assert_eq!(auth["code"], "FORBIDDEN");
    let invalid = client
        .call(
            "config.patch",
            json!({ "baseHash": hash, "patch": { "agents": { "defaults": { "timeuot": 1 } } } }),
        )
        .await
        .expect_err("unknown key");
    assert_eq!(invalid["code"], "INVALID_REQUEST");
    assert!(
        invalid["message"]
            .as_str()
            .is_some_and(|m| m.contains("timeuot")),
        "{invalid}"
    );
    for (patch, code) in [
        (json!({ "gateway": null }), "FORBIDDEN"),
        (json!({}), "INVALID_REQUEST"),
        // Hooks decide who reaches the agent: guarded (the admin token, or the file).
        (json!({ "hooks": { "enabled": true } }), "FORBIDDEN"),
        // The gateway would refuse to start with it: nothing is written.
        (
            json!({ "gateway": { "http": { "maxBodyBytes": 999_999_999 } } }),
            "INVALID_REQUEST",
        ),
    ] {
        let refused = client
            .call("config.patch", json!({ "baseHash": hash, "patch": patch }))
            .await
            .expect_err("refused");
        assert_eq!(refused["code"], code, "{patch}: {refused}");
    }
    let masked = client
        .call("config.patch", json!({ "baseHash": hash, "patch": { "models": { "providers": { "ollama": { "apiKey": "••••" } } } } }))
        .await
        .expect_err("mask written back");
    assert_eq!(masked["code"], "INVALID_REQUEST");
    let on_disk = std::fs::read_to_string(stack.config_path()).expect("file");
    assert!(!on_disk.contains("timeuot") && on_disk.contains("sk-very-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refusals_say_why_and_never_open_the_plane() {
    let stack = Stack::start(Knobs::default()).await;
    let url = ws_url(&stack);
    // Each refusal carries OpenClaw's detail code, on which its clients stop retrying.
    let wrong = ControlClient::connect(&url, "not-the-token", &ALL_SCOPES).await;
    match wrong {
        Err(Refused::Error(error)) => {
            assert_eq!(error["code"], "UNAUTHORIZED");
            assert_eq!(error["details"]["code"], "AUTH_TOKEN_MISMATCH", "{error}");
        }
        other => panic!("wrong token: {other:?}"),
    }
    let missing = ControlClient::connect_with(&url, &[], json!({}), &ALL_SCOPES).await;
    assert!(
        matches!(missing, Err(Refused::Error(ref e))
            if e["code"] == "UNAUTHORIZED" && e["details"]["code"] == "AUTH_TOKEN_MISSING"),
        "{missing:?}"
    );
    // A scope this gateway does not serve is not granted, and the connection stands.
    let unknown_scope = ControlClient::connect(&url, TOKEN, &["operator.talk", "operator.read"])
        .await
        .expect("connects");
    assert_eq!(
        unknown_scope.hello["auth"]["scopes"],
        json!(["operator.read"])
    );
    let snapshot = &unknown_scope.hello["snapshot"];
    assert_eq!(snapshot["presence"], json!([]), "{snapshot}");
    assert_eq!(snapshot["stateVersion"]["health"], 0, "{snapshot}");
    let foreign = ControlClient::connect_with(
        &url,
        &[("origin", "https://evil.example")],
        json!({ "token": TOKEN }),
        &ALL_SCOPES,
    )
    .await;
    assert!(matches!(foreign, Err(Refused::Http(403))), "{foreign:?}");

    // A first frame that is not `connect` is answered and the socket closed (1008).
    let mut socket = open(&url, &[]).await.expect("opens");
    let challenge = read_json(&mut socket).await.expect("challenge");
    assert_eq!(challenge["event"], "connect.challenge");
    use futures::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({ "type": "req", "id": "1", "method": "health" })
                .to_string()
                .into(),
        ))
        .await
        .expect("sent");
    let answer = read_json(&mut socket).await.expect("answer");
    assert_eq!(answer["error"]["code"], "INVALID_REQUEST");
    let close = read_json(&mut socket).await.expect("close");
    assert_eq!(close["close"], 1008);

    // Read-only scopes cannot write.
    let mut reader = ControlClient::connect(&url, TOKEN, &["operator.read"])
        .await
        .expect("reader");
    let denied = reader
        .call(
            "chat.send",
            json!({ "message": "hi", "idempotencyKey": "k" }),
        )
        .await
        .expect_err("needs write");
    assert_eq!(denied["code"], "FORBIDDEN");
    assert_eq!(denied["details"]["code"], "MISSING_SCOPE");
    let denied = reader
        .call("config.get", json!({}))
        .await
        .expect_err("needs admin");
    assert_eq!(denied["details"]["missingScope"], "operator.admin");
    assert_eq!(
        denied["details"]["requiredScopes"],
        json!(["operator.admin"])
    );
    reader
        .call("health", json!({}))
        .await
        .expect("reading is allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_address_out_of_http_and_the_websocket() {
    let config = r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}", rateLimit: { maxAttempts: 3, windowMs: 60000, lockoutMs: 60000 } } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30 } },
}"#;
    let stack = Stack::start_with(config, Knobs::default()).await;
    let url = ws_url(&stack);
    for _ in 0..3 {
        let refused = ControlClient::connect(&url, "guess", &ALL_SCOPES).await;
        assert!(
            matches!(refused, Err(Refused::Error(ref e)) if e["code"] == "UNAUTHORIZED"),
            "{refused:?}"
        );
    }
    let locked = ControlClient::connect(&url, "guess", &ALL_SCOPES).await;
    match locked {
        Err(Refused::Error(error)) => {
            assert_eq!(error["code"], "RATE_LIMITED");
            assert!(
                error["retryAfterMs"].as_u64().is_some_and(|ms| ms > 50_000),
                "{error}"
            );
        }
        other => panic!("expected a lockout: {other:?}"),
    }
    // Locked out: even the right token waits, on the WebSocket and over HTTP.
    let right = ControlClient::connect(&url, TOKEN, &ALL_SCOPES).await;
    assert!(
        matches!(right, Err(Refused::Error(ref e)) if e["code"] == "RATE_LIMITED"),
        "{right:?}"
    );
    let http = reqwest::Client::new()
        .get(format!("{}/v1/models", stack.gateway_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(http.status(), 429);
    assert!(http.headers().get("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_disconnected_not_buffered() {
    let stack = Stack::start(Knobs::default()).await;
    let mut client = operator(&stack).await;
    // Ask for far more than the socket buffers and the 256-frame queue hold, reading nothing.
    let request = json!({ "type": "req", "id": "s", "method": "status" }).to_string();
    let mut sent = 0usize;
    while sent < 40_000 && client.send_raw(&request).await {
        sent += 1;
    }
    // Now read: the gateway closed with 1013 before answering everything.
    let mut answered = 0usize;
    let closed = loop {
        match client.read().await {
            Some(frame) if frame.get("close").is_some() => break frame,
            Some(_) => answered += 1,
            None => panic!("socket ended without a close frame after {answered} answers"),
        }
    };
    assert_eq!(closed["close"], 1013, "{closed}");
    assert_eq!(closed["reason"], "slow consumer");
    assert!(answered < sent, "{answered} of {sent}");
    // The gateway itself is fine.
    operator(&stack)
        .await
        .call("health", json!({}))
        .await
        .expect("still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_get_errors_and_oversized_ones_end_the_connection() {
    let stack = Stack::start(Knobs::default()).await;
    let mut client = operator(&stack).await;
    for garbage in [
        "not json",
        "{}",
        "[]",
        r#"{"type":"event","id":"1","method":"health"}"#,
        r#"{"type":"req","id":"2","method":"health","params":"x"}"#,
        r#"{"type":"req","id":3,"method":"health"}"#,
        "\u{0}\u{1}",
        &"[".repeat(10_000),
    ] {
        assert!(client.send_raw(garbage).await);
        let answer = client.read().await.expect("an answer, not a closed socket");
        assert_eq!(answer["ok"], false, "{garbage:.40}: {answer}");
        assert_eq!(answer["error"]["code"], "INVALID_REQUEST");
    }
    // The connection is still fine.
    client.call("health", json!({})).await.expect("health");
    // A frame over the 256 KiB cap ends it; the gateway keeps serving others.
    let huge = format!(
        r#"{{"type":"req","id":"big","method":"health","params":{{"x":"{}"}}}}"#,
        "x".repeat(512 * 1024)
    );
    let _ = client.send_raw(&huge).await;
    let next = client.read().await;
    assert_eq!(
        next.as_ref().and_then(|f| f.get("close")),
        Some(&json!(1009)),
        "RFC 6455's message too big: {next:?}"
    );
    operator(&stack)
        .await
        .call("status", json!({}))
        .await
        .expect("still serving");
}

const HOOKS: &str = r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30 } },
  hooks: { enabled: true, token: "hook-token-abc" },
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_start_runs_with_their_own_token_only() {
    let stack = Stack::start_with(HOOKS, Knobs::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/hooks/agent", stack.gateway_url);
    let body = json!({ "message": "nightly report", "sessionKey": "nightly", "name": "cron" });
    let ok = http
        .post(&url)
        .bearer_auth("hook-token-abc")
        .json(&body)
        .send()
        .await
        .expect("answers");
    assert_eq!(ok.status(), 200);
    let answer: Value = ok.json().await.expect("json");
    assert!(answer["runId"].as_str().is_some(), "{answer}");
    assert_eq!(answer["sessionKey"], "agent:main:hook:nightly");
    let header = http
        .post(&url)
        .header("x-openclaw-token", "hook-token-abc")
        .json(&body)
        .send()
        .await
        .expect("answers");
    assert_eq!(header.status(), 200);

    for (request, status) in [
        (http.post(&url).bearer_auth(TOKEN).json(&body), 401),
        (http.post(&url).json(&body), 401),
        (
            http.post(format!("{url}?token=hook-token-abc")).json(&body),
            400,
        ),
        (
            http.post(&url)
                .bearer_auth("hook-token-abc")
                .json(&json!({ "msg": "typo" })),
            400,
        ),
        (
            http.post(format!("{}/hooks/unknown", stack.gateway_url))
                .bearer_auth("hook-token-abc")
                .json(&body),
            404,
        ),
    ] {
        let response = request.send().await.expect("answers");
        assert_eq!(response.status(), status);
    }

    // Both runs (the same session) are answered and recorded: poll the history with a deadline.
    let client = tokio::sync::Mutex::new(operator(&stack).await);
    let client = &client;
    let history = pincer_test_support::eventually(
        "both hook runs in the history",
        Duration::from_secs(15),
        move || async move {
            let history = client
                .lock()
                .await
                .call(
                    "chat.history",
                    json!({ "sessionKey": "agent:main:hook:nightly" }),
                )
                .await
                .ok()?;
            (history["messages"].as_array().map(Vec::len) == Some(4)).then_some(history)
        },
    )
    .await;
    assert_eq!(history["messages"][0]["content"], "nightly report");
}

/// OpenClaw's documented hook bodies: `/hooks/wake {text, mode}` and `/hooks/agent` with
/// `model`, `timeoutSeconds` and an `idempotencyKey` without a `sessionKey`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaws_hook_fields_take_effect() {
    let stack = Stack::start_with(HOOKS, Knobs::default()).await;
    let http = reqwest::Client::new();
    let hook = |path: &str, body: Value| {
        http.post(format!("{}/hooks/{path}", stack.gateway_url))
            .bearer_auth("hook-token-abc")
            .json(&body)
            .send()
    };

    // The next heartbeat's event waits in the main session: no model is called for it.
    let later = hook(
        "wake",
        json!({ "text": "the deploy finished", "mode": "next-heartbeat" }),
    )
    .await
    .expect("answers");
    assert_eq!(later.status(), 200);
    let client = tokio::sync::Mutex::new(operator(&stack).await);
    let client = &client;
    let main_history = |count: usize| async move {
        pincer_test_support::eventually(
            "the main session's history",
            Duration::from_secs(15),
            move || async move {
                let history = client
                    .lock()
                    .await
                    .call("chat.history", json!({ "sessionKey": "agent:main:main" }))
                    .await
                    .ok()?;
                (history["messages"].as_array().map(Vec::len) == Some(count)).then_some(history)
            },
        )
        .await
    };
    let history = main_history(1).await;
    assert_eq!(
        history["messages"][0]["content"],
        "[wake] the deploy finished"
    );
    assert!(stack.fake.requests().is_empty(), "nothing ran for it");

    // `now` runs the main session, which reads both events.
    let now = hook("wake", json!({ "text": "check it", "mode": "now" }))
        .await
        .expect("answers");
    assert_eq!(now.status(), 200);
    main_history(3).await;
    let asked = stack.fake.requests()[0].body.to_string();
    assert!(asked.contains("[wake] the deploy finished"), "{asked}");
    let refused = hook("wake", json!({ "text": "x", "mode": "later" }))
        .await
        .expect("answers");
    assert_eq!(refused.status(), 400);

    // A retried call without a session key finds its run: one run, one model call.
    let body = json!({
        "message": "summarise the inbox", "name": "Email", "idempotencyKey": "msg-123",
        "model": "ollama/fake-model", "timeoutSeconds": 120,
    });
    let first: Value = hook("agent", body.clone())
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let again: Value = hook("agent", body)
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(first["runId"], again["runId"], "{first} {again}");
    assert_eq!(first["sessionKey"], again["sessionKey"]);
    let session = first["sessionKey"].as_str().expect("session").to_owned();
    let session = &session;
    pincer_test_support::eventually(
        "the hook's run answered",
        Duration::from_secs(15),
        move || async move {
            let history = client
                .lock()
                .await
                .call("chat.history", json!({ "sessionKey": session }))
                .await
                .ok()?;
            (history["messages"].as_array().map(Vec::len) == Some(2)).then_some(())
        },
    )
    .await;
    assert_eq!(
        stack.fake.requests().len(),
        2,
        "the wake run and one hook run"
    );
    let huge = hook("agent", json!({ "message": "x".repeat(1024 * 1024) }))
        .await
        .expect("answers");
    assert_eq!(huge.status(), 413);
    let error: Value = huge.json().await.expect("a JSON error, as every API error");
    assert_eq!(error["error"]["code"], "request_too_large");
    for (field, value) in [
        ("model", json!("no-slash")),
        ("timeoutSeconds", json!(0)),
        ("timeoutSeconds", json!(10_000_000_000_000_000_000_u64)),
    ] {
        let mut body = json!({ "message": "m" });
        body[field] = value;
        let response = hook("agent", body).await.expect("answers");
        assert_eq!(response.status(), 400, "{field}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_that_route_secrets_need_the_admin_token_or_the_secret_re_entered() {
    const ADMIN: &str = "admin-token-0123456789abcdef0123456789";
    let config = r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "test-token-0123456789", adminToken: "admin-token-0123456789abcdef0123456789" } },
  models: { providers: {
    ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] },
    paid: { baseUrl: "https://api.example.org/v1", apiKey: "sk-stored-secret", api: "openai-completions" },
  } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30 } },
}"#;
    let stack = Stack::start_with(config, Knobs::default()).await;
    // The everyday token is no longer an admin when an admin token exists: scopes come from the
    // credential, whatever the client asks for.
    let mut signed_in = operator(&stack).await;
    let denied = signed_in
        .call("config.get", json!({}))
        .await
        .expect_err("not an admin");
    assert_eq!(denied["details"]["code"], "MISSING_SCOPE", "{denied}");
    let mut admin = ControlClient::connect(&ws_url(&stack), ADMIN, &ALL_SCOPES)
        .await
        .expect("the admin signs in");
    let hash = admin.call("config.get", json!({})).await.expect("get")["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    // Without the admin token (no admin token configured at all: the everyday token is the admin)
    // a stored key cannot be pointed elsewhere.
    let plain = Stack::start_with(
        r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "test-token-0123456789" } },
  models: { providers: {
    ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] },
    compat: { baseUrl: "https://api.example.org/v1", api: "openai-completions", apiKey: "sk-stored-key" },
  } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30 } },
}"#,
        Knobs::default(),
    )
    .await;
    let mut everyday = operator(&plain).await;
    let plain_hash = everyday.call("config.get", json!({})).await.expect("get")["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let redirect = json!({ "models": { "providers": { "compat": { "baseUrl": "https://evil.example/v1" } } } });
    let refused = everyday
        .call(
            "config.patch",
            json!({ "baseHash": plain_hash, "patch": redirect }),
        )
        .await
        .expect_err("a stored key is not sent elsewhere");
    assert_eq!(refused["details"]["code"], "GUARDED", "{refused}");
    for patch in [
        json!({ "mcp": { "servers": { "x": { "command": "sh", "args": ["-c", "id"], "allowTools": ["*"] } } } }),
        json!({ "tools": { "exec": { "mode": "allowlist", "allowlist": ["sh"] } } }),
        json!({ "agents": { "defaults": { "workspace": "/" } } }),
        json!({ "channels": { "telegram": { "dmPolicy": "open", "allowFrom": ["*"] } } }),
        json!({ "models": { "providers": { "new": { "baseUrl": "https://evil.example", "apiKey": "${OPENROUTER_API_KEY}" } } } }),
    ] {
        let refused = everyday
            .call(
                "config.patch",
                json!({ "baseHash": plain_hash, "patch": patch }),
            )
            .await
            .expect_err("guarded");
        assert_eq!(refused["details"]["code"], "GUARDED", "{patch}: {refused}");
    }
    // With the secret re-entered, the operator may move a provider (the old key goes nowhere).
    let moved = everyday
        .call(
            "config.patch",
            json!({ "baseHash": plain_hash, "patch": { "models": { "providers": { "compat": { "baseUrl": "https://other.example/v1", "apiKey": "sk-typed-in-again" } } } } }),
        )
        .await
        .expect("re-entered");
    assert!(moved["hash"].is_string());
    // The admin token may change what runs.
    let changed = admin
        .call(
            "config.patch",
            json!({ "baseHash": hash, "patch": { "models": { "providers": { "paid": { "baseUrl": "https://api2.example.org/v1" } } } } }),
        )
        .await
        .expect("the admin may");
    assert!(changed["hash"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_that_answers_another_challenge_is_refused() {
    use futures::SinkExt as _;
    let stack = Stack::start(Knobs::default()).await;
    let mut socket = open(&ws_url(&stack), &[]).await.expect("opens");
    let challenge = read_json(&mut socket).await.expect("challenge");
    assert_eq!(challenge["event"], "connect.challenge");
    let mut frame = pincer_control_client::connect_frame(json!({ "token": TOKEN }), &ALL_SCOPES);
    frame["params"]["nonce"] = json!("a-nonce-from-another-connection");
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            frame.to_string().into(),
        ))
        .await
        .expect("sent");
    let answer = read_json(&mut socket).await.expect("answer");
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("another connection"),
        "{answer}"
    );
}
