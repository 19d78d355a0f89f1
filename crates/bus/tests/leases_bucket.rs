//! The leases bucket, made as a stream of our own (for its first sequence), is the KV bucket
//! async-nats would make, against a real nats-server.

use async_nats::jetstream::{self, kv};
use pincer_bus::Namespace;
use pincer_bus::setup::{LEASE_BUCKET_MAX_AGE, leases_bucket};
use pincer_test_support::NatsServer;

#[tokio::test]
async fn the_leases_bucket_is_a_kv_bucket_counting_from_a_random_point() {
    let nats = NatsServer::start();
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("nats"));
    let ns = Namespace::default();
    let leases = leases_bucket(&js, &ns).await.expect("leases bucket");
    // The same bucket as async-nats makes it, to compare the two stream definitions.
    js.create_key_value(kv::Config {
        bucket: "reference".to_owned(),
        history: 1,
        max_age: LEASE_BUCKET_MAX_AGE,
        storage: jetstream::stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .expect("reference bucket");
    let config = |name: String| {
        let js = js.clone();
        async move {
            let mut config = js
                .get_stream(name)
                .await
                .expect("stream")
                .info()
                .await
                .expect("info")
                .config
                .clone();
            config.name = String::new();
            config.subjects = Vec::new();
            config.first_sequence = None;
            config
        }
    };
    assert_eq!(
        config(format!("KV_{}", ns.leases_bucket())).await,
        config("KV_reference".to_owned()).await
    );

    let first = leases.create("a", "held".into()).await.expect("create");
    assert!(first > 1, "counts from where it was made to start");
    assert_eq!(
        leases.get("a").await.expect("get").as_deref(),
        Some(&b"held"[..])
    );
    leases
        .update("a", "again".into(), first)
        .await
        .expect("conditional update");

    // Made again (as after a NATS restart, for the in-memory bucket): another starting point.
    js.delete_stream(format!("KV_{}", ns.leases_bucket()))
        .await
        .expect("deleted");
    let again = leases_bucket(&js, &ns).await.expect("made again");
    let second = again.create("a", "held".into()).await.expect("create");
    assert!(
        second.abs_diff(first) > 1_000_000,
        "the two buckets count from far apart: {first} and {second}"
    );
}
