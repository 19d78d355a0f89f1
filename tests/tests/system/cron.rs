//! Scheduled work end to end: jobs made through the control plane and by the agent's `cron`
//! tool fire exactly once with two gateways running schedulers, answer in a Telegram chat, fire
//! once after the scheduler was down (or are skipped beyond `cron.missedGrace`), and the
//! heartbeat speaks only when `HEARTBEAT.md` asks for something that needs attention.

use std::time::Duration;

use pincer_control_client::{ALL_SCOPES, ControlClient};
use pincer_fake_provider::{Knobs, ScriptStep, ScriptedTool};
use pincer_fake_telegram::{Incoming, RunningTelegram, Sent};
use pincer_system_tests::{Stack, TOKEN};
use pincer_test_support::eventually;
use serde_json::{Value, json};

const BOT: &str = "123:cron-bot-token";

fn config(extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 {extra} }} }},
  channels: {{ telegram: {{ botToken: "{BOT}", apiRoot: "${{TG_URL}}", dmPolicy: "open", allowFrom: ["*"] }} }},
  cron: {{ missedGrace: "5s" }},
}}"#
    )
}

async fn stack(extra: &str, knobs: Knobs) -> (Stack, RunningTelegram) {
    let telegram = RunningTelegram::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake telegram");
    let stack =
        Stack::start_with_env(&config(extra), knobs, vec![("TG_URL", telegram.api_root())]).await;
    (stack, telegram)
}

async fn operator(url: &str) -> ControlClient {
    let ws = format!("{}/ws", url.replacen("http://", "ws://", 1));
    ControlClient::connect(&ws, TOKEN, &ALL_SCOPES)
        .await
        .expect("signs in")
}

async fn call(op: &mut ControlClient, method: &str, params: Value) -> Value {
    op.call(method, params)
        .await
        .unwrap_or_else(|error| panic!("{method} refused: {error}"))
}

