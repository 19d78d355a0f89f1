//! Slack-shaped identifiers: message timestamps (`"1700000000.000100"`, unique and increasing,
//! since a ts is a message's key) and prefixed object ids (`U…`, `B…`, `A…`, `F…`, `Ev…`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The last ts handed out, in microseconds.
static LAST_TS_MICROS: AtomicU64 = AtomicU64::new(0);

/// Current Unix time in microseconds.
fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as u64)
        .unwrap_or(0)
}

/// Current Unix time in seconds.
pub fn now_secs() -> u64 {
    now_micros() / 1_000_000
}

/// A fresh message ts: `<secs>.<6 digits>`, strictly after every earlier one.
pub fn next_ts() -> String {
    let now = now_micros();
    let mut last = LAST_TS_MICROS.load(Ordering::Relaxed);
    loop {
        let micros = now.max(last + 1);
        match LAST_TS_MICROS.compare_exchange_weak(
            last,
            micros,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
            Err(seen) => last = seen,
        }
    }
}

/// A ts in microseconds, for ordering and `oldest`/`latest` filters (0 when malformed). Parsed
/// as integers: a float has too few digits for microseconds since 1970.
pub fn ts_micros(ts: &str) -> u64 {
    let (secs, fraction) = ts.split_once('.').unwrap_or((ts, ""));
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    let secs: u64 = secs.parse().unwrap_or(0);
    secs * 1_000_000 + digits.parse::<u64>().unwrap_or(0)
}

/// An id such as `U07ABCDEF12`: the prefix and ten uppercase letters and digits.
pub fn object_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tail: String = (0..10)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect();
    format!("{prefix}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_unique_increasing_and_shaped_like_slacks() {
        let first = next_ts();
        let second = next_ts();
        assert!(ts_micros(&second) > ts_micros(&first));
        assert_eq!(ts_micros("1700000000.0001"), 1_700_000_000_000_100);
        let (secs, micros) = second.split_once('.').expect("a dot");
        assert_eq!(micros.len(), 6);
        assert!(secs.len() >= 10 && secs.bytes().all(|b| b.is_ascii_digit()));
    }
}
