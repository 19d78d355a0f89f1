//! Cron expressions: `minute hour day-of-month month day-of-week`, or six fields with seconds
//! first, as Vixie cron and OpenClaw read them: `*`, lists `1,15`, ranges `1-5`, steps `*/10` and
//! `8-18/2`, month and day names (`jan`, `mon`), `7` for Sunday, `?` for "any", and the shorthands
//! `@yearly`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
//!
//! When both day fields are restricted a day matches either (Vixie cron's rule).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cron expression {expr:?}: {reason}")]
pub struct ExprError {
    expr: String,
    reason: String,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Years searched ahead for a match (`0 0 29 2 mon` can wait decades; a longer wait is no match).
const SEARCH_YEARS: i16 = 30;

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTHS,
};
// 0-7: both 0 and 7 are Sunday.
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &WEEKDAYS,
};

impl CronExpr {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let fail = |reason: String| ExprError {
            expr: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_owned(),
            "@monthly" => "0 0 1 * *".to_owned(),
            "@weekly" => "0 0 * * 0".to_owned(),
            "@daily" | "@midnight" => "0 0 * * *".to_owned(),
            "@hourly" => "0 * * * *".to_owned(),
            other if other.starts_with('@') => {
                return Err(fail(format!("unknown shorthand {other}")));
            }
            _ => trimmed.to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(fail(format!(
                    "{n} fields; write 5 (minute hour day month weekday) or 6 (with seconds first)"
                )));
            }
        };
        let parse = |spec: &str, field: &Field| parse_field(spec, field).map_err(&fail);
        let mut weekdays = parse(rest[4], &WEEKDAY)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Self {
            seconds: parse(seconds, &SECOND)?,
            minutes: parse(rest[0], &MINUTE)?,
            hours: parse(rest[1], &HOUR)?,
            days: parse(rest[2], &DAY)?,
            months: parse(rest[3], &MONTH)?,
            weekdays,
            days_restricted: !matches!(rest[2], "*" | "?"),
            weekdays_restricted: !matches!(rest[4], "*" | "?"),
        })
    }

    /// The first time strictly after `after` that matches, in `tz`'s local time. A local time
    /// skipped by a clock change runs at the same distance after it (02:30 on a spring-forward
    /// night runs at 03:30); a repeated one runs once, the first time.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = tz.to_datetime(after);
        let last_year = start.year().saturating_add(SEARCH_YEARS);
        let mut date = start.date();
        // Within the start day, only times after `start`'s second; every later day from midnight.
        let mut from: Option<(u32, u32, u32)> = Some((
            u32::try_from(start.hour()).unwrap_or(0),
            u32::try_from(start.minute()).unwrap_or(0),
            u32::try_from(start.second()).unwrap_or(0),
        ));
        while date.year() <= last_year {
            if !self.has(self.months, date.month()) {
                date = first_of_next_month(date)?;
                from = None;
                continue;
            }
            if self.day_matches(date) {
                for (hour, minute, second) in self.times_from(from) {
                    let candidate = date.at(to_i8(hour), to_i8(minute), to_i8(second), 0);
                    if let Some(at) = self.resolved(candidate, tz).filter(|at| *at > after) {
                        return Some(at);
                    }
                }
            }
            date = date.tomorrow().ok()?;
            from = None;
        }
        None
    }

    fn resolved(&self, local: DateTime, tz: &TimeZone) -> Option<Timestamp> {
        tz.to_timestamp(local).ok()
    }

    fn has(&self, set: u64, value: i8) -> bool {
        u32::try_from(value).is_ok_and(|v| set & (1 << v) != 0)
    }

    fn day_matches(&self, date: Date) -> bool {
        let by_day = self.has(self.days, date.day());
        let by_weekday = self.has(self.weekdays, date.weekday().to_sunday_zero_offset());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => by_day || by_weekday,
            (true, false) => by_day,
            (false, true) => by_weekday,
            (false, false) => true,
        }
    }

    /// The matching times of a day, in order, at or after `from` (exclusive of `from` itself).
    fn times_from(&self, from: Option<(u32, u32, u32)>) -> impl Iterator<Item = (u32, u32, u32)> {
        let bits = |set: u64, max: u32| (0..=max).filter(move |v| set & (1 << v) != 0);
        let (hours, minutes, seconds) = (self.hours, self.minutes, self.seconds);
        bits(hours, 23)
            .flat_map(move |h| bits(minutes, 59).map(move |m| (h, m)))
            .flat_map(move |(h, m)| bits(seconds, 59).map(move |s| (h, m, s)))
            .filter(move |time| from.is_none_or(|from| *time > from))
    }
}

fn to_i8(value: u32) -> i8 {
    i8::try_from(value).unwrap_or(0)
}

