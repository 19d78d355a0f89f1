//! iMessage end to end: a fake BlueBubbles server (REST API with its password, webhooks posted
//! once, a message database) ↔ the gateway's `/bluebubbles-webhook` ↔ JetStream ↔ channel-bridge
//! (and its catch-up query) ↔ agent-runner ↔ router ↔ fake model. Webhooks without the password,
//! pairing, allowlist, group chats with mention words and replies to the bot, a long answer in
//! chunks, two servers and a binding, missed webhooks, attachments and receipts, and kill -9 of the
//! bridge and the gateway plus a restart of everything.

use std::time::Duration;

use pincer_fake_bluebubbles::{Incoming, RunningBlueBubbles, SentText};
use pincer_fake_provider::{Knobs, ScriptStep};
use pincer_system_tests::Stack;
use pincer_test_support::eventually;

const PASSWORD: &str = "bb-server-password-2c9f";
const STUDIO_PASSWORD: &str = "bb-studio-password-71ad";
const GROUP: &str = "iMessage;+;chat493787021";
const PATIENCE: Duration = Duration::from_secs(30);

fn config(bluebubbles: &str, extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}, {{ id: "work-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }}, list: [{{ id: "work", model: "ollama/work-model" }}] }},
  channels: {{ bluebubbles: {{ serverUrl: "${{BLUEBUBBLES_URL}}", password: "${{BLUEBUBBLES_PASSWORD}}", {bluebubbles} }} }},
  {extra}
}}"#
    )
}

struct World {
    stack: Stack,
    mac: RunningBlueBubbles,
}

