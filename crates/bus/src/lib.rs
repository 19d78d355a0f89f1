//! Everything the services agree on about NATS.
//!
//! - [`subjects`]: every subject, stream, consumer and KV bucket name, built by functions from one
//!   [`Namespace`] (a prefix, so tests can share one server without seeing each other).
//! - [`setup`]: idempotent creation of the streams and buckets at startup.
//! - [`messages`]: the JSON payloads that travel on those subjects.
//! - [`headers`]: W3C trace context in NATS headers, and message-id helpers.
//! - [`publish`]: the durable publish (trace context, message id, acknowledgement), used by all.
//! - [`connect`]: connecting with retry and sane timeouts, as one of the [`access`] roles.
//! - [`access`]: each service's user and subject permissions; the server's authorization block.
//! - [`lease`]: one holder at a time for a KV key (e.g. one Telegram poller per bot token).
//! - [`demux`]: one wildcard subscription whose messages go to whoever registered their subject.
//!
//! What goes into the KV buckets (pairing, transcripts, usage) lives in `pincer-store`.

pub mod access;
pub mod connect;
pub mod demux;
pub mod headers;
pub mod lease;
pub mod messages;
pub mod publish;
pub mod setup;
pub mod subjects;

pub use subjects::{Namespace, key_token};

/// Bus errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Could not connect to the NATS server in time.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// Server URL as configured.
        url: String,
        /// Last connection error.
        reason: String,
    },
    /// A JetStream stream or KV bucket could not be created or opened.
    #[error("cannot set up {what}: {reason}")]
    Setup {
        /// The stream or bucket name.
        what: String,
        /// The server's answer.
        reason: String,
    },
    /// Publishing failed or the server did not acknowledge.
    #[error("publish to {subject} failed: {reason}")]
    Publish {
        /// Subject published to.
        subject: String,
        /// The server's or client's answer.
        reason: String,
    },
    /// A payload could not be encoded or decoded.
    #[error("bad payload on {subject}: {reason}")]
    Payload {
        /// Subject of the message.
        subject: String,
        /// What was wrong.
        reason: String,
    },
}
