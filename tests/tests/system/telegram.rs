//! Telegram end to end: the fake Bot API ↔ channel-bridge ↔ JetStream ↔ agent-runner ↔ router ↔
//! fake model. Pairing, allowlist, group mention gating, long replies split and rendered, the plain
//! text fallback, 429s, and a restart of NATS and every service mid-conversation with each message
//! answered exactly once.

use std::time::Duration;

use pincer_fake_provider::{Knobs, ScriptStep};
use pincer_fake_telegram::{Incoming, RunningTelegram, Sent};
use pincer_system_tests::Stack;

const TOKEN: &str = "123456:test-token";

fn config(telegram: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }} }},
  channels: {{ telegram: {{ botToken: "{TOKEN}", apiRoot: "${{TG_URL}}", {telegram} }} }},
}}"#
    )
}

async fn stack(telegram_config: &str, knobs: Knobs) -> (Stack, RunningTelegram) {
    stack_with(&config(telegram_config), knobs).await
}

async fn stack_with(config_text: &str, knobs: Knobs) -> (Stack, RunningTelegram) {
    let telegram = RunningTelegram::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake telegram");
    let stack =
        Stack::start_with_env(config_text, knobs, vec![("TG_URL", telegram.api_root())]).await;
    (stack, telegram)
}

/// A stack whose bot answers anyone (`dmPolicy: "open"`).
async fn open_stack(knobs: Knobs) -> (Stack, RunningTelegram) {
    stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, knobs).await
}

fn dm(from: i64, username: &str, text: &str) -> Incoming {
    Incoming {
        from_id: from,
        username: Some(username.to_owned()),
        text: text.to_owned(),
        ..Incoming::default()
    }
}

fn in_group(from: i64, text: &str) -> Incoming {
    Incoming {
        chat_id: Some(-100_777),
        from_id: from,
        username: Some("sam".to_owned()),
        text: text.to_owned(),
        ..Incoming::default()
    }
}

/// Waits until the bot has sent at least `count` messages to `chat`; returns them.
async fn sent_to(telegram: &RunningTelegram, chat: i64, count: usize) -> Vec<Sent> {
    pincer_test_support::eventually(
        &format!("{count} message(s) sent to chat {chat}"),
        Duration::from_secs(20),
        || async {
            let sent: Vec<Sent> = telegram
                .sent(TOKEN)
                .into_iter()
                .filter(|s| s.chat_id == chat)
                .collect();
            (sent.len() >= count).then_some(sent)
        },
    )
    .await
}

fn model_calls(stack: &Stack) -> usize {
    stack.fake.requests().len()
}

