//! Knobs that apply on every wire: truncate, api_key, cached_tokens, no_tools_capability.

use pincer_fake_provider::{Knobs, ToolMode};
use serde_json::{Value, json};

use crate::support::{ndjson, post, post_with, sse_data, sse_events, start, tools};

const ANTHROPIC: (&str, &str) = ("anthropic-version", "2026-10-21");

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn anthropic_body(stream: bool) -> Value {
    json!({"model": "claude-test", "max_tokens": 64, "stream": stream,
           "messages": user("hello there")})
}

#[tokio::test]
async fn truncated_streams_stop_before_the_finish_marker_on_every_wire() {
    let fake = start(Knobs {
        tokens: 4,
        truncate: true,
        ..Knobs::default()
    })
    .await;
    let base = fake.base_url();

    let body = json!({"model": "m", "messages": user("hi")});
    let (status, headers, text) = post_with(&format!("{base}/api/chat"), &body, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["connection"], "close");
    let lines = ndjson(&text);
    let content: Vec<&str> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["done"], false, "no done:true line: {l}");
            l["message"]["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(content, ["alpha", " bravo"]);

    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                      "messages": user("hi")});
    let (status, headers, text) =
        post_with(&format!("{base}/v1/chat/completions"), &body, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["connection"], "close");
    let data = sse_data(&text);
    assert!(!data.contains(&"[DONE]".to_owned()), "{data:?}");
    let chunks: Vec<Value> = data
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks.len(), 3, "role chunk and two words: {chunks:?}");
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null() && c["usage"].is_null())
    );
    assert_eq!(chunks[2]["choices"][0]["delta"]["content"], " bravo");

    let (status, headers, text) = post_with(
        &format!("{base}/v1/messages"),
        &anthropic_body(true),
        &[ANTHROPIC],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["connection"], "close");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta"
        ]
    );
}

#[tokio::test]
async fn truncated_tool_calls_and_plain_bodies_are_cut() {
    let fake = start(Knobs {
        truncate: true,
        tool_mode: ToolMode::First,
        tool_args: json!({"city": "Paris", "days": 3}),
        ..Knobs::default()
    })
    .await;
    let base = fake.base_url();
    let body = json!({"model": "m", "stream": true, "tools": tools(), "messages": user("hi")});
    let (_, _, text) = post(&format!("{base}/v1/chat/completions"), &body).await;
    let data = sse_data(&text);
    let arguments = serde_json::from_str::<Value>(data.last().unwrap()).unwrap()["choices"][0]
        ["delta"]["tool_calls"][0]["function"]["arguments"]
        .clone();
    assert_eq!(data.len(), 3, "role, call head, one fragment: {data:?}");
    assert!(
        serde_json::from_str::<Value>(arguments.as_str().unwrap()).is_err(),
        "arguments cut mid-way: {arguments}"
    );

    for (path, body, headers) in [
        (
            "/api/chat",
            json!({"model": "m", "stream": false, "messages": user("hi")}),
            &[][..],
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": user("hi")}),
            &[][..],
        ),
        ("/v1/messages", anthropic_body(false), &[ANTHROPIC][..]),
    ] {
        let (status, response_headers, text) =
            post_with(&format!("{base}{path}"), &body, headers).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(response_headers["connection"], "close", "{path}");
        assert!(text.starts_with('{'), "{path}: {text}");
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "{path}: body is cut: {text}"
        );
    }
}

