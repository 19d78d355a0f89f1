//! Telemetry for every Pincer binary.
//!
//! - [`init`] installs the `tracing` subscriber: an `EnvFilter` from `RUST_LOG`, a fmt layer (JSON when
//!   `LOG_FORMAT=json`), and an OpenTelemetry layer. Spans are exported over OTLP/gRPC only when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set; without it trace ids are still minted so that they can be
//!   propagated, but nothing leaves the process.
//! - [`propagation`] carries W3C `traceparent` across HTTP headers, gRPC metadata and any
//!   string-keyed header map (NATS), so one trace follows a turn through every service.

pub mod propagation;
mod setup;

pub use setup::{Error, Telemetry, init, init_for_tests};