async fn pairing(stack: &Stack) -> pincer_store::pairing::Pairing {
    let client = stack.nats_admin().await;
    let js = async_nats::jetstream::new(client);
    let bucket = pincer_bus::setup::pairing_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .expect("pairing bucket");
    pincer_store::pairing::Pairing::new(bucket, "telegram", "default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sender_pairs_with_a_single_use_code_then_is_answered() {
    let (stack, telegram) = stack(
        r#"dmPolicy: "pairing""#,
        Knobs {
            tokens: 2,
            ..Knobs::default()
        },
    )
    .await;
    telegram.user_says(TOKEN, &dm(501, "eve", "hello?"));
    let sent = sent_to(&telegram, 501, 1).await;
    let code = sent[0]
        .text
        .split_whitespace()
        .find(|w| {
            w.len() == 8
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .expect("a pairing code in the reply")
        .to_owned();
    assert_eq!(
        model_calls(&stack),
        0,
        "nothing reaches the agent before approval"
    );

    // Writing again before approval neither makes a new code nor sends the code again.
    telegram.user_says(TOKEN, &dm(501, "eve", "anyone?"));
    let pairing = pairing(&stack).await;
    pincer_test_support::eventually(
        "the second message to be handled",
        Duration::from_secs(10),
        || async { (telegram.counters(TOKEN).0 == 0).then_some(()) },
    )
    .await;
    assert_eq!(pairing.pending().await.expect("pending").len(), 1);
    assert_eq!(
        telegram.sent(TOKEN).len(),
        1,
        "one code reply, not one per message"
    );
    let approved = pairing.approve(&code).await.expect("approve");
    assert_eq!(approved.sender_id, "501");
    assert!(pairing.approve(&code).await.is_err(), "a code works once");

    telegram.user_says(TOKEN, &dm(501, "eve", "now?"));
    let sent = sent_to(&telegram, 501, 2).await;
    assert_eq!(sent[1].text, "alpha bravo");
    let asked = stack.fake.requests().pop().expect("model call").body;
    let input = asked["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("user message");
    assert!(
        input["content"]
            .as_str()
            .expect("text")
            .contains("[Telegram DM from Test (@eve, id 501)]\nnow?")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_answers_listed_senders_and_ignores_the_rest() {
    let (stack, telegram) = stack(
        r#"dmPolicy: "allowlist", allowFrom: [601, "@Bob"]"#,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    telegram.user_says(TOKEN, &dm(666, "mallory", "let me in"));
    telegram.user_says(TOKEN, &dm(601, "al", "hi"));
    telegram.user_says(TOKEN, &dm(602, "bob", "hi too"));
    assert_eq!(sent_to(&telegram, 601, 1).await[0].text, "alpha");
    assert_eq!(sent_to(&telegram, 602, 1).await[0].text, "alpha");
    assert!(telegram.sent(TOKEN).iter().all(|s| s.chat_id != 666));
    assert_eq!(model_calls(&stack), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_answer_only_when_the_bot_is_addressed() {
    let (stack, telegram) = stack(
        r#"groups: { "-100777": {} }"#,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    telegram.user_says(TOKEN, &in_group(701, "just chatting"));
    telegram.user_says(
        TOKEN,
        &in_group(701, "@pincer_test_123456_bot what time is it?"),
    );
    let sent = sent_to(&telegram, -100_777, 1).await;
    assert_eq!(sent[0].text, "alpha");
    assert!(
        sent[0].reply_to.is_some(),
        "group answers reply to the message"
    );
    // A reply to the bot's message counts as addressing it.
    let mut reply = in_group(701, "and tomorrow?");
    reply.reply_to_message_id = Some(sent[0].message_id);
    telegram.user_says(TOKEN, &reply);
    sent_to(&telegram, -100_777, 2).await;
    assert_eq!(
        model_calls(&stack),
        2,
        "the unaddressed message never reached the agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_replies_are_split_rendered_and_fall_back_to_plain_text() {
    let paragraph = |n: usize| {
        format!(
            "**Part {n}.** {}",
            "Lorem ipsum dolor sit amet, consectetur. ".repeat(40)
        )
    };
    let long = (1..=6).map(paragraph).collect::<Vec<_>>().join("\n\n");
    let (_stack, telegram) = open_stack(Knobs {
        script: vec![
            ScriptStep {
                text: long.clone(),
                tool: None,
            },
            ScriptStep {
                text: "Plain *fallback* please".into(),
                tool: None,
            },
        ],
        ..Knobs::default()
    })
    .await;
    telegram.user_says(TOKEN, &dm(801, "cy", "write a lot"));
    let expected =
        pincer_channel_bridge::chunk::split(&long, pincer_channel_bridge::chunk::TELEGRAM_CHUNK)
            .len();
    assert!(
        expected >= 3,
        "the reply is long enough to be split: {expected}"
    );
    let sent = sent_to(&telegram, 801, expected).await;
    assert_eq!(sent.len(), expected);
    for chunk in &sent {
        assert!(chunk.text.encode_utf16().count() <= 4096);
        assert_eq!(chunk.parse_mode.as_deref(), Some("HTML"));
    }
    assert!(
        sent[0].text.starts_with("<b>Part 1.</b>"),
        "{}",
        &sent[0].text[..40]
    );
    let joined: String = sent
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    assert_eq!(
        joined.matches("<b>Part").count(),
        6,
        "every paragraph arrived once"
    );

    telegram.set_knobs(
        TOKEN,
        pincer_fake_telegram::Knobs {
            reject_html: true,
            ..Default::default()
        },
    );
    telegram.user_says(TOKEN, &dm(801, "cy", "again"));
    let sent = sent_to(&telegram, 801, sent.len() + 1).await;
    let last = sent.last().expect("fallback");
    assert_eq!(last.parse_mode, None);
    assert_eq!(
        last.text, "Plain fallback please",
        "plain text, without the Markdown marks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_and_nothing_is_sent_twice() {
    let (_stack, telegram) = open_stack(Knobs {
        tokens: 3,
        ..Knobs::default()
    })
    .await;
    telegram.set_knobs(
        TOKEN,
        pincer_fake_telegram::Knobs {
            rate_limit_next: 2,
            retry_after: 1,
            ..Default::default()
        },
    );
    telegram.user_says(TOKEN, &dm(901, "dee", "hi"));
    let sent = sent_to(&telegram, 901, 1).await;
    assert_eq!(sent[0].text, "alpha bravo charlie");
    assert_eq!(
        telegram.rejected_sends(TOKEN),
        2,
        "both 429s were met and waited out"
    );
    telegram.user_says(TOKEN, &dm(901, "dee", "again"));
    let sent = sent_to(&telegram, 901, 2).await;
    assert_eq!(
        sent.len(),
        2,
        "the first reply was not sent again: {sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_nats_and_every_service_loses_and_repeats_nothing() {
    let (mut stack, telegram) = open_stack(Knobs {
        echo: true,
        ..Knobs::default()
    })
    .await;
    telegram.user_says(TOKEN, &dm(1001, "fay", "one"));
    sent_to(&telegram, 1001, 1).await;
    // Messages arrive while everything is down.
    stack.stop_services().await;
    telegram.user_says(TOKEN, &dm(1001, "fay", "two"));
    telegram.user_says(TOKEN, &dm(1001, "fay", "three"));
    stack.nats.restart();
    stack.start_services().await;
    telegram.user_says(TOKEN, &dm(1001, "fay", "four"));
    sent_to(&telegram, 1001, 4).await;
    telegram.user_says(TOKEN, &dm(1001, "fay", "five"));
    let sent = sent_to(&telegram, 1001, 5).await;
    let answered: Vec<&str> = sent
        .iter()
        .map(|s| s.text.rsplit('\n').next().unwrap_or_default())
        .collect();
    // Replies to one chat go out in order, so a duplicate of an earlier answer would show up
    // before the answer to "five" and break this list.
    assert_eq!(
        answered,
        ["one", "two", "three", "four", "five"],
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_bot_accounts_each_answer_with_their_own_policy() {
    const WORK: &str = "777:work-token";
    let (stack, telegram) = stack(
        r#"dmPolicy: "allowlist", allowFrom: [1101],
           accounts: { work: { botToken: "777:work-token", allowFrom: [1102] } }"#,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    telegram.user_says(TOKEN, &dm(1102, "wes", "to the default bot"));
    telegram.user_says(WORK, &dm(1102, "wes", "to the work bot"));
    telegram.user_says(WORK, &dm(1101, "al", "not allowed here"));
    pincer_test_support::eventually(
        "the work bot to answer",
        Duration::from_secs(20),
        || async {
            let sent = telegram.sent(WORK);
            (sent.len() == 1).then_some(sent)
        },
    )
    .await;
    assert_eq!(telegram.sent(WORK)[0].chat_id, 1102);
    // The default bot handles its updates in order: once 1101's later message is answered,
    // 1102's earlier one was decided (ignored).
    telegram.user_says(TOKEN, &dm(1101, "al", "to the default bot"));
    let sent = sent_to(&telegram, 1101, 1).await;
    assert_eq!(
        telegram.sent(TOKEN).len(),
        1,
        "1102 is not allowed on the default bot: {sent:?}"
    );
    assert_eq!(model_calls(&stack), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_takes_updates_through_the_gateway_with_the_secret() {
    let telegram = RunningTelegram::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake telegram");
    let stack = Stack::start_with_env(
        &config(
            r#"dmPolicy: "open", allowFrom: ["*"],
               webhookUrl: "https://bot.example.org/telegram-webhook/default", webhookSecret: "${TG_SECRET}""#,
        ),
        Knobs { tokens: 2, ..Knobs::default() },
        vec![("TG_URL", telegram.api_root()), ("TG_SECRET", "s3cret-token_1".to_owned())],
    )
    .await;
    pincer_test_support::eventually(
        "the bridge to register the webhook",
        Duration::from_secs(20),
        || async { telegram.webhook(TOKEN) },
    )
    .await;
    let webhook = telegram.webhook(TOKEN).expect("webhook");
    assert_eq!(webhook.secret_token.as_deref(), Some("s3cret-token_1"));

    // A caller without the secret is refused and nothing runs.
    let endpoint = format!("{}/telegram-webhook/default", stack.gateway_url);
    let forged = reqwest::Client::new()
        .post(&endpoint)
        .header("X-Telegram-Bot-Api-Secret-Token", "guess")
        .body(r#"{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": false, "first_name": "X"}, "text": "hi"}}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 401);

    telegram.route_webhook_to(TOKEN, &endpoint);
    telegram.user_says(TOKEN, &dm(1201, "gil", "via webhook"));
    let sent = sent_to(&telegram, 1201, 1).await;
    assert_eq!(sent[0].text, "alpha bravo");
    assert_eq!(telegram.webhook_deliveries(TOKEN), 1);
    assert_eq!(model_calls(&stack), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_route_a_group_to_its_own_agent() {
    let telegram = RunningTelegram::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake telegram");
    let config = format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}, {{ id: "family-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }}, list: [{{ id: "family", model: "ollama/family-model" }}] }},
  bindings: [{{ agentId: "family", match: {{ channel: "telegram", peer: {{ kind: "group", id: "-100777" }} }} }}],
  channels: {{ telegram: {{ botToken: "{TOKEN}", apiRoot: "${{TG_URL}}", dmPolicy: "open", allowFrom: ["*"], groups: {{ "-100777": {{}} }} }} }},
}}"#
    );
    let stack = Stack::start_with_env(
        &config,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
        vec![("TG_URL", telegram.api_root())],
    )
    .await;
    telegram.user_says(
        TOKEN,
        &in_group(1301, "@pincer_test_123456_bot family question"),
    );
    sent_to(&telegram, -100_777, 1).await;
    telegram.user_says(TOKEN, &dm(1301, "sam", "private question"));
    sent_to(&telegram, 1301, 1).await;
    let models: Vec<String> = stack
        .fake
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(models, ["family-model", "fake-model"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_webhook_stops_polling_with_a_409_and_polling_resumes_after_it() {
    let (_stack, telegram) = open_stack(Knobs {
        tokens: 1,
        ..Knobs::default()
    })
    .await;
    telegram.user_says(TOKEN, &dm(1401, "hal", "first"));
    sent_to(&telegram, 1401, 1).await;

    // Another instance sets a webhook on the same bot (a loopback URL nobody answers).
    let api = format!("{}/bot{TOKEN}", telegram.api_root());
    let http = reqwest::Client::new();
    let set = http
        .post(format!("{api}/setWebhook"))
        .json(&serde_json::json!({ "url": "http://127.0.0.1:9/elsewhere" }))
        .send()
        .await
        .expect("setWebhook");
    assert!(set.status().is_success());
    telegram.user_says(TOKEN, &dm(1401, "hal", "second"));
    pincer_test_support::eventually(
        "the bridge's poll to meet a 409",
        Duration::from_secs(30),
        || async { (telegram.counters(TOKEN).2 > 0).then_some(()) },
    )
    .await;
    assert_eq!(
        telegram.sent(TOKEN).len(),
        1,
        "nothing is answered while the webhook owns the bot"
    );

    let deleted = http
        .post(format!("{api}/deleteWebhook"))
        .send()
        .await
        .expect("deleteWebhook");
    assert!(deleted.status().is_success());
    let sent = sent_to(&telegram, 1401, 2).await;
    assert_eq!(sent.len(), 2, "the held update is answered once: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_commands_work_from_telegram() {
    let (_stack, telegram) = open_stack(Knobs {
        tokens: 1,
        ..Knobs::default()
    })
    .await;
    telegram.user_says(TOKEN, &dm(1501, "ivy", "hello"));
    sent_to(&telegram, 1501, 1).await;
    telegram.user_says(TOKEN, &dm(1501, "ivy", "/status"));
    let sent = sent_to(&telegram, 1501, 2).await;
    assert!(
        sent[1].text.contains("Messages in session: 2"),
        "{}",
        sent[1].text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_reach_the_agent_workspace_and_oversized_ones_are_refused() {
    let (stack, telegram) = stack(
        r#"dmPolicy: "open", allowFrom: ["*"], mediaMaxMb: 1"#,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    let photo = Incoming {
        photo_bytes: Some(50_000),
        text: "what is in this picture?".to_owned(),
        ..dm(1601, "joy", "")
    };
    telegram.user_says(TOKEN, &photo);
    sent_to(&telegram, 1601, 1).await;
    let asked = stack.fake.requests().pop().expect("model call").body;
    let input = asked["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .expect("user text")
        .to_owned();
    let saved = input
        .split_whitespace()
        .find(|w| w.starts_with("inbox/"))
        .expect("the message says where the photo was saved");
    let file = stack.workspace.path().join("workspace").join(saved);
    let bytes = std::fs::read(&file).expect("the photo is in the workspace");
    assert_eq!(bytes.len(), 50_000);
    assert!(
        bytes == pincer_fake_telegram::photo_content(50_000),
        "the bytes Telegram served"
    );
    assert!(input.contains("what is in this picture?"), "{input}");
    let last = asked["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("last");
    assert!(
        last.get("images").is_none() && input.contains("does not read images"),
        "fake-model's entry has no image input, so it is told instead: {last}"
    );

    let huge = Incoming {
        photo_bytes: Some(5 * 1024 * 1024),
        ..dm(1601, "joy", "")
    };
    telegram.user_says(TOKEN, &huge);
    let sent = sent_to(&telegram, 1601, 2).await;
    assert!(sent[1].text.contains("too large"), "{}", sent[1].text);
    assert_eq!(
        stack.fake.requests().len(),
        1,
        "the oversized photo never reached the agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_is_shown_to_a_model_that_reads_images() {
    let vision = config(r#"dmPolicy: "open", allowFrom: ["*"]"#).replace(
        r#"{ id: "fake-model" }"#,
        r#"{ id: "fake-model", input: ["text", "image"] }"#,
    );
    let (stack, telegram) = stack_with(
        &vision,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    let photo = Incoming {
        photo_bytes: Some(3_000),
        text: "what is this?".to_owned(),
        ..dm(1602, "kim", "")
    };
    telegram.user_says(TOKEN, &photo);
    sent_to(&telegram, 1602, 1).await;
    let asked = stack.fake.requests().pop().expect("model call").body;
    let last = asked["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("last");
    let images = last["images"].as_array().expect("Ollama's images field");
    assert_eq!(images.len(), 1);
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(images[0].as_str().expect("base64"))
        .expect("decodes");
    assert_eq!(bytes.len(), 3_000);
    assert!(bytes == pincer_fake_telegram::photo_content(3_000));

    // The next turn does not send the picture again; the history names the file.
    telegram.user_says(TOKEN, &dm(1602, "kim", "and now?"));
    sent_to(&telegram, 1602, 2).await;
    let next = stack.fake.requests().pop().expect("model call").body;
    assert!(
        next["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m.get("images").is_none()),
        "{next}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_preview_is_edited_into_the_one_final_answer() {
    let (_stack, telegram) = stack(
        r#"dmPolicy: "open", allowFrom: ["*"], streaming: true"#,
        Knobs {
            tokens: 40,
            chunk_delay_ms: 100,
            ..Knobs::default()
        },
    )
    .await;
    telegram.user_says(TOKEN, &dm(1701, "kim", "tell me a story"));
    // The preview shows up while the model is still writing.
    let preview = sent_to(&telegram, 1701, 1).await;
    assert!(preview[0].text.ends_with('…'), "{}", preview[0].text);
    let final_text = pincer_fake_provider::WORDS
        .iter()
        .cycle()
        .take(40)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let done = pincer_test_support::eventually(
        "the preview to become the answer",
        Duration::from_secs(30),
        || async {
            let sent: Vec<Sent> = telegram
                .sent(TOKEN)
                .into_iter()
                .filter(|s| s.chat_id == 1701)
                .collect();
            (sent.len() == 1 && sent[0].text == final_text).then_some(sent)
        },
    )
    .await;
    assert!(
        done[0].edits >= 2,
        "edited while streaming and once at the end: {}",
        done[0].edits
    );
    // Another turn in the same chat still gets exactly one more message.
    telegram.user_says(TOKEN, &dm(1701, "kim", "again"));
    pincer_test_support::eventually("the second answer", Duration::from_secs(30), || async {
        let sent: Vec<Sent> = telegram
            .sent(TOKEN)
            .into_iter()
            .filter(|s| s.chat_id == 1701)
            .collect();
        (sent.len() == 2 && sent[1].text == final_text).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bridge_loses_and_repeats_nothing_after_it_comes_back() {
    let (mut stack, telegram) = open_stack(Knobs {
        echo: true,
        ..Knobs::default()
    })
    .await;
    telegram.user_says(TOKEN, &dm(1801, "lou", "one"));
    sent_to(&telegram, 1801, 1).await;
    // Killed while an update is in flight, and more arrive while it is gone.
    telegram.user_says(TOKEN, &dm(1801, "lou", "two"));
    stack.crash_channel_bridge().await;
    telegram.user_says(TOKEN, &dm(1801, "lou", "three"));
    stack.start_channel_bridge().await;
    telegram.user_says(TOKEN, &dm(1801, "lou", "four"));
    let sent = sent_to(&telegram, 1801, 4).await;
    let answered: Vec<&str> = sent
        .iter()
        .map(|s| s.text.rsplit('\n').next().unwrap_or_default())
        .collect();
    assert_eq!(answered, ["one", "two", "three", "four"], "{sent:?}");
}

/// A hook run with `channel` and `to` sends its answer to that chat, as OpenClaw's hooks do; an
/// unconfigured target is refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_delivers_its_answer_to_a_telegram_chat() {
    let telegram = RunningTelegram::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake telegram");
    let config = config(r#"dmPolicy: "open", allowFrom: ["*"]"#).replacen(
        "\n}",
        "\n  hooks: { enabled: true, token: \"hook-token-for-delivery-7f3a\" },\n}",
        1,
    );
    let stack = Stack::start_with_env(
        &config,
        Knobs {
            echo: true,
            ..Knobs::default()
        },
        vec![("TG_URL", telegram.api_root())],
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/hooks/agent", stack.gateway_url);
    let post = |body: serde_json::Value| {
        http.post(&url)
            .bearer_auth("hook-token-for-delivery-7f3a")
            .json(&body)
            .send()
    };
    let refused = post(serde_json::json!({"message": "x", "channel": "slack", "to": "C1"}))
        .await
        .expect("answers");
    assert_eq!(refused.status(), 400);
    let accepted = post(serde_json::json!({
        "message": "the nightly backup finished", "name": "backup",
        "deliver": true, "channel": "telegram", "to": "4242"
    }))
    .await
    .expect("answers");
    assert_eq!(accepted.status(), 200);
    let sent = sent_to(&telegram, 4242, 1).await;
    assert!(
        sent[0].text.ends_with("the nightly backup finished"),
        "{}",
        sent[0].text
    );
    assert_eq!(model_calls(&stack), 1, "the refused hook ran nothing");
}

/// A forum supergroup's topics: each is a conversation of its own, answered in its topic (the
/// answer, and its typing indicator, carry the topic's `message_thread_id`); the General topic
/// has none. An edited message is not answered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forum_topics_are_answered_in_their_topic_each_with_its_own_session() {
    let (stack, telegram) = stack(
        r#"groups: { "-100777": { requireMention: false } }"#,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    let in_topic = |topic: Option<i64>, text: &str| Incoming {
        topic,
        ..in_group(701, text)
    };
    telegram.user_says(TOKEN, &in_topic(Some(11), "planning the trip"));
    let sent = sent_to(&telegram, -100_777, 1).await;
    assert_eq!(sent[0].topic, Some(11), "{sent:?}");
    telegram.user_says(TOKEN, &in_topic(Some(22), "the budget"));
    telegram.user_says(TOKEN, &in_topic(None, "hello everyone"));
    let sent = sent_to(&telegram, -100_777, 3).await;
    let mut topics: Vec<Option<i64>> = sent.iter().map(|s| s.topic).collect();
    topics.sort_unstable();
    assert_eq!(topics, [None, Some(11), Some(22)], "{sent:?}");
    // Topic 22's conversation knows nothing of topic 11's.
    let asked: Vec<String> = stack
        .fake
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .filter(|body| body.contains("the budget"))
        .collect();
    assert_eq!(asked.len(), 1);
    assert!(!asked[0].contains("planning the trip"), "{}", asked[0]);
    assert_eq!(model_calls(&stack), 3);
}
