//! `Embed` through the router against the fake provider's embedding endpoints: Ollama's
//! `/api/embed`, OpenAI-compatible `/embeddings` with its key, and failures as typed statuses.

use pincer_fake_provider::Knobs;
use pincer_proto::llm::v1 as pb;
use prost::Message as _;
use serde_json::json;

use crate::support::{Router, failing, fake};

fn request(model: &str, inputs: &[&str]) -> pb::EmbedRequest {
    pb::EmbedRequest {
        model: model.to_owned(),
        inputs: inputs.iter().map(|i| (*i).to_owned()).collect(),
        timeout_ms: 5_000,
    }
}

async fn embed(
    router: &Router,
    request: pb::EmbedRequest,
) -> Result<pb::EmbedResponse, tonic::Status> {
    Ok(router.client.clone().embed(request).await?.into_inner())
}

fn dot(a: &pb::Embedding, b: &pb::Embedding) -> f32 {
    a.values.iter().zip(&b.values).map(|(x, y)| x * y).sum()
}

fn failure(status: &tonic::Status) -> pb::ChatFailure {
    pb::ChatFailure::decode(status.details()).expect("every failure carries ChatFailure")
}

#[tokio::test]
async fn ollama_and_openai_compatible_providers_embed_in_input_order() {
    let ollama = fake(Knobs::default()).await;
    let openai = fake(Knobs {
        api_key: Some("sk-embed".into()),
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {
        "ollama": {"baseUrl": ollama.base_url()},
        "openai": {"baseUrl": format!("{}/v1", openai.base_url()), "apiKey": "sk-embed"}}}))
    .await;
    let inputs = [
        "the automobile inspection",
        "piano lessons",
        "The Peugeot failed its contrôle technique",
    ];

    let answer = embed(&router, request("ollama/nomic-embed-text", &inputs))
        .await
        .expect("ollama embeds");
    assert_eq!(answer.model, "ollama/nomic-embed-text");
    assert_eq!((answer.embeddings.len(), answer.dims), (3, 256));
    let e = &answer.embeddings;
    assert!(
        dot(&e[0], &e[2]) > 0.5 && dot(&e[0], &e[1]).abs() < 0.2,
        "in input order"
    );

    // The fake lists OpenAI's `data` backwards: the router places each vector by its index.
    let answer = embed(&router, request("openai/text-embedding-3-small", &inputs))
        .await
        .expect("openai embeds");
    let same = answer
        .embeddings
        .iter()
        .zip(&e[..])
        .all(|(a, b)| (dot(a, b) - 1.0).abs() < 1e-5);
    assert!(same, "same vectors, same order");
    assert_eq!(openai.stats().by_path.get("/v1/embeddings"), Some(&1));
}

#[tokio::test]
async fn failures_are_typed_statuses_like_chats() {
    let provider = fake(Knobs {
        api_key: Some("right".into()),
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {
        "wrong": {"api": "openai-completions", "baseUrl": provider.base_url(), "apiKey": "wrong"},
        "anthropic": {"baseUrl": provider.base_url(), "apiKey": "right"},
        "down": {"api": "ollama", "baseUrl": provider.base_url()}}}))
    .await;

    let status = embed(&router, request("wrong/m", &["x"]))
        .await
        .expect_err("bad key");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(failure(&status).kind, pb::ErrorKind::Auth as i32);

    let status = embed(&router, request("anthropic/claude-x", &["x"]))
        .await
        .expect_err("no endpoint");
    assert_eq!(failure(&status).kind, pb::ErrorKind::Unsupported as i32);

    let status = embed(&router, request("down/m", &[]))
        .await
        .expect_err("no inputs");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let many: Vec<&str> = vec!["x"; 129];
    let status = embed(&router, request("down/m", &many))
        .await
        .expect_err("too many");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    provider.set_knobs(failing(503));
    let status = embed(&router, request("down/m", &["x"]))
        .await
        .expect_err("overloaded");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let details = failure(&status);
    assert_eq!(details.kind, pb::ErrorKind::Overloaded as i32);
    assert_eq!(details.requested_model, "down/m");
}
