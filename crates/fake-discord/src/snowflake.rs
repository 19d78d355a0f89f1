//! Snowflake ids and ISO-8601 timestamps shaped like Discord's: an id carries its creation time in
//! its top 42 bits, so ids made later sort after ids made earlier (clients may rely on that).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 2015-01-01T00:00:00Z, the origin of Discord's snowflake clock.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The last id handed out, so ids stay strictly increasing within one millisecond.
static LAST_ID: AtomicU64 = AtomicU64::new(0);

/// A fresh snowflake (as Discord sends it: a decimal string).
pub fn next_id() -> String {
    let fresh = (now_ms().saturating_sub(DISCORD_EPOCH_MS)) << 22;
    let mut last = LAST_ID.load(Ordering::Relaxed);
    loop {
        let id = fresh.max(last + 1);
        match LAST_ID.compare_exchange_weak(last, id, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return id.to_string(),
            Err(seen) => last = seen,
        }
    }
}

/// The creation time of a snowflake in Unix milliseconds (now for a malformed id).
pub fn created_ms(id: &str) -> u64 {
    id.parse::<u64>()
        .map(|raw| (raw >> 22) + DISCORD_EPOCH_MS)
        .unwrap_or_else(|_| now_ms())
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// `2024-01-01T00:00:00.000000+00:00`, Discord's timestamp format.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let micros = (unix_ms % 1000) * 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Year, month and day of a count of days since 1970-01-01 (the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_carry_their_time() {
        let first = next_id();
        let second = next_id();
        assert!(second.parse::<u64>().expect("numeric") > first.parse::<u64>().expect("numeric"));
        assert!(created_ms(&second).abs_diff(now_ms()) < 5_000);
    }

    #[test]
    fn timestamps_use_discords_format() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso8601(1_709_251_200_123),
            "2024-03-01T00:00:00.123000+00:00"
        );
    }
}