async fn world(
    bluebubbles: &str,
    extra: &str,
    knobs: Knobs,
    env: Vec<(&'static str, String)>,
) -> World {
    let mac = RunningBlueBubbles::start("127.0.0.1:0".parse().expect("addr"), PASSWORD)
        .await
        .expect("fake bluebubbles");
    let mut vars = vec![
        ("BLUEBUBBLES_URL", mac.server_url()),
        ("BLUEBUBBLES_PASSWORD", PASSWORD.to_owned()),
    ];
    vars.extend(env);
    let stack = Stack::start_with_env(&config(bluebubbles, extra), knobs, vars).await;
    mac.set_webhook(&format!(
        "{}/bluebubbles-webhook/default?password={PASSWORD}",
        stack.gateway_url
    ));
    stack
        .channel_health(
            "bluebubbles",
            "default",
            pincer_store::channel_health::State::Connected,
        )
        .await;
    World { stack, mac }
}

impl World {
    async fn answered(&self, mac: &RunningBlueBubbles, chat: &str, count: usize) -> Vec<SentText> {
        eventually(
            &format!("{count} answer(s) in {chat}"),
            PATIENCE,
            || async {
                let sent: Vec<SentText> =
                    mac.sent().into_iter().filter(|m| m.chat == chat).collect();
                (sent.len() >= count).then_some(sent)
            },
        )
        .await
    }

    async fn says(&self, incoming: &Incoming) -> String {
        let (guid, status) = self.mac.user_says(incoming).await;
        assert_eq!(status, 200, "the gateway takes the webhook");
        guid
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

fn answers(sent: &[SentText]) -> Vec<String> {
    sent.iter()
        .map(|m| m.text.rsplit('\n').next().unwrap_or_default().to_owned())
        .collect()
}

const OPEN: &str = r#"dmPolicy: "open", allowFrom: ["*"]"#;

fn dm_chat(from: &str) -> String {
    format!("iMessage;-;{from}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_without_the_password_are_refused_with_nothing_accepted() {
    let world = world(OPEN, "", echo(), Vec::new()).await;
    let base = format!("{}/bluebubbles-webhook/default", world.stack.gateway_url);
    let (_, real) = world
        .mac
        .world()
        .receive(&Incoming::dm("+15557770001", "real"));
    // A message the Mac does not have: one it has would also (rightly) reach the bridge through
    // its catch-up query, whatever happened to the forged webhook.
    let mut forged = real.clone();
    forged["guid"] = serde_json::json!("forged-0001");
    forged["text"] = serde_json::json!("forged");
    let body = serde_json::json!({"type": "new-message", "data": forged});
    let http = reqwest::Client::new();
    let post = |url: String| http.post(url).json(&body).send();
    assert_eq!(post(base.clone()).await.expect("answer").status(), 401);
    assert_eq!(
        post(format!("{base}?password=guess"))
            .await
            .expect("answer")
            .status(),
        401
    );
    let with_header = http
        .post(&base)
        .header("x-password", "guess")
        .json(&body)
        .send()
        .await
        .expect("answer");
    assert_eq!(with_header.status(), 401);
    let unknown = format!(
        "{}/bluebubbles-webhook/nobody?password={PASSWORD}",
        world.stack.gateway_url
    );
    assert_eq!(post(unknown).await.expect("answer").status(), 404);
    // The proxy header form is accepted like the URL's (the catch-up query may have brought the
    // message already: it is answered once either way).
    let accepted = http
        .post(&base)
        .header("x-bluebubbles-guid", PASSWORD)
        .json(&serde_json::json!({"type": "new-message", "data": real}))
        .send()
        .await
        .expect("answer");
    assert_eq!(accepted.status(), 200);
    let sent = world
        .answered(&world.mac, &dm_chat("+15557770001"), 1)
        .await;
    assert_eq!(answers(&sent), ["real"]);
    assert_eq!(world.model_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sender_pairs_with_a_code_then_is_answered() {
    let world = world(r#"dmPolicy: "pairing""#, "", echo(), Vec::new()).await;
    world.says(&Incoming::dm("ana@example.com", "hello?")).await;
    let chat = dm_chat("ana@example.com");
    let sent = world.answered(&world.mac, &chat, 1).await;
    let code = sent[0]
        .text
        .split_whitespace()
        .find(|w| {
            w.len() == 8
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .expect("a pairing code")
        .to_owned();
    assert!(
        sent[0].text.contains("pincer pairing approve bluebubbles"),
        "{}",
        sent[0].text
    );
    let pairing = world.stack.pairing("bluebubbles", "default").await;
    assert_eq!(
        pairing.approve(&code).await.expect("approve").sender_id,
        "ana@example.com"
    );
    world.says(&Incoming::dm("ana@example.com", "now?")).await;
    let sent = world.answered(&world.mac, &chat, 2).await;
    assert_eq!(answers(&sent[1..]), ["now?"]);
    assert_eq!(world.model_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_and_group_chats_with_mention_words_and_replies_decide_who_is_answered() {
    let bluebubbles = format!(
        r#"dmPolicy: "allowlist", allowFrom: ["+1 (555) 777-0002"], mentionPatterns: ["pincer"],
           groups: {{ "{GROUP}": {{ requireMention: true }} }}"#
    );
    let world = world(&bluebubbles, "", echo(), Vec::new()).await;
    world
        .says(&Incoming::dm("+15557770999", "not listed"))
        .await;
    world.says(&Incoming::dm("+15557770002", "listed")).await;
    world
        .says(&Incoming::in_group(GROUP, "+15557770003", "just chatting"))
        .await;
    world
        .says(&Incoming::in_group(
            GROUP,
            "+15557770003",
            "Pincer, what's for dinner?",
        ))
        .await;
    let group = world.answered(&world.mac, GROUP, 1).await;
    assert_eq!(answers(&group), ["Pincer, what's for dinner?"]);
    assert_eq!(group[0].method, "private-api");
    assert!(
        group[0].reply_to.is_some(),
        "the group answer replies inline"
    );
    // A reply to the bot's message addresses it without the word.
    world
        .says(&Incoming {
            reply_to: Some(group[0].guid.clone()),
            ..Incoming::in_group(GROUP, "+15557770003", "and dessert?")
        })
        .await;
    let group = world.answered(&world.mac, GROUP, 2).await;
    assert_eq!(answers(&group[1..]), ["and dessert?"]);
    let dm = world
        .answered(&world.mac, &dm_chat("+15557770002"), 1)
        .await;
    assert_eq!(answers(&dm), ["listed"]);
    assert!(
        world
            .mac
            .sent()
            .iter()
            .all(|m| m.chat != dm_chat("+15557770999"))
    );
    assert_eq!(world.model_calls(), 3);
    assert!(
        world.mac.typing_calls() > 0,
        "typing bubbles and read marks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_arrives_whole_in_chunks_and_attachments_reach_the_agent() {
    let long: String = (1..=30)
        .map(|n| {
            format!(
                "**Part {n}.** {}",
                "The quick brown fox jumps over the lazy dog. ".repeat(6)
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let knobs = Knobs {
        script: vec![ScriptStep {
            text: long.clone(),
            tool: None,
        }],
        ..Knobs::default()
    };
    let world = world(OPEN, "", knobs, Vec::new()).await;
    world
        .says(&Incoming {
            attachment: Some((
                "image/jpeg".into(),
                b"\xff\xd8\xff\xe0 jpeg".to_vec(),
                "IMG_0042.JPG".into(),
            )),
            ..Incoming::dm("+15557770004", "write a lot about this")
        })
        .await;
    let chat = dm_chat("+15557770004");
    let expected = pincer_channel_bridge::chunk::split(&long, 4000).len();
    let sent = world.answered(&world.mac, &chat, expected).await;
    assert!(sent.iter().all(|m| m.text.chars().count() <= 4000));
    assert!(
        sent[0].text.starts_with("Part 1."),
        "plain text: {}",
        &sent[0].text[..20]
    );
    let joined = sent
        .iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let words = |text: &str| {
        text.replace("**", "")
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(words(&joined), words(&long));
    let asked = world.stack.fake.requests()[0].body.to_string();
    assert!(asked.contains("sent a photo"), "{asked}");
    assert!(
        asked.contains("IMG_0042.JPG"),
        "the attachment kept its name: {asked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_answer_with_their_own_policy_and_a_binding_routes_one_to_its_agent() {
    let studio = RunningBlueBubbles::start("127.0.0.1:0".parse().expect("addr"), STUDIO_PASSWORD)
        .await
        .expect("second server");
    let bluebubbles = r#"dmPolicy: "allowlist", allowFrom: ["+15557770005"],
        accounts: { studio: { serverUrl: "${STUDIO_URL}", password: "${STUDIO_PASSWORD}", allowFrom: ["+15557770006"] } }"#;
    let binding = r#"bindings: [{ agentId: "work", match: { channel: "bluebubbles", accountId: "studio" } }],"#;
    let world = world(
        bluebubbles,
        binding,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
        vec![
            ("STUDIO_URL", studio.server_url()),
            ("STUDIO_PASSWORD", STUDIO_PASSWORD.to_owned()),
        ],
    )
    .await;
    studio.set_webhook(&format!(
        "{}/bluebubbles-webhook/studio?password={STUDIO_PASSWORD}",
        world.stack.gateway_url
    ));
    world
        .stack
        .channel_health(
            "bluebubbles",
            "studio",
            pincer_store::channel_health::State::Connected,
        )
        .await;
    assert_eq!(
        studio
            .user_says(&Incoming::dm("+15557770006", "to the studio"))
            .await
            .1,
        200
    );
    assert_eq!(
        studio
            .user_says(&Incoming::dm("+15557770005", "not allowed there"))
            .await
            .1,
        200
    );
    world.answered(&studio, &dm_chat("+15557770006"), 1).await;
    assert_eq!(world.stack.fake.requests()[0].body["model"], "work-model");
    world
        .says(&Incoming::dm("+15557770005", "to the main mac"))
        .await;
    world
        .answered(&world.mac, &dm_chat("+15557770005"), 1)
        .await;
    assert_eq!(world.stack.fake.requests()[1].body["model"], "fake-model");
    assert_eq!(world.model_calls(), 2);
    assert_eq!(
        studio.sent().len(),
        1,
        "+15557770005 is not allowed on the studio server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_webhooks_killed_services_and_a_restart_lose_and_repeat_nothing() {
    let mut world = world(OPEN, "", echo(), Vec::new()).await;
    let chat = dm_chat("+15557770007");
    world.says(&Incoming::dm("+15557770007", "one")).await;
    world.answered(&world.mac, &chat, 1).await;
    // BlueBubbles lost its webhook: the catch-up query finds the message.
    world.mac.update_knobs(|knobs| knobs.webhook_down = true);
    assert_eq!(
        world
            .mac
            .user_says(&Incoming::dm("+15557770007", "two"))
            .await
            .1,
        0
    );
    world.answered(&world.mac, &chat, 2).await;
    world.mac.update_knobs(|knobs| knobs.webhook_down = false);
    // The gateway dies: the post fails, and the catch-up still finds the message.
    world.stack.crash_gateway().await;
    assert_eq!(
        world
            .mac
            .user_says(&Incoming::dm("+15557770007", "three"))
            .await
            .1,
        0
    );
    world.stack.crash_channel_bridge().await;
    world.stack.start_gateway().await;
    world.says(&Incoming::dm("+15557770007", "four")).await;
    world.stack.start_channel_bridge().await;
    world.answered(&world.mac, &chat, 4).await;
    world.stack.restart_everything().await;
    world
        .stack
        .channel_health(
            "bluebubbles",
            "default",
            pincer_store::channel_health::State::Connected,
        )
        .await;
    world.says(&Incoming::dm("+15557770007", "five")).await;
    let sent = world.answered(&world.mac, &chat, 5).await;
    let mut answered = answers(&sent);
    answered.sort();
    assert_eq!(
        answered,
        ["five", "four", "one", "three", "two"],
        "{sent:?}"
    );
    assert_eq!(world.model_calls(), 5, "nothing ran twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tapbacks_are_not_answered_and_a_page_of_them_does_not_stall_the_catch_up() {
    let world = world(OPEN, "", echo(), Vec::new()).await;
    let from = "+15557770008";
    let chat = dm_chat(from);
    let first = world.says(&Incoming::dm(from, "first")).await;
    world.answered(&world.mac, &chat, 1).await;
    // BlueBubbles names a tapback's kind as a string: "love", or its code when it has no name.
    world.says(&Incoming::tapback(from, "love", &first)).await;
    world.says(&Incoming::tapback(from, "2006", &first)).await;
    world.says(&Incoming::dm(from, "second")).await;
    world.answered(&world.mac, &chat, 2).await;
    // With the webhook lost, more tapbacks than one catch-up page holds come before a message:
    // the query has to read past them to find it.
    world.mac.update_knobs(|knobs| knobs.webhook_down = true);
    for _ in 0..101 {
        world
            .mac
            .user_says(&Incoming::tapback(from, "-love", &first))
            .await;
    }
    world.mac.user_says(&Incoming::dm(from, "third")).await;
    let sent = world.answered(&world.mac, &chat, 3).await;
    assert_eq!(answers(&sent), ["first", "second", "third"], "{sent:?}");
    assert_eq!(world.model_calls(), 3, "no tapback reached the model");
}
