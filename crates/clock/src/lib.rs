//! The wall clock and the calendar, for the whole tree.
//!
//! Stored instants are unix milliseconds (`u64`, 0 for "never"); dates are UTC in the proleptic
//! Gregorian calendar, computed with Howard Hinnant's `civil_from_days` / `days_from_civil`, so no
//! date crate is needed for the few formats the services speak (`YYYY-MM-DD` keys, RFC 3339 in
//! fake-provider bodies, IMF-fixdate in `Retry-After`). Durations and deadlines use
//! `tokio::time::Instant`, never this clock: the wall clock may jump.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch (zero if the clock is before it).
pub fn since_epoch() -> Duration {
    since_epoch_of(SystemTime::now())
}

/// `time`'s distance from the Unix epoch (zero before it).
pub fn since_epoch_of(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    millis(since_epoch())
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A day of the proleptic Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// The year (may be before 1970, or negative, for day counts before the epoch).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
}

impl Date {
    /// The date `days` days after 1970-01-01 (before it when negative).
    pub fn from_unix_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
        let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
        }
    }

    /// The UTC date of a unix-ms instant.
    pub fn of_unix_ms(unix_ms: u64) -> Self {
        Self::from_unix_days(i64::try_from(unix_ms / 86_400_000).unwrap_or(i64::MAX))
    }

    /// Today (UTC).
    pub fn today() -> Self {
        Self::of_unix_ms(now_ms())
    }

    /// Days from 1970-01-01 to this date (negative before it). A day or month out of range
    /// counts on into the next (the 32nd of January is the 1st of February).
    pub fn unix_days(self) -> i64 {
        let month = i64::from(self.month);
        let (year, shifted) = if month <= 2 {
            (self.year - 1, month + 9)
        } else {
            (self.year, month - 3)
        };
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let doy = (153 * shifted + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

impl std::fmt::Display for Date {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// `since_epoch` as RFC 3339 UTC with nanoseconds: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let date = Date::from_unix_days(i64::try_from(secs / 86_400).unwrap_or(i64::MAX));
    let in_day = secs % 86_400;
    format!(
        "{date}T{:02}:{:02}:{:02}.{:09}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        since_epoch.subsec_nanos()
    )
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110's HTTP date) into unix
/// seconds; `None` for anything else or a time before the epoch.
pub fn parse_http_date(value: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)?;
    let date = Date {
        year: year.parse().ok()?,
        month: u32::try_from(month + 1).ok()?,
        day: day.parse().ok().filter(|day| (1..=31).contains(day))?,
    };
    let hms: Vec<u64> = time
        .split(':')
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    let days = u64::try_from(date.unix_days()).ok()?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_known_days() {
        let date = |days| Date::from_unix_days(days).to_string();
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(11_016), "2000-02-29");
        assert_eq!(date(20_786), "2026-11-29");
        assert_eq!(date(-1), "1969-12-31");
        let of_ms = |ms| Date::of_unix_ms(ms).to_string();
        assert_eq!(of_ms(86_399_999), "1970-01-01");
        assert_eq!(of_ms(86_400_000), "1970-01-02");
        assert_eq!(of_ms(951_782_400_000), "2000-02-29");
        assert_eq!(of_ms(1_795_910_400_000 - 1), "2026-11-28");
        assert_eq!(of_ms(1_795_910_400_000), "2026-11-29");
    }

    #[test]
    fn days_and_dates_round_trip() {
        for days in (-800_000..800_000).step_by(97) {
            assert_eq!(Date::from_unix_days(days).unix_days(), days);
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(Duration::new(1_709_210_096, 5)),
            "2024-02-29T12:34:56.000000005Z"
        );
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "soon",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_clock_is_after_this_code_was_written() {
        assert!(now_ms() > 1_764_547_200_000, "after 2025-12-01");
        assert!(Date::today().year >= 2025);
    }
}
