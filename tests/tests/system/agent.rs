//! The agent loop through the whole stack (gateway → JetStream → agent-runner → llm-router → fake
//! provider): scripted tool use over the workspace, limits that end a run with a message, text tool
//! calls, compaction, session commands and an unreadable transcript.

use pincer_fake_provider::{Knobs, ScriptStep, ScriptedTool};
use pincer_system_tests::Stack;
use serde_json::{Value, json};

fn turn(user: &str, text: &str) -> Value {
    json!({ "model": "pincer/default", "user": user, "messages": [{ "role": "user", "content": text }] })
}

fn tool(name: &str, arguments: Value) -> ScriptStep {
    ScriptStep {
        text: String::new(),
        tool: Some(ScriptedTool {
            name: name.to_owned(),
            arguments,
        }),
    }
}

fn say(text: &str) -> ScriptStep {
    ScriptStep {
        text: text.to_owned(),
        tool: None,
    }
}

/// Sends a turn and returns (status, body).
async fn send(stack: &Stack, body: &Value) -> (u16, Value) {
    let response = stack.chat(body).send().await.expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

fn answer(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

/// The chat requests the fake provider received.
fn chats(stack: &Stack) -> Vec<Value> {
    stack
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat") || r.path.ends_with("/chat/completions"))
        .map(|r| r.body)
        .collect()
}

fn config(agent_defaults: &str, models: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{models}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", maxConcurrent: 4, {agent_defaults} }} }},
  tools: {{ exec: {{ mode: "allowlist", allowlist: ["echo"] }} }},
}}"#
    )
}

