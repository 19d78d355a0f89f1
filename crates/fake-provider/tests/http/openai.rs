//! OpenAI wire format.

use pincer_fake_provider::{Failure, Knobs, ToolMode};
use serde_json::{Value, json};

use crate::support::{client, get_json, post, post_raw, sse_data, start, tools};

fn chunks(data: &[String]) -> Vec<Value> {
    data.iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("SSE data is JSON"))
        .collect()
}

#[tokio::test]
async fn sse_stream_ends_with_done() {
    let fake = start(Knobs {
        tokens: 3,
        ..Knobs::default()
    })
    .await;
    let body = json!({"model": "gpt-x", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let (status, content_type, text) =
        post(&format!("{}/v1/chat/completions", fake.base_url()), &body).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/event-stream");
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks = chunks(&data);
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"
        && c["id"] == chunks[0]["id"]
        && c["model"] == "gpt-x"
        && c.get("usage").is_none()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "alpha bravo charlie");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn include_usage_adds_a_chunk_with_empty_choices() {
    let fake = start(Knobs {
        tokens: 2,
        ..Knobs::default()
    })
    .await;
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "hello there"}]});
    let (_, _, text) = post(&format!("{}/v1/chat/completions", fake.base_url()), &body).await;
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks = chunks(&data);
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 2);
    assert_eq!(
        usage_chunk["usage"]["total_tokens"],
        usage_chunk["usage"]["prompt_tokens"].as_u64().unwrap() + 2
    );
    assert!(
        rest.iter()
            .all(|c| c["usage"].is_null() && c["choices"].as_array().unwrap().len() == 1)
    );
}

