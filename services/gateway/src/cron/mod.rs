//! Scheduled work in the gateway: the [`scheduler`] that fires due jobs exactly once across
//! replicas, and the [`heartbeat`] jobs the config asks for.

pub mod heartbeat;
pub mod scheduler;

pub use scheduler::Scheduler;
