//! `cron.list`, `cron.status`, `cron.add`, `cron.update`, `cron.remove`, `cron.run`: the jobs in
//! the cron bucket (the same the scheduler fires and the agent's `cron` tool manages).

use pincer_cron::{Job, JobPatch, NewJob, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Services;
use super::frame::{self, Code, ErrorShape};

fn store_error(error: StoreError) -> ErrorShape {
    match error {
        StoreError::NotFound(_) => ErrorShape::new(Code::NotFound, error.to_string()),
        StoreError::FromConfig(_) => ErrorShape::new(Code::Conflict, error.to_string()),
        StoreError::Open(_) | StoreError::Bus { .. } => {
            ErrorShape::new(Code::Unavailable, error.to_string())
        }
    }
}

/// A job as the control plane shows it: the record plus a readable schedule.
pub fn job_json(job: &Job) -> Value {
    let mut value = serde_json::to_value(job).unwrap_or_else(|_| json!({}));
    value["scheduleText"] = json!(job.schedule.describe());
    value
}

pub(super) async fn list(services: &Services) -> Result<Value, ErrorShape> {
    let jobs = services.cron.list().await.map_err(store_error)?;
    Ok(json!({ "jobs": jobs.iter().map(|s| job_json(&s.job)).collect::<Vec<_>>() }))
}

pub(super) async fn status(services: &Services) -> Result<Value, ErrorShape> {
    let jobs = services.cron.list().await.map_err(store_error)?;
    let next = jobs
        .iter()
        .filter(|s| s.job.enabled)
        .filter_map(|s| s.job.state.next_run_at_ms)
        .min();
    Ok(json!({
        "enabled": services.cron_enabled,
        "jobs": jobs.len(),
        "nextWakeAtMs": next,
        "missedGraceMs": u64::try_from(services.cron_grace.as_millis()).unwrap_or(u64::MAX),
    }))
}

pub(super) async fn add(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let request: NewJob = frame::params(params)?;
    let job = request
        .into_job(
            pincer_cron::job::new_id(),
            services.agents.default_id(),
            pincer_clock::now_ms(),
        )
        .map_err(|e| ErrorShape::new(Code::InvalidRequest, e.to_string()))?;
    check_targets(services, &job)?;
    if !services.cron.create(&job).await.map_err(store_error)? {
        return Err(ErrorShape::new(Code::Conflict, "job id taken; try again"));
    }
    tracing::info!(job = %job.id, schedule = %job.schedule.describe(), "cron job added");
    Ok(json!({ "job": job_json(&job) }))
}

/// The agent and the delivery target must exist: a job that cannot run is refused when made.
fn check_targets(services: &Services, job: &Job) -> Result<(), ErrorShape> {
    services
        .agents
        .resolve(&job.agent_id)
        .map_err(|e| ErrorShape::new(Code::InvalidRequest, e.to_string()))?;
    if let Some((channel, to, account)) = job.delivery.as_ref().and_then(|d| d.target()) {
        crate::hooks::deliver_to(&services.channels, channel, to, Some(account))
            .map_err(|e| ErrorShape::new(Code::InvalidRequest, e.to_string()))?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdParams {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateParams {
    id: String,
    patch: JobPatch,
}

pub(super) async fn update(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let UpdateParams { id, patch } = frame::params(params)?;
    let now = pincer_clock::now_ms();
    let job = services
        .cron
        .modify(&id, |job| {
            patch.apply(job, now);
            true
        })
        .await
        .map_err(store_error)?;
    Ok(json!({ "job": job_json(&job) }))
}

pub(super) async fn remove(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let IdParams { id } = frame::params(params)?;
    let job = services.cron.remove(&id).await.map_err(store_error)?;
    tracing::info!(job = %job.id, "cron job removed");
    Ok(json!({ "removed": true, "id": job.id }))
}

pub(super) async fn run(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let IdParams { id } = frame::params(params)?;
    let run_id = services.scheduler.run_now(&id).await.map_err(store_error)?;
    Ok(json!({ "ok": true, "enqueued": true, "runId": run_id }))
}
