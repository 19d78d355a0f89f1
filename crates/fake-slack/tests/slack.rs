//! The fake driven by a plain client (reqwest + tokio-tungstenite), as a bridge would drive Slack.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use futures::{SinkExt, StreamExt};
use pincer_fake_slack::{ChannelKind, HttpRetryPolicy, Incoming, RunningSlack, SigningFault};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const APP: &str = "xapp-1-A1-1-secret";
const BOT: &str = "xoxb-1-1-secret";
const USER: &str = "U0ALICE0001";
const CHANNEL: &str = "C0GENERAL01";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const PATIENCE: Duration = Duration::from_secs(10);

async fn fake() -> RunningSlack {
    let slack = RunningSlack::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start");
    slack.add_app(APP, BOT).expect("app");
    slack
}

/// Calls `method` as Slack's clients do: a JSON body for writes, a form for the reads
/// (`conversations.*`), which Slack does not read from JSON.
async fn call(slack: &RunningSlack, token: &str, method: &str, args: Value) -> reqwest::Response {
    let request = reqwest::Client::new()
        .post(format!("{}/{method}", slack.api_base_url()))
        .bearer_auth(token);
    let request = if method.starts_with("conversations.") {
        let mut form = reqwest::Url::parse("http://form.invalid/").expect("url");
        for (key, value) in args.as_object().into_iter().flatten() {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            form.query_pairs_mut().append_pair(key, &value);
        }
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.query().unwrap_or_default().to_owned())
    } else {
        request.json(&args)
    };
    request.send().await.expect("request")
}

async fn api(slack: &RunningSlack, token: &str, method: &str, args: Value) -> Value {
    call(slack, token, method, args)
        .await
        .json()
        .await
        .expect("json")
}

async fn open_socket(slack: &RunningSlack) -> Socket {
    let opened = api(slack, APP, "apps.connections.open", json!({})).await;
    let url = opened["url"].as_str().expect("url");
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    socket
}

/// The next JSON frame, or `None` once the server closed.
async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("json"));
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn frame(socket: &mut Socket) -> Value {
    next(socket).await.expect("a frame, not a close")
}

async fn ack(socket: &mut Socket, envelope: &Value) {
    let ack = json!({ "envelope_id": envelope["envelope_id"] });
    socket
        .send(Message::text(ack.to_string()))
        .await
        .expect("ack");
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
async fn auth_test_and_token_errors() {
    let slack = fake().await;
    let me = api(&slack, BOT, "auth.test", json!({})).await;
    let identity = slack
        .world()
        .read_app(APP, |app| app.identity.clone())
        .expect("app");
    assert_eq!(me["ok"], true);
    assert_eq!(me["user_id"], identity.bot_user_id.as_str());
    assert_eq!(me["bot_id"], identity.bot_id.as_str());
    assert_eq!(me["team_id"], identity.team_id.as_str());
    assert!(me["url"].is_string() && me["team"].is_string() && me["user"].is_string());

    assert_eq!(
        api(&slack, "xoxb-nope", "auth.test", json!({})).await["error"],
        "invalid_auth"
    );
    assert_eq!(
        api(
            &slack,
            APP,
            "chat.postMessage",
            json!({ "channel": CHANNEL, "text": "x" })
        )
        .await["error"],
        "not_allowed_token_type"
    );
    assert_eq!(
        api(&slack, BOT, "apps.connections.open", json!({})).await["error"],
        "not_allowed_token_type"
    );
    let unauthenticated: Value = reqwest::Client::new()
        .post(format!("{}/auth.test", slack.api_base_url()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        unauthenticated,
        json!({ "ok": false, "error": "not_authed" })
    );

    // Form bodies, as many clients send them.
    let posted: Value = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", slack.api_base_url()))
        .bearer_auth(BOT)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("channel=C0GENERAL01&text=hello+there")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(posted["message"]["text"], "hello there");

    slack.revoke_token(BOT);
    assert_eq!(
        api(&slack, BOT, "auth.test", json!({})).await["error"],
        "token_revoked"
    );
}

#[tokio::test]
async fn socket_mode_hello_envelopes_and_acks() {
    let slack = fake().await;
    let identity = slack
        .world()
        .read_app(APP, |app| app.identity.clone())
        .expect("app");
    let opened = api(&slack, APP, "apps.connections.open", json!({})).await;
    let url = opened["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!(
        "ws://{}/link/?ticket=",
        slack.base_url().trim_start_matches("http://")
    )));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let hello = frame(&mut socket).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["num_connections"], 1);
    assert_eq!(hello["connection_info"]["app_id"], identity.app_id.as_str());
    assert!(hello["debug_info"]["approximate_connection_time"].is_number());
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "tickets are single use"
    );

    let text = format!("hi <@{}> there", identity.bot_user_id);
    let injected = slack
        .user_says(
            APP,
            &Incoming {
                thread_ts: Some("1700000000.000100".into()),
                ..Incoming::in_channel(CHANNEL, USER, &text)
            },
        )
        .expect("inject");
    let message = frame(&mut socket).await;
    let mention = frame(&mut socket).await;
    assert_eq!(message["type"], "events_api");
    assert_eq!(message["accepts_response_payload"], false);
    assert_eq!(
        (
            message["retry_attempt"].as_u64(),
            message["retry_reason"].as_str()
        ),
        (Some(0), Some(""))
    );
    let payload = &message["payload"];
    assert_eq!(payload["type"], "event_callback");
    assert_eq!(payload["api_app_id"], identity.app_id.as_str());
    assert_eq!(
        payload["authorizations"][0]["user_id"],
        identity.bot_user_id.as_str()
    );
    let event = &payload["event"];
    assert_eq!(
        (event["type"].as_str(), event["channel_type"].as_str()),
        (Some("message"), Some("channel"))
    );
    assert_eq!(
        (
            event["channel"].as_str(),
            event["user"].as_str(),
            event["text"].as_str()
        ),
        (Some(CHANNEL), Some(USER), Some(text.as_str()))
    );
    assert_eq!(event["ts"], injected.ts.as_str());
    assert_eq!(event["event_ts"], injected.ts.as_str());
    assert_eq!(event["thread_ts"], "1700000000.000100");
    assert_eq!(mention["payload"]["event"]["type"], "app_mention");
    assert_eq!(mention["payload"]["event"]["ts"], injected.ts.as_str());
    assert_ne!(mention["payload"]["event_id"], payload["event_id"]);
    ack(&mut socket, &message).await;
    ack(&mut socket, &mention).await;
    eventually("both acks", || (slack.acks(APP).len() == 2).then_some(())).await;
    assert!(
        slack
            .envelopes(APP)
            .iter()
            .all(|e| e.acked && e.deliveries == 1)
    );

    // A DM: no app_mention even when the bot is named.
    let dm = slack
        .user_says(APP, &Incoming::dm(USER, &text))
        .expect("dm");
    assert_eq!(dm.event_ids.len(), 1);
    let event = frame(&mut socket).await["payload"]["event"].clone();
    assert_eq!(
        (event["channel_type"].as_str(), event["channel"].as_str()),
        (Some("im"), Some(dm.channel.as_str()))
    );
}

