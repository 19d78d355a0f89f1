//! `cron`: the agent schedules work for itself (OpenClaw's tool): `list`, `add`, `update`,
//! `remove`, `run`. Jobs go to the cron bucket the gateway's scheduler fires from, so they keep
//! across restarts and fire once whatever the replicas. An agent sees and changes only its own
//! jobs. A job made in a chat answers in that chat unless it names another target.

use pincer_bus::messages::Delivery;
use pincer_cron::{Job, JobDelivery, JobStore, NewJob};
use serde_json::{Map, Value};

use super::ToolError;

/// What a call needs from its turn.
pub struct CronCall<'a> {
    /// The bucket (`None`: NATS refused it at startup).
    pub store: Option<&'a JobStore>,
    /// The agent calling.
    pub agent: &'a str,
    /// The chat the turn came from, the default target of the answers.
    pub reply_to: Option<&'a Delivery>,
}

fn store_error(error: pincer_cron::StoreError) -> ToolError {
    ToolError::Invalid(error.to_string())
}

/// Runs the `cron` tool.
pub async fn call(call: &CronCall<'_>, arguments: &str) -> Result<String, ToolError> {
    let store = call
        .store
        .ok_or_else(|| ToolError::Host("the scheduler's store is unavailable right now".into()))?;
    let mut args: Map<String, Value> = if arguments.trim().is_empty() {
        Map::new()
    } else {
        serde_json::from_str(arguments).map_err(|e| ToolError::Arguments(e.to_string()))?
    };
    let Some(Value::String(action)) = args.remove("action") else {
        return Err(ToolError::Arguments(
            "`action` is one of: list, add, update, remove, run".into(),
        ));
    };
    match action.as_str() {
        "list" | "status" => list(store, call.agent).await,
        "add" => add(store, call, args).await,
        "update" => update(store, call.agent, args).await,
        "remove" => remove(store, call.agent, &job_id(&args)?).await,
        "run" => run(store, call.agent, &job_id(&args)?).await,
        other => Err(ToolError::Arguments(format!(
            "action {other:?} is not one of: list, add, update, remove, run"
        ))),
    }
}

fn job_id(args: &Map<String, Value>) -> Result<String, ToolError> {
    ["id", "jobId"]
        .iter()
        .find_map(|key| args.get(*key).and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| ToolError::Arguments("give the job's `id`".into()))
}

fn time(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "-".to_owned(),
        |ms| pincer_clock::rfc3339(std::time::Duration::from_millis(ms)),
    )
}

fn line(job: &Job) -> String {
    let target = job
        .delivery
        .as_ref()
        .and_then(JobDelivery::target)
        .map_or_else(
            || "kept in its session".to_owned(),
            |(c, to, _)| format!("to {c} {to}"),
        );
    format!(
        "{} {:?} {}; next {}; {}; last {}{}",
        job.id,
        job.name.as_deref().unwrap_or(""),
        job.schedule.describe(),
        time(job.state.next_run_at_ms),
        target,
        job.state
            .last_status
            .map_or("never ran".to_owned(), |s| format!("{s:?}").to_lowercase()),
        if job.enabled { "" } else { " (disabled)" },
    )
}

async fn own(store: &JobStore, agent: &str, id: &str) -> Result<Job, ToolError> {
    match store.get(id).await.map_err(store_error)? {
        Some(stored) if stored.job.agent_id == agent => Ok(stored.job),
        _ => Err(ToolError::Invalid(format!("you have no job {id:?}"))),
    }
}

async fn list(store: &JobStore, agent: &str) -> Result<String, ToolError> {
    let jobs: Vec<String> = store
        .list()
        .await
        .map_err(store_error)?
        .iter()
        .filter(|s| s.job.agent_id == agent)
        .map(|s| line(&s.job))
        .collect();
    Ok(if jobs.is_empty() {
        "no scheduled jobs".to_owned()
    } else {
        jobs.join("\n")
    })
}

async fn add(
    store: &JobStore,
    call: &CronCall<'_>,
    mut args: Map<String, Value>,
) -> Result<String, ToolError> {
    let request = match args.remove("job") {
        Some(job) if args.is_empty() => job,
        Some(_) => {
            return Err(ToolError::Arguments(
                "give the job either as `job` or as fields beside `action`, not both".into(),
            ));
        }
        None => Value::Object(args),
    };
    let mut request: NewJob =
        serde_json::from_value(request).map_err(|e| ToolError::Arguments(e.to_string()))?;
    if let Some(asked) = request.agent_id.as_deref()
        && asked != call.agent
    {
        return Err(ToolError::Denied(format!(
            "you can schedule jobs for yourself only (agent {:?})",
            call.agent
        )));
    }
    request.agent_id = Some(call.agent.to_owned());
    let names_target =
        request.delivery.is_some() || request.channel.is_some() || request.to.is_some();
    if !names_target && let Some(chat) = call.reply_to {
        request.channel = Some(chat.channel.clone());
        request.to = Some(chat.chat_id.clone());
        request.account_id = Some(chat.account.clone());
    }
    let job = request
        .into_job(
            pincer_cron::job::new_id(),
            call.agent,
            pincer_clock::now_ms(),
        )
        .map_err(|e| ToolError::Invalid(e.to_string()))?;
    if !store.create(&job).await.map_err(store_error)? {
        return Err(ToolError::Invalid("job id taken; try again".into()));
    }
    tracing::info!(job = %job.id, schedule = %job.schedule.describe(), "the agent scheduled a job");
    Ok(format!("scheduled {}", line(&job)))
}

async fn update(
    store: &JobStore,
    agent: &str,
    mut args: Map<String, Value>,
) -> Result<String, ToolError> {
    let id = job_id(&args)?;
    own(store, agent, &id).await?;
    args.remove("id");
    args.remove("jobId");
    let patch = args.remove("patch").unwrap_or(Value::Object(args));
    let patch: pincer_cron::JobPatch =
        serde_json::from_value(patch).map_err(|e| ToolError::Arguments(e.to_string()))?;
    if patch.is_empty() {
        return Err(ToolError::Arguments(
            "update changes `enabled` or `name`; to change the schedule, remove the job and add a new one".into(),
        ));
    }
    let now = pincer_clock::now_ms();
    let job = store
        .modify(&id, |job| {
            patch.apply(job, now);
            true
        })
        .await
        .map_err(store_error)?;
    Ok(format!("updated {}", line(&job)))
}

async fn remove(store: &JobStore, agent: &str, id: &str) -> Result<String, ToolError> {
    own(store, agent, id).await?;
    let job = store.remove(id).await.map_err(store_error)?;
    Ok(format!("removed job {}", job.id))
}

/// Runs a job now: its next firing is set to this moment and the scheduler fires it.
async fn run(store: &JobStore, agent: &str, id: &str) -> Result<String, ToolError> {
    own(store, agent, id).await?;
    let now = pincer_clock::now_ms();
    let job = store
        .modify(id, |job| {
            if !job.enabled {
                return false;
            }
            job.state.next_run_at_ms = Some(now);
            true
        })
        .await
        .map_err(store_error)?;
    if !job.enabled {
        return Err(ToolError::Invalid(format!("job {id} is disabled")));
    }
    Ok(format!("job {id} runs now"))
}
