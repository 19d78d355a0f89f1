//! NATS header helpers: W3C trace context and idempotency ids.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};

/// JetStream de-duplication header: a second publish with the same id inside the stream's duplicate
/// window is acknowledged but not stored.
pub const MSG_ID: &str = "Nats-Msg-Id";

/// Headers carrying the current span's trace context.
pub fn with_trace_context() -> HeaderMap {
    let mut headers = HeaderMap::new();
    pincer_telemetry::propagation::inject_current(&mut NatsHeaders(&mut headers));
    headers
}

/// Makes the trace context in `headers` (if any) the parent of `span`.
pub fn set_parent_from(span: &tracing::Span, headers: Option<&HeaderMap>) {
    if let Some(headers) = headers {
        pincer_telemetry::propagation::set_parent(span, &NatsHeadersRef(headers));
    }
}

/// Injector over a NATS header map.
pub struct NatsHeaders<'a>(pub &'a mut HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

/// Extractor over a NATS header map.
pub struct NatsHeadersRef<'a>(pub &'a HeaderMap);

impl Extractor for NatsHeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}
