//! `/api/embed` and `/v1/embeddings`: one unit vector per input, in each wire's shape.

use pincer_fake_provider::{Failure, Knobs};
use serde_json::{Value, json};

use crate::support::{post, start};

fn vector(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn ollama_and_openai_embed_every_input_in_order() {
    let fake = start(Knobs::default()).await;
    let inputs = [
        "the automobile inspection",
        "The Peugeot failed its contrôle technique",
        "piano",
    ];
    let body = json!({"model": "nomic-embed-text", "input": inputs});
    let (status, _, text) = post(&format!("{}/api/embed", fake.base_url()), &body).await;
    assert_eq!(status, 200, "{text}");
    let ollama: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(ollama["model"], "nomic-embed-text");
    let vectors: Vec<Vec<f64>> = ollama["embeddings"]
        .as_array()
        .expect("list")
        .iter()
        .map(vector)
        .collect();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0].len(), 256);
    assert!(dot(&vectors[0], &vectors[1]) > 0.5 && dot(&vectors[0], &vectors[2]).abs() < 0.2);

    let body = json!({"model": "text-embedding-3-small", "input": inputs, "dimensions": 64});
    let (status, _, text) = post(&format!("{}/v1/embeddings", fake.base_url()), &body).await;
    assert_eq!(status, 200, "{text}");
    let openai: Value = serde_json::from_str(&text).expect("json");
    let data = openai["data"].as_array().expect("data");
    assert_eq!(data.len(), 3);
    let first = data.iter().find(|d| d["index"] == 0).expect("index 0");
    assert_eq!(vector(&first["embedding"]).len(), 64);
    assert!(openai["usage"]["prompt_tokens"].as_u64().expect("usage") > 0);

    let (status, _, _) = post(
        &format!("{}/api/embed", fake.base_url()),
        &json!({"model": "m", "input": "one"}),
    )
    .await;
    assert_eq!(status, 200, "a single string is an input too");
}

#[tokio::test]
async fn bad_requests_keys_and_failures_answer_like_the_provider() {
    let fake = start(Knobs {
        api_key: Some("sk-1".into()),
        ..Knobs::default()
    })
    .await;
    let url = format!("{}/v1/embeddings", fake.base_url());
    let (status, _, _) = post(&url, &json!({"model": "m", "input": ["x"]})).await;
    assert_eq!(status, 401);
    fake.set_knobs(Knobs::default());
    let (status, _, text) = post(&url, &json!({"model": "m", "input": [1, 2]})).await;
    assert_eq!(status, 400);
    assert!(text.contains("array of strings"), "{text}");
    let (status, _, _) = post(&url, &json!({"input": ["x"]})).await;
    assert_eq!(status, 400);
    fake.set_knobs(Knobs {
        fail: Some(Failure {
            status: 503,
            ..Failure::default()
        }),
        ..Knobs::default()
    });
    let (status, _, _) = post(
        &format!("{}/api/embed", fake.base_url()),
        &json!({"model": "m", "input": ["x"]}),
    )
    .await;
    assert_eq!(status, 503);
}
