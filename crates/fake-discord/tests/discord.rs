//! The fake driven by a plain client (tokio-tungstenite + reqwest), as a bridge would drive
//! Discord.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use pincer_fake_discord::{
    AttachmentSpec, Channel, Ending, GatewayConfig, Guild, Handshake, Incoming, Member,
    RunningDiscord,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TOKEN: &str = "MTIz.fake.token";
const GUILD: &str = "900000000000000001";
const GENERAL: &str = "900000000000000002";
const THREAD: &str = "900000000000000003";
const ALICE: &str = "800000000000000001";
const PATIENCE: Duration = Duration::from_secs(10);
/// GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT.
const INTENTS: u64 = 37_377;

async fn fake() -> RunningDiscord {
    let config = GatewayConfig {
        heartbeat_interval_ms: 1_000,
        reconnect_grace_ms: 300,
        ..GatewayConfig::default()
    };
    let discord = RunningDiscord::start_with("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("start");
    discord.add_bot(TOKEN).expect("bot");
    discord.add_guild(Guild {
        id: GUILD.into(),
        name: "test guild".into(),
        channels: vec![Channel::text(GENERAL, "general")],
        threads: vec![Channel::thread(THREAD, GENERAL, "a thread")],
        members: vec![Member {
            user_id: ALICE.into(),
            username: "alice".into(),
            roles: vec!["r1".into()],
        }],
        bot_roles: vec!["botrole".into()],
        ..Guild::default()
    });
    discord
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn connect(url: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("{url}/?v=10&encoding=json"))
        .await
        .expect("connect");
    socket
}

/// The next JSON frame, or `Err(close code)` if the server closed.
async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .expect("a frame in time");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("json")),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn frame(socket: &mut Socket) -> Value {
    next(socket).await.expect("a frame, not a close")
}

/// Frames until one with `t == event` (or op == `op` when `event` is empty).
async fn until(socket: &mut Socket, op: u64, event: &str) -> Value {
    loop {
        let frame = frame(socket).await;
        if frame["op"] == op && (event.is_empty() || frame["t"] == event) {
            return frame;
        }
    }
}

async fn send(socket: &mut Socket, payload: Value) {
    socket
        .send(Message::text(payload.to_string()))
        .await
        .expect("send");
}

async fn identify(socket: &mut Socket, token: &str, intents: u64) {
    send(socket, json!({ "op": 2, "d": { "token": token, "intents": intents,
                                         "properties": { "os": "linux", "browser": "test", "device": "test" } } }))
    .await;
}

