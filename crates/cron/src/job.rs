//! The job record as stored (OpenClaw's field names) and the request that makes one.

use serde::{Deserialize, Serialize};

use crate::schedule::{Schedule, ScheduleError, parse_time_ms};

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Its id (`pincer cron remove <id>`).
    pub id: String,
    /// A label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The agent that runs it.
    pub agent_id: String,
    /// Off: kept, never fired.
    pub enabled: bool,
    /// When.
    pub schedule: Schedule,
    /// `isolated`: a fresh session per run; `main`: the agent's main session.
    pub session_target: SessionTarget,
    /// What the agent is asked.
    pub payload: Payload,
    /// Where the answer goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<JobDelivery>,
    /// Remove a one-shot job once it ran well.
    #[serde(default)]
    pub delete_after_run: bool,
    /// Local hours the job may fire in (heartbeats); a firing outside is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_hours: Option<pincer_config::ActiveHours>,
    /// Made by the config (`agents.defaults.heartbeat`), not by a person: not removable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_config: bool,
    /// Creation time.
    pub created_at_ms: u64,
    /// Last change of the definition.
    pub updated_at_ms: u64,
    /// What happened so far.
    #[serde(default)]
    pub state: JobState,
}

/// Where a job's turn runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionTarget {
    /// `agent:<id>:cron:<job>:<run>`, new for every run.
    #[default]
    Isolated,
    /// `agent:<id>:main`.
    Main,
}

/// What the job asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Payload {
    /// A message the agent answers.
    #[serde(rename_all = "camelCase")]
    AgentTurn {
        /// The message.
        message: String,
        /// The run's thinking level.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thinking: Option<String>,
    },
    /// An event put to the agent as a message (OpenClaw's main-session payload).
    SystemEvent {
        /// The event text.
        text: String,
    },
    /// The heartbeat: follow `HEARTBEAT.md`.
    Heartbeat {
        /// The instruction.
        prompt: String,
    },
}

impl Payload {
    /// The text the agent receives.
    pub fn text(&self) -> &str {
        match self {
            Self::AgentTurn { message, .. } => message,
            Self::SystemEvent { text } => text,
            Self::Heartbeat { prompt } => prompt,
        }
    }

    /// The thinking level asked for.
    pub fn thinking(&self) -> Option<&str> {
        match self {
            Self::AgentTurn { thinking, .. } => thinking.as_deref(),
            _ => None,
        }
    }
}

/// Where the answer is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobDelivery {
    /// `announce` (send it) or `none`.
    #[serde(default)]
    pub mode: DeliveryMode,
    /// `telegram`, `discord`, `slack`, `whatsapp`, `signal`, `bluebubbles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The chat there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The channel account that sends (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// Whether the answer is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Sent to `channel`/`to`.
    #[default]
    Announce,
    /// Kept in the session.
    None,
}

impl JobDelivery {
    /// `(channel, to, account)` when the answer is sent.
    pub fn target(&self) -> Option<(&str, &str, &str)> {
        match (self.mode, self.channel.as_deref(), self.to.as_deref()) {
            (DeliveryMode::Announce, Some(channel), Some(to)) => Some((
                channel,
                to,
                self.account_id
                    .as_deref()
                    .unwrap_or(pincer_config::DEFAULT_ACCOUNT),
            )),
            _ => None,
        }
    }
}

/// A job's run history in brief.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// The next firing (`None`: none left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at_ms: Option<u64>,
    /// When it last fired (or was skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at_ms: Option<u64>,
    /// `started`, `ok`, `error` or `skipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<RunStatus>,
    /// Why the last run failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The last run's turn id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_turn_id: Option<String>,
    /// Firings so far.
    #[serde(default)]
    pub runs: u64,
}

/// The outcome of a job's last firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Handed to the agent; no outcome seen yet.
    Started,
    /// Answered.
    Ok,
    /// Failed.
    Error,
    /// Not run (missed by more than the grace, outside active hours, no HEARTBEAT.md).
    Skipped,
}

/// A request for a new job: OpenClaw's shape (`schedule`, `payload`, `delivery` objects), or the
/// short one people and small models write (`at`/`every`/`cron`+`tz`, `message`,
/// `channel`/`to`/`accountId`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewJob {
    /// A label.
    #[serde(default)]
    pub name: Option<String>,
    /// The agent (default: the caller's, or the default agent).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// OpenClaw's schedule object.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Once: an RFC 3339 time or `+30s`, `+10m`, `+2h` from now.
    #[serde(default)]
    pub at: Option<String>,
    /// Repeat: `30m`, `1h`, `90s`.
    #[serde(default)]
    pub every: Option<String>,
    /// Cron expression.
    #[serde(default)]
    pub cron: Option<String>,
    /// Time zone of `cron`.
    #[serde(default)]
    pub tz: Option<String>,
    /// `isolated` (default) or `main`.
    #[serde(default)]
    pub session_target: Option<SessionTarget>,
    /// OpenClaw's payload object.
    #[serde(default)]
    pub payload: Option<Payload>,
    /// The message (instead of `payload`).
    #[serde(default)]
    pub message: Option<String>,
    /// Thinking level of the runs.
    #[serde(default)]
    pub thinking: Option<String>,
    /// OpenClaw's delivery object.
    #[serde(default)]
    pub delivery: Option<JobDelivery>,
    /// Where the answer goes (with `to`).
    #[serde(default)]
    pub channel: Option<String>,
    /// The chat on `channel`.
    #[serde(default)]
    pub to: Option<String>,
    /// The channel account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Remove a one-shot job after it ran well (default true for `at`).
    #[serde(default)]
    pub delete_after_run: Option<bool>,
    /// OpenClaw's wake mode: accepted, every job runs at its time.
    #[serde(default)]
    pub wake_mode: Option<String>,
}

