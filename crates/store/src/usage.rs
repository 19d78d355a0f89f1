//! Token and cost totals per UTC day and model, one KV value per day (`day.YYYY-MM-DD`).
//!
//! The agent-runner adds each answered turn after its outcome is stored (turns that finish while a
//! write is under way are added together by the next one); updates use the value's revision, so
//! concurrent replicas never overwrite each other's counts. A runner that crashes
//! between storing the outcome and adding the usage loses that turn's figures (it undercounts,
//! never counts twice: a redelivered turn is answered from its record and not added again).

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use pincer_bus::messages::Usage;

/// Attempts at a contended update before giving up.
const UPDATE_ATTEMPTS: usize = 8;

/// One model's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Answered turns.
    pub turns: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Cost in millionths of a US dollar (0 when unpriced).
    pub cost_micro_usd: u64,
}

impl Totals {
    /// Adds one turn's usage.
    pub fn add_turn(&mut self, usage: &Usage) {
        self.turns += 1;
        self.prompt_tokens += u64::from(usage.prompt_tokens.unwrap_or(0));
        self.completion_tokens += u64::from(usage.completion_tokens.unwrap_or(0));
        self.cost_micro_usd += usage.cost_micro_usd.unwrap_or(0);
    }

    /// Adds other totals.
    pub fn merge(&mut self, other: &Totals) {
        self.turns += other.turns;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_micro_usd += other.cost_micro_usd;
    }
}

/// A day's totals by model (`provider/model`).
pub type Day = BTreeMap<String, Totals>;

/// Usage store failures.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The KV store failed.
    #[error("usage store: {0}")]
    Store(String),
    /// Too many concurrent writers.
    #[error("usage for {0} kept changing; not recorded")]
    Contended(String),
}

fn day_key(date: &str) -> String {
    format!("day.{date}")
}

fn store_error(error: impl std::fmt::Display) -> UsageError {
    UsageError::Store(error.to_string())
}

/// A day's value as one writer last wrote it, and the revision that write got. The writer's next
/// addition to the same day can then go straight to the conditional write: one request, not a
/// read and a write. Someone else's write in between makes it fail, and the day is read again.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The day's totals after the write.
    pub day: Day,
    /// The write's revision.
    pub revision: u64,
}

/// Adds `totals` (by model) to the day `date` (`YYYY-MM-DD`): one read and one conditional write,
/// however many turns `totals` holds.
pub async fn add(store: &kv::Store, date: &str, totals: &Day) -> Result<(), UsageError> {
    add_after(store, date, totals, None).await.map(|_| ())
}

/// As [`add`], starting from `last` (this writer's previous write of the same day) instead of a
/// read when given. Returns what was written, for the next call.
pub async fn add_after(
    store: &kv::Store,
    date: &str,
    totals: &Day,
    last: Option<Written>,
) -> Result<Written, UsageError> {
    let key = day_key(date);
    // The attempt from `last` is not one of the contended ones.
    let attempts = UPDATE_ATTEMPTS + usize::from(last.is_some());
    let mut known = last;
    for _ in 0..attempts {
        let (mut day, revision) = match known.take() {
            Some(written) => (written.day, written.revision),
            None => read_day(store, &key).await?,
        };
        for (model, added) in totals {
            day.entry(model.clone()).or_default().merge(added);
        }
        let value = serde_json::to_vec(&day).map_err(store_error)?;
        let written = if revision == 0 {
            match store.create(&key, value.into()).await {
                Ok(revision) => Some(revision),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => None,
                Err(e) => return Err(store_error(e)),
            }
        } else {
            match store.update(&key, value.into(), revision).await {
                Ok(revision) => Some(revision),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => None,
                Err(e) => return Err(store_error(e)),
            }
        };
        if let Some(revision) = written {
            return Ok(Written { day, revision });
        }
        // Another replica wrote the day in between (or `last` was stale): read it again.
    }
    Err(UsageError::Contended(date.to_owned()))
}

/// The day's stored totals and their revision (0: none yet).
async fn read_day(store: &kv::Store, key: &str) -> Result<(Day, u64), UsageError> {
    Ok(match store.entry(key).await.map_err(store_error)? {
        Some(entry) if entry.operation == kv::Operation::Put => (
            // An unreadable day starts over rather than blocking every later turn.
            serde_json::from_slice::<Day>(&entry.value).unwrap_or_default(),
            entry.revision,
        ),
        Some(entry) => (Day::new(), entry.revision),
        None => (Day::new(), 0),
    })
}

/// The totals of the `days` UTC days ending with the day of `today_ms`, oldest first; days without
/// usage are included empty so a chart has no gaps.
pub async fn last_days(
    store: &kv::Store,
    today_ms: u64,
    days: u32,
) -> Result<Vec<(String, Day)>, UsageError> {
    let mut out = Vec::with_capacity(days as usize);
    for back in (0..u64::from(days)).rev() {
        let date =
            pincer_clock::Date::of_unix_ms(today_ms.saturating_sub(back * 86_400_000)).to_string();
        let day = match store.get(day_key(&date)).await.map_err(store_error)? {
            Some(bytes) => serde_json::from_slice::<Day>(&bytes).unwrap_or_default(),
            None => Day::new(),
        };
        out.push((date, day));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_turns_with_missing_counts_as_zero() {
        let mut totals = Totals::default();
        totals.add_turn(&Usage {
            prompt_tokens: Some(10),
            completion_tokens: None,
            cost_micro_usd: Some(7),
        });
        totals.add_turn(&Usage::default());
        assert_eq!(
            totals,
            Totals {
                turns: 2,
                prompt_tokens: 10,
                completion_tokens: 0,
                cost_micro_usd: 7
            }
        );
    }
}
