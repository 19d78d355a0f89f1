//! Cooldowns and breakers live in NATS KV: every router replica sees them, a restarted router keeps
//! them, and only one replica probes a half-open model.

use std::time::Duration;

use crate::support::{Router, attempt_kind, chats, failing, fake, quick_policy, request};
use pincer_fake_provider::Knobs;
use pincer_proto::llm::v1 as pb;
use pincer_test_support::{NatsServer, eventually};
use serde_json::{Value, json};

fn models(primary: &str, backup: &str) -> Value {
    json!({"providers": {
        "primary": {"api": "ollama", "baseUrl": primary, "models": [{"id": "m"}]},
        "backup": {"api": "ollama", "baseUrl": backup, "models": [{"id": "m"}]}}})
}

async fn shared(models: Value, nats: &NatsServer) -> Router {
    let router = Router::start_with(models, Some(nats.url()), quick_policy()).await;
    eventually("health to be shared", Duration::from_secs(10), || async {
        router.status().await.shared_health.then_some(())
    })
    .await;
    router
}

/// Seeds the shared health record `key` (`model/…`, `provider/…`) as a breaker whose cooldown is
/// over: the next call through it is its half-open probe.
async fn half_open(nats: &NatsServer, key: &str) {
    let client = pincer_bus::connect::connect(&nats.url(), "test", None, Duration::from_secs(10))
        .await
        .expect("nats");
    let js = async_nats::jetstream::new(client);
    let bucket = pincer_bus::setup::model_health_bucket(&js, &pincer_bus::Namespace::default())
        .await
        .expect("bucket");
    let record = json!({"failures": 1, "open_until_ms": 1, "last_error": "HTTP 503"});
    bucket
        .put(key, serde_json::to_vec(&record).expect("json").into())
        .await
        .expect("seeded");
}

async fn model_state(router: &Router, id: &str) -> pb::BreakerState {
    router
        .status()
        .await
        .models
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.health.as_ref())
        .map_or(pb::BreakerState::Closed, pb::Health::state)
}

#[tokio::test]
async fn a_cooldown_is_seen_by_other_replicas_and_survives_a_restart() {
    let nats = NatsServer::start();
    let primary = fake(failing(503)).await;
    let backup = fake(Knobs::default()).await;
    let config = models(&primary.base_url(), &backup.base_url());
    let a = shared(config.clone(), &nats).await;
    let b = shared(config.clone(), &nats).await;

    assert_eq!(
        a.chat(request("primary/m", &["backup/m"]))
            .await
            .done()
            .model,
        "backup/m"
    );
    eventually(
        "replica B to see the cooldown",
        Duration::from_secs(10),
        || async { (model_state(&b, "primary/m").await == pb::BreakerState::Open).then_some(()) },
    )
    .await;
    let before = chats(&primary);
    let outcome = b.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(outcome.done().model, "backup/m");
    assert_eq!(
        attempt_kind(&outcome.done().failed_attempts[0]),
        pb::ErrorKind::CoolingDown
    );
    assert_eq!(
        chats(&primary),
        before,
        "B must not call a model A saw failing"
    );

    a.stop().await;
    b.stop().await;
    let restarted = shared(config, &nats).await;
    eventually(
        "the restarted router to load the cooldown",
        Duration::from_secs(10),
        || async {
            (model_state(&restarted, "primary/m").await == pb::BreakerState::Open).then_some(())
        },
    )
    .await;
    restarted.stop().await;
}

#[tokio::test]
async fn only_one_replica_probes_a_half_open_model() {
    let nats = NatsServer::start();
    // The primary has recovered but is slow, so the probe stays in flight while B asks.
    let primary = fake(Knobs {
        delay_ms: 1_500,
        ..Knobs::default()
    })
    .await;
    let backup = fake(Knobs::default()).await;
    let config = models(&primary.base_url(), &backup.base_url());

    // Seed a breaker whose cooldown is over: the next caller is the half-open probe.
    half_open(&nats, "model/primary/m").await;

    let a = shared(config.clone(), &nats).await;
    let b = shared(config, &nats).await;
    eventually("B to load the breaker", Duration::from_secs(10), || async {
        (model_state(&b, "primary/m").await == pb::BreakerState::HalfOpen).then_some(())
    })
    .await;
    let probe = tokio::spawn({
        let client = a.client.clone();
        async move {
            let mut client = client;
            let mut stream = client
                .chat(request("primary/m", &["backup/m"]))
                .await
                .expect("probe call")
                .into_inner();
            let mut served = String::new();
            while let Some(event) = stream.message().await.expect("stream") {
                if let Some(pb::chat_event::Event::Done(done)) = event.event {
                    served = done.model;
                }
            }
            served
        }
    });
    eventually(
        "A's probe to reach the primary",
        Duration::from_secs(10),
        || async { (primary.stats().chat >= 1).then_some(()) },
    )
    .await;
    let outcome = b.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(
        outcome.done().model,
        "backup/m",
        "B must leave the probe to A"
    );
    assert_eq!(primary.stats().chat, 1);
    assert_eq!(probe.await.expect("probe task"), "primary/m");
    eventually(
        "the successful probe to close the breaker everywhere",
        Duration::from_secs(10),
        || async { (model_state(&b, "primary/m").await == pb::BreakerState::Closed).then_some(()) },
    )
    .await;
    a.stop().await;
    b.stop().await;
}

/// A half-open probe that fails is given back on everything it held but what it is blamed on: a
/// provider probed through one model that is missing (404, held against the model) serves the
/// provider's other models at once, instead of after the probe's lease (30 s).
#[tokio::test]
async fn a_failed_probe_gives_back_what_it_is_not_blamed_for() {
    let nats = NatsServer::start();
    let primary = fake(failing(404)).await;
    let backup = fake(Knobs::default()).await;
    let config = json!({"providers": {
        "primary": {"api": "ollama", "baseUrl": primary.base_url(), "models": [{"id": "m"}, {"id": "n"}]},
        "backup": {"api": "ollama", "baseUrl": backup.base_url(), "models": [{"id": "m"}]}}});
    // The provider's cooldown is over: the next call through any of its models is its probe.
    half_open(&nats, "provider/primary").await;
    let router = shared(config, &nats).await;
    let missing = router.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(missing.done().model, "backup/m");
    assert_eq!(
        attempt_kind(&missing.done().failed_attempts[0]),
        pb::ErrorKind::NotFound
    );
    primary.set_knobs(Knobs::default());
    let other = router.chat(request("primary/n", &["backup/m"])).await;
    assert_eq!(
        other.done().model,
        "primary/n",
        "the provider is not held by the failed probe: {:?}",
        other.done().failed_attempts
    );
    router.stop().await;
}
