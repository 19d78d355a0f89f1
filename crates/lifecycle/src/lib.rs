//! Process lifecycle pieces every service binary shares.
//!
//! - [`shutdown`]: turns SIGINT/SIGTERM into a `CancellationToken`; a second signal exits at once.
//! - [`probe`]: the `healthcheck` subcommand of each binary (distroless images have no curl): an HTTP
//!   GET or a `grpc.health.v1` check against the service's own port.
//! - [`entry`]: the common `main` of every service binary (runtime, healthcheck, exit codes).
//! - [`env`]: reading the few `PINCER_*` runtime variables with clear errors.
//! - [`ports`]: loopback ports for processes that must be told where to listen.
//! - `give_back` (run by [`entry`]): gives memory back once start-up, and each burst of work, is over.

pub mod entry;
pub mod env;
mod give_back;
pub mod ports;
pub mod probe;
pub mod shutdown;

/// What a service library's `run(config, listener, shutdown)` returns: the service, boxed.
///
/// Boxed so that the whole service is compiled once, in its library: an `async fn`'s state machine
/// is instantiated by the crate that awaits it, and release builds don't share those instances
/// between crates, so each thin `main` used to compile its service a second time (11.8 of the
/// gateway's 33.5 s).
pub type Serving<E> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), E>> + Send>>;
