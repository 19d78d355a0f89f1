//! Discord end to end: a fake Discord (gateway v10 and REST, from Discord's docs) ↔ channel-bridge
//! ↔ JetStream ↔ agent-runner ↔ router ↔ fake model. Pairing, allowlist, mention gating in a guild,
//! threads, a long answer in chunks, two bots and a binding; and the faults: a killed bridge, a
//! restart of NATS, a dropped socket and a reconnect that replays, an invalid session, a revoked
//! token. Every message is answered exactly once.

use std::time::Duration;

use pincer_fake_discord::{Channel, Guild, Incoming, Member, RunningDiscord, SentMessage};
use pincer_fake_provider::{Knobs, ScriptStep};
use pincer_system_tests::Stack;
use pincer_test_support::eventually;

const TOKEN: &str = "discord-test-token";
const WORK: &str = "discord-work-token";
const GUILD: &str = "900000000000000001";
const GENERAL: &str = "900000000000000011";
const RANDOM: &str = "900000000000000012";
const THREAD: &str = "900000000000000021";
const PATIENCE: Duration = Duration::from_secs(30);

fn config(discord: &str, extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ port: 18789, bind: "loopback", auth: {{ mode: "token", token: "${{GATEWAY_TOKEN}}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "${{FAKE_URL}}", api: "ollama", models: [{{ id: "fake-model" }}, {{ id: "work-model" }}] }} }} }},
  agents: {{ defaults: {{ model: "ollama/fake-model", timeout: 30 }}, list: [{{ id: "work", model: "ollama/work-model" }}] }},
  channels: {{ discord: {{ token: "{TOKEN}", apiBaseUrl: "${{DC_URL}}", {discord} }} }},
  {extra}
}}"#
    )
}

/// A fake Discord with one guild (two channels and a thread), a bot for each token, the stack,
/// and the bots connected.
async fn stack(discord_config: &str, extra: &str, knobs: Knobs) -> (Stack, RunningDiscord) {
    let discord = RunningDiscord::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake discord");
    discord.set_heartbeat_interval(Duration::from_millis(1000));
    for token in [TOKEN, WORK] {
        discord.add_bot(token).expect("bot");
    }
    discord.add_guild(Guild {
        id: GUILD.into(),
        name: "pincer lab".into(),
        channels: vec![
            Channel::text(GENERAL, "general"),
            Channel::text(RANDOM, "random"),
        ],
        threads: vec![Channel::thread(THREAD, GENERAL, "a topic")],
        members: vec![Member {
            user_id: "501".into(),
            username: "ana".into(),
            roles: Vec::new(),
        }],
        ..Guild::default()
    });
    let stack = Stack::start_with_env(
        &config(discord_config, extra),
        knobs,
        vec![("DC_URL", discord.api_base_url())],
    )
    .await;
    connected(&discord, TOKEN).await;
    (stack, discord)
}

fn echo() -> Knobs {
    Knobs {
        echo: true,
        ..Knobs::default()
    }
}

/// Waits until the bot has a live gateway session (a message sent before it would be lost, as on
/// Discord: a new session does not get older messages).
async fn connected(discord: &RunningDiscord, token: &str) {
    eventually("the bot's gateway session", PATIENCE, || async {
        (discord.open_connections(token) > 0 && discord.sessions(token).iter().any(|s| s.connected))
            .then_some(())
    })
    .await;
}

fn bot_id(discord: &RunningDiscord, token: &str) -> String {
    discord
        .world()
        .read_bot(token, |bot| bot.user.id.clone())
        .expect("a declared bot")
}

/// Waits until the bot has sent at least `count` messages to `channel`; returns them.
async fn sent_in(
    discord: &RunningDiscord,
    token: &str,
    channel: &str,
    count: usize,
) -> Vec<SentMessage> {
    eventually(
        &format!("{count} message(s) in channel {channel}"),
        PATIENCE,
        || async {
            let sent: Vec<SentMessage> = discord
                .sent(token)
                .into_iter()
                .filter(|s| s.channel_id == channel)
                .collect();
            (sent.len() >= count).then_some(sent)
        },
    )
    .await
}