#[tokio::test]
async fn an_unacked_envelope_is_redelivered_with_retry_attempt_1() {
    let slack = fake().await;
    slack
        .update_knobs(APP, |k| k.ack_timeout_ms = 300)
        .expect("knobs");
    let mut socket = open_socket(&slack).await;
    assert_eq!(frame(&mut socket).await["type"], "hello");
    slack
        .user_says(APP, &Incoming::dm(USER, "hello"))
        .expect("inject");
    let first = frame(&mut socket).await;
    let again = frame(&mut socket).await;
    assert_eq!(again["envelope_id"], first["envelope_id"]);
    assert_eq!(again["payload"]["event_id"], first["payload"]["event_id"]);
    assert_eq!(
        (
            again["retry_attempt"].as_u64(),
            again["retry_reason"].as_str()
        ),
        (Some(1), Some("timeout"))
    );
    ack(&mut socket, &again).await;
    eventually("the ack", || slack.envelopes(APP)[0].acked.then_some(())).await;
    assert_eq!(slack.redelivered(APP), 1);
}

#[tokio::test]
async fn refresh_opens_the_new_socket_before_the_old_one_closes() {
    let slack = fake().await;
    let mut old = open_socket(&slack).await;
    frame(&mut old).await;
    let told = slack
        .disconnect(APP, "refresh_requested")
        .expect("disconnect");
    let disconnect = frame(&mut old).await;
    assert_eq!(
        (disconnect["type"].as_str(), disconnect["reason"].as_str()),
        (Some("disconnect"), Some("refresh_requested"))
    );

    let mut new = open_socket(&slack).await;
    assert_eq!(frame(&mut new).await["num_connections"], 2);
    // Events now go to the new socket.
    slack
        .user_says(APP, &Incoming::dm(USER, "after refresh"))
        .expect("inject");
    let envelope = frame(&mut new).await;
    ack(&mut new, &envelope).await;
    old.close(None).await.expect("close old");
    let record = eventually("the old socket to close", || {
        slack
            .disconnects(APP)
            .into_iter()
            .find(|d| d.socket == told && d.closed_ms.is_some())
    })
    .await;
    assert!(record.overlapped());
    assert_eq!(record.closed_by_client, Some(true));
    assert_eq!(slack.max_concurrent_sockets(APP), 2);
    assert_eq!(slack.open_sockets(APP), 1);

    // A client that ignores `disconnect` is closed after the grace.
    slack
        .update_knobs(APP, |k| k.disconnect_grace_ms = 200)
        .expect("knobs");
    slack.disconnect(APP, "warning").expect("disconnect");
    assert_eq!(frame(&mut new).await["reason"], "warning");
    assert_eq!(next(&mut new).await, None);
    let record = eventually("the close", || {
        slack
            .disconnects(APP)
            .into_iter()
            .find(|d| d.reason == "warning" && d.closed_ms.is_some())
    })
    .await;
    assert_eq!(
        (record.closed_by_client, record.replacement),
        (Some(false), None)
    );
}

