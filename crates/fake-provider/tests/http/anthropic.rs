//! Anthropic Messages wire format.

use pincer_fake_provider::{Failure, Knobs, ToolMode};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::{post_with, sse_events, start};

const OLD: &str = "2023-06-01";
const NEW: &str = "2026-10-21";

/// POSTs to `/v1/messages` with an `x-api-key` and the given API version.
async fn messages(base: &str, version: &str, body: &Value) -> (u16, HeaderMap, String) {
    post_with(
        &format!("{base}/v1/messages"),
        body,
        &[("anthropic-version", version), ("x-api-key", "sk-ant-test")],
    )
    .await
}

fn hello(stream: bool) -> Value {
    json!({"model": "claude-test", "max_tokens": 256, "stream": stream,
           "system": "be brief", "messages": [{"role": "user", "content": "hello there"}]})
}

fn weather_tools() -> Value {
    json!([{"name": "get_weather", "description": "weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"})
}

#[tokio::test]
async fn non_stream_message_has_the_full_shape() {
    let fake = start(Knobs {
        tokens: 3,
        ..Knobs::default()
    })
    .await;
    let (status, headers, text) = messages(&fake.base_url(), NEW, &hello(false)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["request-id"], "req_fake");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reply,
        json!({
            "id": "msg_fake00000001", "type": "message", "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": "alpha bravo charlie"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            // "be brief" + "hello there" = 19 chars = 4 tokens.
            "usage": {"input_tokens": 4, "output_tokens": 3, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0},
        })
    );
    let recorded = &fake.requests()[0];
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.headers["anthropic-version"], NEW);
    assert_eq!(recorded.headers["x-api-key"], "sk-ant-test");
}

#[tokio::test]
async fn max_tokens_cuts_the_reply() {
    let fake = start(Knobs::default()).await;
    let mut body = hello(false);
    body["max_tokens"] = json!(2);
    let (_, _, text) = messages(&fake.base_url(), OLD, &body).await;
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["content"][0]["text"], "alpha bravo");
    assert_eq!(reply["stop_reason"], "max_tokens");
    assert_eq!(reply["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn stream_events_come_in_the_real_order() {
    let fake = start(Knobs {
        tokens: 3,
        ..Knobs::default()
    })
    .await;
    let (status, headers, text) = messages(&fake.base_url(), NEW, &hello(true)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    let events = sse_events(&text);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[0].1["message"],
        json!({"id": "msg_fake00000001", "type": "message", "role": "assistant",
               "model": "claude-test", "content": [], "stop_reason": null,
               "stop_sequence": null,
               "usage": {"input_tokens": 4, "output_tokens": 1,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
    );
    assert_eq!(
        events[2].1,
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}})
    );
    let words: Vec<Value> = events[3..6]
        .iter()
        .map(|(_, d)| d["delta"].clone())
        .collect();
    assert_eq!(
        words,
        [
            json!({"type": "text_delta", "text": "alpha"}),
            json!({"type": "text_delta", "text": " bravo"}),
            json!({"type": "text_delta", "text": " charlie"})
        ]
    );
    assert_eq!(
        events[6].1,
        json!({"type": "content_block_stop", "index": 0})
    );
    assert_eq!(
        events[7].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 3}})
    );
    assert_eq!(fake.stats().chat_stream, 1);
}

#[tokio::test]
async fn tool_use_streams_input_json_deltas_that_reassemble() {
    let args = json!({"city": "Zürich", "days": [1, 2, 3]});
    let fake = start(Knobs {
        tool_mode: ToolMode::First,
        tool_args: args.clone(),
        ..Knobs::default()
    })
    .await;
    let mut body = hello(true);
    body["tools"] = weather_tools();
    let (status, _, text) = messages(&fake.base_url(), NEW, &body).await;
    assert_eq!(status, 200);
    let events = sse_events(&text);
    let (first, last) = (2, events.len() - 4);
    assert_eq!(
        events[first].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_fake000001", "name": "get_weather",
               "input": {}})
    );
    let pieces: Vec<&str> = events[first + 1..=last]
        .iter()
        .map(|(name, data)| {
            assert_eq!(name, "content_block_delta");
            assert_eq!(data["delta"]["type"], "input_json_delta");
            data["delta"]["partial_json"].as_str().unwrap()
        })
        .collect();
    assert!(pieces.len() >= 2, "input arrives in pieces: {pieces:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&pieces.concat()).unwrap(),
        args
    );
    assert_eq!(
        names(&events[last + 1..]),
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert_eq!(events[last + 2].1["delta"]["stop_reason"], "tool_use");

    // Answered with a tool_result, the next turn gets text; non-streamed tool_use shape.
    let follow_up = json!({"model": "claude-test", "max_tokens": 64, "tools": weather_tools(),
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_fake000001",
                                               "name": "get_weather", "input": args}]},
            {"role": "user", "content": [{"type": "tool_result",
                                          "tool_use_id": "toolu_fake000001",
                                          "content": [{"type": "text", "text": "9C"}]}]}]});
    let (status, _, text) = messages(&fake.base_url(), NEW, &follow_up).await;
    assert_eq!(status, 200, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["stop_reason"], "end_turn");
    assert_eq!(reply["content"][0]["type"], "text");
    let stats = fake.stats();
    assert_eq!((stats.tool_calls, stats.tool_results_seen), (1, 1));

    let mut ask = hello(false);
    ask["tools"] = weather_tools();
    let (_, _, text) = messages(&fake.base_url(), OLD, &ask).await;
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reply["content"],
        json!([{"type": "tool_use", "id": "toolu_fake000003", "name": "get_weather",
                "input": args}])
    );
    assert_eq!(reply["stop_reason"], "tool_use");
}

