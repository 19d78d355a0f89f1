//! The records the services keep in JetStream KV buckets (the buckets themselves are named and
//! created by `pincer-bus`; this crate only says what goes in them).
//!
//! - [`ids`]: ids derived from what they name (turns of jobs, children, idempotent retries).
//! - [`channel_health`]: each channel account's connection state, as the bridge last saw it.
//! - [`pairing`]: DM pairing codes and approved senders, shared by the bridge, gateway and CLI.
//! - [`transcript`]: a session's stored conversation (agent-runner writes, gateway reads).
//! - [`usage`]: token and cost totals per day and model.

pub mod channel_health;
pub mod ids;
pub mod pairing;
pub mod transcript;
pub mod usage;