#[tokio::test]
async fn posts_threads_metadata_history_updates_and_limits() {
    let slack = fake().await;
    let root = slack
        .user_says(APP, &Incoming::in_channel(CHANNEL, USER, "question"))
        .expect("inject");
    let metadata = json!({ "event_type": "pincer_outbound", "event_payload": { "id": "out-1" } });
    let posted = api(
        &slack,
        BOT,
        "chat.postMessage",
        json!({ "channel": CHANNEL, "text": "…", "thread_ts": root.ts,
        "mrkdwn": true, "unfurl_links": false, "metadata": metadata }),
    )
    .await;
    assert_eq!(posted["ok"], true);
    assert_eq!(posted["message"]["thread_ts"], root.ts.as_str());
    let ts = posted["ts"].as_str().expect("ts").to_owned();
    assert!(
        ts.split_once('.')
            .is_some_and(|(_, micros)| micros.len() == 6)
    );
    let updated = api(
        &slack,
        BOT,
        "chat.update",
        json!({ "channel": CHANNEL, "ts": ts, "text": "answer" }),
    )
    .await;
    assert_eq!(updated["text"], "answer");
    assert_eq!(slack.posted(APP)[0].metadata, Some(metadata.clone()));
    assert_eq!(slack.posted(APP)[0].text, "answer");

    let replies = api(
        &slack,
        BOT,
        "conversations.replies",
        json!({ "channel": CHANNEL, "ts": root.ts, "include_all_metadata": true }),
    )
    .await;
    let messages = replies["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["reply_count"], 1);
    assert_eq!(messages[1]["metadata"], metadata);
    let as_json: Value = reqwest::Client::new()
        .post(format!("{}/conversations.history", slack.api_base_url()))
        .bearer_auth(BOT)
        .json(&json!({ "channel": CHANNEL }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        as_json["ok"], false,
        "a read method takes no JSON body: {as_json}"
    );
    let history = api(
        &slack,
        BOT,
        "conversations.history",
        json!({ "channel": CHANNEL, "limit": 10 }),
    )
    .await;
    assert_eq!(
        history["messages"].as_array().map(Vec::len),
        Some(1),
        "replies stay in their thread"
    );

    api(
        &slack,
        BOT,
        "chat.postMessage",
        json!({ "channel": CHANNEL, "text": "top level", "metadata": metadata }),
    )
    .await;
    let history = api(
        &slack,
        BOT,
        "conversations.history",
        json!({ "channel": CHANNEL, "include_all_metadata": true }),
    )
    .await;
    assert_eq!(history["messages"][0]["text"], "top level", "newest first");
    assert_eq!(history["messages"][0]["metadata"], metadata);

    let info = api(
        &slack,
        BOT,
        "conversations.info",
        json!({ "channel": "D0DIRECT001" }),
    )
    .await;
    assert_eq!(
        (
            info["channel"]["is_im"].as_bool(),
            info["channel"]["is_channel"].as_bool()
        ),
        (Some(true), Some(false))
    );
    slack.add_channel("C0SECRET001", ChannelKind::Group, "secret");
    assert_eq!(
        api(
            &slack,
            BOT,
            "conversations.info",
            json!({ "channel": "C0SECRET001" })
        )
        .await["channel"]["is_private"],
        true
    );

    let long = api(
        &slack,
        BOT,
        "chat.postMessage",
        json!({ "channel": CHANNEL, "text": "x".repeat(40_001) }),
    )
    .await;
    assert_eq!(long["error"], "msg_too_long");
    slack
        .rate_limit_next(APP, "chat.postMessage", 1, 7)
        .expect("force");
    let limited = call(
        &slack,
        BOT,
        "chat.postMessage",
        json!({ "channel": CHANNEL, "text": "x" }),
    )
    .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(
        limited.json::<Value>().await.expect("json"),
        json!({ "ok": false, "error": "ratelimited" })
    );
    assert_eq!(
        api(
            &slack,
            BOT,
            "chat.postMessage",
            json!({ "channel": CHANNEL, "text": "x" })
        )
        .await["ok"],
        true
    );
}

#[tokio::test]
async fn the_bots_own_posts_echo_back_when_asked() {
    let slack = fake().await;
    slack
        .update_knobs(APP, |k| k.echo_bot_messages = true)
        .expect("knobs");
    let identity = slack
        .world()
        .read_app(APP, |app| app.identity.clone())
        .expect("app");
    let mut socket = open_socket(&slack).await;
    frame(&mut socket).await;
    api(
        &slack,
        BOT,
        "chat.postMessage",
        json!({ "channel": "D0DIRECT001", "text": "mine" }),
    )
    .await;
    let event = frame(&mut socket).await["payload"]["event"].clone();
    assert_eq!(
        (event["bot_id"].as_str(), event["user"].as_str()),
        (
            Some(identity.bot_id.as_str()),
            Some(identity.bot_user_id.as_str())
        )
    );
    assert!(event.get("subtype").is_none());
}

/// What the test receiver saw: (headers, raw body) of each request.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A receiver that checks Slack's signature with ring, refuses stale requests, answers the
/// url_verification challenge, and fails the first `fail_first` deliveries with 500.
async fn receiver(fail_first: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
        let log = log.clone();
        async move {
            let stamp = headers
                .get("x-slack-request-timestamp")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let signature = headers
                .get("x-slack-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            log.lock().expect("lock").push((headers, body.to_vec()));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs();
            let fresh = stamp.parse::<u64>().is_ok_and(|t| now.abs_diff(t) <= 300);
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
            let tag: Option<Vec<u8>> = signature.strip_prefix("v0=").and_then(|hex| {
                (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|b| u8::from_str_radix(b, 16).ok())
                    })
                    .collect()
            });
            let signed = [b"v0:".as_slice(), stamp.as_bytes(), b":", &body].concat();
            let genuine = tag.is_some_and(|tag| ring::hmac::verify(&key, &signed, &tag).is_ok());
            if !fresh || !genuine {
                return (StatusCode::UNAUTHORIZED, String::new());
            }
            let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
            if payload["type"] == "url_verification" {
                return (
                    StatusCode::OK,
                    payload["challenge"].as_str().unwrap_or_default().to_owned(),
                );
            }
            let deliveries = log
                .lock()
                .expect("lock")
                .iter()
                .filter(|(_, b)| {
                    serde_json::from_slice::<Value>(b).is_ok_and(|p| p["type"] == "event_callback")
                })
                .count();
            if deliveries <= fail_first {
                return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
            }
            (StatusCode::OK, String::new())
        }
    };
    let app = axum::Router::new().route("/slack/events", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/slack/events",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn http_events_are_signed_retried_and_verifiable() {
    let slack = fake().await;
    slack.set_http_retry_policy(HttpRetryPolicy {
        timeout_ms: 3_000,
        retry_delays_ms: vec![0, 10, 10],
    });
    let (url, seen) = receiver(1).await;

    let verification = slack
        .url_verification(&url, SECRET)
        .await
        .expect("verification");
    assert!(verification.verified, "{verification:?}");

    let deliveries = slack
        .user_says_http(APP, &url, SECRET, &Incoming::dm(USER, "over http"))
        .await
        .expect("deliver");
    let delivery = &deliveries[0];
    assert!(delivery.delivered);
    assert_eq!(
        delivery
            .attempts
            .iter()
            .map(|a| a.status)
            .collect::<Vec<_>>(),
        [Some(500), Some(200)]
    );
    let requests = seen.lock().expect("lock").clone();
    let (retry_headers, body) = &requests[2];
    assert_eq!(retry_headers["x-slack-retry-num"], "1");
    assert_eq!(retry_headers["x-slack-retry-reason"], "http_error");
    assert!(requests[1].0.get("x-slack-retry-num").is_none());
    let payload: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(
        (payload["type"].as_str(), payload["event"]["text"].as_str()),
        (Some("event_callback"), Some("over http"))
    );

    let payload = json!({ "type": "event_callback", "event": { "type": "message" } });
    for (fault, status) in [
        (SigningFault::None, 200),
        (SigningFault::BadSignature, 401),
        (SigningFault::Stale, 401),
        (SigningFault::Unsigned, 401),
    ] {
        let (answer, _) = slack
            .post_signed(&url, SECRET, &payload, fault)
            .await
            .expect("post");
        assert_eq!(answer, status, "{fault:?}");
    }
}