fn first_of_next_month(date: Date) -> Option<Date> {
    let (year, month) = if date.month() == 12 {
        (date.year().checked_add(1)?, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    Date::new(year, month, 1).ok()
}

/// One field as a bit set of the values it allows.
fn parse_field(spec: &str, field: &Field) -> Result<u64, String> {
    let mut set = 0u64;
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("{}: step {step:?} is not a positive number", field.name)
                })?;
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" | "?" => (field.min, field.max),
            _ => match range.split_once('-') {
                Some((low, high)) => (value(low, field)?, value(high, field)?),
                // `5/15` means from 5 to the end in steps of 15.
                None if step > 1 => (value(range, field)?, field.max),
                None => {
                    let v = value(range, field)?;
                    (v, v)
                }
            },
        };
        if low > high {
            return Err(format!("{}: range {range:?} runs backwards", field.name));
        }
        for v in (low..=high).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = field.names.iter().position(|name| *name == lower) {
        let index = u32::try_from(index).unwrap_or(0);
        return Ok(if field.min == 1 { index + 1 } else { index });
    }
    text.parse::<u32>()
        .ok()
        .filter(|v| (field.min..=field.max).contains(v))
        .ok_or_else(|| {
            format!(
                "{}: {text:?} is not a value from {} to {}",
                field.name, field.min, field.max
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(expr: &str, after: &str, tz: &str) -> String {
        let tz = TimeZone::get(tz).expect("tz");
        let after: Timestamp = after.parse().expect("timestamp");
        CronExpr::parse(expr)
            .expect("parses")
            .next_after(after, &tz)
            .map_or_else(|| "none".to_owned(), |t| t.to_string())
    }

    #[test]
    fn common_expressions_fire_when_expected() {
        let utc = "UTC";
        assert_eq!(
            next("*/15 * * * *", "2026-12-05T10:07:30Z", utc),
            "2026-12-05T10:15:00Z"
        );
        assert_eq!(
            next("0 7 * * *", "2026-12-05T07:00:00Z", utc),
            "2026-12-06T07:00:00Z"
        );
        assert_eq!(
            next("30 22 * * fri", "2026-12-05T00:00:00Z", utc),
            "2026-12-11T22:30:00Z"
        );
        assert_eq!(
            next("0 12 1 * *", "2026-12-05T00:00:00Z", utc),
            "2027-01-01T12:00:00Z"
        );
        assert_eq!(
            next("0 9 * * 1-5", "2026-12-05T10:00:00Z", utc),
            "2026-12-07T09:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z", utc),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-12-05T10:00:00Z", utc),
            "2026-12-05T11:00:00Z"
        );
        assert_eq!(
            next("*/20 * * * * *", "2026-12-05T10:00:45Z", utc),
            "2026-12-05T10:01:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-05T10:00:00Z", utc),
            "2026-12-06T00:00:00Z"
        );
        // Both day fields restricted: the 13th or any Friday.
        assert_eq!(
            next("0 0 13 * fri", "2026-12-05T10:00:00Z", utc),
            "2026-12-11T00:00:00Z"
        );
        assert_eq!(next("0 0 31 2 *", "2026-12-05T10:00:00Z", utc), "none");
    }

    #[test]
    fn time_zones_and_clock_changes() {
        // 07:00 in Berlin is 06:00 UTC in winter, 05:00 in summer.
        assert_eq!(
            next("0 7 * * *", "2026-12-05T08:00:00Z", "Europe/Berlin"),
            "2026-12-06T06:00:00Z"
        );
        assert_eq!(
            next("0 7 * * *", "2026-07-01T08:00:00Z", "Europe/Berlin"),
            "2026-07-02T05:00:00Z"
        );
        // 02:30 does not exist on 2026-03-29 in Berlin: it runs at 03:30 local (01:30 UTC).
        assert_eq!(
            next("30 2 * * *", "2026-03-28T12:00:00Z", "Europe/Berlin"),
            "2026-03-29T01:30:00Z"
        );
        // 02:30 happens twice on 2026-10-25: once.
        assert_eq!(
            next("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin"),
            "2026-10-25T00:30:00Z"
        );
        assert_eq!(
            next("30 2 * * *", "2026-10-25T00:30:00Z", "Europe/Berlin"),
            "2026-10-26T01:30:00Z"
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let reason = |expr: &str| CronExpr::parse(expr).unwrap_err().to_string();
        assert!(reason("* * * *").contains("4 fields"));
        assert!(reason("60 * * * *").contains("minute: \"60\""));
        assert!(reason("* 5-2 * * *").contains("runs backwards"));
        assert!(reason("*/0 * * * *").contains("step"));
        assert!(reason("* * * foo *").contains("month"));
        assert!(reason("@often").contains("unknown shorthand"));
        assert!(CronExpr::parse("0 8-18/2 * jan-jun mon,wed").is_ok());
    }
}
