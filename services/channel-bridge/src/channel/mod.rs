//! What every channel shares; each platform is an adapter over it.
//!
//! - [`inbound`]: a message to a bot as every adapter describes it.
//! - [`body`]: attachment downloads read with a ceiling.
//! - [`access`]: DM and group policies, pairing, mention gating: who may reach the agent.
//! - [`routing`]: bindings to agents and session keys.
//! - [`ingest`]: accepted messages to JetStream exactly once (turns with their delivery target,
//!   pairing codes, refusals), attachments as typed media.
//! - [`outbound`]: replies from JetStream to the platform exactly once (claim, send, mark),
//!   chunked under each platform's limit, paced, with `retry_after` handling.
//! - [`pushed`]: events a platform pushes through the gateway (webhooks), off JetStream.
//! - [`lease`]: one replica at a time per connection or sender.
//! - [`typing`]: the typing indicator while a turn runs.
//! - [`health`]: each account's connection state, for `channels.status`, the UI and doctor.
//! - [`context`]: what every adapter gets from the bridge; makes ingests and runs the sender.

pub mod access;
pub mod body;
pub mod context;
pub mod health;
pub mod inbound;
pub mod ingest;
pub mod lease;
pub mod outbound;
pub mod pushed;
pub mod routing;
pub mod typing;

pub use context::Context;
pub use pincer_bus::key_token;

/// The buckets every channel works with.
#[derive(Clone)]
pub struct Stores {
    /// Channel state: offsets, sessions, markers, leases, health.
    pub state: async_nats::jetstream::kv::Store,
    /// Pairing codes and approved senders.
    pub pairing: async_nats::jetstream::kv::Store,
    /// Attachments on their way to the agent.
    pub media: async_nats::jetstream::object_store::ObjectStore,
}

impl Stores {
    /// Opens (creating if needed) the channel buckets.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        ns: &pincer_bus::Namespace,
    ) -> Result<Self, pincer_bus::Error> {
        let (state, pairing, media) = tokio::try_join!(
            pincer_bus::setup::channel_state_bucket(js, ns),
            pincer_bus::setup::pairing_bucket(js, ns),
            pincer_bus::setup::media_store(js, ns)
        )?;
        Ok(Self {
            state,
            pairing,
            media,
        })
    }
}