async fn jobs(op: &mut ControlClient) -> Vec<Value> {
    call(op, "cron.list", json!({})).await["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn sent(telegram: &RunningTelegram, chat: i64) -> Vec<Sent> {
    telegram
        .sent(BOT)
        .into_iter()
        .filter(|s| s.chat_id == chat)
        .collect()
}

async fn sent_to(telegram: &RunningTelegram, chat: i64, count: usize) -> Vec<Sent> {
    eventually(
        &format!("{count} message(s) in chat {chat}"),
        Duration::from_secs(30),
        || async {
            let sent = sent(telegram, chat);
            (sent.len() >= count).then_some(sent)
        },
    )
    .await
}

fn model_calls(stack: &Stack) -> usize {
    stack.fake.requests().len()
}

fn say(text: &str) -> ScriptStep {
    ScriptStep {
        text: text.to_owned(),
        tool: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_fire_exactly_once_with_two_gateways_and_answer_in_the_chat() {
    let (mut stack, telegram) = stack("", Knobs::default()).await;
    let second = stack.add_gateway().await;
    let mut op = operator(&stack.gateway_url).await;
    let mut op2 = operator(&second).await;
    let refused = op
        .call(
            "cron.add",
            json!({"at": "+1s", "message": "x", "channel": "slack", "to": "C1"}),
        )
        .await
        .expect_err("no slack account");
    assert!(refused.to_string().contains("slack"), "{refused}");

    let once = call(
        &mut op,
        "cron.add",
        json!({"at": "+1s", "message": "stand up", "channel": "telegram", "to": "4242", "name": "standup"}),
    )
    .await;
    assert_eq!(once["job"]["deleteAfterRun"], true);
    let every = call(
        &mut op2,
        "cron.add",
        json!({"every": "1s", "message": "tick", "channel": "telegram", "to": "4343"}),
    )
    .await;
    let every_id = every["job"]["id"].as_str().expect("id").to_owned();

    sent_to(&telegram, 4242, 1).await;
    // The one-shot is gone once it ran well.
    eventually(
        "the one-shot job removed",
        Duration::from_secs(20),
        || async {
            let list = operator(&stack.gateway_url).await;
            let mut list = list;
            (!jobs(&mut list).await.iter().any(|j| j["name"] == "standup")).then_some(())
        },
    )
    .await;
    // Let the recurring job fire a few times with both schedulers racing for it, then stop it.
    eventually("four ticks", Duration::from_secs(30), || async {
        (sent(&telegram, 4343).len() >= 4).then_some(())
    })
    .await;
    call(
        &mut op,
        "cron.update",
        json!({"id": every_id, "patch": {"enabled": false}}),
    )
    .await;
    let runs = jobs(&mut op2)
        .await
        .into_iter()
        .find(|j| j["id"] == every_id.as_str())
        .and_then(|j| j["state"]["runs"].as_u64())
        .expect("runs") as usize;
    // Every recorded firing answers once, and nothing else reached the model.
    let ticks = eventually("every firing answered", Duration::from_secs(20), || async {
        let ticks = sent(&telegram, 4343);
        (ticks.len() >= runs).then_some(ticks)
    })
    .await;
    assert_eq!(ticks.len(), runs, "one message per firing: {ticks:?}");
    assert_eq!(model_calls(&stack), runs + 1, "one model call per firing");
    assert_eq!(sent(&telegram, 4242).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_missed_while_the_gateway_was_down_runs_once_or_is_skipped_past_the_grace() {
    let (mut stack, telegram) = stack("", Knobs::default()).await;
    let mut op = operator(&stack.gateway_url).await;
    let late = call(
        &mut op,
        "cron.add",
        json!({"at": "+1s", "message": "too late", "channel": "telegram", "to": "5151"}),
    )
    .await;
    let due = call(
        &mut op,
        "cron.add",
        json!({"at": "+7s", "message": "still fine", "channel": "telegram", "to": "5252"}),
    )
    .await;
    drop(op);
    stack.crash_gateway().await;
    let due_at = due["job"]["state"]["nextRunAtMs"].as_u64().expect("due");
    // Down past both firings: the first by more than missedGrace (5 s), the second by less.
    eventually("both firings missed", Duration::from_secs(30), || async {
        (pincer_clock::now_ms() > due_at + 1_000).then_some(())
    })
    .await;
    stack.start_gateway().await;
    let answered = sent_to(&telegram, 5252, 1).await;
    assert_eq!(answered.len(), 1);
    let op = operator(&stack.gateway_url).await;
    let late_id = late["job"]["id"].as_str().expect("id");
    let skipped = eventually(
        "the late job recorded as skipped",
        Duration::from_secs(20),
        || async {
            let mut op = operator(&stack.gateway_url).await;
            jobs(&mut op)
                .await
                .into_iter()
                .find(|j| j["id"] == late_id && j["state"]["lastStatus"] == "skipped")
        },
    )
    .await;
    assert!(
        skipped["state"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("missed by")),
        "{skipped}"
    );
    assert!(
        sent(&telegram, 5151).is_empty(),
        "the skipped job said nothing"
    );
    assert_eq!(
        model_calls(&stack),
        1,
        "only the firing within the grace ran"
    );
    // A restart does not fire it again.
    stack.crash_gateway().await;
    stack.start_gateway().await;
    assert_eq!(
        call(
            &mut operator(&stack.gateway_url).await,
            "cron.status",
            json!({})
        )
        .await["enabled"],
        true
    );
    drop(op);
    assert_eq!(sent(&telegram, 5252).len(), 1);
    assert_eq!(model_calls(&stack), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_waits_for_tasks_and_speaks_only_when_something_needs_attention() {
    let (stack, telegram) = stack(
        r#", heartbeat: { every: "1s", target: "telegram", to: "6161" }"#,
        Knobs {
            script: vec![say("HEARTBEAT_OK"), say("The backup failed last night.")],
            ..Knobs::default()
        },
    )
    .await;
    let mut op = operator(&stack.gateway_url).await;
    // No HEARTBEAT.md yet: the heartbeat is skipped without asking the model.
    eventually("a skipped heartbeat", Duration::from_secs(20), || async {
        let mut op = operator(&stack.gateway_url).await;
        jobs(&mut op)
            .await
            .into_iter()
            .find(|j| j["id"] == "heartbeat-main" && j["state"]["lastStatus"] == "skipped")
    })
    .await;
    assert_eq!(model_calls(&stack), 0);
    let removal = op
        .call("cron.remove", json!({"id": "heartbeat-main"}))
        .await
        .expect_err("the config owns the heartbeat");
    assert!(
        removal.to_string().contains("agents.defaults.heartbeat"),
        "{removal}"
    );

    std::fs::write(
        stack
            .workspace
            .path()
            .join("workspace")
            .join("HEARTBEAT.md"),
        "# Heartbeat\n- Tell me if last night's backup failed.\n",
    )
    .expect("HEARTBEAT.md");
    let spoken = sent_to(&telegram, 6161, 1).await;
    assert_eq!(spoken[0].text, "The backup failed last night.");
    assert!(
        model_calls(&stack) >= 2,
        "the first heartbeat answered HEARTBEAT_OK"
    );
    let first = &stack.fake.requests()[0].body;
    assert!(
        first
            .to_string()
            .contains("Tell me if last night's backup failed"),
        "the tasks are in the heartbeat's message"
    );
    call(
        &mut op,
        "cron.update",
        json!({"id": "heartbeat-main", "patch": {"enabled": false}}),
    )
    .await;
    assert!(
        sent(&telegram, 6161)
            .iter()
            .all(|s| !s.text.contains("HEARTBEAT_OK")),
        "an acknowledgement is never delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_schedules_a_reminder_that_comes_back_to_the_chat_it_was_asked_in() {
    let (stack, telegram) = stack(
        "",
        Knobs {
            script: vec![
                ScriptStep {
                    text: String::new(),
                    tool: Some(ScriptedTool {
                        name: "cron".to_owned(),
                        arguments: json!({"action": "add", "at": "+1s", "message": "Remind me to drink water."}),
                    }),
                },
                say("I'll remind you in a second."),
                say("Time to drink water!"),
            ],
            ..Knobs::default()
        },
    )
    .await;
    telegram.user_says(
        BOT,
        &Incoming {
            from_id: 7171,
            username: Some("ida".to_owned()),
            text: "remind me to drink water in a second".to_owned(),
            ..Incoming::default()
        },
    );
    let sent = sent_to(&telegram, 7171, 2).await;
    assert_eq!(sent[0].text, "I'll remind you in a second.");
    assert_eq!(sent[1].text, "Time to drink water!");
    let reminder = stack.fake.requests()[2].body.to_string();
    assert!(reminder.contains("Remind me to drink water."), "{reminder}");
    let mut op = operator(&stack.gateway_url).await;
    eventually(
        "the reminder removed after it ran",
        Duration::from_secs(20),
        || async {
            let mut op = operator(&stack.gateway_url).await;
            jobs(&mut op).await.is_empty().then_some(())
        },
    )
    .await;
    assert_eq!(call(&mut op, "cron.status", json!({})).await["jobs"], 0);
}
