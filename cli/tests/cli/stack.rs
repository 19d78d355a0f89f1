//! `pincer` commands that talk to a running stack (the in-process test stack): pairing, sessions,
//! usage and `gateway status` through the gateway's control plane.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::process::{Command, Output};

use pincer_fake_provider::Knobs;
use pincer_system_tests::{Stack, TOKEN};
use serde_json::{Value, json};

fn pincer(stack: &Stack, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_pincer"))
        .args(args)
        .args(["--url", &stack.gateway_url])
        .current_dir(dir.path())
        .env("PINCER_GATEWAY_TOKEN", TOKEN)
        .env_remove("PINCER_GATEWAY_URL")
        .env_remove("PINCER_CONFIG")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_list_approve_and_reject_go_through_the_gateway() {
    let stack = Stack::start(Knobs::default()).await;
    let client = stack.nats_admin().await;
    let js = async_nats::jetstream::new(client);
    let bucket = pincer_bus::setup::pairing_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .unwrap();
    let pairing = pincer_store::pairing::Pairing::new(bucket.clone(), "telegram", "default");
    let (first, _) = pairing.request("501", Some("eve")).await.unwrap();
    let (second, _) = pairing.request("502", None).await.unwrap();
    let discord = pincer_store::pairing::Pairing::new(bucket, "discord", "default");
    let (third, _) = discord.request("4242", Some("dee")).await.unwrap();

    let listed = pincer(&stack, &["pairing", "list", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    let table = stdout(&pincer(&stack, &["pairing", "list"]));
    assert!(
        table.contains(&first.code) && table.contains("@eve"),
        "{table}"
    );

    let approved = pincer(&stack, &["pairing", "approve", &first.code.to_lowercase()]);
    assert!(approved.status.success(), "{approved:?}");
    assert!(stdout(&approved).contains("approved telegram sender 501"));
    assert!(pairing.is_approved("501").await.unwrap());
    let again = pincer(&stack, &["pairing", "approve", &first.code]);
    assert_eq!(again.status.code(), Some(65), "a code works once");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no pending pairing request"));

    assert!(
        pincer(&stack, &["pairing", "reject", &second.code])
            .status
            .success()
    );
    assert!(!pairing.is_approved("502").await.unwrap());

    // Naming the channel: a code of another channel is not found there.
    let wrong = pincer(&stack, &["pairing", "approve", "telegram", &third.code]);
    assert_eq!(wrong.status.code(), Some(65), "{wrong:?}");
    let right = pincer(&stack, &["pairing", "approve", "discord", &third.code]);
    assert!(right.status.success(), "{right:?}");
    assert!(stdout(&right).contains("approved discord sender 4242"));
    assert!(discord.is_approved("4242").await.unwrap());
    assert!(stdout(&pincer(&stack, &["pairing", "list"])).contains("no pending pairing requests"));

    // A wrong token is a permission error, an unreachable gateway "unavailable".
    let wrong = Command::new(env!("CARGO_BIN_EXE_pincer"))
        .args(["pairing", "list", "--url", &stack.gateway_url])
        .env("PINCER_GATEWAY_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(77), "{wrong:?}");
    let down = Command::new(env!("CARGO_BIN_EXE_pincer"))
        .args(["pairing", "list", "--url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(69), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_usage_and_gateway_status_show_the_stack() {
    let stack = Stack::start(Knobs::default()).await;
    let response = stack
        .chat(&json!({ "model": "pincer/default", "user": "cli", "messages": [{ "role": "user", "content": "hello cli" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let listed = pincer(&stack, &["sessions", "list", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let key = sessions["sessions"][0]["sessionKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(key, "agent:main:openai-user:cli");
    assert!(stdout(&pincer(&stack, &["sessions", "list"])).contains("agent:main:openai-user:cli"));
    let shown = stdout(&pincer(&stack, &["sessions", "show", &key]));
    assert!(
        shown.contains("hello cli") && shown.contains("assistant"),
        "{shown}"
    );
    let usage = pincer(&stack, &["usage", "--days", "7", "--json"]);
    let usage: Value = serde_json::from_slice(&usage.stdout).unwrap();
    assert_eq!(usage["total"]["turns"], 1);
    assert!(stdout(&pincer(&stack, &["usage"])).contains("ollama/fake-model"));
    assert!(
        pincer(&stack, &["sessions", "reset", &key])
            .status
            .success()
    );
    let shown = pincer(&stack, &["sessions", "show", &key, "--json"]);
    let history: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(history["messages"], json!([]));
    let missing = pincer(&stack, &["sessions", "show", "agent:main:nobody"]);
    assert_eq!(missing.status.code(), Some(65));
    let mistyped = pincer(&stack, &["sessions", "reset", "agent:main:nobody"]);
    assert_eq!(mistyped.status.code(), Some(65), "{mistyped:?}");
    let listed = pincer(&stack, &["sessions", "list", "--json"]);
    let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        sessions["sessions"].as_array().map(Vec::len),
        Some(1),
        "no session made under the typo: {sessions}"
    );

    let status = pincer(&stack, &["gateway", "status", "--json"]);
    assert!(status.status.success(), "{status:?}");
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["ready"]["ok"], true);
    assert_eq!(status["status"]["authMode"], "token");
    let human = stdout(&pincer(&stack, &["gateway", "status"]));
    assert!(
        human.contains("ready") && human.contains("agent-runner"),
        "{human}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_status_shows_each_accounts_connection_and_why_it_failed() {
    let discord = pincer_fake_discord::RunningDiscord::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    discord.add_bot("cli-discord-token").unwrap();
    let config = r#"{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: "ollama/fake-model", timeout: 30 } },
  channels: { discord: { token: "cli-discord-token", apiBaseUrl: "${DC_URL}" } },
}"#;
    let stack = Stack::start_with_env(
        config,
        Knobs::default(),
        vec![("DC_URL", discord.api_base_url())],
    )
    .await;
    let connected = pincer_test_support::eventually(
        "the discord account connected",
        std::time::Duration::from_secs(30),
        || async {
            let out = pincer(&stack, &["channels", "status", "--json"]);
            let status: Value = serde_json::from_slice(&out.stdout).ok()?;
            let account = status["channels"]
                .as_array()?
                .iter()
                .find(|c| c["channel"] == "discord")?
                .clone();
            (account["connection"]["state"] == "connected").then_some(account)
        },
    )
    .await;
    assert_eq!(connected["account"], "default");
    assert_eq!(connected["mode"], "gateway");
    assert!(
        stdout(&pincer(&stack, &["channels", "status"])).contains("connected as pincer-test-bot")
    );

    discord.revoke_token("cli-discord-token").unwrap();
    discord.close("cli-discord-token", 4000);
    let failed = pincer_test_support::eventually(
        "the account failed",
        std::time::Duration::from_secs(30),
        || async {
            let out = pincer(&stack, &["channels", "status"]);
            (out.status.code() == Some(69)).then_some(out)
        },
    )
    .await;
    let table = stdout(&failed);
    assert!(
        table.contains("failed") && table.contains("token"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_add_list_run_disable_and_remove_go_through_the_gateway() {
    let stack = Stack::start(Knobs::default()).await;
    let refused = pincer(
        &stack,
        &[
            "cron",
            "add",
            "--at",
            "+10m",
            "--message",
            "m",
            "--to",
            "telegram",
        ],
    );
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("CHANNEL:CHAT"));
    let unknown = pincer(
        &stack,
        &[
            "cron",
            "add",
            "--at",
            "+10m",
            "--message",
            "m",
            "--to",
            "telegram:42",
        ],
    );
    assert!(
        !unknown.status.success(),
        "no telegram account is configured"
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no telegram account"));

    let added = pincer(
        &stack,
        &[
            "cron",
            "add",
            "--at",
            "+10m",
            "--message",
            "stand up",
            "--name",
            "standup",
            "--json",
        ],
    );
    assert!(added.status.success(), "{added:?}");
    let job: Value = serde_json::from_slice(&added.stdout).unwrap();
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    let every = pincer(
        &stack,
        &[
            "cron",
            "add",
            "--cron",
            "0 7 * * 1-5",
            "--tz",
            "Europe/Berlin",
            "--message",
            "brief",
        ],
    );
    assert!(
        stdout(&every).contains("cron 0 7 * * 1-5 (Europe/Berlin)"),
        "{every:?}"
    );

    let table = stdout(&pincer(&stack, &["cron", "list"]));
    assert!(table.contains(&id) && table.contains("standup"), "{table}");
    let ran = pincer(&stack, &["cron", "run", &id]);
    assert!(stdout(&ran).contains("is running"), "{ran:?}");
    pincer_test_support::eventually(
        "the manual run answered",
        std::time::Duration::from_secs(20),
        || async {
            let listed = pincer(&stack, &["cron", "list", "--json"]);
            let jobs: Value = serde_json::from_slice(&listed.stdout).ok()?;
            jobs.as_array()?
                .iter()
                .any(|j| j["id"] == id.as_str() && j["state"]["lastStatus"] == "ok")
                .then_some(())
        },
    )
    .await;
    assert_eq!(stack.fake.requests().len(), 1);
    let disabled = pincer(&stack, &["cron", "disable", &id]);
    assert!(stdout(&disabled).contains("disabled"), "{disabled:?}");
    assert!(pincer(&stack, &["cron", "remove", &id]).status.success());
    let gone = pincer(&stack, &["cron", "remove", &id]);
    assert!(!gone.status.success());
    assert!(!stdout(&pincer(&stack, &["cron", "list"])).contains(&id));
}
