//! Tools through the whole stack in-process: the agent-runner offers the tool host's tools and
//! calls them there; readiness waits for MCP servers that are still starting; a server that is
//! down is named to the model and in the gateway's `health`.

use pincer_fake_provider::{Knobs, ScriptStep, ScriptedTool};
use pincer_system_tests::{Stack, last_tool_result};
use serde_json::{Value, json};

fn turn(user: &str, text: &str) -> Value {
    json!({ "model": "pincer/default", "user": user, "messages": [{ "role": "user", "content": text }] })
}

fn chats(stack: &Stack) -> Vec<Value> {
    stack
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat"))
        .map(|r| r.body)
        .collect()
}

fn config(mcp: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 60 }} }},
  mcp: {{ servers: {{ {mcp} }} }},
}}"#
    )
}

fn server() -> String {
    pincer_test_support::workspace_binary("pincer-mcp-test-server")
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_turn_after_ready_has_the_tools_of_a_server_slow_to_start() {
    let mcp = format!(
        r#"slow: {{ command: "{}", args: ["--delay-ms", "1500"], allowTools: ["*"] }}"#,
        server()
    );
    let knobs = Knobs {
        script: vec![
            ScriptStep {
                text: String::new(),
                tool: Some(ScriptedTool {
                    name: "slow__echo".into(),
                    arguments: json!({"text": "from a confined server"}),
                }),
            },
            ScriptStep {
                text: "done".into(),
                tool: None,
            },
        ],
        ..Knobs::default()
    };
    // Stack::start_with waits for /readyz: the server must be connected by then.
    let stack = Stack::start_with(&config(&mcp), knobs).await;
    let response = stack
        .chat(&turn("ana", "echo please"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let requests = chats(&stack);
    let offered: Vec<&str> = requests[0]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|tool| tool["function"]["name"].as_str())
        .collect();
    assert!(offered.contains(&"slow__echo"), "{offered:?}");
    let result = last_tool_result(&requests[1]);
    assert_eq!(result, "from a confined server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_named_to_the_model_and_in_health() {
    let mcp = r#"broken: { command: "/nonexistent/mcp-server", allowTools: ["*"] }"#;
    let stack = Stack::start_with(&config(mcp), Knobs::default()).await;
    let response = stack.chat(&turn("bo", "hi")).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    let system = chats(&stack)[0]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        system.contains("## Tools unavailable") && system.contains("MCP server `broken` is down"),
        "{system}"
    );
    let health = health(&stack).await;
    let checks = health["checks"].as_array().expect("checks").clone();
    let broken = checks
        .iter()
        .find(|check| check["name"] == "mcp broken")
        .unwrap_or_else(|| panic!("no check for the broken server: {checks:?}"));
    assert_eq!(broken["ok"], false);
    assert!(
        broken["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot"),
        "{broken}"
    );
    assert_eq!(health["tools"]["host"], "reachable");
}

/// The gateway's control `health`.
async fn health(stack: &Stack) -> Value {
    let url = format!("{}/ws", stack.gateway_url.replace("http://", "ws://"));
    let mut client = pincer_control_client::ControlClient::connect(
        &url,
        pincer_system_tests::TOKEN,
        &["operator.read"],
    )
    .await
    .expect("signs in");
    client.call("health", json!({})).await.expect("health")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_host_killed_mid_call_is_a_tool_error_and_the_next_turn_works() {
    let mcp = format!(r#"t: {{ command: "{}", allowTools: ["*"] }}"#, server());
    let call = |name: &str, arguments: Value| ScriptStep {
        text: String::new(),
        tool: Some(ScriptedTool {
            name: name.into(),
            arguments,
        }),
    };
    let say = |text: &str| ScriptStep {
        text: text.into(),
        tool: None,
    };
    let knobs = Knobs {
        script: vec![
            call("t__slow", json!({"ms": 20_000})),
            say("the host went away"),
            call("t__echo", json!({"text": "back again"})),
            say("done"),
        ],
        ..Knobs::default()
    };
    let mut stack = Stack::start_with(&config(&mcp), knobs).await;
    let request = stack.chat(&turn("cy", "slow please"));
    let first = tokio::spawn(async move { request.send().await });
    // The model has asked for the slow tool: the call is on its way or running.
    pincer_test_support::eventually("the tool call", std::time::Duration::from_secs(20), || {
        let asked = !chats(&stack).is_empty();
        async move { asked.then_some(()) }
    })
    .await;
    stack.crash_tool_host().await;
    let response = first.await.expect("task").expect("answers");
    assert_eq!(response.status(), 200, "the turn finished");
    let requests = chats(&stack);
    let result = last_tool_result(&requests[1]);
    assert!(result.contains("tool host"), "a clear tool error: {result}");

    stack.start_tool_host().await;
    pincer_test_support::eventually(
        "the tool host to be back",
        std::time::Duration::from_secs(30),
        || async {
            let health = health(&stack).await;
            (health["tools"]["host"] == "reachable"
                && health["tools"]["servers"][0]["state"] == "connected")
                .then_some(())
        },
    )
    .await;
    let response = stack
        .chat(&turn("cy", "again"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let requests = chats(&stack);
    let result = last_tool_result(&requests[3]);
    assert_eq!(result, "back again");
}
