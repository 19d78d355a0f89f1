//! Process lifecycle pieces every service binary shares.
//!
//! - [`shutdown`]: turns SIGINT/SIGTERM into a `CancellationToken`; a second signal exits at once.
//! - [`probe`]: the `healthcheck` subcommand of each binary (distroless images have no curl): an HTTP
//!   GET or a `grpc.health.v1` check against the service's own port.
//! - [`entry`]: the common `main` of every service binary (runtime, healthcheck, exit codes).
//! - [`env`]: reading the few `PINCER_*` runtime variables with clear errors.

pub mod entry;
pub mod env;
pub mod probe;
pub mod shutdown;