/// Why a job request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// No schedule, or more than one.
    #[error("give exactly one of: schedule, at, every, cron")]
    Schedule,
    /// A bad schedule.
    #[error(transparent)]
    BadSchedule(#[from] ScheduleError),
    /// `every` is not a duration.
    #[error("every: {0}")]
    Every(String),
    /// No message.
    #[error("give the message (or a payload)")]
    Message,
    /// Half a delivery target.
    #[error("`channel` and `to` go together")]
    Delivery,
    /// `channel: "last"`.
    #[error("channel \"last\" is not supported: name the channel and `to`")]
    Last,
    /// A one-shot time already past.
    #[error("at {0} is in the past")]
    Past(String),
    /// An over-long text.
    #[error("{0} is limited to {1} characters")]
    TooLong(&'static str, usize),
}

/// Longest message of a job.
pub const MAX_MESSAGE_CHARS: usize = 8_000;

/// `+30s`, `+10m`, `+2h` from `now_ms`, or an RFC 3339 time.
pub fn resolve_at(text: &str, now_ms: u64) -> Result<u64, ScheduleError> {
    let trimmed = text.trim();
    if let Some(relative) = trimmed.strip_prefix('+') {
        let offset = pincer_config::parse_duration(relative)
            .map_err(|_| ScheduleError::BadTime(text.to_owned()))?;
        let offset = u64::try_from(offset.as_millis()).unwrap_or(u64::MAX);
        return now_ms
            .checked_add(offset)
            .ok_or_else(|| ScheduleError::BadTime(text.to_owned()));
    }
    parse_time_ms(trimmed)
}

fn rfc3339_ms(ms: u64) -> String {
    pincer_clock::rfc3339(std::time::Duration::from_millis(ms))
}

impl NewJob {
    /// The job this asks for, made at `now_ms` for `agent_id` when the request names none.
    pub fn into_job(self, id: String, default_agent: &str, now_ms: u64) -> Result<Job, JobError> {
        let given = [
            self.schedule.is_some(),
            self.at.is_some(),
            self.every.is_some(),
            self.cron.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(JobError::Schedule);
        }
        let schedule = if let Some(schedule) = self.schedule {
            schedule
        } else if let Some(at) = &self.at {
            Schedule::At {
                at: rfc3339_ms(resolve_at(at, now_ms)?),
            }
        } else if let Some(every) = &self.every {
            let every =
                pincer_config::parse_duration(every).map_err(|e| JobError::Every(e.to_string()))?;
            Schedule::Every {
                every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
                anchor_ms: None,
            }
        } else {
            Schedule::Cron {
                expr: self.cron.clone().unwrap_or_default(),
                tz: self.tz.clone(),
            }
        };
        schedule.check()?;
        if let Schedule::At { at } = &schedule {
            // A minute of slack: `--at +0s` or a clock a little behind still counts as now.
            if parse_time_ms(at)? + 60_000 < now_ms {
                return Err(JobError::Past(at.clone()));
            }
        }
        let payload = match (self.payload, self.message) {
            (Some(payload), _) => payload,
            (None, Some(message)) if !message.trim().is_empty() => Payload::AgentTurn {
                message,
                thinking: self.thinking,
            },
            (None, _) => return Err(JobError::Message),
        };
        if payload.text().trim().is_empty() {
            return Err(JobError::Message);
        }
        if payload.text().chars().count() > MAX_MESSAGE_CHARS {
            return Err(JobError::TooLong("message", MAX_MESSAGE_CHARS));
        }
        let delivery = match (self.delivery, self.channel, self.to) {
            (Some(delivery), _, _) => Some(delivery),
            (None, None, None) => None,
            (None, Some(channel), Some(to)) if !to.trim().is_empty() => Some(JobDelivery {
                mode: DeliveryMode::Announce,
                channel: Some(channel.trim().to_ascii_lowercase()),
                to: Some(to.trim().to_owned()),
                account_id: self.account_id,
            }),
            _ => return Err(JobError::Delivery),
        };
        if let Some(delivery) = &delivery {
            if delivery.channel.as_deref() == Some("last") {
                return Err(JobError::Last);
            }
            if delivery.mode == DeliveryMode::Announce && delivery.target().is_none() {
                return Err(JobError::Delivery);
            }
        }
        let once = schedule.is_once();
        let mut job = Job {
            id,
            name: self.name.filter(|n| !n.trim().is_empty()),
            agent_id: self
                .agent_id
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| default_agent.to_owned()),
            enabled: self.enabled.unwrap_or(true),
            schedule,
            session_target: self.session_target.unwrap_or_default(),
            payload,
            delivery,
            delete_after_run: self.delete_after_run.unwrap_or(once),
            active_hours: None,
            from_config: false,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            state: JobState::default(),
        };
        job.state.next_run_at_ms = job.schedule.first(now_ms, now_ms);
        Ok(job)
    }
}

