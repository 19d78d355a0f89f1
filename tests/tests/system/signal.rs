//! Signal end to end: a fake signal-cli daemon (its HTTP interface, from signal-cli's docs and
//! server) ↔ channel-bridge ↔ JetStream ↔ agent-runner ↔ router ↔ fake model. Pairing, the
//! allowlist by number and by ACI, mention gating in groups, a long answer in chunks, two numbers
//! and a binding, attachments, a rate-limited send, a dropped and a cut stream with an envelope
//! delivered again, a killed bridge and a restart of NATS, a number the daemon does not have.

use std::time::Duration;

use pincer_fake_provider::{Knobs, ScriptStep};
use pincer_fake_signal::{
    AccountIdentity, AttachmentSpec, Fault, Incoming, Person, RunningSignal, SentMessage,
};
use pincer_store::channel_health::State;
use pincer_system_tests::Stack;
use pincer_test_support::eventually;

const BOT: &str = "+15550001111";
const WORK: &str = "+15550002222";
const PATIENCE: Duration = Duration::from_secs(30);

fn config(signal: &str, extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}, {{ id: "work-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }}, list: [{{ id: "work", model: "ollama/work-model" }}] }},
  channels: {{ signal: {{ httpUrl: "${{SIGNAL_URL}}", account: "{BOT}", {signal} }} }},
  {extra}
}}"#
    )
}

/// The daemon with the two numbers registered, people and groups declared before the stack
/// starts (their ids go into the config).
struct Daemon {
    signal: RunningSignal,
    bot: AccountIdentity,
}

async fn daemon() -> Daemon {
    let signal = RunningSignal::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake signal-cli");
    // Short keep-alives: the daemon notices a killed bridge's closed stream at the next one.
    signal.set_keepalive(Duration::from_millis(200));
    let bot = signal.add_account(BOT).expect("bot number");
    signal.add_account(WORK).expect("work number");
    Daemon { signal, bot }
}

struct World {
    stack: Stack,
    signal: RunningSignal,
    bot: AccountIdentity,
}

impl Daemon {
    async fn with_stack(self, signal_config: &str, extra: &str, knobs: Knobs) -> World {
        let stack = Stack::start_with_env(
            &config(signal_config, extra),
            knobs,
            vec![("SIGNAL_URL", self.signal.base_url())],
        )
        .await;
        let world = World {
            stack,
            signal: self.signal,
            bot: self.bot,
        };
        world.connected(BOT).await;
        world
    }
}

impl World {
    /// Waits for an open event stream of `account` (the daemon keeps messages until one exists).
    async fn connected(&self, account: &str) {
        eventually("an event stream", PATIENCE, || async {
            (self.signal.open_streams(account) > 0).then_some(())
        })
        .await;
    }

    /// `account`'s sends to `chat` once there are at least `count`.
    async fn answered(&self, account: &str, chat: &str, count: usize) -> Vec<SentMessage> {
        eventually(
            &format!("{count} answer(s) to {chat}"),
            PATIENCE,
            || async {
                let sent: Vec<SentMessage> = self
                    .signal
                    .sent(account)
                    .into_iter()
                    .filter(|s| s.to(chat))
                    .collect();
                (sent.len() >= count).then_some(sent)
            },
        )
        .await
    }

