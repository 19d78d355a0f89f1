//! When a job is due, and what its record says after it fired or was skipped. Pure functions of
//! the job and the clock: the scheduler does the I/O.
//!
//! Exactly once: a firing is identified by its job and its scheduled time. Its turn id is derived
//! from both, so the same firing published twice (two schedulers racing, or one that crashed
//! between publishing and recording) is one turn, answered once by the agent-runner.

use crate::job::{Job, JobState, RunStatus, SessionTarget};

/// What to do about a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do before this time.
    WaitUntil(u64),
    /// Never fires again (disabled, or a one-shot that ran).
    Idle,
    /// Fire the run scheduled at this time.
    Fire(u64),
    /// The run scheduled at this time is not run (why), the job moves on.
    Skip(u64, String),
}

/// What to do about `job` at `now_ms`, with firings late by more than `grace_ms` skipped.
pub fn decide(job: &Job, now_ms: u64, grace_ms: u64) -> Decision {
    if !job.enabled {
        return Decision::Idle;
    }
    let Some(scheduled) = job.state.next_run_at_ms else {
        return Decision::Idle;
    };
    if scheduled > now_ms {
        return Decision::WaitUntil(scheduled);
    }
    let late = now_ms - scheduled;
    if late > grace_ms {
        return Decision::Skip(
            scheduled,
            format!(
                "missed by {} (the scheduler was down); cron.missedGrace is {}",
                crate::schedule::describe_ms(late),
                crate::schedule::describe_ms(grace_ms)
            ),
        );
    }
    if let Some(hours) = &job.active_hours
        && !within_active_hours(hours, scheduled)
    {
        return Decision::Skip(
            scheduled,
            format!("outside active hours {}-{}", hours.start, hours.end),
        );
    }
    Decision::Fire(scheduled)
}

/// Whether `at_ms` falls within `hours` (local time in its zone; a window past midnight, such
/// as 22:00-06:00, wraps).
pub fn within_active_hours(hours: &pincer_config::ActiveHours, at_ms: u64) -> bool {
    let (Some(start), Some(end)) = (
        pincer_config::minute_of_day(&hours.start),
        pincer_config::minute_of_day(&hours.end),
    ) else {
        return true;
    };
    let Ok(tz) = crate::schedule::time_zone(hours.timezone.as_deref()) else {
        return true;
    };
    let Some(at) = i64::try_from(at_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
    else {
        return true;
    };
    let local = tz.to_datetime(at);
    let minute =
        u32::try_from(local.hour()).unwrap_or(0) * 60 + u32::try_from(local.minute()).unwrap_or(0);
    match start.cmp(&end) {
        std::cmp::Ordering::Less => (start..end).contains(&minute),
        std::cmp::Ordering::Greater => minute >= start || minute < end,
        std::cmp::Ordering::Equal => true,
    }
}

/// The record after the run scheduled at `scheduled_ms` fired at `now_ms` as `turn_id`.
pub fn fired(job: &Job, scheduled_ms: u64, now_ms: u64, turn_id: &str) -> Job {
    let mut next = job.clone();
    next.state = JobState {
        next_run_at_ms: job
            .schedule
            .next_after(scheduled_ms.max(now_ms), job.created_at_ms),
        last_run_at_ms: Some(now_ms),
        last_status: Some(RunStatus::Started),
        last_error: None,
        last_turn_id: Some(turn_id.to_owned()),
        runs: job.state.runs + 1,
    };
    next
}

/// The record after the run scheduled at `scheduled_ms` was skipped at `now_ms`.
pub fn skipped(job: &Job, scheduled_ms: u64, now_ms: u64, why: &str) -> Job {
    let mut next = job.clone();
    next.state.next_run_at_ms = job
        .schedule
        .next_after(scheduled_ms.max(now_ms), job.created_at_ms);
    next.state.last_run_at_ms = Some(now_ms);
    next.state.last_status = Some(RunStatus::Skipped);
    next.state.last_error = Some(why.to_owned());
    next
}

/// The turn id of the run of `job_id` scheduled at `scheduled_ms` (32 hex digits).
pub fn turn_id(job_id: &str, scheduled_ms: u64) -> String {
    pincer_store::ids::derived(&format!("cron\n{job_id}\n{scheduled_ms}"))
}

/// The session a run goes to.
pub fn session_key(job: &Job, scheduled_ms: u64) -> String {
    match job.session_target {
        SessionTarget::Main => format!("agent:{}:main", job.agent_id),
        SessionTarget::Isolated => {
            format!("agent:{}:cron:{}:{scheduled_ms}", job.agent_id, job.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::NewJob;

    fn every_minute() -> Job {
        serde_json::from_value::<NewJob>(serde_json::json!({"every": "1m", "message": "m"}))
            .expect("request")
            .into_job("j".into(), "main", 0)
            .expect("job")
    }

    #[test]
    fn a_due_job_fires_once_then_waits_for_its_next_time() {
        let job = every_minute();
        assert_eq!(decide(&job, 59_999, 1_000), Decision::WaitUntil(60_000));
        assert_eq!(decide(&job, 60_500, 1_000), Decision::Fire(60_000));
        let after = fired(&job, 60_000, 60_500, &turn_id("j", 60_000));
        assert_eq!(after.state.next_run_at_ms, Some(120_000));
        assert_eq!(after.state.runs, 1);
        assert_eq!(decide(&after, 60_500, 1_000), Decision::WaitUntil(120_000));
        assert_ne!(turn_id("j", 60_000), turn_id("j", 120_000));
        assert_eq!(turn_id("j", 60_000), turn_id("j", 60_000));
    }

    #[test]
    fn a_firing_missed_beyond_the_grace_is_skipped_and_the_job_moves_on() {
        let job = every_minute();
        let Decision::Skip(at, why) = decide(&job, 60_000 + 5_000, 1_000) else {
            panic!("not skipped");
        };
        assert!(why.contains("missed by 5s"), "{why}");
        let after = skipped(&job, at, 65_000, &why);
        assert_eq!(after.state.next_run_at_ms, Some(120_000));
        assert_eq!(after.state.last_status, Some(RunStatus::Skipped));
        let mut off = job;
        off.enabled = false;
        assert_eq!(decide(&off, 60_000, 1_000), Decision::Idle);
    }

    #[test]
    fn active_hours_wrap_midnight_and_follow_the_zone() {
        let hours = |start: &str, end: &str, tz: Option<&str>| pincer_config::ActiveHours {
            start: start.into(),
            end: end.into(),
            timezone: tz.map(str::to_owned),
        };
        // 2026-12-05T07:30:00Z
        let at = 1_796_455_800_000;
        assert!(within_active_hours(&hours("07:00", "08:00", None), at));
        assert!(!within_active_hours(&hours("08:00", "22:00", None), at));
        assert!(within_active_hours(
            &hours("08:00", "22:00", Some("Europe/Berlin")),
            at
        ));
        assert!(within_active_hours(&hours("22:00", "08:00", None), at));
        assert!(within_active_hours(&hours("00:00", "24:00", None), at));
    }
}