/// What may change in a job once made (`cron.update`, the tool's `update`): to change the
/// schedule or the message, remove the job and add another.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPatch {
    /// Fire again, or stop firing (the job is kept).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A new label (empty: none).
    #[serde(default)]
    pub name: Option<String>,
}

impl JobPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.enabled.is_none() && self.name.is_none()
    }

    /// Applies it at `now_ms`. A job enabled again fires next from now, not from when it was
    /// paused (no burst of the runs missed meanwhile).
    pub fn apply(&self, job: &mut Job, now_ms: u64) {
        if let Some(enabled) = self.enabled {
            if enabled && !job.enabled {
                job.state.next_run_at_ms = job
                    .schedule
                    .next_after(now_ms, job.created_at_ms)
                    .or(job.state.next_run_at_ms);
            }
            job.enabled = enabled;
        }
        if let Some(name) = &self.name {
            job.name = Some(name.clone()).filter(|n| !n.trim().is_empty());
        }
        job.updated_at_ms = now_ms;
    }
}

/// A new job id: 12 hex digits, short enough to type.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_450_000_000;

    fn new(json: serde_json::Value) -> Result<Job, JobError> {
        serde_json::from_value::<NewJob>(json)
            .expect("request")
            .into_job("j1".into(), "main", NOW)
    }

    #[test]
    fn the_short_form_and_openclaws_form_make_the_same_job() {
        let short = new(serde_json::json!({
            "at": "+10m", "message": "stand up", "channel": "Telegram", "to": "42"
        }))
        .expect("job");
        assert_eq!(short.state.next_run_at_ms, Some(NOW + 600_000));
        assert!(short.delete_after_run);
        assert_eq!(short.agent_id, "main");
        assert_eq!(
            short.delivery.as_ref().and_then(JobDelivery::target),
            Some(("telegram", "42", "default"))
        );
        let long = new(serde_json::json!({
            "schedule": {"kind": "at", "at": rfc3339_ms(NOW + 600_000)},
            "payload": {"kind": "agentTurn", "message": "stand up"},
            "delivery": {"mode": "announce", "channel": "telegram", "to": "42"},
            "sessionTarget": "isolated"
        }))
        .expect("job");
        assert_eq!(long.schedule, short.schedule);
        assert_eq!(long.payload, short.payload);
        let every = new(serde_json::json!({"every": "30m", "message": "check", "agentId": "ops"}))
            .expect("job");
        assert_eq!(every.state.next_run_at_ms, Some(NOW + 1_800_000));
        assert!(!every.delete_after_run);
        assert_eq!(every.agent_id, "ops");
    }

    #[test]
    fn a_job_enabled_again_fires_from_now() {
        let mut job = new(serde_json::json!({"every": "1m", "message": "m"})).expect("job");
        let off = JobPatch {
            enabled: Some(false),
            name: Some("paused".into()),
        };
        off.apply(&mut job, NOW + 10 * 60_000);
        assert!(!job.enabled);
        assert_eq!(job.name.as_deref(), Some("paused"));
        let on = JobPatch {
            enabled: Some(true),
            name: None,
        };
        on.apply(&mut job, NOW + 30 * 60_000 + 1);
        assert_eq!(job.state.next_run_at_ms, Some(NOW + 31 * 60_000));
        assert!(JobPatch::default().is_empty());
    }

    #[test]
    fn bad_requests_say_what_is_missing() {
        let refused = |json| new(json).unwrap_err().to_string();
        assert!(refused(serde_json::json!({"message": "m"})).contains("exactly one"));
        assert!(
            refused(serde_json::json!({"at": "+1m", "every": "1m", "message": "m"}))
                .contains("exactly one")
        );
        assert!(refused(serde_json::json!({"at": "+1m"})).contains("message"));
        assert!(
            refused(serde_json::json!({"at": "+1m", "message": "m", "channel": "telegram"}))
                .contains("go together")
        );
        assert!(
            refused(serde_json::json!({"at": "+1m", "message": "m", "channel": "last", "to": "x"}))
                .contains("last")
        );
        assert!(
            refused(serde_json::json!({"at": "2020-01-01T00:00:00Z", "message": "m"}))
                .contains("past")
        );
        assert!(refused(serde_json::json!({"cron": "0 7 * *", "message": "m"})).contains("fields"));
        assert!(refused(serde_json::json!({"every": "often", "message": "m"})).contains("every"));
        assert!(serde_json::from_value::<NewJob>(serde_json::json!({"sheduel": 1})).is_err());
    }
}
