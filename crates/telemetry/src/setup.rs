//! Subscriber and tracer-provider installation, and the flush at shutdown.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How long shutdown waits for the exporter to flush buffered spans.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Telemetry setup failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `RUST_LOG` could not be parsed.
    #[error("invalid RUST_LOG filter: {0}")]
    Filter(String),
    /// The OTLP exporter could not be built from `OTEL_EXPORTER_OTLP_*`.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    /// A global subscriber was already installed.
    #[error("tracing is already initialised: {0}")]
    AlreadyInitialised(String),
}

/// Handle returned by [`init`]; call [`Telemetry::shutdown`] last, after the service stopped.
#[must_use = "call shutdown() so buffered spans are flushed"]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes and stops the tracer provider on the blocking pool, bounded by a timeout, so a dead
    /// collector cannot hold the process open.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flush = tokio::task::spawn_blocking(move || provider.shutdown());
        match tokio::time::timeout(FLUSH_TIMEOUT, flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => eprintln!("telemetry flush failed: {error}"),
            Ok(Err(error)) => eprintln!("telemetry flush task failed: {error}"),
            Err(_) => eprintln!("telemetry flush timed out after {FLUSH_TIMEOUT:?}"),
        }
    }
}

/// Installs the global subscriber and propagator for `service_name`.
///
/// `RUST_LOG` (default `info`), `LOG_FORMAT` (`json` or text) and `OTEL_EXPORTER_OTLP_ENDPOINT` are read
/// from the environment, by their standard names.
pub fn init(service_name: &'static str) -> Result<Telemetry, Error> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(spec).map_err(|error| Error::Filter(error.to_string()))?
        }
        _ => EnvFilter::new("info"),
    };
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let fmt_layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .boxed()
    };

    let provider = tracer_provider(service_name)?;
    let tracer = provider.tracer(service_name);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .map_err(|error| Error::AlreadyInitialised(error.to_string()))?;
    Ok(Telemetry { provider })
}

fn tracer_provider(service_name: &'static str) -> Result<SdkTracerProvider, Error> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name)
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let endpoint_set = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_ok_and(|v| !v.trim().is_empty());
    if !endpoint_set {
        return Ok(builder.build());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|error| Error::Exporter(error.to_string()))?;
    Ok(builder.with_batch_exporter(exporter).build())
}

/// Test-only setup: the same propagator and OpenTelemetry layer as [`init`] (so trace context
/// really flows), with logs only when `TEST_LOG` is set. Safe to call from every test.
pub fn init_for_tests() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let provider = SdkTracerProvider::builder().build();
        let tracer = provider.tracer("test");
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let logs = std::env::var_os("TEST_LOG").map(|_| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(EnvFilter::new(
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
                ))
        });
        let _ = tracing_subscriber::registry()
            .with(logs)
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .try_init();
    });
}