#[tokio::test]
async fn tool_call_deltas_accumulate_to_json_arguments() {
    let args = json!({"city": "Zürich", "days": [1, 2, 3]});
    let fake = start(Knobs {
        tool_mode: ToolMode::First,
        tool_args: args.clone(),
        ..Knobs::default()
    })
    .await;
    let body = json!({"model": "m", "stream": true, "tools": tools(),
                      "messages": [{"role": "user", "content": "weather?"}]});
    let (_, _, text) = post(&format!("{}/v1/chat/completions", fake.base_url()), &body).await;
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks = chunks(&data);
    let mut name = String::new();
    let mut arguments = String::new();
    let mut fragments = 0;
    for chunk in &chunks {
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(call["index"], 0);
            if let Some(id) = call.get("id") {
                assert!(id.as_str().unwrap().starts_with("call_"));
                assert_eq!(call["type"], "function");
                assert_eq!(call["function"]["arguments"], "");
                name.push_str(call["function"]["name"].as_str().unwrap());
            } else {
                fragments += 1;
                arguments.push_str(call["function"]["arguments"].as_str().unwrap());
            }
        }
    }
    assert_eq!(name, "get_weather");
    assert!(fragments > 1, "arguments arrive in pieces");
    assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), args);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn non_stream_completion_and_tool_call() {
    let fake = start(Knobs {
        tokens: 2,
        tool_mode: ToolMode::Marker,
        ..Knobs::default()
    })
    .await;
    let url = format!("{}/v1/chat/completions", fake.base_url());
    let plain =
        json!({"model": "m", "tools": tools(), "messages": [{"role": "user", "content": "hi"}]});
    let (status, content_type, text) = post(&url, &plain).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["choices"][0]["message"]["content"], "alpha bravo");
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert_eq!(reply["usage"]["completion_tokens"], 2);

    let marked = json!({"model": "m", "tools": tools(),
                        "messages": [{"role": "user", "content": "please USE_TOOL"}]});
    let reply: Value = serde_json::from_str(&post(&url, &marked).await.2).unwrap();
    let message = &reply["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(message["tool_calls"][0]["function"]["arguments"], "{}");
    assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn failure_times_one_fails_once_then_recovers() {
    let fake = start(Knobs {
        fail: Some(Failure {
            status: 429,
            times: Some(1),
            retry_after_secs: Some(3),
            ..Failure::default()
        }),
        ..Knobs::default()
    })
    .await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("{}/v1/chat/completions", fake.base_url());
    let response = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    assert!(error["error"]["message"].is_string());

    let (status, _, _) = post(&url, &body).await;
    assert_eq!(status, 200);
    assert!(fake.knobs().fail.is_none());
    let stats = fake.stats();
    assert_eq!((stats.chat, stats.failures), (2, 1));
}

#[tokio::test]
async fn mid_stream_error_event_without_done() {
    let fake = start(Knobs {
        tokens: 3,
        fail: Some(Failure {
            status: 503,
            mid_stream: true,
            ..Failure::default()
        }),
        ..Knobs::default()
    })
    .await;
    let url = format!("{}/v1/chat/completions", fake.base_url());
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let (status, _, text) = post(&url, &body).await;
    assert_eq!(status, 200);
    let data = sse_data(&text);
    assert!(!data.contains(&"[DONE]".to_owned()));
    let events = chunks(&data);
    let (error, content) = events.split_last().unwrap();
    assert_eq!(error["error"]["code"], "server_is_overloaded");
    assert_eq!(content.len(), 3, "role chunk and two words: {content:?}");

    // A non-streaming request under a mid-stream failure gets the plain error status.
    let (status, _, _) = post(&url, &json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn malformed_requests_get_openai_shaped_400s() {
    let fake = start(Knobs::default()).await;
    let url = format!("{}/v1/chat/completions", fake.base_url());
    let (status, _, text) = post_raw(&url, "not json".to_owned()).await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body")
    );
    let (status, _, text) = post(&url, &json!({"model": "m"})).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("missing required parameter: 'messages'"),
        "{text}"
    );
}

#[tokio::test]
async fn models_list_and_unknown_paths() {
    let fake = start(Knobs::default()).await;
    let base = fake.base_url();
    let models: Value = get_json(&format!("{base}/v1/models")).await;
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "fake-model");
    assert_eq!(models["data"][0]["context_length"], 131_072);
    let model: Value = get_json(&format!("{base}/v1/models/openai/gpt-4o")).await;
    assert_eq!(model["id"], "openai/gpt-4o");
    let missing = client()
        .get(format!("{base}/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["message"], "not found: /v1/nope");
}

#[tokio::test]
async fn openrouter_lists_its_catalogue_and_checks_keys() {
    let fake = start(Knobs {
        model: "openrouter/auto".into(),
        listed_models: vec![
            "openai/gpt-4o-mini".into(),
            "meta-llama/llama-3.3-70b".into(),
        ],
        api_key: Some("sk-or-v1-right".into()),
        ..Knobs::default()
    })
    .await;
    let base = format!("{}/v1", fake.base_url());
    let get = |path: &str, key: Option<&str>| {
        let request = client().get(format!("{base}{path}"));
        let request = match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, models) = get("/models", Some("sk-or-v1-right")).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "openrouter/auto",
            "openai/gpt-4o-mini",
            "meta-llama/llama-3.3-70b"
        ]
    );
    assert_eq!(models["data"][1]["pricing"]["prompt"], "0");
    assert_eq!(get("/models", Some("sk-or-v1-wrong")).await.0, 401);

    let (status, key) = get("/key", Some("sk-or-v1-right")).await;
    assert_eq!(status, 200);
    assert!(key["data"]["label"].is_string(), "{key}");
    let (status, refused) = get("/key", Some("sk-or-v1-wrong")).await;
    assert_eq!(status, 401);
    assert!(!refused.to_string().contains("sk-or-v1-wrong"));
    assert_eq!(get("/key", None).await.0, 401);

    // Ollama's list shows the same names.
    let tags: Value = get_json(&format!("{}/api/tags", fake.base_url())).await;
    assert_eq!(tags["models"][2]["name"], "meta-llama/llama-3.3-70b");
}
