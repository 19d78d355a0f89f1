//! Slack end to end: a fake Slack (Web API, Socket Mode and signed Events API calls, from Slack's
//! docs) ↔ channel-bridge (and the gateway for HTTP mode) ↔ JetStream ↔ agent-runner ↔ router ↔
//! fake model. Pairing, allowlist, mention gating in channels, threads, the placeholder that
//! becomes the answer, a long answer in chunks, two apps and a binding, the socket refresh with no
//! gap, a dropped socket, a killed bridge, a restart of NATS, a revoked token.

use std::time::Duration;

use pincer_fake_provider::{Knobs, ScriptStep};
use pincer_fake_slack::{AppIdentity, ChannelKind, Incoming, PostedMessage, RunningSlack};
use pincer_system_tests::Stack;
use pincer_test_support::eventually;

const APP: &str = "xapp-1-A0TEST-111-appsecret";
const BOT: &str = "xoxb-111-222-botsecret";
const WORK_APP: &str = "xapp-1-A0WORK-333-worksecret";
const WORK_BOT: &str = "xoxb-333-444-worksecret";
const GENERAL: &str = "C0GENERAL1";
const RANDOM: &str = "C0RANDOM01";
const SIGNING_SECRET: &str = "slack-signing-secret-0123456789abcdef";
const PATIENCE: Duration = Duration::from_secs(30);

fn config(slack: &str, extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}, {{ id: "work-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }}, list: [{{ id: "work", model: "ollama/work-model" }}] }},
  channels: {{ slack: {{ botToken: "{BOT}", appToken: "{APP}", apiBaseUrl: "${{SLACK_URL}}", {slack} }} }},
  {extra}
}}"#
    )
}

struct World {
    stack: Stack,
    slack: RunningSlack,
    app: AppIdentity,
}

async fn world(slack_config: &str, extra: &str, knobs: Knobs) -> World {
    let slack = RunningSlack::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake slack");
    let app = slack.add_app(APP, BOT).expect("app");
    slack.add_app(WORK_APP, WORK_BOT).expect("work app");
    slack.add_channel(GENERAL, ChannelKind::Channel, "general");
    slack.add_channel(RANDOM, ChannelKind::Channel, "random");
    let stack = Stack::start_with_env(
        &config(slack_config, extra),
        knobs,
        vec![("SLACK_URL", slack.api_base_url())],
    )
    .await;
    let world = World { stack, slack, app };
    world.connected(APP).await;
    world
}

impl World {
    /// Waits for a Socket Mode connection of `app` (the fake queues envelopes until one exists).
    async fn connected(&self, app: &str) {
        eventually("a socket mode connection", PATIENCE, || async {
            (self.slack.open_sockets(app) > 0).then_some(())
        })
        .await;
    }

    /// The bot's messages in `channel` once at least `count` have a final text (a placeholder
    /// shows "Working on it", then the answer so far ending in "…", until the answer replaces it).
    async fn answered(&self, app: &str, channel: &str, count: usize) -> Vec<PostedMessage> {
        eventually(
            &format!("{count} answer(s) in {channel}"),
            PATIENCE,
            || async {
                let posted: Vec<PostedMessage> = self
                    .slack
                    .posted(app)
                    .into_iter()
                    .filter(|p| {
                        p.channel == channel
                            && !p.text.contains("Working on it")
                            && !p.text.ends_with(" …")
                    })
                    .collect();
                (posted.len() >= count).then_some(posted)
            },
        )
        .await
    }

    fn model_calls(&self) -> usize {
        self.stack.fake.requests().len()
    }

    fn mention(&self, text: &str) -> String {
        format!("<@{}> {text}", self.app.bot_user_id)
    }
}

fn echo() -> Knobs {
    Knobs {
        echo: true,
        ..Knobs::default()
    }
}

