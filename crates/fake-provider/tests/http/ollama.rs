//! Ollama wire format.

use pincer_fake_provider::{Failure, Knobs, ToolMode};
use serde_json::json;

use crate::support::{get_json, ndjson, post, post_raw, start, tools};

#[tokio::test]
async fn streams_by_default_one_word_per_line() {
    let fake = start(Knobs {
        tokens: 5,
        ..Knobs::default()
    })
    .await;
    let body = json!({"model": "m1", "messages": [{"role": "user", "content": "hi"}]});
    let (status, content_type, text) = post(&format!("{}/api/chat", fake.base_url()), &body).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-ndjson");
    let lines = ndjson(&text);
    assert_eq!(lines.len(), 6);
    let (last, words) = lines.split_last().unwrap();
    assert!(
        words
            .iter()
            .all(|l| l["done"] == false && l["model"] == "m1")
    );
    let content: String = words
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(content, "alpha bravo charlie delta echo");
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["eval_count"], 5);
    assert!(last["prompt_eval_count"].as_u64().unwrap() >= 1);
    assert!(last["total_duration"].is_u64() && last["eval_duration"].as_u64().unwrap() > 0);
    assert!(last["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(fake.stats().chat_stream, 1);
}

#[tokio::test]
async fn tool_call_is_a_whole_chunk_with_object_arguments() {
    let fake = start(Knobs {
        tool_mode: ToolMode::First,
        tool_args: json!({"city": "Paris"}),
        ..Knobs::default()
    })
    .await;
    let body = json!({"model": "m", "stream": true, "tools": tools(),
                      "messages": [{"role": "user", "content": "weather?"}]});
    let (status, _, text) = post(&format!("{}/api/chat", fake.base_url()), &body).await;
    assert_eq!(status, 200);
    let lines = ndjson(&text);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["done"], false);
    let call = &lines[0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_weather");
    assert_eq!(
        call["arguments"],
        json!({"city": "Paris"}),
        "arguments is an object"
    );
    assert_eq!(lines[1]["done"], true);
    assert_eq!(lines[1]["done_reason"], "stop");
    assert!(lines[1]["message"].get("tool_calls").is_none());

    // The follow-up carrying the tool result gets text.
    let follow_up = json!({"model": "m", "stream": false, "tools": tools(), "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": lines[0]["message"]["tool_calls"]},
        {"role": "tool", "tool_name": "get_weather", "content": "22C"}]});
    let (status, content_type, text) =
        post(&format!("{}/api/chat", fake.base_url()), &follow_up).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["done"], true);
    assert!(
        reply["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("alpha")
    );
    let stats = fake.stats();
    assert_eq!((stats.tool_calls, stats.tool_results_seen), (1, 1));
}

#[tokio::test]
async fn mid_stream_error_is_a_final_error_line() {
    let fake = start(Knobs {
        tokens: 4,
        fail: Some(Failure {
            status: 500,
            mid_stream: true,
            ..Failure::default()
        }),
        ..Knobs::default()
    })
    .await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, text) = post(&format!("{}/api/chat", fake.base_url()), &body).await;
    assert_eq!(status, 200);
    let lines = ndjson(&text);
    let (last, words) = lines.split_last().unwrap();
    assert_eq!(words.len(), 2);
    assert!(words.iter().all(|l| l["done"] == false));
    assert!(last["error"].as_str().unwrap().contains("500"), "{last}");
}

#[tokio::test]
async fn metadata_endpoints() {
    let fake = start(Knobs {
        model: "tiny".to_owned(),
        context_window: 8192,
        ..Knobs::default()
    })
    .await;
    let base = fake.base_url();
    let (status, _, text) = post(&format!("{base}/api/show"), &json!({"model": "tiny"})).await;
    assert_eq!(status, 200);
    let show: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(show["model_info"]["llama.context_length"], 8192);
    assert!(
        show["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("tools"))
    );
    let (status, _, text) = post(&format!("{base}/api/show"), &json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(text, r#"{"error":"model is required"}"#);

    let tags: serde_json::Value = get_json(&format!("{base}/api/tags")).await;
    assert_eq!(tags["models"][0]["name"], "tiny");
    let version: serde_json::Value = get_json(&format!("{base}/api/version")).await;
    assert!(version["version"].is_string());
}

#[tokio::test]
async fn malformed_json_is_a_400_naming_the_problem() {
    let fake = start(Knobs::default()).await;
    let (status, content_type, text) = post_raw(
        &format!("{}/api/chat", fake.base_url()),
        "{\"model\": ".to_owned(),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"),
        "{body}"
    );
    let (status, _, text) = post(
        &format!("{}/api/chat", fake.base_url()),
        &json!({"model": "m", "messages": "hi"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(text, r#"{"error":"`messages` must be an array"}"#);
    assert_eq!(fake.stats().chat, 0);
}