async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn identify_ready_message_and_heartbeat_ack() {
    let discord = fake().await;
    let gateway = http()
        .get(format!("{}/gateway/bot", discord.api_base_url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("gateway/bot")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(gateway["url"], discord.gateway_url());
    assert_eq!(gateway["shards"], 1);

    let mut socket = connect(gateway["url"].as_str().expect("url")).await;
    let hello = frame(&mut socket).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 1_000);
    identify(&mut socket, TOKEN, INTENTS).await;
    let ready = frame(&mut socket).await;
    assert_eq!(
        (ready["t"].as_str(), ready["s"].as_u64()),
        (Some("READY"), Some(1))
    );
    assert_eq!(ready["d"]["v"], 10);
    assert_eq!(ready["d"]["user"]["bot"], true);
    assert_eq!(
        ready["d"]["guilds"][0],
        json!({ "id": GUILD, "unavailable": true })
    );
    assert_eq!(
        ready["d"]["resume_gateway_url"],
        discord.resume_gateway_url()
    );
    let bot_id = ready["d"]["user"]["id"]
        .as_str()
        .expect("bot id")
        .to_owned();
    let guild = frame(&mut socket).await;
    assert_eq!(
        (guild["t"].as_str(), guild["s"].as_u64()),
        (Some("GUILD_CREATE"), Some(2))
    );
    assert_eq!(guild["d"]["threads"][0]["parent_id"], GENERAL);
    let members = guild["d"]["members"].as_array().expect("members");
    assert!(
        members
            .iter()
            .any(|m| m["user"]["id"] == bot_id.as_str() && m["roles"] == json!(["botrole"]))
    );

    let injected = discord
        .user_says(
            TOKEN,
            &Incoming::in_channel(THREAD, ALICE, &format!("hey <@{bot_id}> look")),
        )
        .expect("inject");
    let message = until(&mut socket, 0, "MESSAGE_CREATE").await;
    assert_eq!(message["s"], 3);
    let d = &message["d"];
    assert_eq!(d["id"], injected.id.as_str());
    assert_eq!(
        (
            d["channel_id"].as_str(),
            d["guild_id"].as_str(),
            d["channel_type"].as_u64()
        ),
        (Some(THREAD), Some(GUILD), Some(11))
    );
    assert_eq!(d["author"]["id"], ALICE);
    assert_eq!(d["author"]["username"], "alice");
    assert_eq!(d["member"]["roles"], json!(["r1"]));
    assert_eq!(d["mentions"][0]["id"], bot_id.as_str());
    assert_eq!(
        (
            d["tts"].as_bool(),
            d["pinned"].as_bool(),
            d["type"].as_u64()
        ),
        (Some(false), Some(false), Some(0))
    );
    assert!(d["edited_timestamp"].is_null());

    let dm = discord
        .user_says(TOKEN, &Incoming::dm(ALICE, "private"))
        .expect("dm");
    let d = until(&mut socket, 0, "MESSAGE_CREATE").await["d"].clone();
    assert_eq!(
        (d["channel_id"].as_str(), d["channel_type"].as_u64()),
        (Some(dm.channel_id.as_str()), Some(1))
    );
    assert!(d.get("guild_id").is_none() && d.get("member").is_none());

    send(&mut socket, json!({ "op": 1, "d": 4 })).await;
    assert_eq!(until(&mut socket, 11, "").await["op"], 11);
    let record = &discord.connections(TOKEN)[0];
    assert_eq!(
        (
            record.path.as_str(),
            record.heartbeats,
            record.last_heartbeat_seq
        ),
        ("/gateway", 1, Some(4))
    );
    assert!(record.identified());
}

#[tokio::test]
async fn resume_replays_missed_messages_then_resumed_and_identify_gets_none() {
    let discord = fake().await;
    let mut socket = connect(&discord.gateway_url()).await;
    frame(&mut socket).await;
    identify(&mut socket, TOKEN, INTENTS).await;
    let ready = frame(&mut socket).await;
    let session_id = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    let resume_url = ready["d"]["resume_gateway_url"]
        .as_str()
        .expect("resume url")
        .to_owned();
    let guild = frame(&mut socket).await;
    let seq = guild["s"].as_u64().expect("seq");
    socket
        .close(Some(CloseFrame {
            code: CloseCode::from(4000),
            reason: "zombie".into(),
        }))
        .await
        .expect("close");
    eventually("the close to be seen", || {
        (discord.open_connections(TOKEN) == 0).then_some(())
    })
    .await;

    let first = discord
        .user_says(TOKEN, &Incoming::dm(ALICE, "while away 1"))
        .expect("inject");
    let second = discord
        .user_says(TOKEN, &Incoming::dm(ALICE, "while away 2"))
        .expect("inject");

    let mut resumed = connect(&resume_url).await;
    assert_eq!(frame(&mut resumed).await["op"], 10);
    send(
        &mut resumed,
        json!({ "op": 6, "d": { "token": TOKEN, "session_id": session_id, "seq": seq } }),
    )
    .await;
    let replay_1 = frame(&mut resumed).await;
    let replay_2 = frame(&mut resumed).await;
    let done = frame(&mut resumed).await;
    assert_eq!(replay_1["d"]["id"], first.id.as_str());
    assert_eq!(replay_1["s"], seq + 1);
    assert_eq!(replay_2["d"]["id"], second.id.as_str());
    assert_eq!(
        (done["t"].as_str(), done["s"].as_u64()),
        (Some("RESUMED"), Some(seq + 3))
    );

    let connections = discord.connections(TOKEN);
    assert_eq!(connections[0].close_received, Some(4000));
    assert_eq!(connections[0].ending, Some(Ending::ClientClosed));
    assert_eq!(connections[1].path, "/resume");
    assert!(matches!(
        connections[1].handshakes[0],
        Handshake::Resumed { replayed: 2, .. }
    ));

    // A new session starts from now: IDENTIFY does not get the old messages.
    let mut fresh = connect(&discord.gateway_url()).await;
    frame(&mut fresh).await;
    identify(&mut fresh, TOKEN, INTENTS).await;
    assert_eq!(frame(&mut fresh).await["t"], "READY");
    assert_eq!(frame(&mut fresh).await["t"], "GUILD_CREATE");
    let third = discord
        .user_says(TOKEN, &Incoming::dm(ALICE, "now"))
        .expect("inject");
    assert_eq!(frame(&mut fresh).await["d"]["id"], third.id.as_str());
}

#[tokio::test]
async fn bad_tokens_disallowed_intents_and_unknown_sessions_are_refused() {
    let discord = fake().await;
    let mut socket = connect(&discord.gateway_url()).await;
    frame(&mut socket).await;
    identify(&mut socket, "not-a-token", INTENTS).await;
    assert_eq!(next(&mut socket).await, Err(Some(4004)));

    discord
        .update_knobs(TOKEN, |k| k.message_content_allowed = false)
        .expect("knobs");
    let mut socket = connect(&discord.gateway_url()).await;
    frame(&mut socket).await;
    identify(&mut socket, &format!("Bot {TOKEN}"), INTENTS).await;
    assert_eq!(next(&mut socket).await, Err(Some(4014)));

    let mut socket = connect(&discord.resume_gateway_url()).await;
    frame(&mut socket).await;
    send(
        &mut socket,
        json!({ "op": 6, "d": { "token": TOKEN, "session_id": "nope", "seq": 3 } }),
    )
    .await;
    assert_eq!(
        frame(&mut socket).await,
        json!({ "op": 9, "d": false, "s": null, "t": null })
    );

    discord.revoke_token(TOKEN).expect("revoke");
    let refused = http()
        .get(format!("{}/users/@me", discord.api_base_url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.expect("json"),
        json!({ "message": "401: Unauthorized", "code": 0 })
    );
}

#[tokio::test]
async fn reconnect_request_is_followed_by_a_close_when_the_client_lingers() {
    let discord = fake().await;
    let mut socket = connect(&discord.gateway_url()).await;
    frame(&mut socket).await;
    identify(&mut socket, TOKEN, INTENTS).await;
    until(&mut socket, 0, "GUILD_CREATE").await;
    assert_eq!(discord.send_reconnect(TOKEN), 1);
    assert_eq!(frame(&mut socket).await["op"], 7);
    assert_eq!(next(&mut socket).await, Err(Some(4000)));
}

async fn post_message(discord: &RunningDiscord, channel: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!(
            "{}/channels/{channel}/messages",
            discord.api_base_url()
        ))
        .header("Authorization", format!("Bot {TOKEN}"))
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn enforce_nonce_answers_with_the_first_message() {
    let discord = fake().await;
    let body = json!({ "content": "hello", "nonce": "abc123", "enforce_nonce": true,
                       "allowed_mentions": { "parse": [] } });
    let first = post_message(&discord, GENERAL, body.clone()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let again: Value = post_message(&discord, GENERAL, body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["nonce"], "abc123");
    let sent = discord.sent(TOKEN);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].allowed_mentions, Some(json!({ "parse": [] })));
    assert_eq!(discord.deduplicated_sends(TOKEN), 1);

    // Without enforce_nonce the nonce is only echoed.
    let third: Value = post_message(
        &discord,
        GENERAL,
        json!({ "content": "hello", "nonce": "abc123" }),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_ne!(third["id"], first["id"]);
}

#[tokio::test]
async fn invalid_bodies_get_discords_errors() {
    let discord = fake().await;
    let long = post_message(&discord, GENERAL, json!({ "content": "x".repeat(2001) })).await;
    assert_eq!(long.status(), 400);
    let long: Value = long.json().await.expect("json");
    assert_eq!(long["code"], 50_035);
    assert_eq!(
        long["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    let empty: Value = post_message(&discord, GENERAL, json!({ "content": "" }))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(empty["code"], 50_006);
    let reply = post_message(
        &discord,
        GENERAL,
        json!({ "content": "re", "message_reference": { "message_id": "1" } }),
    )
    .await;
    assert_eq!(reply.status(), 400);
    let unauthenticated = http()
        .post(format!(
            "{}/channels/{GENERAL}/messages",
            discord.api_base_url()
        ))
        .header("Authorization", TOKEN)
        .json(&json!({ "content": "hi" }))
        .send()
        .await
        .expect("request");
    assert_eq!(unauthenticated.status(), 401);
    assert!(discord.sent(TOKEN).is_empty());
}

#[tokio::test]
async fn rate_limits_answer_429_like_discord() {
    let discord = fake().await;
    for n in 0..5 {
        let ok = post_message(&discord, GENERAL, json!({ "content": format!("m{n}") })).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(
            ok.headers()["x-ratelimit-remaining"],
            (4 - n).to_string().as_str()
        );
    }
    let limited = post_message(&discord, GENERAL, json!({ "content": "too many" })).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["x-ratelimit-scope"], "user");
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["message"], "You are being rate limited.");
    assert_eq!(body["global"], false);
    assert!(
        body["retry_after"]
            .as_f64()
            .is_some_and(|secs| secs > 0.0 && secs <= 5.0)
    );

    discord
        .update_knobs(TOKEN, |k| {
            k.rate_limit_next = 1;
            k.retry_after = 2.5;
            k.fail_next = 1;
        })
        .expect("knobs");
    assert_eq!(
        post_message(&discord, THREAD, json!({ "content": "a" }))
            .await
            .status(),
        500
    );
    let forced = post_message(&discord, THREAD, json!({ "content": "b" })).await;
    assert_eq!(forced.status(), 429);
    assert_eq!(forced.headers()["retry-after"], "3");
    assert_eq!(
        forced.json::<Value>().await.expect("json")["retry_after"],
        2.5
    );
    assert_eq!(
        post_message(&discord, THREAD, json!({ "content": "c" }))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn replies_edits_typing_channels_and_attachments() {
    let discord = fake().await;
    let file = AttachmentSpec {
        filename: "a.png".into(),
        content_type: Some("image/png".into()),
        data: vec![1, 2, 3],
    };
    let question = discord
        .user_says(
            TOKEN,
            &Incoming {
                attachments: vec![file],
                ..Incoming::in_channel(GENERAL, ALICE, "see")
            },
        )
        .expect("inject");
    let sent: Value = post_message(
        &discord,
        GENERAL,
        json!({ "content": "answer",
        "message_reference": { "message_id": question.id, "fail_if_not_exists": false } }),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(sent["type"], 19);
    assert_eq!(sent["referenced_message"]["id"], question.id.as_str());
    let url = sent["referenced_message"]["attachments"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let bytes = http()
        .get(&url)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.as_ref(), [1, 2, 3]);
    assert_eq!(discord.attachment_downloads()[0].authorization, None);

    let message_id = sent["id"].as_str().expect("id");
    let edited: Value = http()
        .patch(format!(
            "{}/channels/{GENERAL}/messages/{message_id}",
            discord.api_base_url()
        ))
        .header("Authorization", format!("Bot {TOKEN}"))
        .json(&json!({ "content": "better answer" }))
        .send()
        .await
        .expect("edit")
        .json()
        .await
        .expect("json");
    assert_eq!(edited["content"], "better answer");
    assert!(edited["edited_timestamp"].is_string());
    assert_eq!(discord.sent(TOKEN)[0].content, "better answer");

    let typing = http()
        .post(format!("{}/channels/{GENERAL}/typing", discord.base_url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("typing");
    assert_eq!(typing.status(), 204);
    assert_eq!(discord.typing_in(TOKEN, GENERAL), 1);

    let thread: Value = http()
        .get(format!("{}/channels/{THREAD}", discord.api_base_url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("channel")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (thread["type"].as_u64(), thread["parent_id"].as_str()),
        (Some(11), Some(GENERAL))
    );
}

#[tokio::test]
async fn stopped_acks_and_a_silent_connection_leave_resume_working() {
    let discord = fake().await;
    let mut socket = connect(&discord.gateway_url()).await;
    frame(&mut socket).await;
    identify(&mut socket, TOKEN, INTENTS).await;
    let ready = frame(&mut socket).await;
    let session_id = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    let seq = until(&mut socket, 0, "GUILD_CREATE").await["s"]
        .as_u64()
        .expect("seq");

    assert_eq!(discord.stop_heartbeat_acks(TOKEN), 1);
    send(&mut socket, json!({ "op": 1, "d": seq })).await;
    eventually("the heartbeat", || {
        (discord.heartbeats(TOKEN) == 1).then_some(())
    })
    .await;
    let first = discord
        .user_says(TOKEN, &Incoming::dm(ALICE, "one"))
        .expect("inject");
    let next_frame = frame(&mut socket).await;
    assert_eq!(
        next_frame["d"]["id"],
        first.id.as_str(),
        "no op 11 came before it"
    );

    assert_eq!(discord.go_silent(TOKEN), 1);
    let second = discord
        .user_says(TOKEN, &Incoming::dm(ALICE, "two"))
        .expect("inject");
    let mut resumed = connect(&discord.resume_gateway_url()).await;
    frame(&mut resumed).await;
    send(
        &mut resumed,
        json!({ "op": 6, "d": { "token": TOKEN, "session_id": session_id, "seq": seq + 1 } }),
    )
    .await;
    assert_eq!(frame(&mut resumed).await["d"]["id"], second.id.as_str());
    assert_eq!(frame(&mut resumed).await["t"], "RESUMED");
    let silent = eventually("the silent connection to be dropped", || {
        discord
            .connections(TOKEN)
            .into_iter()
            .find(|c| c.id == 1 && !c.is_open())
    })
    .await;
    assert_eq!(silent.ending, Some(Ending::ServerDropped));
    assert_eq!(discord.open_connections(TOKEN), 1);

    // 4009 ends the session: resuming it afterwards is refused.
    assert_eq!(discord.close(TOKEN, 4009), 1);
    assert_eq!(next(&mut resumed).await, Err(Some(4009)));
    let mut again = connect(&discord.resume_gateway_url()).await;
    frame(&mut again).await;
    send(
        &mut again,
        json!({ "op": 6, "d": { "token": TOKEN, "session_id": session_id, "seq": seq + 3 } }),
    )
    .await;
    assert_eq!(frame(&mut again).await["d"], false);
}
