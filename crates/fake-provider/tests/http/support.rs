//! Helpers: start a fake, a client, and frame parsers.

use std::net::SocketAddr;
use std::sync::Once;

use pincer_fake_provider::{FakeProvider, Knobs, RunningFake};
use serde_json::Value;

pub async fn start(knobs: Knobs) -> RunningFake {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    FakeProvider::start(knobs, loopback)
        .await
        .expect("fake starts")
}

/// A client; installs the rustls crypto provider reqwest needs (even for plain HTTP).
pub fn client() -> reqwest::Client {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another test binary thread may have installed it first; either way one is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().build().expect("client builds")
}

/// GETs `url` and parses the JSON body.
pub async fn get_json(url: &str) -> Value {
    client()
        .get(url)
        .send()
        .await
        .expect("GET answers")
        .json()
        .await
        .expect("GET body is JSON")
}

/// POSTs `body` (already JSON text) and returns (status, content-type, body text).
pub async fn post_raw(url: &str, body: String) -> (u16, String, String) {
    let response = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ASCII content-type").to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.text().await.expect("body reads"),
    )
}

pub async fn post(url: &str, body: &Value) -> (u16, String, String) {
    post_raw(url, body.to_string()).await
}

/// Every NDJSON line parsed; panics on a line that is not JSON.
pub fn ndjson(text: &str) -> Vec<Value> {
    assert!(text.ends_with('\n'), "NDJSON ends with a newline: {text:?}");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// The `data:` payloads of an SSE body, checking `data: ...\n\n` framing.
pub fn sse_data(text: &str) -> Vec<String> {
    assert!(
        text.ends_with("\n\n"),
        "SSE ends with a blank line: {text:?}"
    );
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"))
                .to_owned()
        })
        .collect()
}

/// The `(event, data)` pairs of an SSE body with named events (Anthropic's framing), checking
/// `event: <name>\ndata: <json>\n\n` and that each data's `type` is its event name.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    assert!(
        text.ends_with("\n\n"),
        "SSE ends with a blank line: {text:?}"
    );
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let (name, data) = event
                .strip_prefix("event: ")
                .and_then(|rest| rest.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not a named event: {event:?}"));
            let data: Value =
                serde_json::from_str(data).unwrap_or_else(|e| panic!("{data:?}: {e}"));
            assert_eq!(data["type"], name, "type matches the event name");
            (name.to_owned(), data)
        })
        .collect()
}

/// POSTs `body` with extra headers; returns (status, headers, body text).
pub async fn post_with(
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = client().post(url).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body reads"))
}

pub fn tools() -> Value {
    serde_json::json!([{"type": "function", "function": {
        "name": "get_weather", "description": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}
