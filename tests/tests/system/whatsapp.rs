//! WhatsApp end to end: a fake Cloud API (Graph API sends with Meta's checks, signed webhook
//! notifications retried until accepted, statuses) ↔ the gateway's `/whatsapp-webhook` ↔
//! JetStream ↔ channel-bridge ↔ agent-runner ↔ router ↔ fake model. Verification, forged and
//! unsigned calls, pairing, allowlist, groups with mention gating, a long answer in chunks, two
//! numbers and a binding, Meta's retries and duplicates, the 24-hour window, media, and kill -9 of
//! the bridge and the gateway mid-delivery plus a restart of everything.

use std::time::Duration;

use pincer_fake_provider::{Knobs, ScriptStep};
use pincer_fake_whatsapp::{Incoming, NumberSpec, RunningWhatsApp, SentMessage};
use pincer_system_tests::Stack;
use pincer_test_support::eventually;

const NUMBER: &str = "106540352242922";
const WORK_NUMBER: &str = "209871134567890";
const TOKEN: &str = "EAAGm0PX4ZCpsBAMain0123456789";
const WORK_TOKEN: &str = "EAAGm0PX4ZCpsBAWork0123456789";
const APP_SECRET: &str = "6a1c3b0e5f7d9a2c4e6b8d0f1a3c5e7b";
const VERIFY_TOKEN: &str = "meta-verify-7f3a9c21";
const GROUP: &str = "Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjAzNjM0MDQ2OTQyMzM4MjA";
const PATIENCE: Duration = Duration::from_secs(30);

fn config(whatsapp: &str, extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}, {{ id: "work-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }}, list: [{{ id: "work", model: "ollama/work-model" }}] }},
  channels: {{ whatsapp: {{ phoneNumberId: "{NUMBER}", accessToken: "${{WHATSAPP_ACCESS_TOKEN}}",
    appSecret: "${{WHATSAPP_APP_SECRET}}", verifyToken: "${{WHATSAPP_VERIFY_TOKEN}}",
    apiBaseUrl: "${{WHATSAPP_URL}}", {whatsapp} }} }},
  {extra}
}}"#
    )
}

struct World {
    stack: Stack,
    whatsapp: RunningWhatsApp,
}

fn number(id: &str, display: &str, token: &str) -> NumberSpec {
    NumberSpec {
        phone_number_id: id.to_owned(),
        display_phone_number: display.to_owned(),
        verified_name: "Pincer".to_owned(),
        access_token: token.to_owned(),
        app_secret: APP_SECRET.to_owned(),
        webhook_url: None,
    }
}

async fn world(whatsapp_config: &str, extra: &str, knobs: Knobs) -> World {
    let whatsapp = RunningWhatsApp::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake whatsapp");
    whatsapp.add_number(number(NUMBER, "+1 555-078-3881", TOKEN));
    whatsapp.add_number(number(WORK_NUMBER, "+1 555-078-9999", WORK_TOKEN));
    whatsapp.add_group(NUMBER, GROUP, &["34600111222", "34600333444"]);
    let stack = Stack::start_with_env(
        &config(whatsapp_config, extra),
        knobs,
        vec![
            ("WHATSAPP_URL", whatsapp.api_base_url()),
            ("WHATSAPP_ACCESS_TOKEN", TOKEN.to_owned()),
            ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
            ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN.to_owned()),
        ],
    )
    .await;
    whatsapp.set_webhook(
        NUMBER,
        &format!("{}/whatsapp-webhook/default", stack.gateway_url),
    );
    let world = World { stack, whatsapp };
    world
        .stack
        .channel_health(
            "whatsapp",
            "default",
            pincer_store::channel_health::State::Connected,
        )
        .await;
    world
}

impl World {
    /// The business's messages to `to` once there are at least `count`.
    async fn answered(&self, to: &str, count: usize) -> Vec<SentMessage> {
        eventually(&format!("{count} answer(s) to {to}"), PATIENCE, || async {
            let sent: Vec<SentMessage> = self
                .whatsapp
                .sent()
                .into_iter()
                .filter(|m| m.to == to)
                .collect();
            (sent.len() >= count).then_some(sent)
        })
        .await
    }

    async fn says(&self, incoming: &Incoming) -> String {
        self.whatsapp
            .user_says(NUMBER, incoming)
            .await
            .expect("the gateway accepts the notification")
    }

    fn model_calls(&self) -> usize {
        self.stack.fake.requests().len()
    }
}

fn echo() -> Knobs {
    Knobs {
        echo: true,
        ..Knobs::default()
    }
}

