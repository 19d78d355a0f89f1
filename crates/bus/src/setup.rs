//! Idempotent creation of streams and buckets. Every service calls [`ensure_all`] at startup, so the
//! first one up creates them and the rest find them; a changed definition is updated in place.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use crate::{Error, Namespace};

/// How long JetStream remembers message ids for de-duplication. Longer than any client retry.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Turns nobody consumed within this age are dropped (a week: survives long outages, bounded disk).
const TURN_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Copies of every stream and bucket: `PINCER_NATS_REPLICAS` (1 by default; 3 on a 3-node
/// cluster, so losing one node loses nothing and the rest keep serving). Read once.
pub fn replicas() -> usize {
    static REPLICAS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *REPLICAS.get_or_init(|| {
        std::env::var("PINCER_NATS_REPLICAS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| (1..=5).contains(n))
            .unwrap_or(1)
    })
}

/// Creates or updates the streams and buckets under `ns`.
pub async fn ensure_all(js: &jetstream::Context, ns: &Namespace) -> Result<(), Error> {
    ensure_stream(
        js,
        stream::Config {
            name: ns.turns_stream(),
            subjects: vec![ns.turns_filter(), ns.subagent_turns_filter()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            max_age: TURN_MAX_AGE,
            num_replicas: replicas(),
            ..Default::default()
        },
    )
    .await?;
    for (name, filter) in [
        (ns.channel_inbound_stream(), ns.channel_inbound_filter()),
        (ns.channel_outbound_stream(), ns.channel_outbound_filter()),
    ] {
        ensure_stream(
            js,
            stream::Config {
                name,
                subjects: vec![filter],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                max_age: TURN_MAX_AGE,
                num_replicas: replicas(),
                ..Default::default()
            },
        )
        .await?;
    }
    sessions_bucket(js, ns).await?;
    leases_bucket(js, ns).await?;
    Ok(())
}

async fn ensure_stream(js: &jetstream::Context, config: stream::Config) -> Result<(), Error> {
    let name = config.name.clone();
    let setup_error = |reason: String| Error::Setup {
        what: format!("stream {name}"),
        reason,
    };
    match js.get_stream(&name).await {
        Ok(mut existing) => {
            let info = existing
                .info()
                .await
                .map_err(|e| setup_error(e.to_string()))?;
            if info.config.subjects != config.subjects
                || info.config.duplicate_window != config.duplicate_window
                || info.config.max_age != config.max_age
            {
                js.update_stream(config)
                    .await
                    .map_err(|e| setup_error(e.to_string()))?;
            }
            Ok(())
        }
        Err(_) => match js.create_stream(config.clone()).await {
            Ok(_) => Ok(()),
            // Another service created it between our get and create.
            Err(_) if js.get_stream(&name).await.is_ok() => Ok(()),
            Err(error) => Err(setup_error(error.to_string())),
        },
    }
}

/// Opens (creating if needed) the session transcript bucket.
pub async fn sessions_bucket(js: &jetstream::Context, ns: &Namespace) -> Result<kv::Store, Error> {
    ensure_bucket(
        js,
        kv::Config {
            bucket: ns.sessions_bucket(),
            history: 1,
            storage: stream::StorageType::File,
            // Transcripts can be large; the server's max_payload still bounds one value.
            max_value_size: -1,
            num_replicas: replicas(),
            ..Default::default()
        },
    )
    .await
}

/// Age after which the leases bucket forgets an entry. Holders put their own, much shorter expiry in
/// the value (agent-runner's lease TTL); this only garbage-collects leases of sessions gone quiet.
pub const LEASE_BUCKET_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// Opens (creating if needed) the session lease bucket.
///
/// On one NATS server it lives in memory, not on disk: a lease is two writes a turn (take, give
/// back) and matters only while its holder runs, so nothing in it needs to outlive the server. On
/// disk it kept an 8 MB block buffer live in NATS under load, which under `GOMEMLIMIT` cost NATS a
/// third more CPU per turn (GC) once transcripts grew. A restarted NATS forgets the leases of turns
/// in flight; those turns keep their JetStream messages (progress acks resume), so only another
/// replica taking a second turn of the same session in the seconds after the restart is no longer
/// held back. On a cluster it stays on disk: a restarted node comes back with an empty memory
/// replica, and with another node down the bucket had no quorum and no turn could take a lease.
pub async fn leases_bucket(js: &jetstream::Context, ns: &Namespace) -> Result<kv::Store, Error> {
    let bucket = ns.leases_bucket();
    if let Ok(store) = js.get_key_value(&bucket).await {
        return Ok(store);
    }
    // The bucket as `create_key_value` makes it (the KV layout of async-nats), plus a first
    // sequence of its own (see `first_sequence`).
    let config = stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(String::new()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: LEASE_BUCKET_MAX_AGE,
        storage: if replicas() == 1 {
            stream::StorageType::Memory
        } else {
            stream::StorageType::File
        },
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        num_replicas: replicas(),
        discard: stream::DiscardPolicy::New,
        first_sequence: Some(first_sequence()),
        ..Default::default()
    };
    let created = js.create_stream(config).await;
    // Created here, or by another service in between.
    js.get_key_value(&bucket).await.map_err(|_| Error::Setup {
        what: format!("kv bucket {bucket}"),
        reason: match created {
            Err(error) => error.to_string(),
            Ok(_) => "created but cannot be opened".to_owned(),
        },
    })
}

/// Where a new leases bucket starts counting: a random point in 2^61, so no two incarnations of
/// the bucket (an in-memory one comes back empty after a NATS restart) share revisions. A runner
/// takes a lease it gave back with one update conditioned on the revision it released at
/// (`lease::reacquire`); were the new bucket to count from 1 again, that revision could be another
/// runner's live lease of the same session there, and the update would take it from under it.
fn first_sequence() -> u64 {
    use std::hash::BuildHasher;
    // The standard library's hasher keys come from the OS's random source.
    let random =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    (random >> 3) | 1
}

/// Age after which a health record nobody updated is forgotten: longer than the longest cooldown,
/// so a stale breaker from last week never blocks a model.
pub const MODEL_HEALTH_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Opens (creating if needed) the model health bucket (llm-router only).
pub async fn model_health_bucket(
    js: &jetstream::Context,
    ns: &Namespace,
) -> Result<kv::Store, Error> {
    one_value_bucket(js, ns.model_health_bucket(), MODEL_HEALTH_MAX_AGE).await
}

/// Opens (creating if needed) the channel state bucket (channel-bridge only). Entries keep their
/// history at 1; markers of sent chunks expire with the outbound stream's retention.
pub async fn channel_state_bucket(
    js: &jetstream::Context,
    ns: &Namespace,
) -> Result<kv::Store, Error> {
    one_value_bucket(js, ns.channel_state_bucket(), TURN_MAX_AGE).await
}

/// Opens (creating if needed) the media object store: channel attachments, kept a week at most.
pub async fn media_store(
    js: &jetstream::Context,
    ns: &Namespace,
) -> Result<jetstream::object_store::ObjectStore, Error> {
    let bucket = ns.media_bucket();
    if let Ok(store) = js.get_object_store(&bucket).await {
        return Ok(store);
    }
    match js
        .create_object_store(jetstream::object_store::Config {
            bucket: bucket.clone(),
            max_age: TURN_MAX_AGE,
            storage: stream::StorageType::File,
            num_replicas: replicas(),
            ..Default::default()
        })
        .await
    {
        Ok(store) => Ok(store),
        Err(create_error) => js
            .get_object_store(&bucket)
            .await
            .map_err(|_| Error::Setup {
                what: format!("object store {bucket}"),
                reason: create_error.to_string(),
            }),
    }
}

/// Opens (creating if needed) the pairing bucket (channel-bridge, gateway and CLI).
pub async fn pairing_bucket(js: &jetstream::Context, ns: &Namespace) -> Result<kv::Store, Error> {
    // Pairing state never expires on its own: approvals are kept until revoked.
    one_value_bucket(js, ns.pairing_bucket(), Duration::ZERO).await
}

/// How long daily usage totals are kept.
pub const USAGE_MAX_AGE: Duration = Duration::from_secs(400 * 24 * 3600);

/// Bound of the usage bucket: a year of daily totals for hundreds of agent/model pairs. Any bound
/// under 32 MB makes NATS write it in 4 MB blocks instead of 8 MB ones, and a block being written
/// keeps a buffer of that size in memory.
pub const USAGE_MAX_BYTES: i64 = 16 * 1024 * 1024;

/// Opens (creating if needed) the usage bucket (agent-runner writes, gateway reads).
pub async fn usage_bucket(js: &jetstream::Context, ns: &Namespace) -> Result<kv::Store, Error> {
    ensure_bucket(
        js,
        kv::Config {
            max_bytes: USAGE_MAX_BYTES,
            ..one_value_config(ns.usage_bucket(), USAGE_MAX_AGE)
        },
    )
    .await
}

/// Opens (creating if needed) the cron bucket (gateway and agent-runner). Jobs never expire on
/// their own: they are removed by a person, the agent, or after a one-shot ran.
pub async fn cron_bucket(js: &jetstream::Context, ns: &Namespace) -> Result<kv::Store, Error> {
    one_value_bucket(js, ns.cron_bucket(), Duration::ZERO).await
}

/// A bucket keeping one value per key on disk, forgotten after `max_age` (zero: never).
async fn one_value_bucket(
    js: &jetstream::Context,
    bucket: String,
    max_age: Duration,
) -> Result<kv::Store, Error> {
    ensure_bucket(js, one_value_config(bucket, max_age)).await
}

/// The definition of [`one_value_bucket`]s, for buckets that change one thing of it.
fn one_value_config(bucket: String, max_age: Duration) -> kv::Config {
    kv::Config {
        bucket,
        history: 1,
        max_age,
        storage: stream::StorageType::File,
        num_replicas: replicas(),
        ..Default::default()
    }
}

async fn ensure_bucket(js: &jetstream::Context, config: kv::Config) -> Result<kv::Store, Error> {
    let bucket = config.bucket.clone();
    if let Ok(store) = js.get_key_value(&bucket).await {
        return Ok(store);
    }
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(create_error) => js.get_key_value(&bucket).await.map_err(|_| Error::Setup {
            what: format!("kv bucket {bucket}"),
            reason: create_error.to_string(),
        }),
    }
}
