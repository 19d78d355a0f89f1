//! `agents.defaults.heartbeat` as one job per agent in the cron bucket (`heartbeat-<agent>`), so
//! it fires once across replicas like any job and shows in `pincer cron list`. The config owns
//! it: each start writes the definition (keeping the run state), and removes it when the config
//! no longer asks for one.

use pincer_cron::{DeliveryMode, Job, JobDelivery, JobStore, Payload, Schedule, SessionTarget};

/// The instruction sent when `heartbeat.prompt` is unset.
pub const DEFAULT_PROMPT: &str = "Heartbeat. Read HEARTBEAT.md in your workspace and follow it strictly. Do not repeat old tasks from earlier chats. If nothing needs attention, reply exactly HEARTBEAT_OK.";

/// The job id of `agent`'s heartbeat.
pub fn job_id(agent: &str) -> String {
    format!("heartbeat-{agent}")
}

/// The agents that get a heartbeat: the default one and every configured entry.
fn agent_ids(agents: &pincer_config::Agents) -> Vec<String> {
    let mut ids = vec![agents.default_id().to_owned()];
    for id in agents.entries.keys() {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// The heartbeat jobs the config asks for (none when `every` is unset or zero).
pub fn jobs(agents: &pincer_config::Agents, now_ms: u64) -> Vec<Job> {
    let Some(heartbeat) = &agents.defaults.heartbeat else {
        return Vec::new();
    };
    let Some(every) = heartbeat.every() else {
        return Vec::new();
    };
    let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
    let delivery = match heartbeat.target.as_deref() {
        None | Some("none") => None,
        Some(channel) => Some(JobDelivery {
            mode: DeliveryMode::Announce,
            channel: Some(channel.to_owned()),
            to: heartbeat.to.clone(),
            account_id: heartbeat.account_id.clone(),
        }),
    };
    agent_ids(agents)
        .into_iter()
        .map(|agent| Job {
            id: job_id(&agent),
            name: Some(format!("heartbeat of {agent}")),
            agent_id: agent,
            enabled: true,
            schedule: Schedule::Every {
                every_ms,
                anchor_ms: None,
            },
            session_target: SessionTarget::Main,
            payload: Payload::Heartbeat {
                prompt: heartbeat
                    .prompt
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PROMPT.to_owned()),
            },
            delivery: delivery.clone(),
            delete_after_run: false,
            active_hours: heartbeat.active_hours.clone(),
            from_config: true,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            state: pincer_cron::JobState {
                next_run_at_ms: Some(now_ms + every_ms),
                ..Default::default()
            },
        })
        .collect()
}

/// Writes the heartbeat jobs of the config into `store`: a changed definition replaces the old
/// one (its next firing recomputed only when the interval changed), a heartbeat no longer asked
/// for is removed.
pub async fn sync(
    store: &JobStore,
    agents: &pincer_config::Agents,
) -> Result<(), pincer_cron::StoreError> {
    let now = pincer_clock::now_ms();
    let wanted = jobs(agents, now);
    for job in &wanted {
        match store.get(&job.id).await? {
            None => {
                store.create(job).await?;
            }
            Some(stored) => {
                let mut next = job.clone();
                let same_interval = stored.job.schedule == job.schedule;
                next.created_at_ms = stored.job.created_at_ms;
                next.state = stored.job.state.clone();
                if !same_interval {
                    next.state.next_run_at_ms = job.state.next_run_at_ms;
                    next.created_at_ms = now;
                }
                let unchanged = Job {
                    updated_at_ms: stored.job.updated_at_ms,
                    ..next.clone()
                } == stored.job;
                if !unchanged {
                    // Lost race with another replica writing the same definition: fine.
                    store.update(&next, stored.revision).await?;
                }
            }
        }
    }
    for stored in store.list().await? {
        if stored.job.from_config && !wanted.iter().any(|job| job.id == stored.job.id) {
            store.remove_at(&stored.job.id, stored.revision).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_heartbeat_per_agent_in_its_main_session() {
        let agents: pincer_config::Agents = serde_json::from_value(serde_json::json!({
            "defaults": {"heartbeat": {"every": "30m", "target": "telegram", "to": "42"}},
            "entries": {"main": {"default": true}, "ops": {}}
        }))
        .expect("agents");
        let jobs = jobs(&agents, 1_000);
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["heartbeat-main", "heartbeat-ops"]);
        let main = &jobs[0];
        assert_eq!(main.state.next_run_at_ms, Some(1_000 + 1_800_000));
        assert_eq!(pincer_cron::firing::session_key(main, 0), "agent:main:main");
        assert_eq!(
            main.delivery.as_ref().and_then(JobDelivery::target),
            Some(("telegram", "42", "default"))
        );
        assert!(main.from_config);
        let off: pincer_config::Agents = serde_json::from_value(serde_json::json!({
            "defaults": {"heartbeat": {"every": "0m"}}
        }))
        .expect("agents");
        assert!(super::jobs(&off, 0).is_empty());
    }
}
