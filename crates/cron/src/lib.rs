//! Scheduled work: jobs that fire once (`at`), at an interval (`every`) or on a cron expression
//! in a time zone, kept durably in NATS KV and fired exactly once across gateway replicas and
//! restarts. The gateway's scheduler fires them; `pincer cron`, the Control UI and the agent's
//! `cron` tool manage them.

pub mod expr;
pub mod firing;
pub mod job;
pub mod schedule;
pub mod store;

pub use expr::{CronExpr, ExprError};
pub use firing::Decision;
pub use job::{
    DeliveryMode, Job, JobDelivery, JobError, JobPatch, JobState, NewJob, Payload, RunStatus,
    SessionTarget,
};
pub use schedule::{Schedule, ScheduleError};
pub use store::{JobStore, StoreError, Stored};