fn workspace(stack: &Stack) -> std::path::PathBuf {
    stack.workspace.path().join("workspace")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_step_tool_use_works_in_the_workspace_and_is_kept_in_the_history() {
    let stack = Stack::start_with(
        &config("timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            script: vec![
                tool(
                    "write",
                    json!({"path": "notes/todo.md", "content": "buy milk\n"}),
                ),
                tool("read", json!({"path": "notes/todo.md"})),
                tool("exec", json!({"command": "echo", "args": ["from", "exec"]})),
                tool("read", json!({"path": "../../etc/passwd"})),
                tool("no_such_tool", json!({})),
                tool("read", json!({"wrong": 1})),
                say("All done."),
            ],
            ..Knobs::default()
        },
    )
    .await;
    let (status, body) = send(&stack, &turn("ana", "note that I need milk")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answer(&body), "All done.");
    assert_eq!(
        std::fs::read_to_string(workspace(&stack).join("notes/todo.md")).expect("written"),
        "buy milk\n"
    );

    let calls = chats(&stack);
    assert_eq!(calls.len(), 7, "one model call per step");
    let offered: Vec<&str> = calls[0]["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(
        offered,
        [
            "read",
            "write",
            "edit",
            "list",
            "memory_search",
            "memory_write",
            "cron",
            "sessions_spawn",
            "sessions_send",
            "sessions_list",
            "sessions_history",
            "agents_list",
            "exec",
            "web_fetch"
        ]
    );
    let system = calls[0]["messages"][0]["content"].as_str().expect("system");
    assert!(
        system.contains("## SOUL.md"),
        "the workspace files are in the prompt"
    );
    let last = calls[6]["messages"].as_array().expect("messages");
    let results: Vec<&str> = last
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(results.len(), 6, "{results:?}");
    assert!(results[0].starts_with("wrote 9 bytes"), "{results:?}");
    assert_eq!(results[1], "buy milk\n");
    assert!(results[2].contains("from exec"), "{results:?}");
    assert!(results[3].contains("uses `..`"), "{results:?}");
    assert!(
        results[4].contains("unknown tool `no_such_tool`"),
        "{results:?}"
    );
    assert!(
        results[5].starts_with("error: invalid arguments"),
        "{results:?}"
    );

    // The next turn carries the whole exchange: user, calls, results, answer.
    let (status, _) = send(&stack, &turn("ana", "thanks")).await;
    assert_eq!(status, 200);
    let next = chats(&stack).pop().expect("second turn");
    let roles: Vec<&str> = next["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "tool").count(), 6);
    assert_eq!(roles.last(), Some(&"user"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_of_each_step_streams_as_its_own_paragraph() {
    let stack = Stack::start_with(
        &config("timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            script: vec![
                ScriptStep {
                    text: "Let me look.".to_owned(),
                    ..tool("list", json!({}))
                },
                say("Done here."),
            ],
            ..Knobs::default()
        },
    )
    .await;
    let mut body = turn("streamer", "what is there?");
    body["stream"] = json!(true);
    let response = stack.chat(&body).send().await.expect("gateway answers");
    assert_eq!(response.status(), 200);
    let sse = response.text().await.expect("the stream");
    let streamed: String = sse
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .filter_map(|data| {
            let chunk: Value = serde_json::from_str(data).expect("a JSON chunk");
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(streamed, "Let me look.\n\nDone here.", "{sse}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_own_function_is_called_back_and_its_result_answered() {
    let stack = Stack::start_with(
        &config("timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            script: vec![
                tool("get_weather", json!({"city": "Oslo"})),
                say("It is sunny in Oslo."),
                tool("get_weather", json!({"city": "Bergen"})),
                say("Fine, never mind."),
            ],
            ..Knobs::default()
        },
    )
    .await;
    let tools = json!([{ "type": "function", "function": {
        "name": "get_weather",
        "description": "The weather in a city now",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] },
    }}]);
    let question = json!({ "role": "user", "content": "Weather in Oslo?" });
    let mut first = turn("kim", "Weather in Oslo?");
    first["tools"] = tools.clone();
    let (status, body) = send(&stack, &first).await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    assert!(choice["message"]["content"].is_null(), "{body}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().expect("text")).expect("JSON");
    assert_eq!(arguments["city"], "Oslo");
    let id = call["id"].as_str().expect("an id to answer");
    assert!(!id.is_empty());
    let offered = chats(&stack)[0]["tools"].to_string();
    assert!(
        offered.contains("get_weather") && offered.contains("\"read\""),
        "{offered}"
    );

    // The client runs it and answers, resending the conversation as OpenAI clients do.
    let second = json!({ "model": "pincer/default", "user": "kim", "tools": tools, "messages": [
        question,
        choice["message"],
        { "role": "tool", "tool_call_id": id, "content": "sunny, 21 C" },
    ]});
    let (status, body) = send(&stack, &second).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answer(&body), "It is sunny in Oslo.");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let calls = chats(&stack);
    assert_eq!(calls.len(), 2, "no model call ran the client's function");
    let result = calls[1]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the client's result reached the model")
        .clone();
    assert_eq!(result["content"], "sunny, 21 C", "{result}");
    // Ollama is told which tool answered; the client's message names only the call.
    assert_eq!(result["tool_name"], "get_weather", "{result}");

    // Named like one of the agent's tools, a client's function is refused.
    let mut clash = turn("kim", "read it");
    clash["tools"] = json!([{ "type": "function", "function": { "name": "read" } }]);
    let (status, body) = send(&stack, &clash).await;
    assert_eq!(status, 400, "{body}");

    // A call the client leaves unanswered does not break the session: the model is told so.
    let mut bergen = turn("kim", "And in Bergen?");
    bergen["tools"] = tools.clone();
    let (status, body) = send(&stack, &bergen).await;
    assert_eq!(
        body["choices"][0]["finish_reason"], "tool_calls",
        "{status} {body}"
    );
    let mut moved_on = turn("kim", "Forget it.");
    moved_on["tools"] = tools;
    let (status, body) = send(&stack, &moved_on).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answer(&body), "Fine, never mind.");
    let last = chats(&stack).pop().expect("a model call");
    let unanswered = last["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .expect("a result for the unanswered call")
        .clone();
    assert!(
        unanswered["content"]
            .as_str()
            .is_some_and(|c| c.contains("did not answer")),
        "{unanswered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iteration_limit_ends_the_run_with_a_message() {
    let stack = Stack::start_with(
        &config("maxIterations: 3, timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            script: (0..10).map(|_| tool("list", json!({}))).collect(),
            ..Knobs::default()
        },
    )
    .await;
    let (status, body) = send(&stack, &turn("bo", "loop forever")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        answer(&body).contains("stopped after 3 steps"),
        "{}",
        answer(&body)
    );
    assert_eq!(chats(&stack).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_timeout_ends_the_run_with_a_message() {
    let stack = Stack::start_with(
        &config("timeout: 1", r#"{ id: "fake-model" }"#),
        Knobs {
            delay_ms: 3_000,
            ..Knobs::default()
        },
    )
    .await;
    let (status, body) = send(&stack, &turn("cy", "take your time")).await;
    assert_eq!(status, 504, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("time limit of 1s"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_printed_as_text_is_executed() {
    let stack = Stack::start_with(
        &config("timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            script: vec![
                say(r#"{"name": "memory_write", "arguments": {"text": "Dana drinks green tea", "target": "long_term"}}"#),
                say("Noted."),
            ],
            ..Knobs::default()
        },
    )
    .await;
    let (status, body) = send(&stack, &turn("dana", "remember my tea")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answer(&body), "Noted.");
    let memory = std::fs::read_to_string(workspace(&stack).join("MEMORY.md")).expect("memory");
    assert!(memory.contains("Dana drinks green tea"), "{memory}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_window_is_compacted_and_the_current_message_is_kept() {
    let stack = Stack::start_with(
        &config(
            "timeout: 30",
            r#"{ id: "fake-model", contextWindow: 4096 }"#,
        ),
        Knobs {
            tokens: 4,
            ..Knobs::default()
        },
    )
    .await;
    let big = |tag: &str| format!("{tag} {}", "lorem ipsum ".repeat(500));
    let (status, body) = send(&stack, &turn("eve", &big("FIRST"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(&stack, &turn("eve", &big("SECOND"))).await;
    assert_eq!(status, 200, "{body}");

    let calls = chats(&stack);
    let summary_call = calls
        .iter()
        .find(|c| {
            c["messages"][0]["content"]
                .as_str()
                .is_some_and(|s| s.starts_with("You compact a conversation"))
        })
        .expect("a summarisation call");
    assert!(
        summary_call["messages"][1]["content"]
            .as_str()
            .expect("text")
            .contains("FIRST")
    );
    let answered = calls.last().expect("the turn's call");
    let sent: Vec<&str> = answered["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        sent.iter()
            .any(|c| c.starts_with("Summary of the earlier conversation")),
        "{sent:?}"
    );
    assert!(
        !sent.iter().any(|c| c.starts_with("FIRST")),
        "the old turn was replaced"
    );
    assert!(
        sent.last().is_some_and(|c| c.starts_with("SECOND")),
        "the current message is kept"
    );

    let (_, body) = send(&stack, &turn("eve", "/status")).await;
    assert!(
        answer(&body).contains("Compactions: 1"),
        "{}",
        answer(&body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_commands_answer_without_the_model() {
    let stack = Stack::start_with(
        &config("timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            echo: true,
            ..Knobs::default()
        },
    )
    .await;
    send(&stack, &turn("fay", "hello")).await;
    let before = chats(&stack).len();
    let (status, body) = send(&stack, &turn("fay", "/status")).await;
    assert_eq!(status, 200);
    assert!(
        answer(&body).contains("Messages in session: 2"),
        "{}",
        answer(&body)
    );
    let (_, body) = send(&stack, &turn("fay", "/model ollama/other-model")).await;
    assert!(answer(&body).contains("ollama/other-model"));
    let (_, body) = send(&stack, &turn("fay", "/usage")).await;
    assert!(answer(&body).contains("prompt tokens"), "{}", answer(&body));
    assert_eq!(chats(&stack).len(), before, "commands never call the model");

    send(&stack, &turn("fay", "which model?")).await;
    assert_eq!(chats(&stack).pop().expect("call")["model"], "other-model");
    let (_, body) = send(&stack, &turn("fay", "/new")).await;
    assert!(answer(&body).starts_with("Started a new session"));
    let (_, body) = send(&stack, &turn("fay", "fresh")).await;
    // echo: messages=<count> — the system prompt and the new message only.
    assert!(
        answer(&body).starts_with("messages=2 "),
        "{}",
        answer(&body)
    );
    assert_eq!(chats(&stack).pop().expect("call")["model"], "fake-model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_transcript_is_set_aside_and_the_session_goes_on() {
    let stack = Stack::start_with(
        &config("timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            tokens: 2,
            ..Knobs::default()
        },
    )
    .await;
    let client = stack.nats_admin().await;
    let js = async_nats::jetstream::new(client);
    let bucket = pincer_bus::setup::sessions_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .expect("bucket");
    let key = pincer_agent_runner::sessions::kv_key("agent:main:openai-user:gus");
    bucket
        .put(&key, "{not a transcript".into())
        .await
        .expect("put garbage");
    let (status, body) = send(&stack, &turn("gus", "still there?")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        answer(&body).contains("could not be read and was set aside"),
        "{}",
        answer(&body)
    );
    let aside = bucket.get(format!("{key}.unreadable")).await.expect("get");
    assert_eq!(aside.as_deref(), Some(b"{not a transcript".as_slice()));
    let (status, body) = send(&stack, &turn("gus", "and now?")).await;
    assert_eq!(status, 200);
    assert_eq!(answer(&body), "alpha bravo");
}

/// A small model that prints the same failing `list` call as text over and over (what SmolLM2-135M
/// did through this stack) is told it repeats itself, then stopped with the tool and its error,
/// instead of burning every iteration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_repeating_a_failing_call_is_stopped_with_the_tool_and_its_error() {
    let printed = r#"{"name": "list", "arguments": {"path": "no/such/dir"}}"#;
    let stack = Stack::start_with(
        &config("timeout: 30, maxIterations: 10", r#"{ id: "fake-model" }"#),
        Knobs {
            script: vec![say(printed); 10],
            ..Knobs::default()
        },
    )
    .await;
    let (status, body) = send(&stack, &turn("ana", "what is in there?")).await;
    assert_eq!(status, 200, "{body}");
    let text = answer(&body);
    assert!(text.contains("`list`"), "names the tool: {text}");
    assert!(text.contains("no/such/dir"), "and its error: {text}");
    let calls = chats(&stack);
    assert_eq!(calls.len(), 3, "three model calls, not ten");
    let told = calls[2]["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["content"].to_string())
        .unwrap_or_default();
    assert!(told.contains("not run again"), "{told}");
}

/// Thinking levels: the agent's `thinkingDefault`, a session's `/think`, and a request's
/// `reasoning_effort` reach a reasoning model as Ollama's `think`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_levels_come_from_the_default_the_session_and_the_request() {
    let stack = Stack::start_with(
        &config(
            r#"timeout: 30, thinkingDefault: "low""#,
            r#"{ id: "fake-model", reasoning: true }"#,
        ),
        Knobs::default(),
    )
    .await;
    let think = |stack: &Stack| {
        chats(stack)
            .last()
            .map(|body| body.get("think").cloned())
            .unwrap_or_default()
    };
    let (status, body) = send(&stack, &turn("ana", "hello")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(think(&stack), Some(json!(true)), "thinkingDefault low");
    let (_, body) = send(&stack, &turn("ana", "/think off")).await;
    assert!(answer(&body).contains("off"), "{body}");
    send(&stack, &turn("ana", "and now?")).await;
    assert_eq!(think(&stack), Some(json!(false)), "the session's /think");
    let mut with_effort = turn("ana", "think hard");
    with_effort["reasoning_effort"] = json!("high");
    send(&stack, &with_effort).await;
    assert_eq!(think(&stack), Some(json!(true)), "the request's own level");
    let mut bad = turn("ana", "x");
    bad["reasoning_effort"] = json!("enormous");
    let (status, body) = send(&stack, &bad).await;
    assert_eq!(status, 400, "{body}");
}

/// A thinking Anthropic model's tool loop: its signed thinking block goes back with the call it
/// came with (Anthropic refuses the tool results otherwise), and a later turn's calls need none
/// of the earlier turn's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thinking_anthropic_model_gets_its_signed_thinking_back_through_a_tool_loop() {
    let stack = Stack::start_with(
        r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}" } },
  models: { providers: { anthropic: { baseUrl: "${FAKE_URL}", api: "anthropic-messages", apiKey: "sk-ant-fake",
                                      models: [{ id: "fake-model", reasoning: true }] } } },
  agents: { defaults: { model: "anthropic/fake-model", timeout: 30, thinkingDefault: "low" } },
}"#,
        Knobs {
            script: vec![
                tool("list", json!({"path": "."})),
                say("Two files."),
                tool("list", json!({"path": "."})),
                say("Still two."),
            ],
            ..Knobs::default()
        },
    )
    .await;
    for (question, expected) in [("what is here?", "Two files."), ("and now?", "Still two.")] {
        let (status, body) = send(&stack, &turn("ana", question)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(answer(&body), expected, "{body}");
    }
    let requests: Vec<Value> = stack
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/messages"))
        .map(|r| r.body)
        .collect();
    assert_eq!(requests.len(), 4);
    let last = requests[3]["messages"].as_array().expect("messages");
    let calling = &last[last.len() - 2];
    assert_eq!(calling["content"][0]["type"], "thinking", "{calling}");
    assert_eq!(requests[3]["thinking"]["type"], "enabled");
    // The first turn's call went back without its thinking (Anthropic drops it anyway).
    let first_call = last
        .iter()
        .find(|m| m["role"] == "assistant")
        .expect("the first turn's call");
    assert_eq!(first_call["content"][0]["type"], "tool_use", "{first_call}");
}

/// A model that breaks off in the middle of its reply (an in-stream error) when nobody watches
/// the turn (a plain, not streamed, request): the runner calls it again and the caller gets the
/// answer, not an error about a reply it never saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_breaks_off_unseen_is_asked_for_again() {
    let stack = Stack::start_with(
        &config("timeout: 30", r#"{ id: "fake-model" }"#),
        Knobs {
            fail: Some(pincer_fake_provider::knobs::Failure {
                status: 503,
                mid_stream: true,
                times: Some(1),
                ..pincer_fake_provider::knobs::Failure::default()
            }),
            ..Knobs::default()
        },
    )
    .await;
    let (status, body) = send(&stack, &turn("ana", "hello")).await;
    assert_eq!(status, 200, "{body}");
    assert!(!answer(&body).is_empty(), "{body}");
    assert_eq!(
        chats(&stack).len(),
        2,
        "the broken reply, then the whole one"
    );
}