/// The last line of each answer: what the echoing model was asked.
fn answers(sent: &[SentMessage]) -> Vec<String> {
    sent.iter()
        .map(|m| m.body.rsplit('\n').next().unwrap_or_default().to_owned())
        .collect()
}

fn open() -> &'static str {
    r#"dmPolicy: "open", allowFrom: ["*"]"#
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_and_unsigned_or_forged_calls_are_refused_with_nothing_accepted() {
    let world = world(open(), "", echo()).await;
    let url = format!("{}/whatsapp-webhook/default", world.stack.gateway_url);
    assert!(
        world
            .whatsapp
            .verify_webhook(&url, VERIFY_TOKEN)
            .await
            .expect("answer")
    );
    assert!(
        !world
            .whatsapp
            .verify_webhook(&url, "a-guess")
            .await
            .expect("answer")
    );
    let unknown = format!("{}/whatsapp-webhook/nobody", world.stack.gateway_url);
    assert!(
        !world
            .whatsapp
            .verify_webhook(&unknown, VERIFY_TOKEN)
            .await
            .expect("answer")
    );

    let (_, body) = world
        .whatsapp
        .message_notification(NUMBER, &Incoming::dm("15551230001", "forged"));
    let body = body.to_string().into_bytes();
    assert_eq!(world.whatsapp.post_raw(&url, &body, None).await, 401);
    let forged = pincer_fake_whatsapp::webhook::signature("not-the-app-secret", &body);
    assert_eq!(
        world.whatsapp.post_raw(&url, &body, Some(&forged)).await,
        401
    );
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let signed = pincer_fake_whatsapp::webhook::signature(APP_SECRET, &body);
    assert_eq!(
        world
            .whatsapp
            .post_raw(&url, &tampered, Some(&signed))
            .await,
        401
    );

    // More junk than the lockout allows (10 failures a minute by default) locks nobody out: a
    // signature cannot be guessed, and genuine notifications from the same address (a proxy)
    // and the operator's own calls still get through.
    for _ in 0..12 {
        assert_eq!(world.whatsapp.post_raw(&url, &body, None).await, 401);
    }

    // A real message afterwards is answered, and only it: nothing forged reached the agent.
    world.says(&Incoming::dm("15551230001", "real")).await;
    let sent = world.answered("15551230001", 1).await;
    assert_eq!(answers(&sent), ["real"]);
    assert_eq!(world.model_calls(), 1);
    let api = world
        .stack
        .chat(&serde_json::json!({"model": "pincer/default", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(api.status(), 200, "the operator is not locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sender_pairs_with_a_code_then_is_answered() {
    let world = world(r#"dmPolicy: "pairing""#, "", echo()).await;
    world.says(&Incoming::dm("15551230002", "hello?")).await;
    let sent = world.answered("15551230002", 1).await;
    let code = sent[0]
        .body
        .split_whitespace()
        .find(|w| {
            w.len() == 8
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .expect("a pairing code")
        .to_owned();
    assert!(
        sent[0].body.contains("pincer pairing approve whatsapp"),
        "{}",
        sent[0].body
    );
    assert_eq!(world.model_calls(), 0);
    let pairing = world.stack.pairing("whatsapp", "default").await;
    assert_eq!(
        pairing.approve(&code).await.expect("approve").sender_id,
        "+15551230002"
    );
    world.says(&Incoming::dm("15551230002", "now?")).await;
    let sent = world.answered("15551230002", 2).await;
    assert_eq!(answers(&sent[1..]), ["now?"]);
    assert_eq!(world.model_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_and_groups_with_mention_gating_decide_who_is_answered() {
    let whatsapp = format!(
        r#"dmPolicy: "allowlist", allowFrom: ["+1 555 123 0003"], groups: {{ "{GROUP}": {{ requireMention: true }} }}"#
    );
    let world = world(&whatsapp, "", echo()).await;
    world.says(&Incoming::dm("15551239999", "not listed")).await;
    world.says(&Incoming::dm("15551230003", "listed")).await;
    world
        .says(&Incoming::in_group(GROUP, "34600111222", "just chatting"))
        .await;
    world
        .says(&Incoming::in_group(
            GROUP,
            "34600111222",
            "@15550783881 what's on?",
        ))
        .await;
    let group = world.answered(GROUP, 1).await;
    assert_eq!(answers(&group), ["@15550783881 what's on?"]);
    assert_eq!(group[0].recipient_type, "group");
    assert!(
        group[0].reply_to.is_some(),
        "a group answer quotes its message"
    );
    let dm = world.answered("15551230003", 1).await;
    assert_eq!(answers(&dm), ["listed"]);
    assert!(world.whatsapp.sent().iter().all(|m| m.to != "15551239999"));
    assert_eq!(world.model_calls(), 2);
    assert!(
        world.whatsapp.receipts().iter().any(|r| r.typing),
        "the bot showed it was typing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_arrives_whole_in_chunks_within_the_limit() {
    let long: String = (1..=40)
        .map(|n| {
            format!(
                "**Part {n}.** {}",
                "The quick brown fox jumps over the lazy dog. ".repeat(6)
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    assert!(long.chars().count() > 10_000);
    let knobs = Knobs {
        script: vec![ScriptStep {
            text: long.clone(),
            tool: None,
        }],
        ..Knobs::default()
    };
    let world = world(open(), "", knobs).await;
    world
        .says(&Incoming::dm("15551230004", "write a lot"))
        .await;
    let expected = pincer_channel_bridge::chunk::split(&long, 4096).len();
    let sent = world.answered("15551230004", expected).await;
    assert_eq!(sent.len(), expected);
    assert!(
        sent[0].body.starts_with("*Part 1.*"),
        "{}",
        &sent[0].body[..20]
    );
    assert!(sent.iter().all(|m| m.body.chars().count() <= 4096));
    let words = |text: &str| {
        text.replace("**", "*")
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let joined = sent
        .iter()
        .map(|m| m.body.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(words(&joined), words(&long));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_numbers_answer_with_their_own_policy_and_a_binding_routes_one_to_its_agent() {
    let whatsapp = format!(
        r#"dmPolicy: "allowlist", allowFrom: ["+15551230005"],
           accounts: {{ work: {{ phoneNumberId: "{WORK_NUMBER}", accessToken: "{WORK_TOKEN}", allowFrom: ["+15551230006"] }} }}"#
    );
    let binding =
        r#"bindings: [{ agentId: "work", match: { channel: "whatsapp", accountId: "work" } }],"#;
    let world = world(
        &whatsapp,
        binding,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    world.whatsapp.set_webhook(
        WORK_NUMBER,
        &format!("{}/whatsapp-webhook/work", world.stack.gateway_url),
    );
    world
        .stack
        .channel_health(
            "whatsapp",
            "work",
            pincer_store::channel_health::State::Connected,
        )
        .await;
    world
        .whatsapp
        .user_says(WORK_NUMBER, &Incoming::dm("15551230006", "to work"))
        .await
        .expect("delivered");
    world
        .whatsapp
        .user_says(
            WORK_NUMBER,
            &Incoming::dm("15551230005", "not allowed on work"),
        )
        .await
        .expect("delivered");
    let work = world.answered("15551230006", 1).await;
    assert_eq!(work[0].from_number, WORK_NUMBER);
    let before = world.model_calls();
    assert_eq!(
        world.stack.fake.requests()[0].body["model"],
        "work-model",
        "the work number's agent answered"
    );
    world.says(&Incoming::dm("15551230005", "to default")).await;
    let default = world.answered("15551230005", 1).await;
    assert_eq!(default[0].from_number, NUMBER);
    assert_eq!(
        world.stack.fake.requests()[before].body["model"],
        "fake-model"
    );
    assert_eq!(
        world.model_calls(),
        2,
        "the unlisted sender was not answered on work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_and_duplicated_notifications_are_answered_once_and_statuses_are_recorded() {
    let world = world(open(), "", echo()).await;
    world
        .whatsapp
        .update_knobs(|knobs| knobs.duplicate_notifications = true);
    let (_, body) = world
        .whatsapp
        .message_notification(NUMBER, &Incoming::dm("15551230007", "once"));
    // Meta's retries of the same notification, after the first was accepted.
    for _ in 0..2 {
        pincer_fake_whatsapp::webhook::deliver(world.whatsapp.world(), NUMBER, &body)
            .await
            .expect("delivered");
    }
    let sent = world.answered("15551230007", 1).await;
    assert_eq!(answers(&sent), ["once"]);
    // The same message again inside another notification (another body, so another hash):
    // past JetStream's de-duplication, the bridge's own record of the message stops it.
    let mut rebatched = body.clone();
    rebatched["entry"][0]["changes"][0]["value"]["statuses"] = serde_json::json!([]);
    pincer_fake_whatsapp::webhook::deliver(world.whatsapp.world(), NUMBER, &rebatched)
        .await
        .expect("delivered");
    // The business's message gets its statuses; the bridge records the last one.
    let js = async_nats::jetstream::new(world.stack.nats_admin().await);
    let state = pincer_bus::setup::channel_state_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .expect("state bucket");
    let windows = pincer_channel_bridge::whatsapp::window::Windows::new(state, "default");
    let status = eventually("the read status recorded", PATIENCE, || async {
        windows
            .status(&sent[0].id)
            .await
            .filter(|s| s["status"] == "read")
    })
    .await;
    assert_eq!(status["recipient"], "15551230007");
    inbound_drained(&world.stack, "whatsapp", "default", 2).await;
    assert_eq!(world.model_calls(), 1, "ran once");
    assert_eq!(world.answered("15551230007", 1).await.len(), 1);
}

/// Waits until the bridge has handled and acked everything pushed for `account`.
async fn inbound_drained(stack: &Stack, channel: &str, account: &str, delivered: u64) {
    let stream = pincer_bus::Namespace::default().channel_inbound_stream();
    drained(
        stack,
        stream,
        &format!("channel-bridge-{channel}-{account}"),
        delivered,
    )
    .await;
}

/// Waits until consumer `name` of `stream` was handed at least `delivered` messages and has
/// nothing pending or unacked.
async fn drained(stack: &Stack, stream: String, name: &str, delivered: u64) {
    let js = async_nats::jetstream::new(stack.nats_admin().await);
    eventually(&format!("{name} drained"), PATIENCE, || async {
        let stream = js.get_stream(&stream).await.ok()?;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(name).await.ok()?;
        let info = consumer.info().await.ok()?;
        let done = info.num_pending == 0
            && info.num_ack_pending == 0
            && info.delivered.consumer_sequence >= delivered;
        done.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_older_than_the_24_hour_window_runs_no_turn_and_media_reaches_the_agent() {
    let world = world(open(), "", echo()).await;
    let day_ago = pincer_fake_whatsapp::now_secs() - 25 * 3600;
    world
        .says(&Incoming {
            sent_at: Some(day_ago),
            ..Incoming::dm("15551230008", "a message meta held for a day")
        })
        .await;
    // It could not be answered (WhatsApp allows only templates after 24 hours): handled, and no
    // turn ran for it.
    inbound_drained(&world.stack, "whatsapp", "default", 1).await;
    assert_eq!(world.model_calls(), 0);
    // A fresh message reopens the window: answered.
    world
        .says(&Incoming {
            media: Some((
                "image",
                "image/jpeg".into(),
                b"\xff\xd8\xff\xe0 fake jpeg".to_vec(),
                None,
            )),
            ..Incoming::dm("15551230008", "what is in this picture?")
        })
        .await;
    let sent = world.answered("15551230008", 1).await;
    assert_eq!(answers(&sent), ["what is in this picture?"]);
    let asked = world.stack.fake.requests()[0].body.to_string();
    assert!(asked.contains("sent a photo"), "{asked}");
    assert!(!asked.contains("a message meta held for a day"), "{asked}");
    assert_eq!(world.model_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bridge_and_the_gateway_mid_delivery_and_restarting_everything_lose_and_repeat_nothing()
 {
    let mut world = world(open(), "", echo()).await;
    world.says(&Incoming::dm("15551230009", "one")).await;
    world.answered("15551230009", 1).await;
    // "one" is marked sent (a kill between the send and its mark is the sender's claim's case,
    // which waits out the claim).
    drained(
        &world.stack,
        pincer_bus::Namespace::default().channel_outbound_stream(),
        "channel-bridge-whatsapp",
        1,
    )
    .await;
    world.stack.crash_channel_bridge().await;
    world.says(&Incoming::dm("15551230009", "two")).await;
    world.stack.crash_gateway().await;
    // Meta keeps retrying while the gateway is down.
    let whatsapp = &world.whatsapp;
    let (_, three) = whatsapp.message_notification(NUMBER, &Incoming::dm("15551230009", "three"));
    let retrying = {
        let fake = whatsapp.world().clone();
        tokio::spawn(
            async move { pincer_fake_whatsapp::webhook::deliver(&fake, NUMBER, &three).await },
        )
    };
    eventually(
        "a refused attempt while the gateway is down",
        PATIENCE,
        || async {
            world
                .whatsapp
                .deliveries()
                .iter()
                .any(|d| d.status == 0)
                .then_some(())
        },
    )
    .await;
    world.stack.start_gateway().await;
    retrying
        .await
        .expect("task")
        .expect("delivered once the gateway is back");
    world.stack.start_channel_bridge().await;
    world.answered("15551230009", 3).await;

    world.stack.restart_everything().await;
    world
        .stack
        .channel_health(
            "whatsapp",
            "default",
            pincer_store::channel_health::State::Connected,
        )
        .await;
    world.says(&Incoming::dm("15551230009", "four")).await;
    let sent = world.answered("15551230009", 4).await;
    let mut answered = answers(&sent);
    answered.sort();
    assert_eq!(answered, ["four", "one", "three", "two"], "{sent:?}");
    assert_eq!(world.model_calls(), 4, "nothing ran twice");
}
