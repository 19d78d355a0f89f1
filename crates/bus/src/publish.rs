//! Durable publishing: the one way a service puts a message on a JetStream stream.
//!
//! Every durable message carries the publisher's trace context and a JetStream message id, and is
//! handed over only once the stream has acknowledged it: a publish that returns `Ok` survives a
//! crash of any service, and one retried with the same id is stored once.

use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use serde::Serialize;

use crate::Error;
use crate::headers::{MSG_ID, with_trace_context};

/// How long a publish waits for the stream's acknowledgement. A healthy server answers in
/// milliseconds; five seconds without one means it is down or cut off, and the caller reports
/// the failure (to the HTTP client, the chat platform or the redelivery) instead of hanging.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The stream's acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The stream already held a message with this id (inside its duplicate window): this one
    /// was acknowledged and not stored again.
    pub duplicate: bool,
}

/// Publishes `payload` on `subject` under the message id `msg_id` and waits for the stream to
/// acknowledge it (at most [`ACK_TIMEOUT`]).
pub async fn durable(
    js: &jetstream::Context,
    subject: String,
    msg_id: &str,
    payload: Bytes,
) -> Result<Stored, Error> {
    let failed = |reason: String| Error::Publish {
        subject: subject.clone(),
        reason,
    };
    let mut headers = with_trace_context();
    headers.insert(MSG_ID, msg_id);
    let ack = js
        .publish_with_headers(subject.clone(), headers, payload)
        .await
        .map_err(|e| failed(e.to_string()))?;
    match tokio::time::timeout(ACK_TIMEOUT, ack).await {
        Ok(Ok(ack)) => Ok(Stored {
            duplicate: ack.duplicate,
        }),
        Ok(Err(error)) => Err(failed(error.to_string())),
        Err(_) => Err(failed(format!(
            "the stream did not acknowledge within {}s",
            ACK_TIMEOUT.as_secs()
        ))),
    }
}

/// [`durable`] with `message` encoded as JSON.
pub async fn durable_json<T: Serialize>(
    js: &jetstream::Context,
    subject: String,
    msg_id: &str,
    message: &T,
) -> Result<Stored, Error> {
    let payload = serde_json::to_vec(message).map_err(|e| Error::Payload {
        subject: subject.clone(),
        reason: e.to_string(),
    })?;
    durable(js, subject, msg_id, payload.into()).await
}