/// The last line of each answer: what the echoing model was asked.
fn answers(posted: &[PostedMessage]) -> Vec<String> {
    posted
        .iter()
        .map(|p| p.text.rsplit('\n').next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_dm_sender_pairs_with_a_code_then_is_answered() {
    let world = world(r#"dmPolicy: "pairing""#, "", echo()).await;
    let first = world
        .slack
        .user_says(APP, &Incoming::dm("U0ANA", "hello?"))
        .expect("dm");
    let sent = world.answered(APP, &first.channel, 1).await;
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
        sent[0].text.contains("pincer pairing approve slack"),
        "{}",
        sent[0].text
    );
    assert_eq!(world.model_calls(), 0);

    let pairing = world.stack.pairing("slack", "default").await;
    assert_eq!(
        pairing.approve(&code).await.expect("approve").sender_id,
        "U0ANA"
    );

    world
        .slack
        .user_says(APP, &Incoming::dm("U0ANA", "now?"))
        .expect("dm");
    let sent = world.answered(APP, &first.channel, 2).await;
    assert_eq!(answers(&sent[1..]), ["now?"]);
    assert_eq!(world.model_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_answer_when_mentioned_once_and_in_the_thread_a_message_came_from() {
    let slack = format!(r#"channels: {{ "{GENERAL}": {{}} }}"#);
    let world = world(&slack, "", echo()).await;
    world
        .slack
        .user_says(
            APP,
            &Incoming::in_channel(GENERAL, "U0ANA", "just chatting"),
        )
        .expect("message");
    world
        .slack
        .user_says(
            APP,
            &Incoming::in_channel(RANDOM, "U0ANA", &world.mention("not listed")),
        )
        .expect("message");
    // A mention comes as a `message` and an `app_mention` event: one answer.
    let root = world
        .slack
        .user_says(
            APP,
            &Incoming::in_channel(GENERAL, "U0ANA", &world.mention("in general")),
        )
        .expect("message");
    assert_eq!(
        root.event_ids.len(),
        2,
        "the fake sends the app_mention twin"
    );
    let answer = world.answered(APP, GENERAL, 1).await;
    assert_eq!(
        answers(&answer),
        [format!("@{} in general", world.app.bot_name)]
    );
    assert_eq!(answer[0].thread_ts, None, "replyToMode off: in the channel");

    let in_thread = Incoming {
        thread_ts: Some(root.ts.clone()),
        ..Incoming::in_channel(GENERAL, "U0ANA", &world.mention("in the thread"))
    };
    world
        .slack
        .user_says(APP, &in_thread)
        .expect("thread reply");
    let answers_now = world.answered(APP, GENERAL, 2).await;
    let threaded = answers_now
        .iter()
        .find(|p| p.text.ends_with("in the thread"))
        .expect("the thread's answer");
    assert_eq!(threaded.thread_ts.as_deref(), Some(root.ts.as_str()));
    assert!(world.slack.posted(APP).iter().all(|p| p.channel != RANDOM));
    assert_eq!(world.model_calls(), 2);
    assert!(
        world.slack.updates(APP).len() >= 2,
        "each answer replaced its placeholder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_arrives_whole_in_chunks_in_mrkdwn() {
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
    let world = world(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", knobs).await;
    let dm = world
        .slack
        .user_says(APP, &Incoming::dm("U0LONG", "write a lot"))
        .expect("dm");
    let expected = pincer_channel_bridge::chunk::split(&long, 4000).len();
    let sent = world.answered(APP, &dm.channel, expected).await;
    assert_eq!(sent.len(), expected);
    assert!(
        sent[0].text.starts_with("*Part 1.*"),
        "mrkdwn bold: {}",
        &sent[0].text[..30]
    );
    for chunk in &sent {
        assert!(chunk.text.chars().count() <= 4100, "{}", chunk.text.len());
    }
    let words = |text: &str| {
        text.replace("**", "*")
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let joined = sent
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(words(&joined), words(&long.replace("**", "*")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_answer_with_their_own_policy_and_a_binding_routes_a_channel_to_its_agent() {
    let slack = format!(
        r#"dmPolicy: "allowlist", allowFrom: ["U0DEF"], channels: {{ "{RANDOM}": {{ requireMention: false }} }},
           accounts: {{ work: {{ botToken: "{WORK_BOT}", appToken: "{WORK_APP}", allowFrom: ["U0WRK"] }} }}"#
    );
    let binding = format!(
        r#"bindings: [{{ agentId: "work", match: {{ channel: "slack", peer: {{ kind: "channel", id: "{RANDOM}" }} }} }}],"#
    );
    let world = world(
        &slack,
        &binding,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    world.connected(WORK_APP).await;
    let to_work = world
        .slack
        .user_says(WORK_APP, &Incoming::dm("U0WRK", "to work"))
        .expect("dm");
    world
        .slack
        .user_says(WORK_APP, &Incoming::dm("U0DEF", "not allowed on work"))
        .expect("dm");
    world.answered(WORK_APP, &to_work.channel, 1).await;
    let to_default = world
        .slack
        .user_says(APP, &Incoming::dm("U0DEF", "to default"))
        .expect("dm");
    world.answered(APP, &to_default.channel, 1).await;
    assert_eq!(
        world.slack.posted(WORK_APP).len(),
        1,
        "U0DEF is not allowed on the work app"
    );

    let before = world.model_calls();
    world
        .slack
        .user_says(
            APP,
            &Incoming::in_channel(RANDOM, "U0ANA", "routed to work"),
        )
        .expect("message");
    world.answered(APP, RANDOM, 1).await;
    let models: Vec<String> = world.stack.fake.requests()[before..]
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(models, ["work-model"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_opens_the_new_socket_first_and_never_more_than_two() {
    let world = world(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    world
        .slack
        .update_knobs(APP, |knobs| knobs.disconnect_grace_ms = 5_000)
        .expect("knobs");
    let dm = world
        .slack
        .user_says(APP, &Incoming::dm("U0REF", "one"))
        .expect("dm");
    world.answered(APP, &dm.channel, 1).await;

    world
        .slack
        .disconnect(APP, "refresh_requested")
        .expect("a socket to refresh");
    let record = eventually(
        "the old socket closed after its replacement",
        PATIENCE,
        || async {
            world
                .slack
                .disconnects(APP)
                .into_iter()
                .find(|d| d.closed_ms.is_some())
        },
    )
    .await;
    assert!(
        record.overlapped(),
        "the new socket connected before the old one closed: {record:?}"
    );
    assert_eq!(
        record.closed_by_client,
        Some(true),
        "the bridge closed the old socket itself"
    );
    world
        .slack
        .user_says(APP, &Incoming::dm("U0REF", "two"))
        .expect("dm");
    let sent = world.answered(APP, &dm.channel, 2).await;
    assert_eq!(answers(&sent), ["one", "two"]);
    assert!(
        world.slack.max_concurrent_sockets(APP) <= 2,
        "at most two sockets per app"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_reconnects_and_nothing_is_lost_or_doubled() {
    let world = world(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    let dm = world
        .slack
        .user_says(APP, &Incoming::dm("U0DRP", "one"))
        .expect("dm");
    world.answered(APP, &dm.channel, 1).await;
    world.slack.drop_sockets(APP);
    world
        .slack
        .user_says(APP, &Incoming::dm("U0DRP", "two"))
        .expect("dm");
    world.connected(APP).await;
    // "two" may have gone to the socket being dropped: then Slack sends it again once its ack is
    // overdue, after what the new socket carried meanwhile. Slack keeps no order across that, so
    // the next message waits for "two"'s answer, and the order below is the one sent.
    world.answered(APP, &dm.channel, 2).await;
    world
        .slack
        .user_says(APP, &Incoming::dm("U0DRP", "three"))
        .expect("dm");
    let sent = world.answered(APP, &dm.channel, 3).await;
    assert_eq!(answers(&sent), ["one", "two", "three"]);
    assert_eq!(world.model_calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bridge_and_a_restart_of_everything_lose_and_repeat_nothing() {
    let mut world = world(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    let dm = world
        .slack
        .user_says(APP, &Incoming::dm("U0KIL", "one"))
        .expect("dm");
    world.answered(APP, &dm.channel, 1).await;
    world
        .slack
        .user_says(APP, &Incoming::dm("U0KIL", "two"))
        .expect("dm");
    world.stack.crash_channel_bridge().await;
    world
        .slack
        .user_says(APP, &Incoming::dm("U0KIL", "three"))
        .expect("dm");
    world.stack.start_channel_bridge().await;
    world.connected(APP).await;
    world.answered(APP, &dm.channel, 3).await;
    world.stack.restart_everything().await;
    world.connected(APP).await;
    world
        .slack
        .user_says(APP, &Incoming::dm("U0KIL", "four"))
        .expect("dm");
    let sent = world.answered(APP, &dm.channel, 4).await;
    // An envelope the killed bridge never acked comes back after Slack's ack timeout, so "two"
    // may be answered after "three": every message once, in whatever order Slack delivered them.
    let mut answered = answers(&sent);
    answered.sort();
    assert_eq!(answered, ["four", "one", "three", "two"], "{sent:?}");
    assert_eq!(world.model_calls(), 4, "nothing ran twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_takes_signed_events_through_the_gateway() {
    let slack = RunningSlack::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake slack");
    let app = slack.add_app(APP, BOT).expect("app");
    let config = config(
        r#"mode: "http", signingSecret: "${SLACK_SIGNING_SECRET}", dmPolicy: "open", allowFrom: ["*"]"#,
        "",
    );
    let stack = Stack::start_with_env(
        &config,
        echo(),
        vec![
            ("SLACK_URL", slack.api_base_url()),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
        ],
    )
    .await;
    let url = format!("{}/slack/events", stack.gateway_url);
    let verified = slack
        .url_verification(&url, SIGNING_SECRET)
        .await
        .expect("the gateway answers");
    assert!(verified.verified, "{verified:?}");
    let forged = slack
        .post_signed(
            &url,
            "another-secret",
            &serde_json::json!({"type": "url_verification", "challenge": "x"}),
            pincer_fake_slack::SigningFault::BadSignature,
        )
        .await
        .expect("an answer");
    assert_eq!(forged.0, 401);

    let deliveries = slack
        .user_says_http(
            APP,
            &url,
            SIGNING_SECRET,
            &Incoming::dm("U0HTP", "over http"),
        )
        .await
        .expect("delivered");
    assert!(deliveries.iter().all(|d| d.delivered), "{deliveries:?}");
    let answer = eventually("the answer", PATIENCE, || async {
        slack
            .posted(APP)
            .into_iter()
            .find(|p| p.text.ends_with("over http"))
    })
    .await;
    assert!(answer.channel.starts_with('D'));
    assert_eq!(app.bot_token, BOT);
    assert_eq!(slack.open_sockets(APP), 0, "no socket in http mode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_the_account_with_a_visible_reason() {
    let world = world(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    world.slack.revoke_token(APP);
    world.slack.drop_sockets(APP);
    let health = world
        .stack
        .channel_health(
            "slack",
            "default",
            pincer_store::channel_health::State::Failed,
        )
        .await;
    assert!(health.detail.contains("token"), "{}", health.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_messages_is_answered_whole_while_envelopes_wait_for_their_acks() {
    // More envelopes at once than the socket's queue and its pending acks hold together: the
    // acks must still go out while the bridge works through the queue.
    let world = world(
        r#"dmPolicy: "open", allowFrom: ["*"]"#,
        "",
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    // Slack's three seconds, scaled to a debug build: late acks bring redeliveries, which must
    // not snowball.
    world
        .slack
        .update_knobs(APP, |knobs| knobs.ack_timeout_ms = 400)
        .expect("knobs");
    const BURST: usize = 400;
    for n in 0..BURST {
        world
            .slack
            .user_says(APP, &Incoming::dm(&format!("U0B{n:04}"), "hi"))
            .expect("dm");
    }
    eventually(
        "every message of the burst answered",
        Duration::from_secs(90),
        || async {
            let answered = world
                .slack
                .posted(APP)
                .iter()
                .filter(|p| !p.text.contains("Working on it") && !p.text.ends_with(" …"))
                .count();
            (answered == BURST).then_some(())
        },
    )
    .await;
    assert_eq!(world.model_calls(), BURST, "each message ran once");
}

/// A placeholder someone deleted (or that can no longer be edited): the answer arrives as a
/// message of its own instead of being dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_whose_placeholder_is_gone_arrives_as_a_message_of_its_own() {
    let world = world(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    world
        .slack
        .error_next(APP, "chat.update", 50, "message_not_found")
        .expect("knob");
    let dm = world
        .slack
        .user_says(APP, &Incoming::dm("U0ANA", "are you there?"))
        .expect("dm");
    let sent = world.answered(APP, &dm.channel, 1).await;
    assert_eq!(answers(&sent), ["are you there?"]);
    assert_eq!(world.model_calls(), 1);
}

/// Slack refuses a socket when the app has too many (`too_many_websockets`): the bridge waits,
/// longer each time, instead of opening socket after socket, and connects once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_socket_is_retried_with_a_growing_wait_not_in_a_loop() {
    let world = world(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    world
        .slack
        .update_knobs(APP, |knobs| {
            knobs.refuse_sockets_next = 20;
            knobs.disconnect_grace_ms = 100;
        })
        .expect("knobs");
    let before = world.slack.connections_opened(APP);
    world
        .slack
        .disconnect(APP, "refresh_requested")
        .expect("a socket to refresh");
    // The refresh's socket is refused; the next one comes after a wait (2 s) and is refused too.
    let refused = eventually("a second refused socket", PATIENCE, || async {
        let sockets = world.slack.sockets(APP);
        let refused: Vec<u64> = sockets[sockets.len().min(1)..]
            .iter()
            .map(|s| s.opened_ms)
            .collect();
        (world.slack.connections_opened(APP) - before >= 2).then_some(refused)
    })
    .await;
    let gaps: Vec<u64> = refused.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap >= 1_000),
        "refused sockets reopened without waiting (ms between them: {gaps:?})"
    );
    world
        .slack
        .update_knobs(APP, |knobs| knobs.refuse_sockets_next = 0)
        .expect("knobs");
    let dm = world
        .slack
        .user_says(APP, &Incoming::dm("U0WAIT", "still there?"))
        .expect("dm");
    let sent = world.answered(APP, &dm.channel, 1).await;
    assert_eq!(answers(&sent), ["still there?"]);
}
