//! Delegation end to end: `sessions_spawn` puts the child's turn on the bus in the sub-agent lane,
//! where a replica other than the parent's runs it; a child whose replica dies is finished by
//! another; aborting the parent stops the child; the depth limit holds; the child's usage counts
//! toward the parent's.

use std::time::Duration;

use pincer_control_client::{ALL_SCOPES, ControlClient};
use pincer_fake_provider::{Knobs, ScriptStep, ScriptedTool};
use pincer_system_tests::{Stack, TOKEN, last_tool_result};
use pincer_test_support::eventually;
use serde_json::{Value, json};

const CONFIG: &str = r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 60 } },
}"#;

fn spawn(task: &str) -> ScriptStep {
    ScriptStep {
        text: String::new(),
        tool: Some(ScriptedTool {
            name: "sessions_spawn".to_owned(),
            arguments: json!({ "task": task, "label": "helper" }),
        }),
    }
}

fn say(text: &str) -> ScriptStep {
    ScriptStep {
        text: text.to_owned(),
        tool: None,
    }
}

async fn ask(stack: &Stack, user: &str, text: &str) -> Value {
    let response = stack
        .chat(&json!({
            "model": "pincer/default", "user": user,
            "messages": [{ "role": "user", "content": text }]
        }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// Replaces the stack's runner by one that runs only people's turns, and adds one that runs only
/// sub-agents: a child can then only run on the second.
async fn split_lanes(stack: &mut Stack) {
    stack.crash_agent_runner().await;
    stack
        .add_agent_runner_with(|config| {
            config.agents.defaults.subagents = Some(pincer_config::Subagents {
                max_concurrent: Some(0),
                ..Default::default()
            });
        })
        .await;
    stack
        .add_agent_runner_with(|config| config.max_concurrent = 0)
        .await;
}

async fn subagent_lane(stack: &Stack) -> async_nats::jetstream::consumer::Info {
    let js = async_nats::jetstream::new(stack.nats_admin().await);
    let ns = pincer_bus::Namespace::default();
    let stream = js
        .get_stream(ns.turns_stream())
        .await
        .expect("turns stream");
    stream
        .consumer_info(ns.subagent_turns_consumer())
        .await
        .expect("sub-agent consumer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_delegates_to_a_child_another_replica_runs_and_pays_for_it() {
    let mut stack = Stack::start_with(
        CONFIG,
        Knobs {
            script: vec![
                spawn("Count to seven in words."),
                say("one two three four five six seven"),
                say("done"),
            ],
            ..Knobs::default()
        },
    )
    .await;
    split_lanes(&mut stack).await;
    let answer = ask(&stack, "pia", "count to seven, please").await;
    assert_eq!(answer["choices"][0]["message"]["content"], "done");
    let requests = stack.fake.requests();
    assert_eq!(requests.len(), 3);
    // The child saw only its task, in its own session.
    let child_messages = requests[1].body["messages"].as_array().expect("messages");
    assert_eq!(
        child_messages.last().expect("task")["content"],
        "Count to seven in words."
    );
    assert!(
        !requests[1]
            .body
            .to_string()
            .contains("count to seven, please"),
        "the child does not see the parent's conversation"
    );
    assert_eq!(
        last_tool_result(&requests[2].body),
        "sub-agent main (helper) answered:\none two three four five six seven"
    );
    // Through the sub-agent lane, which only the second replica consumes.
    let lane = subagent_lane(&stack).await;
    assert_eq!(lane.num_ack_pending, 0);
    assert_eq!(lane.delivered.consumer_sequence, 1);
    // The child's seven words count toward the parent's turn (the parent's own calls made one).
    let completion = answer["usage"]["completion_tokens"]
        .as_u64()
        .expect("usage");
    assert!(completion >= 8, "child usage added: {}", answer["usage"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_whose_replica_dies_is_finished_by_another() {
    let mut stack = Stack::start_with(
        CONFIG,
        Knobs {
            script: vec![spawn("Say what you were asked.")],
            echo: true,
            delay_ms: 1_500,
            ..Knobs::default()
        },
    )
    .await;
    split_lanes(&mut stack).await;
    let pending = tokio::spawn(
        stack
            .chat(&json!({
                "model": "pincer/default", "user": "rio",
                "messages": [{ "role": "user", "content": "delegate this" }]
            }))
            .send(),
    );
    eventually(
        "the child's model call",
        Duration::from_secs(20),
        || async { (stack.fake.requests().len() >= 2).then_some(()) },
    )
    .await;
    // Replica 2 runs the child (the only one taking sub-agent turns): kill it mid-call, then
    // bring up another like it.
    stack.crash_agent_runner_at(2).await;
    stack
        .add_agent_runner_with(|config| config.max_concurrent = 0)
        .await;
    let response = pending.await.expect("joined").expect("answers");
    assert_eq!(response.status(), 200);
    let requests = stack.fake.requests();
    assert_eq!(
        requests.len(),
        4,
        "the parent's call, the child's cut-off call, the child's call again, the parent's answer"
    );
    let result = last_tool_result(&requests[3].body);
    assert!(
        result.starts_with("sub-agent main (helper) answered:")
            && result.contains("last=Say what you were asked."),
        "{result}"
    );
    let lane = subagent_lane(&stack).await;
    assert!(
        lane.num_redelivered >= 1 || lane.delivered.consumer_sequence >= 2,
        "{lane:?}"
    );
    assert_eq!(lane.num_ack_pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_the_parent_stops_its_child() {
    let stack = Stack::start_with(
        CONFIG,
        Knobs {
            script: vec![spawn("Take your time.")],
            delay_ms: 3_000,
            ..Knobs::default()
        },
    )
    .await;
    let ws = format!("{}/ws", stack.gateway_url.replacen("http://", "ws://", 1));
    let mut op = ControlClient::connect(&ws, TOKEN, &ALL_SCOPES)
        .await
        .expect("signs in");
    let sent = op
        .call(
            "chat.send",
            json!({ "sessionKey": "agent:main:control:abort", "message": "delegate and wait", "idempotencyKey": "abort-1" }),
        )
        .await
        .expect("accepted");
    let run_id = sent["runId"].as_str().expect("runId").to_owned();
    eventually(
        "the child's model call",
        Duration::from_secs(20),
        || async { (stack.fake.requests().len() >= 2).then_some(()) },
    )
    .await;
    op.call("chat.abort", json!({ "runId": run_id }))
        .await
        .expect("abort");
    let child_turn = pincer_store::ids::derived(&format!("subagent\n{run_id}\n0"));
    let child_session = format!("agent:main:subagent:{child_turn}");
    let js = async_nats::jetstream::new(stack.nats_admin().await);
    let sessions = pincer_bus::setup::sessions_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .expect("sessions");
    let outcome = eventually("the child's outcome", Duration::from_secs(20), || async {
        let stored = sessions
            .get(pincer_store::transcript::kv_key(&child_session))
            .await
            .ok()??;
        let transcript: pincer_store::transcript::Transcript =
            serde_json::from_slice(&stored).ok()?;
        transcript.outcome_of(&child_turn).cloned()
    })
    .await;
    assert!(
        matches!(
            outcome,
            pincer_store::transcript::TurnOutcome::Failed {
                code: pincer_bus::messages::ErrorCode::Aborted,
                ..
            }
        ),
        "the child was stopped with its parent: {outcome:?}"
    );
    assert_eq!(stack.fake.requests().len(), 2, "neither went on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_cannot_spawn_past_the_depth_limit() {
    let stack = Stack::start_with(
        CONFIG,
        Knobs {
            script: vec![
                spawn("Find out, delegating if you like."),
                spawn("Go one level deeper."),
                say("found it myself"),
                say("the child found it"),
            ],
            ..Knobs::default()
        },
    )
    .await;
    let answer = ask(&stack, "dee", "find out").await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "the child found it"
    );
    let requests = stack.fake.requests();
    assert_eq!(requests.len(), 4, "no grandchild ran");
    let refused = last_tool_result(&requests[2].body);
    assert!(
        refused.contains("depth limit 1") && refused.contains("maxSpawnDepth"),
        "{refused}"
    );
    assert_eq!(
        last_tool_result(&requests[3].body),
        "sub-agent main (helper) answered:\nfound it myself"
    );
}

fn call(name: &str, arguments: Value) -> ScriptStep {
    ScriptStep {
        text: String::new(),
        tool: Some(ScriptedTool {
            name: name.to_owned(),
            arguments,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_lists_reads_and_asks_another_session() {
    let bob = "agent:main:openai-user:bob";
    let stack = Stack::start_with(
        CONFIG,
        Knobs {
            script: vec![
                say("noted"),
                call("agents_list", json!({})),
                call("sessions_list", json!({})),
                call("sessions_history", json!({ "sessionKey": bob })),
                call(
                    "sessions_send",
                    json!({ "sessionKey": bob, "message": "what was the word?" }),
                ),
                say("kiwi"),
                say("bob says kiwi"),
            ],
            ..Knobs::default()
        },
    )
    .await;
    ask(&stack, "bob", "remember the word kiwi").await;
    let answer = ask(&stack, "amy", "what did bob tell you?").await;
    assert_eq!(answer["choices"][0]["message"]["content"], "bob says kiwi");
    let requests = stack.fake.requests();
    assert_eq!(requests.len(), 7);
    assert_eq!(last_tool_result(&requests[2].body), "main (you)");
    assert!(last_tool_result(&requests[3].body).contains(bob));
    let history = last_tool_result(&requests[4].body);
    assert!(
        history.contains("user: remember the word kiwi") && history.contains("assistant: noted"),
        "{history}"
    );
    // Bob's session answered with its own history.
    let in_bob = requests[5].body.to_string();
    assert!(
        in_bob.contains("remember the word kiwi") && in_bob.contains("what was the word?"),
        "{in_bob}"
    );
    assert_eq!(
        last_tool_result(&requests[6].body),
        format!("{bob} answered:\nkiwi")
    );
}