    fn say(&self, account: &str, incoming: &Incoming) -> u64 {
        self.signal
            .say(account, incoming)
            .expect("the daemon takes the message")
            .timestamp
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

const OPEN: &str = r#"dmPolicy: "open", allowFrom: ["*"]"#;

/// The last line of each answer: what the echoing model was asked.
fn answers(sent: &[SentMessage]) -> Vec<String> {
    sent.iter()
        .map(|s| s.text.rsplit('\n').next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sender_pairs_with_a_code_then_is_answered_while_typing_shows() {
    let world = daemon().await.with_stack("", "", echo()).await;
    let health = world
        .stack
        .channel_health("signal", "default", State::Connected)
        .await;
    assert_eq!(health.bot.as_deref(), Some(BOT));
    let ana = Person::new("+15552223333", "Ana");
    world.say(BOT, &Incoming::dm(&ana, "hello?"));
    // A DM is answered to its author's ACI.
    let sent = world.answered(BOT, &ana.uuid, 1).await;
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
        sent[0].text.contains("pincer pairing approve signal"),
        "{}",
        sent[0].text
    );
    assert_eq!(world.model_calls(), 0);

    let pairing = world.stack.pairing("signal", "default").await;
    assert_eq!(
        pairing.approve(&code).await.expect("approve").sender_id,
        ana.uuid
    );
    world.say(BOT, &Incoming::dm(&ana, "now?"));
    let sent = world.answered(BOT, &ana.uuid, 2).await;
    assert_eq!(answers(&sent[1..]), ["now?"]);
    assert_eq!(sent[1].quote, None, "a DM answer quotes nothing");
    assert_eq!(world.model_calls(), 1);
    let typing = eventually("typing shown, then stopped", PATIENCE, || async {
        let calls: Vec<_> = world
            .signal
            .typing(BOT)
            .into_iter()
            .filter(|t| t.to(&ana.uuid))
            .collect();
        calls.last().is_some_and(|t| t.stop).then_some(calls)
    })
    .await;
    assert!(!typing[0].stop, "typing started while the turn ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_admits_listed_numbers_and_acis_and_nobody_else() {
    let ana = Person::new("+15552223333", "Ana");
    let bob = Person::without_number("Bob");
    let eve = Person::new("+15556667777", "Eve");
    let signal = format!(
        r#"dmPolicy: "allowlist", allowFrom: ["+1 555 222-3333", "uuid:{}"]"#,
        bob.uuid.to_uppercase()
    );
    let world = daemon().await.with_stack(&signal, "", echo()).await;
    world.say(BOT, &Incoming::dm(&ana, "from ana"));
    world.say(BOT, &Incoming::dm(&bob, "from bob"));
    world.say(BOT, &Incoming::dm(&eve, "from eve"));
    world.say(BOT, &Incoming::dm(&ana, "ana again"));
    // Messages are handled in order: once the last is answered, Eve's was decided.
    let to_ana = world.answered(BOT, &ana.uuid, 2).await;
    assert_eq!(answers(&to_ana), ["from ana", "ana again"]);
    let to_bob = world.answered(BOT, &bob.uuid, 1).await;
    assert_eq!(answers(&to_bob), ["from bob"]);
    assert!(world.signal.sent(BOT).iter().all(|s| !s.to(&eve.uuid)));
    assert_eq!(world.model_calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_answer_in_the_group_when_mentioned_or_quoted_only() {
    let daemon = daemon().await;
    let ana = Person::new("+15552223333", "Ana");
    let team = daemon
        .signal
        .add_group(BOT, "Team", &[&ana])
        .expect("group");
    let other = daemon
        .signal
        .add_group(BOT, "Other", &[&ana])
        .expect("group");
    let signal = format!(r#"groups: {{ "{team}": {{}} }}"#);
    let world = daemon.with_stack(&signal, "", echo()).await;
    let bot = world.bot.person();

    world.say(BOT, &Incoming::in_group(&team, &ana, "just chatting"));
    world.say(
        BOT,
        &Incoming::in_group(&other, &ana, "not listed").mentioning(&bot),
    );
    let asked = world.say(
        BOT,
        &Incoming::in_group(&team, &ana, "what's up?").mentioning(&bot),
    );
    let answer = world.answered(BOT, &team, 1).await;
    assert_eq!(answers(&answer), [format!("@{BOT} what's up?")]);
    assert_eq!(
        answer[0].quote,
        Some((asked, ana.uuid.clone())),
        "a group answer quotes the message it answers"
    );
    assert!(answer[0].recipients.is_empty(), "sent to the group only");

    world.say(
        BOT,
        &Incoming::in_group(&team, &ana, "and then?").quoting(&answer[0], &bot),
    );
    let answers_now = world.answered(BOT, &team, 2).await;
    assert_eq!(answers(&answers_now[1..]), ["and then?"]);
    assert!(world.signal.sent(BOT).iter().all(|s| !s.to(&other)));
    assert_eq!(world.model_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_arrives_whole_in_chunks_under_the_limit() {
    let long: String = (1..=40)
        .map(|n| {
            format!(
                "Part {n}. {}",
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
    let world = daemon().await.with_stack(OPEN, "", knobs).await;
    let ana = Person::new("+15552223333", "Ana");
    world.say(BOT, &Incoming::dm(&ana, "write a lot"));
    let expected = pincer_channel_bridge::chunk::split(&long, 4000).len();
    assert!(expected >= 3);
    let sent = world.answered(BOT, &ana.uuid, expected).await;
    assert_eq!(sent.len(), expected);
    for chunk in &sent {
        assert!(chunk.text.chars().count() <= 4000, "{}", chunk.text.len());
    }
    let words = |text: &str| {
        text.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let joined = sent
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(words(&joined), words(&long));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_numbers_answer_with_their_own_policy_and_a_binding_routes_one_to_its_agent() {
    let ana = Person::new("+15552223333", "Ana");
    let bob = Person::new("+15554445555", "Bob");
    let signal = format!(
        r#"dmPolicy: "allowlist", allowFrom: ["{}"],
           accounts: {{ work: {{ account: "{WORK}", allowFrom: ["{}"] }} }}"#,
        ana.number.clone().expect("number"),
        bob.number.clone().expect("number"),
    );
    let binding =
        r#"bindings: [{ agentId: "work", match: { channel: "signal", accountId: "work" } }],"#;
    let world = daemon()
        .await
        .with_stack(
            &signal,
            binding,
            Knobs {
                tokens: 1,
                ..Knobs::default()
            },
        )
        .await;
    world.connected(WORK).await;
    world.say(WORK, &Incoming::dm(&ana, "not allowed on work"));
    world.say(WORK, &Incoming::dm(&bob, "to work"));
    world.answered(WORK, &bob.uuid, 1).await;
    let before = world.model_calls();
    world.say(BOT, &Incoming::dm(&ana, "to default"));
    world.answered(BOT, &ana.uuid, 1).await;
    assert_eq!(
        world.signal.sent(WORK).len(),
        1,
        "Ana is not allowed on the work number"
    );
    let models: Vec<String> = world
        .stack
        .fake
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(models[..before], ["work-model"]);
    assert_eq!(models[before..], ["fake-model"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_reach_the_agent_and_oversized_ones_are_refused() {
    let world = daemon()
        .await
        .with_stack(
            &format!("{OPEN}, mediaMaxMb: 1"),
            "",
            Knobs {
                tokens: 1,
                ..Knobs::default()
            },
        )
        .await;
    let ana = Person::new("+15552223333", "Ana");
    let bytes: Vec<u8> = (0..50_000).map(|i| (i % 251) as u8).collect();
    let photo = Incoming::dm(&ana, "what is in this picture?").with_attachment(AttachmentSpec {
        content_type: "image/jpeg".into(),
        filename: Some("cat.jpg".into()),
        data: bytes.clone(),
    });
    world.say(BOT, &photo);
    world.answered(BOT, &ana.uuid, 1).await;
    let asked = world.stack.fake.requests().pop().expect("model call").body;
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
    let file = world.stack.workspace.path().join("workspace").join(saved);
    assert_eq!(
        std::fs::read(&file).expect("the photo is in the workspace"),
        bytes
    );
    assert!(input.contains("what is in this picture?"), "{input}");

    let huge = Incoming::dm(&ana, "").with_attachment(AttachmentSpec {
        content_type: "video/mp4".into(),
        filename: Some("film.mp4".into()),
        data: vec![0; 2 * 1024 * 1024],
    });
    world.say(BOT, &huge);
    let sent = world.answered(BOT, &ana.uuid, 2).await;
    assert!(sent[1].text.contains("too large"), "{}", sent[1].text);
    assert_eq!(
        world.model_calls(),
        1,
        "the oversized video never reached the agent"
    );
    assert_eq!(
        world.signal.attachment_downloads().len(),
        1,
        "nor was it downloaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sends_are_retried_and_arrive_once() {
    let world = daemon().await.with_stack(OPEN, "", echo()).await;
    world
        .signal
        .fail_next(
            BOT,
            "send",
            1,
            Fault::RateLimit {
                retry_after_secs: 1,
            },
        )
        .expect("fault");
    world
        .signal
        .fail_next(BOT, "send", 1, Fault::NetworkFailure)
        .expect("fault");
    world
        .signal
        .fail_next(BOT, "send", 1, Fault::Http(502))
        .expect("fault");
    let ana = Person::new("+15552223333", "Ana");
    world.say(BOT, &Incoming::dm(&ana, "one"));
    world.answered(BOT, &ana.uuid, 1).await;
    world.say(BOT, &Incoming::dm(&ana, "two"));
    let sent = world.answered(BOT, &ana.uuid, 2).await;
    assert_eq!(answers(&sent), ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_or_cut_stream_and_a_redelivered_envelope_are_answered_once() {
    let world = daemon().await.with_stack(OPEN, "", echo()).await;
    let ana = Person::new("+15552223333", "Ana");
    world.say(BOT, &Incoming::dm(&ana, "one"));
    world.answered(BOT, &ana.uuid, 1).await;

    // The daemon restarts and, as after a crash before it was done with it, delivers "one" again.
    world.signal.replay_on_next_connect(BOT, 1).expect("knob");
    assert_eq!(world.signal.drop_streams(BOT), 1);
    world.say(BOT, &Incoming::dm(&ana, "two"));
    world.answered(BOT, &ana.uuid, 2).await;
    let deliveries = world.signal.deliveries(BOT);
    assert!(
        deliveries.iter().any(|d| d.replay),
        "\"one\" was delivered again: {deliveries:?}"
    );

    // Half an event, then the end of the stream: the half is discarded, the whole comes next.
    world.signal.cut_next_event(BOT).expect("knob");
    world.say(BOT, &Incoming::dm(&ana, "three"));
    let sent = world.answered(BOT, &ana.uuid, 3).await;
    assert_eq!(answers(&sent), ["one", "two", "three"]);
    assert_eq!(world.model_calls(), 3, "nothing ran twice");
    assert!(world.signal.streams().len() >= 3, "the bridge reconnected");
    assert_eq!(world.signal.max_concurrent_streams(BOT), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bridge_and_a_restart_of_everything_lose_and_repeat_nothing() {
    // A slow model, so the bridge dies while "two" is being answered.
    let knobs = Knobs {
        echo: true,
        delay_ms: 1500,
        ..Knobs::default()
    };
    let mut world = daemon().await.with_stack(OPEN, "", knobs).await;
    let ana = Person::new("+15552223333", "Ana");
    world.say(BOT, &Incoming::dm(&ana, "one"));
    world.answered(BOT, &ana.uuid, 1).await;
    world.say(BOT, &Incoming::dm(&ana, "two"));
    eventually("the model working on \"two\"", PATIENCE, || async {
        (world.model_calls() == 2).then_some(())
    })
    .await;
    world.stack.crash_channel_bridge().await;
    // Like signal-cli, the fake learns a client is gone when a keep-alive write fails; a message
    // before that would be written into the dead connection (the loss the README describes).
    eventually(
        "the daemon noticing the stream is gone",
        PATIENCE,
        || async { (world.signal.open_streams(BOT) == 0).then_some(()) },
    )
    .await;
    // Waits on the daemon (on Signal's servers) until a stream opens again.
    world.say(BOT, &Incoming::dm(&ana, "three"));
    world.stack.start_channel_bridge().await;
    world.connected(BOT).await;
    world.answered(BOT, &ana.uuid, 3).await;

    world.stack.restart_everything().await;
    world.connected(BOT).await;
    world.say(BOT, &Incoming::dm(&ana, "four"));
    let sent = world.answered(BOT, &ana.uuid, 4).await;
    let mut answered = answers(&sent);
    answered.sort();
    assert_eq!(answered, ["four", "one", "three", "two"], "{sent:?}");
    assert_eq!(world.model_calls(), 4, "nothing ran twice");
    assert_eq!(world.signal.sent(BOT).len(), 4, "nothing was sent twice");
    assert_eq!(world.signal.max_concurrent_streams(BOT), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_the_daemon_does_not_have_stops_with_a_visible_reason() {
    let daemon = daemon().await;
    let stack = Stack::start_with_env(
        &config(OPEN, "").replace(BOT, "+15559990000"),
        echo(),
        vec![("SIGNAL_URL", daemon.signal.base_url())],
    )
    .await;
    let health = stack
        .channel_health("signal", "default", State::Failed)
        .await;
    assert!(
        health.detail.contains("no account +15559990000"),
        "{}",
        health.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bridge_replica_waits_for_the_stream_lease_and_takes_over() {
    let mut world = daemon().await.with_stack(OPEN, "", echo()).await;
    let (second, second_health) = second_bridge(&world).await;
    let ana = Person::new("+15552223333", "Ana");
    world.say(BOT, &Incoming::dm(&ana, "one"));
    world.answered(BOT, &ana.uuid, 1).await;
    assert_eq!(
        world.signal.max_concurrent_streams(BOT),
        1,
        "one event stream per number, whatever the replicas"
    );

    world.stack.crash_channel_bridge().await;
    // The second replica takes the lease once the dead one's lapses (30 s).
    eventually(
        "the second replica's stream",
        Duration::from_secs(60),
        || async {
            (world.signal.open_streams(BOT) == 1 && world.signal.streams().len() == 2).then_some(())
        },
    )
    .await;
    world.say(BOT, &Incoming::dm(&ana, "two"));
    let sent = eventually(
        "the second replica's answer",
        Duration::from_secs(60),
        || async {
            let sent = world.signal.sent(BOT);
            (sent.len() >= 2).then_some(sent)
        },
    )
    .await;
    assert_eq!(answers(&sent), ["one", "two"]);
    assert_eq!(world.model_calls(), 2);
    assert_eq!(world.signal.max_concurrent_streams(BOT), 1);
    second.cancel();
    let _ = second_health.await;
}

/// Another channel-bridge on the same bus and config, as a second container would run.
async fn second_bridge(
    world: &World,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let signal_url = world.signal.base_url();
    let env = move |name: &str| match name {
        "SIGNAL_URL" => Some(signal_url.clone()),
        _ => Some("unused".to_owned()),
    };
    let parsed = pincer_config::parse_str(
        &config(OPEN, ""),
        "second.json5",
        &env,
        pincer_config::Scope::All,
    )
    .expect("config");
    let config = pincer_channel_bridge::Config {
        nats_url: world.stack.nats.url(),
        nats_credentials: Some(pincer_system_tests::nats_credentials(
            pincer_bus::access::Role::ChannelBridge,
        )),
        namespace: pincer_bus::Namespace::default(),
        channels: parsed.channels,
        env_tokens: Default::default(),
        dm_scope: None,
        bindings: Vec::new(),
        instance: "second-bridge".to_owned(),
    };
    let health = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let token = tokio_util::sync::CancellationToken::new();
    let stop = token.clone();
    let task = tokio::spawn(async move {
        if let Err(error) = pincer_channel_bridge::run(config, health, stop).await {
            panic!("the second bridge failed: {error}");
        }
    });
    (token, task)
}
