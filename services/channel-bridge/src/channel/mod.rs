//! What every channel shares; each platform is an adapter over it.
//!
//! - [`inbound`]: a message to a bot as every adapter describes it.
//! - [`access`]: DM and group policies, pairing, mention gating: who may reach the agent.
//! - [`routing`]: bindings to agents and session keys.
//! - [`ingest`]: accepted messages to JetStream exactly once (turns with their delivery target,
//!   pairing codes, refusals), attachments as typed media.
//! - [`outbound`]: replies from JetStream to the platform exactly once (claim, send, mark),
//!   chunked under each platform's limit, paced, with `retry_after` handling.
//! - [`pushed`]: events a platform pushes through the gateway (webhooks), off JetStream.
//! - [`typing`]: the typing indicator while a turn runs.
//! - [`health`]: each account's connection state, for `channels.status`, the UI and doctor.

pub mod access;
pub mod health;
pub mod inbound;
pub mod ingest;
pub mod outbound;
pub mod pushed;
pub mod routing;
pub mod typing;

pub use pincer_bus::key_token;