#[tokio::test]
async fn wrong_or_missing_api_key_is_a_401_on_every_wire() {
    let fake = start(Knobs {
        api_key: Some("sk-right".to_owned()),
        ..Knobs::default()
    })
    .await;
    let base = fake.base_url();
    let ollama = json!({"model": "m", "stream": false, "messages": user("hi")});
    let openai = json!({"model": "m", "messages": user("hi")});
    let cases = [
        (
            "/api/chat",
            &ollama,
            json!({"error": "unauthorized"}),
            vec![("authorization", "Bearer sk-right")],
        ),
        (
            "/v1/chat/completions",
            &openai,
            json!({"error": {"message": "Incorrect API key provided",
                             "type": "invalid_request_error", "param": null,
                             "code": "invalid_api_key"}}),
            vec![("authorization", "Bearer sk-right")],
        ),
        (
            "/v1/messages",
            &anthropic_body(false),
            json!({"type": "error", "request_id": "req_fake",
                   "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            vec![ANTHROPIC, ("x-api-key", "sk-right")],
        ),
    ];
    for (path, body, expected, good_headers) in &cases {
        let url = format!("{base}{path}");
        let version: Vec<(&str, &str)> = good_headers
            .iter()
            .filter(|(name, _)| *name == "anthropic-version")
            .copied()
            .collect();
        for bad in [
            vec![("authorization", "Bearer sk-wrong-secret")],
            vec![("x-api-key", "sk-wrong-secret")],
            vec![],
        ] {
            let headers: Vec<(&str, &str)> = version.iter().chain(&bad).copied().collect();
            let (status, _, text) = post_with(&url, body, &headers).await;
            assert_eq!(status, 401, "{path} {bad:?}");
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                *expected,
                "{path}"
            );
            assert!(!text.contains("sk-wrong"), "{path}: key echoed: {text}");
        }
        let (status, _, text) = post_with(&url, body, good_headers).await;
        assert_eq!(status, 200, "{path}: {text}");
    }
    // Anthropic's 2.x SDK sends the key as a bearer token.
    let (status, _, _) = post_with(
        &format!("{base}/v1/messages"),
        &anthropic_body(false),
        &[ANTHROPIC, ("authorization", "Bearer sk-right")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.stats().chat, 4, "refused requests are not recorded");
}

#[tokio::test]
async fn cached_tokens_are_reported_where_the_wire_has_a_field() {
    let fake = start(Knobs {
        tokens: 2,
        cached_tokens: 100,
        ..Knobs::default()
    })
    .await;
    let base = fake.base_url();
    let (_, _, text) = post(
        &format!("{base}/v1/chat/completions"),
        &json!({"model": "m", "messages": user("hello there")}),
    )
    .await;
    let reply: Value = serde_json::from_str(&text).unwrap();
    // "hello there" is 2 tokens; the cached 100 are part of prompt_tokens on OpenAI.
    assert_eq!(
        reply["usage"],
        json!({"prompt_tokens": 102, "completion_tokens": 2, "total_tokens": 104,
               "prompt_tokens_details": {"cached_tokens": 100}})
    );
    let (_, _, text) = post(
        &format!("{base}/v1/chat/completions"),
        &json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                "messages": user("hello there")}),
    )
    .await;
    let data = sse_data(&text);
    let usage_chunk: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"],
        100
    );

    let (_, _, text) = post_with(
        &format!("{base}/v1/messages"),
        &anthropic_body(false),
        &[ANTHROPIC],
    )
    .await;
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reply["usage"],
        json!({"input_tokens": 2, "output_tokens": 2, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 100})
    );
    let (_, _, text) = post_with(
        &format!("{base}/v1/messages"),
        &anthropic_body(true),
        &[ANTHROPIC],
    )
    .await;
    let start_event = &sse_events(&text)[0].1;
    assert_eq!(
        start_event["message"]["usage"]["cache_read_input_tokens"],
        100
    );
}

#[tokio::test]
async fn no_tools_capability_hides_tools_on_ollama() {
    let fake = start(Knobs {
        context_window: 8192,
        no_tools_capability: true,
        ..Knobs::default()
    })
    .await;
    let base = fake.base_url();
    let (status, _, text) = post(&format!("{base}/api/show"), &json!({"model": "m"})).await;
    assert_eq!(status, 200);
    let show: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(show["capabilities"], json!(["completion"]));
    assert_eq!(show["model_info"]["general.architecture"], "llama");
    assert_eq!(show["model_info"]["llama.context_length"], 8192);

    let with_tools = json!({"model": "qwen3:8b", "tools": tools(), "messages": user("hi")});
    let (status, _, text) = post(&format!("{base}/api/chat"), &with_tools).await;
    assert_eq!(
        (status, text.as_str()),
        (400, r#"{"error":"\"qwen3:8b\" does not support tools"}"#)
    );
    let (status, _, _) = post(&format!("{base}/v1/chat/completions"), &with_tools).await;
    assert_eq!(status, 200, "only the Ollama wire checks capabilities");
    let (status, _, _) = post(
        &format!("{base}/api/chat"),
        &json!({"model": "qwen3:8b", "tools": [], "messages": user("hi")}),
    )
    .await;
    assert_eq!(status, 200);

    fake.set_knobs(Knobs::default());
    let (_, _, text) = post(&format!("{base}/api/show"), &json!({"model": "m"})).await;
    let show: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(show["capabilities"], json!(["completion", "tools"]));
}

#[tokio::test]
async fn ollama_options_and_keep_alive_are_recorded() {
    let fake = start(Knobs::default()).await;
    let body = json!({"model": "m", "stream": false, "keep_alive": "10m",
                      "options": {"num_ctx": 8192, "temperature": 0.2},
                      "messages": user("hi")});
    let (status, _, _) = post(&format!("{}/api/chat", fake.base_url()), &body).await;
    assert_eq!(status, 200);
    let recorded = &fake.requests()[0].body;
    assert_eq!(recorded["options"]["num_ctx"], 8192);
    assert_eq!(recorded["keep_alive"], "10m");
}