#[tokio::test]
async fn sampling_parameters_are_refused_from_2026_10_21() {
    let fake = start(Knobs::default()).await;
    let base = fake.base_url();
    let mut body = hello(false);
    body["temperature"] = json!(1.0);
    let (status, headers, text) = messages(&base, NEW, &body).await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        error_body(
            "invalid_request_error",
            "temperature: Extra inputs are not permitted"
        )
    );
    let (status, _, _) = messages(&base, "2026-11-30", &body).await;
    assert_eq!(status, 400, "later versions too");
    let (status, _, text) = messages(&base, OLD, &body).await;
    assert_eq!(status, 200, "the old version keeps sampling: {text}");

    let (status, _, text) = post_with(
        &format!("{base}/messages"),
        &hello(false),
        &[("authorization", "Bearer sk-ant-test")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        error_body(
            "invalid_request_error",
            "anthropic-version: header is required"
        )
    );
    assert_eq!(fake.stats().chat, 1, "refused requests are not recorded");
}

#[tokio::test]
async fn unanswered_tool_use_is_refused() {
    let fake = start(Knobs::default()).await;
    let body = json!({"model": "claude-test", "max_tokens": 64, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": "never mind"}]});
    let (status, _, text) = messages(&fake.base_url(), NEW, &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        error_body(
            "invalid_request_error",
            "tool_use ids were found without tool_result blocks immediately after: toolu_a, toolu_b"
        )
    );

    let mut string_input = body.clone();
    string_input["messages"][1]["content"][0]["input"] = json!("{}");
    let (status, _, text) = messages(&fake.base_url(), NEW, &string_input).await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        error["error"]["message"],
        "messages.1.content.0: tool_use.input: Input should be a valid dictionary"
    );

    let mut system_role = hello(false);
    system_role["messages"] = json!([{"role": "system", "content": "x"}]);
    let (status, _, _) = messages(&fake.base_url(), NEW, &system_role).await;
    assert_eq!(status, 400);
    let mut no_max = hello(false);
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, text) = messages(&fake.base_url(), NEW, &no_max).await;
    assert_eq!(status, 400);
    assert!(text.contains("max_tokens: Field required"), "{text}");
    assert_eq!(fake.stats().chat, 0);
}

#[tokio::test]
async fn rate_limit_has_retry_after_and_overload_is_529() {
    let fake = start(Knobs {
        fail: Some(Failure {
            status: 429,
            times: Some(1),
            retry_after_secs: Some(7),
            ..Failure::default()
        }),
        ..Knobs::default()
    })
    .await;
    let base = fake.base_url();
    let (status, headers, text) = messages(&base, NEW, &hello(true)).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(headers["request-id"], "req_fake");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        error_body(
            "rate_limit_error",
            "fake provider failure: 429 Too Many Requests"
        )
    );

    fake.set_knobs(Knobs {
        fail: Some(Failure {
            status: 529,
            ..Failure::default()
        }),
        ..Knobs::default()
    });
    let (status, headers, text) = messages(&base, NEW, &hello(false)).await;
    assert_eq!(status, 529);
    assert!(headers.get("retry-after").is_none());
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        error_body("overloaded_error", "fake provider failure: 529 Overloaded")
    );

    fake.set_knobs(Knobs {
        fail: Some(Failure {
            status: 402,
            body: Some("not json at all".to_owned()),
            ..Failure::default()
        }),
        ..Knobs::default()
    });
    let (status, _, text) = messages(&base, NEW, &hello(false)).await;
    assert_eq!((status, text.as_str()), (402, "not json at all"));
}

#[tokio::test]
async fn mid_stream_failure_ends_with_an_error_event() {
    let fake = start(Knobs {
        tokens: 4,
        fail: Some(Failure {
            status: 529,
            mid_stream: true,
            ..Failure::default()
        }),
        ..Knobs::default()
    })
    .await;
    let (status, _, text) = messages(&fake.base_url(), NEW, &hello(true)).await;
    assert_eq!(status, 200);
    let events = sse_events(&text);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    assert!(text.ends_with(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
    ));
    // Non-streamed requests get the plain status.
    let (status, _, _) = messages(&fake.base_url(), NEW, &hello(false)).await;
    assert_eq!(status, 529);
}