/// The last line of each message: what the echoing model was asked.
fn answers(sent: &[SentMessage]) -> Vec<String> {
    sent.iter()
        .map(|s| s.content.rsplit('\n').next().unwrap_or_default().to_owned())
        .collect()
}

fn model_calls(stack: &Stack) -> usize {
    stack.fake.requests().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_dm_sender_pairs_with_a_code_then_is_answered() {
    let (stack, discord) = stack(r#"dmPolicy: "pairing""#, "", echo()).await;
    let first = discord
        .user_says(TOKEN, &Incoming::dm("501", "hello?"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &first.channel_id, 1).await;
    let code = sent[0]
        .content
        .split_whitespace()
        .find(|w| {
            w.len() == 8
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .expect("a pairing code")
        .to_owned();
    assert!(
        sent[0]
            .content
            .contains(&format!("pincer pairing approve discord {code}")),
        "{}",
        sent[0].content
    );
    assert_eq!(
        model_calls(&stack),
        0,
        "nothing reaches the agent before approval"
    );

    let pairing = stack.pairing("discord", "default").await;
    let approved = pairing.approve(&code).await.expect("approve");
    assert_eq!(approved.sender_id, "501");

    discord
        .user_says(TOKEN, &Incoming::dm("501", "now?"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &first.channel_id, 2).await;
    assert_eq!(answers(&sent[1..]), ["now?"]);
    assert_eq!(model_calls(&stack), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_answers_listed_senders_and_ignores_the_rest() {
    let (stack, discord) = stack(r#"dmPolicy: "allowlist", allowFrom: ["601"]"#, "", echo()).await;
    let stranger = discord
        .user_says(TOKEN, &Incoming::dm("602", "let me in"))
        .expect("dm");
    let listed = discord
        .user_says(TOKEN, &Incoming::dm("601", "hi there"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &listed.channel_id, 1).await;
    assert_eq!(answers(&sent), ["hi there"]);
    // Handled in order: 602's earlier message was decided (ignored) before 601's was answered.
    assert!(
        discord
            .sent(TOKEN)
            .iter()
            .all(|s| s.channel_id != stranger.channel_id)
    );
    assert_eq!(model_calls(&stack), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guild_channels_answer_when_mentioned_and_threads_get_their_reply() {
    let guilds = format!(r#"guilds: {{ "{GUILD}": {{ channels: ["{GENERAL}"] }} }}"#);
    let (stack, discord) = stack(&guilds, "", echo()).await;
    let bot = bot_id(&discord, TOKEN);
    discord
        .user_says(
            TOKEN,
            &Incoming::in_channel(GENERAL, "501", "just chatting"),
        )
        .expect("message");
    discord
        .user_says(
            TOKEN,
            &Incoming::in_channel(RANDOM, "501", &format!("<@{bot}> not listed")),
        )
        .expect("message");
    let asked = discord
        .user_says(
            TOKEN,
            &Incoming::in_channel(GENERAL, "501", &format!("<@{bot}> in general")),
        )
        .expect("message");
    discord
        .user_says(
            TOKEN,
            &Incoming::in_channel(THREAD, "501", &format!("<@{bot}> in the thread")),
        )
        .expect("message");

    let general = sent_in(&discord, TOKEN, GENERAL, 1).await;
    assert_eq!(answers(&general), ["@pincer-test-bot in general"]);
    assert_eq!(
        general[0]
            .message_reference
            .as_ref()
            .and_then(|r| r["message_id"].as_str()),
        Some(asked.id.as_str()),
        "a guild answer replies to its message"
    );
    let thread = sent_in(&discord, TOKEN, THREAD, 1).await;
    assert_eq!(answers(&thread), ["@pincer-test-bot in the thread"]);
    assert!(discord.sent(TOKEN).iter().all(|s| s.channel_id != RANDOM));
    assert_eq!(
        model_calls(&stack),
        2,
        "unmentioned and unlisted messages reach nobody"
    );
    for message in discord.sent(TOKEN) {
        assert_eq!(
            message.allowed_mentions,
            Some(serde_json::json!({"parse": [], "replied_user": false}))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_arrives_whole_in_chunks_under_the_limit() {
    let long: String = (1..=48)
        .map(|n| {
            format!(
                "Paragraph {n}: {}",
                "The quick brown fox jumps over the lazy dog. ".repeat(5)
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
    let (_stack, discord) = stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", knobs).await;
    let dm = discord
        .user_says(TOKEN, &Incoming::dm("701", "write a lot"))
        .expect("dm");
    let expected = pincer_channel_bridge::chunk::split(&long, 2000).len();
    let sent = sent_in(&discord, TOKEN, &dm.channel_id, expected).await;
    assert_eq!(sent.len(), expected);
    for chunk in &sent {
        assert!(chunk.content.chars().count() <= 2000);
        assert!(chunk.enforce_nonce && chunk.nonce.as_ref().is_some_and(|n| n.len() <= 25));
    }
    let words = |text: &str| {
        text.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let joined = sent
        .iter()
        .map(|s| s.content.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        words(&joined),
        words(&long),
        "nothing lost or repeated between chunks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_answer_with_their_own_policy_and_a_binding_routes_a_channel_to_its_agent() {
    let discord_config = format!(
        r#"dmPolicy: "allowlist", allowFrom: ["801"], guilds: {{ "{GUILD}": {{ requireMention: false }} }},
           accounts: {{ work: {{ token: "{WORK}", allowFrom: ["802"] }} }}"#
    );
    let binding = format!(
        r#"bindings: [{{ agentId: "work", match: {{ channel: "discord", peer: {{ kind: "channel", id: "{RANDOM}" }} }} }}],"#
    );
    let (stack, discord) = stack(
        &discord_config,
        &binding,
        Knobs {
            tokens: 1,
            ..Knobs::default()
        },
    )
    .await;
    connected(&discord, WORK).await;
    let to_work = discord
        .user_says(WORK, &Incoming::dm("802", "to work"))
        .expect("dm");
    discord
        .user_says(WORK, &Incoming::dm("801", "not allowed on work"))
        .expect("dm");
    sent_in(&discord, WORK, &to_work.channel_id, 1).await;
    let to_default = discord
        .user_says(TOKEN, &Incoming::dm("801", "to default"))
        .expect("dm");
    sent_in(&discord, TOKEN, &to_default.channel_id, 1).await;
    assert_eq!(
        discord.sent(WORK).len(),
        1,
        "801 is not allowed on the work bot"
    );

    let before = model_calls(&stack);
    discord
        .user_says(
            TOKEN,
            &Incoming::in_channel(RANDOM, "501", "routed to work"),
        )
        .expect("message");
    sent_in(&discord, TOKEN, RANDOM, 1).await;
    let models: Vec<String> = stack.fake.requests()[before..]
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        models,
        ["work-model"],
        "the binding sends the channel to the work agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_resumes_and_what_came_meanwhile_is_answered_once() {
    let (stack, discord) = stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    let first = discord
        .user_says(TOKEN, &Incoming::dm("901", "one"))
        .expect("dm");
    sent_in(&discord, TOKEN, &first.channel_id, 1).await;

    // The socket dies without a close frame; a message arrives before the bot is back.
    discord.drop_connections(TOKEN);
    discord
        .user_says(TOKEN, &Incoming::dm("901", "two"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &first.channel_id, 2).await;
    assert_eq!(answers(&sent), ["one", "two"]);
    let resumed = discord
        .connections(TOKEN)
        .iter()
        .filter(|c| c.path.contains("resume"))
        .count();
    assert!(
        resumed >= 1,
        "the bot resumed at resume_gateway_url: {:?}",
        discord.connections(TOKEN)
    );

    // op 7, then op 9 (not resumable): a resume, then a fresh session; nothing doubled.
    discord.send_reconnect(TOKEN);
    connected(&discord, TOKEN).await;
    discord
        .user_says(TOKEN, &Incoming::dm("901", "three"))
        .expect("dm");
    sent_in(&discord, TOKEN, &first.channel_id, 3).await;
    discord.send_invalid_session(TOKEN, false);
    eventually("a new session after the invalid one", PATIENCE, || async {
        (discord
            .sessions(TOKEN)
            .iter()
            .filter(|s| s.connected)
            .count()
            == 1
            && discord.sessions(TOKEN).len() >= 2)
            .then_some(())
    })
    .await;
    discord
        .user_says(TOKEN, &Incoming::dm("901", "four"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &first.channel_id, 4).await;
    assert_eq!(answers(&sent), ["one", "two", "three", "four"]);
    assert_eq!(model_calls(&stack), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_is_noticed_and_replaced() {
    let (_stack, discord) = stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    let before = discord.connections(TOKEN).len();
    discord.stop_heartbeat_acks(TOKEN);
    eventually(
        "a new connection after missed heartbeat ACKs",
        PATIENCE,
        || async { (discord.connections(TOKEN).len() > before).then_some(()) },
    )
    .await;
    connected(&discord, TOKEN).await;
    let dm = discord
        .user_says(TOKEN, &Incoming::dm("951", "still there?"))
        .expect("dm");
    assert_eq!(
        answers(&sent_in(&discord, TOKEN, &dm.channel_id, 1).await),
        ["still there?"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bridge_loses_and_repeats_nothing_after_it_comes_back() {
    let (mut stack, discord) = stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    let dm = discord
        .user_says(TOKEN, &Incoming::dm("1001", "one"))
        .expect("dm");
    sent_in(&discord, TOKEN, &dm.channel_id, 1).await;
    discord
        .user_says(TOKEN, &Incoming::dm("1001", "two"))
        .expect("dm");
    stack.crash_channel_bridge().await;
    discord
        .user_says(TOKEN, &Incoming::dm("1001", "three"))
        .expect("dm");
    stack.start_channel_bridge().await;
    connected(&discord, TOKEN).await;
    discord
        .user_says(TOKEN, &Incoming::dm("1001", "four"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &dm.channel_id, 4).await;
    assert_eq!(answers(&sent), ["one", "two", "three", "four"], "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_nats_and_every_service_loses_and_repeats_nothing() {
    let (mut stack, discord) = stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    let dm = discord
        .user_says(TOKEN, &Incoming::dm("1101", "before"))
        .expect("dm");
    sent_in(&discord, TOKEN, &dm.channel_id, 1).await;
    stack.restart_everything().await;
    connected(&discord, TOKEN).await;
    discord
        .user_says(TOKEN, &Incoming::dm("1101", "after"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &dm.channel_id, 2).await;
    assert_eq!(answers(&sent), ["before", "after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_and_a_repeated_send_posts_nothing_twice() {
    let (_stack, discord) = stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    discord
        .update_knobs(TOKEN, |knobs| {
            knobs.rate_limit_next = 2;
            knobs.retry_after = 0.3;
        })
        .expect("knobs");
    let dm = discord
        .user_says(TOKEN, &Incoming::dm("1201", "patience"))
        .expect("dm");
    let sent = sent_in(&discord, TOKEN, &dm.channel_id, 1).await;
    assert_eq!(answers(&sent), ["patience"]);
    assert!(discord.rejected_sends(TOKEN) >= 2, "the 429s were answered");
    assert_eq!(discord.sent(TOKEN).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_the_account_with_a_visible_reason() {
    let (stack, discord) = stack(r#"dmPolicy: "open", allowFrom: ["*"]"#, "", echo()).await;
    discord.revoke_token(TOKEN).expect("revoke");
    discord.close(TOKEN, 4000);
    let health = stack
        .channel_health(
            "discord",
            "default",
            pincer_store::channel_health::State::Failed,
        )
        .await;
    assert!(health.detail.contains("token"), "{}", health.detail);
    assert_eq!(discord.open_connections(TOKEN), 0);
}
