//! The fake driven by a plain HTTP client, the way a bridge drives signal-cli's daemon.

use std::time::Duration;

use base64::Engine as _;
use pincer_fake_signal::{AttachmentSpec, Fault, Incoming, Person, RunningSignal};
use serde_json::{Value, json};

const BOT: &str = "+15550001111";
const OTHER_BOT: &str = "+15550002222";
const PATIENCE: Duration = Duration::from_secs(10);

async fn fake() -> RunningSignal {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let signal = RunningSignal::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start");
    signal.add_account(BOT).expect("account");
    signal
}

async fn rpc(signal: &RunningSignal, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/rpc", signal.base_url()))
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn call(signal: &RunningSignal, method: &str, params: Value) -> Value {
    let answer: Value = rpc(
        signal,
        &json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(answer["id"], 7, "{answer}");
    answer
}

async fn events(signal: &RunningSignal, query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/api/v1/events{query}", signal.base_url()))
        .send()
        .await
        .expect("events")
}

/// Reads the stream until its text so far contains `needle` (or ends); returns that text.
async fn read_until(stream: &mut reqwest::Response, needle: &str) -> String {
    let mut text = String::new();
    let reading = async {
        while !text.contains(needle) {
            match stream.chunk().await {
                Ok(Some(bytes)) => text.push_str(&String::from_utf8_lossy(&bytes)),
                _ => break,
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("read in time");
    text
}

/// The envelopes in a stream's text.
fn envelopes(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data:")))
        .map(|data| serde_json::from_str(data).expect("json data"))
        .collect()
}

#[tokio::test]
async fn the_three_endpoints_answer_like_signal_cli() {
    let signal = fake().await;
    let check = reqwest::get(format!("{}/api/v1/check", signal.base_url()))
        .await
        .expect("check");
    assert_eq!(check.status(), 200);
    assert_eq!(
        events(&signal, "?account=%2B15559999999").await.status(),
        400
    );
    let stream = events(&signal, "?account=+15550001111").await;
    assert_eq!(stream.status(), 200, "a raw + in the query is a +");
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let plain = reqwest::Client::new()
        .post(format!("{}/api/v1/rpc", signal.base_url()))
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(plain.status(), 415, "JSON bodies only");
    let wrong_host = reqwest::Client::new()
        .post(format!("{}/api/v1/rpc", signal.base_url()))
        .header("host", "attacker.example")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_host.status(), 421);
}

#[tokio::test]
async fn json_rpc_errors_have_signal_clis_codes() {
    let signal = fake().await;
    let unknown = call(&signal, "frobnicate", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601);
    let no_such_account = call(
        &signal,
        "send",
        json!({"account": OTHER_BOT, "recipient": ["+15552223333"], "message": "x"}),
    )
    .await;
    assert_eq!(no_such_account["error"]["code"], -32602);
    assert_eq!(
        no_such_account["error"]["message"],
        "Specified account does not exist"
    );
    let wrong_type = call(
        &signal,
        "send",
        json!({"account": BOT, "recipient": ["+15552223333"], "message": 5}),
    )
    .await;
    assert_eq!(wrong_type["error"]["code"], -32602);
    let empty = call(
        &signal,
        "send",
        json!({"account": BOT, "recipient": "+15552223333"}),
    )
    .await;
    assert_eq!(empty["error"]["code"], -1);
    let nobody = call(&signal, "send", json!({"account": BOT, "message": "x"})).await;
    assert_eq!(nobody["error"]["message"], "No recipients given");
    let bad_group = call(
        &signal,
        "send",
        json!({"account": BOT, "groupId": "R3JvdXBJZEdyb3VwSWRHcm91cElkR3JvdXBJZDA=", "message": "x"}),
    )
    .await;
    assert_eq!(bad_group["error"]["code"], -1);
    let quote = call(
        &signal,
        "send",
        json!({"account": BOT, "recipient": ["+15552223333"], "message": "x", "quoteTimestamp": 5}),
    )
    .await;
    assert_eq!(
        quote["error"]["message"],
        "Quote author parameter is missing"
    );

    let parse: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/rpc", signal.base_url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(parse["error"]["code"], -32700);
    let no_method = rpc(&signal, &json!({"jsonrpc": "2.0", "id": 1})).await;
    let no_method: Value = no_method.json().await.expect("json");
    assert_eq!(no_method["error"]["code"], -32600);
    let notification = rpc(
        &signal,
        &json!({"jsonrpc": "2.0", "method": "version", "params": {"account": BOT}}),
    )
    .await;
    assert_eq!(notification.status(), 201, "no id: no answer");
    signal.add_account(OTHER_BOT).expect("second account");
    let ambiguous = call(&signal, "version", json!({})).await;
    assert_eq!(ambiguous["error"]["code"], -32602, "two accounts: name one");
    let batch: Value = rpc(
        &signal,
        &json!([
            {"jsonrpc": "2.0", "method": "version", "params": {"account": BOT}, "id": 1},
            {"jsonrpc": "2.0", "method": "listAccounts", "id": 2}
        ]),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(batch[1]["result"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn messages_wait_for_a_stream_and_arrive_as_signal_cli_writes_them() {
    let signal = fake().await;
    let ana = Person::new("+15552223333", "Ana");
    let first = signal
        .say(BOT, &Incoming::dm(&ana, "while nobody listens"))
        .expect("say");
    assert_eq!(signal.queued(BOT), 1);
    signal.set_keepalive(Duration::from_millis(50));
    let mut stream = events(&signal, "?account=%2B15550001111").await;
    let text = read_until(&mut stream, "\n\n").await;
    assert!(text.starts_with("event:receive\ndata:{"), "{text:?}");
    let envelope = &envelopes(&text)[0];
    assert_eq!(envelope["account"], BOT);
    assert_eq!(
        envelope["envelope"]["sourceNumber"],
        ana.number.clone().expect("number")
    );
    assert_eq!(envelope["envelope"]["sourceUuid"], ana.uuid);
    assert_eq!(envelope["envelope"]["timestamp"], first.timestamp);
    assert_eq!(
        envelope["envelope"]["dataMessage"]["message"],
        "while nobody listens"
    );
    assert_eq!(signal.queued(BOT), 0);

    let group = signal.add_group(BOT, "Team", &[&ana]).expect("group");
    let bot = signal
        .world()
        .read(BOT, |a| a.identity.person())
        .expect("bot");
    signal
        .say(
            BOT,
            &Incoming::in_group(&group, &ana, "hey").mentioning(&bot),
        )
        .expect("say");
    let text = read_until(&mut stream, "groupInfo").await;
    let text = text + &read_until(&mut stream, "\n:\n").await;
    let envelope = envelopes(&text).pop().expect("an envelope");
    let data = &envelope["envelope"]["dataMessage"];
    assert_eq!(data["groupInfo"]["groupId"], group);
    assert_eq!(data["message"], "\u{fffc} hey");
    assert_eq!(data["mentions"][0]["number"], BOT);
    assert_eq!(data["mentions"][0]["start"], 0);
    assert!(text.contains("\n:\n"), "keep-alives: {text:?}");
    assert_eq!(signal.deliveries(BOT).len(), 2);
}

#[tokio::test]
async fn sends_typing_and_attachments() {
    let signal = fake().await;
    let ana = Person::new("+15552223333", "Ana");
    let sent = call(
        &signal,
        "send",
        json!({"account": BOT, "recipient": [ana.uuid], "message": "hello", "quoteTimestamp": 42, "quoteAuthor": ana.uuid}),
    )
    .await;
    let timestamp = sent["result"]["timestamp"].as_u64().expect("timestamp");
    assert_eq!(sent["result"]["results"][0]["type"], "SUCCESS");
    let record = &signal.sent(BOT)[0];
    assert_eq!(record.timestamp, timestamp);
    assert_eq!(record.quote, Some((42, ana.uuid.clone())));
    assert!(record.to(&ana.uuid));

    let group = signal.add_group(BOT, "Team", &[&ana]).expect("group");
    let in_group = call(
        &signal,
        "send",
        json!({"account": BOT, "groupId": group, "message": "all"}),
    )
    .await;
    assert_eq!(in_group["result"]["results"][0]["groupId"], group);
    let typing = call(
        &signal,
        "sendTyping",
        json!({"account": BOT, "groupId": group, "stop": true}),
    )
    .await;
    assert!(typing["result"]["timestamp"].is_u64());
    assert!(signal.typing(BOT)[0].stop);

    let photo = signal
        .say(
            BOT,
            &Incoming::dm(&ana, "").with_attachment(AttachmentSpec {
                content_type: "image/png".into(),
                filename: Some("cat.png".into()),
                data: vec![1, 2, 3, 250],
            }),
        )
        .expect("say");
    let id = &photo.attachment_ids[0];
    let fetched = call(
        &signal,
        "getAttachment",
        json!({"account": BOT, "id": id, "recipient": ana.uuid}),
    )
    .await;
    let data = fetched["result"]["data"].as_str().expect("data");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64"),
        [1, 2, 3, 250]
    );
    let missing = call(
        &signal,
        "getAttachment",
        json!({"account": BOT, "id": "nope"}),
    )
    .await;
    assert_eq!(missing["error"]["code"], -1);
    assert_eq!(signal.attachment_downloads().len(), 2);
}

#[tokio::test]
async fn forced_failures_look_like_signal_clis() {
    let signal = fake().await;
    signal
        .fail_next(
            BOT,
            "send",
            1,
            Fault::RateLimit {
                retry_after_secs: 3,
            },
        )
        .expect("fault");
    signal
        .fail_next(BOT, "send", 1, Fault::Http(503))
        .expect("fault");
    let params = json!({"account": BOT, "recipient": ["+15552223333"], "message": "x"});
    let limited = call(&signal, "send", params.clone()).await;
    assert_eq!(limited["error"]["code"], -5);
    assert_eq!(
        limited["error"]["data"]["response"]["results"][0]["retryAfterSeconds"],
        3
    );
    let down = rpc(
        &signal,
        &json!({"jsonrpc": "2.0", "method": "send", "params": params, "id": 1}),
    )
    .await;
    assert_eq!(down.status(), 503);
    assert!(call(&signal, "send", params).await["result"].is_object());
    assert_eq!(signal.sent(BOT).len(), 1, "failed sends are not sent");
    signal.mark_unregistered(BOT, "+15554445555").expect("mark");
    let gone = call(
        &signal,
        "send",
        json!({"account": BOT, "recipient": ["+15554445555"], "message": "x"}),
    )
    .await;
    assert_eq!(
        gone["error"]["data"]["response"]["results"][0]["type"],
        "UNREGISTERED_FAILURE"
    );
}

#[tokio::test]
async fn drops_cuts_and_replays() {
    let signal = fake().await;
    let ana = Person::new("+15552223333", "Ana");
    let mut stream = events(&signal, "?account=%2B15550001111").await;
    signal.say(BOT, &Incoming::dm(&ana, "one")).expect("say");
    read_until(&mut stream, "\n\n").await;

    signal.cut_next_event(BOT).expect("knob");
    signal.say(BOT, &Incoming::dm(&ana, "two")).expect("say");
    let cut = read_until(&mut stream, "never there").await;
    assert!(
        cut.starts_with("event:receive\ndata:{") && !cut.ends_with("\n\n"),
        "{cut:?}"
    );
    assert_eq!(signal.queued(BOT), 1, "the cut envelope waits");
    assert_eq!(signal.open_streams(BOT), 0);

    signal.replay_on_next_connect(BOT, 1).expect("knob");
    let mut again = events(&signal, "?account=%2B15550001111").await;
    let text = read_until(&mut again, "\"two\"").await;
    let texts: Vec<Value> = envelopes(&text)
        .iter()
        .map(|e| e["envelope"]["dataMessage"]["message"].clone())
        .collect();
    assert_eq!(texts, [json!("one"), json!("two")], "the replay first");
    let deliveries = signal.deliveries(BOT);
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries[1].replay && !deliveries[2].replay);
    assert_eq!(deliveries[0].timestamp, deliveries[1].timestamp);

    assert_eq!(signal.drop_streams(BOT), 1);
    let rest = read_until(&mut again, "never there").await;
    assert!(!rest.contains("event:"), "the stream just ended: {rest:?}");
    assert_eq!(signal.max_concurrent_streams(BOT), 1);
    assert!(signal.streams().iter().all(|s| s.closed_ms.is_some()));
}

#[tokio::test]
async fn the_control_api_plays_people_and_reads_records() {
    let signal = fake().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/control{path}", signal.base_url());
    let added: Value = http
        .post(control("/accounts"))
        .json(&json!({"number": OTHER_BOT}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(added["number"], OTHER_BOT);
    let ana = Person::new("+15552223333", "Ana");
    let said: Value = http
        .post(control(&format!("/accounts/{OTHER_BOT}/messages")))
        .json(&Incoming::dm(&ana, "over http"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(said["timestamp"].is_u64(), "{said}");
    assert_eq!(signal.queued(OTHER_BOT), 1);
    call(
        &signal,
        "send",
        json!({"account": OTHER_BOT, "recipient": [ana.uuid], "message": "hi"}),
    )
    .await;
    let sent: Value = http
        .get(control(&format!("/accounts/{OTHER_BOT}/sent")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(sent[0]["text"], "hi");
    let unknown = http
        .get(control("/accounts/+19999999999/sent"))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
}
