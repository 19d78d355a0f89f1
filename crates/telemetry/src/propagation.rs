//! W3C trace-context propagation across transports.
//!
//! Each transport gets an injector/extractor adaptor over its header type. The functions read and
//! write the *current tracing span's* OpenTelemetry context, so callers only decide which span a
//! message belongs to.

use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes the current span's trace context into `carrier` (no-op without a propagator).
pub fn inject_current(carrier: &mut dyn Injector) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, carrier);
    });
}

/// Makes the trace context found in `carrier` (if any) the parent of `span`.
pub fn set_parent(span: &tracing::Span, carrier: &dyn Extractor) {
    let context =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    // A carrier without a traceparent yields an empty context: keep the span a root then.
    if opentelemetry::trace::TraceContextExt::has_active_span(&context) {
        let _ = span.set_parent(context);
    }
}

/// The current span's trace id as 32 lowercase hex digits, for log lines and tests.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Adaptor for `http::HeaderMap` (axum requests, reqwest requests).
pub struct HttpHeaders<'a>(pub &'a mut http::HeaderMap);

impl Injector for HttpHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Read-only adaptor for `http::HeaderMap`.
pub struct HttpHeadersRef<'a>(pub &'a http::HeaderMap);

impl Extractor for HttpHeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Adaptor for tonic request metadata (client side).
pub struct GrpcMetadata<'a>(pub &'a mut tonic::metadata::MetadataMap);

impl Injector for GrpcMetadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Read-only adaptor for tonic request metadata (server side).
pub struct GrpcMetadataRef<'a>(pub &'a tonic::metadata::MetadataMap);

impl Extractor for GrpcMetadataRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                tonic::metadata::KeyRef::Ascii(key) => Some(key.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// A tonic client interceptor that puts the current trace context into every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcTraceInterceptor;

impl tonic::service::Interceptor for GrpcTraceInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_current(&mut GrpcMetadata(request.metadata_mut()));
        Ok(request)
    }
}
