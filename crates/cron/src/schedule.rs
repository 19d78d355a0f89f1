//! When a job fires: once (`at`), at a fixed interval (`every`), or on a cron expression in a time
//! zone (`cron`). OpenClaw's shapes: `{"kind":"at","at":"2026-12-05T07:00:00Z"}`,
//! `{"kind":"every","everyMs":1800000}`, `{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin"}`.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::expr::CronExpr;

/// Shortest interval of an `every` job.
pub const MIN_EVERY_MS: u64 = 1_000;

/// A job's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Schedule {
    /// Once, at an RFC 3339 time.
    At {
        /// `2026-12-05T07:00:00Z` (an offset is required).
        at: String,
    },
    /// Every `everyMs` milliseconds, counted from `anchorMs` (default: when the job was made).
    #[serde(rename_all = "camelCase")]
    Every {
        /// The interval.
        every_ms: u64,
        /// The grid's origin.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor_ms: Option<u64>,
    },
    /// On a cron expression, in `tz` (an IANA name; default UTC).
    Cron {
        /// Five fields (or six with seconds first).
        expr: String,
        /// `Europe/Berlin`, `America/New_York`...
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tz: Option<String>,
    },
}

/// Why a schedule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `at` is not an RFC 3339 time with an offset.
    #[error("at {0:?} is not an RFC 3339 time such as 2026-12-05T07:00:00Z (or +10m from now)")]
    BadTime(String),
    /// `everyMs` below the minimum.
    #[error("everyMs must be at least {MIN_EVERY_MS} (one second)")]
    TooOften,
    /// A bad expression.
    #[error(transparent)]
    Expr(#[from] crate::expr::ExprError),
    /// An unknown time zone.
    #[error("time zone {0:?} is not an IANA name such as Europe/Berlin or UTC")]
    TimeZone(String),
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn parse_time_ms(text: &str) -> Result<u64, ScheduleError> {
    text.trim()
        .parse::<Timestamp>()
        .ok()
        .and_then(|t| u64::try_from(t.as_millisecond()).ok())
        .ok_or_else(|| ScheduleError::BadTime(text.to_owned()))
}

/// The time zone called `name` (`None`: UTC).
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, ScheduleError> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|_| ScheduleError::TimeZone(name.to_owned())),
    }
}

fn timestamp(ms: u64) -> Option<Timestamp> {
    Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()
}

impl Schedule {
    /// Checks every part (time, interval, expression, zone).
    pub fn check(&self) -> Result<(), ScheduleError> {
        match self {
            Self::At { at } => parse_time_ms(at).map(drop),
            Self::Every { every_ms, .. } if *every_ms < MIN_EVERY_MS => {
                Err(ScheduleError::TooOften)
            }
            Self::Every { .. } => Ok(()),
            Self::Cron { expr, tz } => {
                CronExpr::parse(expr)?;
                time_zone(tz.as_deref()).map(drop)
            }
        }
    }

    /// Whether it fires once only.
    pub fn is_once(&self) -> bool {
        matches!(self, Self::At { .. })
    }

    /// The first firing of a job made at `created_ms`, as seen at `now_ms`.
    pub fn first(&self, created_ms: u64, now_ms: u64) -> Option<u64> {
        match self {
            Self::At { at } => parse_time_ms(at).ok(),
            Self::Every { .. } | Self::Cron { .. } => {
                self.next_after(now_ms.max(created_ms), created_ms)
            }
        }
    }

    /// The first firing strictly after `after_ms` (`created_ms` anchors `every` without an
    /// anchor). `None`: never again.
    pub fn next_after(&self, after_ms: u64, created_ms: u64) -> Option<u64> {
        match self {
            Self::At { .. } => None,
            Self::Every {
                every_ms,
                anchor_ms,
            } => {
                let every = (*every_ms).max(MIN_EVERY_MS);
                let anchor = anchor_ms.unwrap_or(created_ms);
                if after_ms < anchor {
                    return Some(anchor);
                }
                let steps = (after_ms - anchor) / every + 1;
                anchor.checked_add(steps.checked_mul(every)?)
            }
            Self::Cron { expr, tz } => {
                let expr = CronExpr::parse(expr).ok()?;
                let tz = time_zone(tz.as_deref()).ok()?;
                let next = expr.next_after(timestamp(after_ms)?, &tz)?;
                u64::try_from(next.as_millisecond()).ok()
            }
        }
    }

    /// A one-line description for lists: `at 2026-12-05T07:00:00Z`, `every 30m`,
    /// `cron 0 7 * * * (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        match self {
            Self::At { at } => format!("at {at}"),
            Self::Every { every_ms, .. } => format!("every {}", describe_ms(*every_ms)),
            Self::Cron { expr, tz: Some(tz) } => format!("cron {expr} ({tz})"),
            Self::Cron { expr, tz: None } => format!("cron {expr} (UTC)"),
        }
    }
}

/// `90000` → `1m30s`.
pub fn describe_ms(ms: u64) -> String {
    let mut rest = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if out.is_empty() {
        format!("{ms}ms")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keeps_to_its_grid_and_at_fires_once() {
        let every = Schedule::Every {
            every_ms: 10_000,
            anchor_ms: None,
        };
        assert_eq!(every.first(1_000, 1_000), Some(11_000));
        assert_eq!(every.next_after(11_000, 1_000), Some(21_000));
        // After a long pause the next firing is on the grid, not a burst of the missed ones.
        assert_eq!(every.next_after(95_500, 1_000), Some(101_000));
        let at = Schedule::At {
            at: "2026-12-05T07:00:00Z".into(),
        };
        assert_eq!(at.first(0, 0), Some(1_796_454_000_000));
        assert_eq!(at.next_after(0, 0), None);
        assert!(at.is_once());
    }

    #[test]
    fn schedules_are_checked_and_read_in_openclaws_shape() {
        let parsed: Schedule =
            serde_json::from_str(r#"{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin"}"#)
                .expect("cron");
        assert_eq!(parsed.check(), Ok(()));
        assert_eq!(parsed.describe(), "cron 0 7 * * * (Europe/Berlin)");
        let every: Schedule =
            serde_json::from_str(r#"{"kind":"every","everyMs":1800000}"#).expect("every");
        assert_eq!(every.describe(), "every 30m");
        assert!(serde_json::from_str::<Schedule>(r#"{"kind":"every","everyMs":1,"x":1}"#).is_err());
        let bad = |s: Schedule| s.check().unwrap_err().to_string();
        assert!(
            bad(Schedule::At {
                at: "tomorrow".into()
            })
            .contains("RFC 3339")
        );
        assert!(
            bad(Schedule::Every {
                every_ms: 10,
                anchor_ms: None
            })
            .contains("at least")
        );
        assert!(
            bad(Schedule::Cron {
                expr: "0 7 * * *".into(),
                tz: Some("Mars/Olympus".into())
            })
            .contains("Mars/Olympus")
        );
    }
}
