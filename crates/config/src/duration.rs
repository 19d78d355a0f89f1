//! Durations written as text, as OpenClaw writes them: `"30m"`, `"90s"`, `"1h30m"`, `"2d"`,
//! `"500ms"`. A bare number counts in minutes (OpenClaw's heartbeat `every: "30"`).

use std::time::Duration;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration: {reason} (write e.g. \"90s\", \"30m\", \"1h30m\" or \"2d\")")]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

/// Parses `text` (units `ms`, `s`, `m`, `h`, `d`; several may follow each other).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError {
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(fail("it is empty"));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let minutes: u64 = trimmed
            .parse()
            .map_err(|_| fail("the number is too large"))?;
        return minutes
            .checked_mul(60_000)
            .map(Duration::from_millis)
            .ok_or_else(|| fail("the number is too large"));
    }
    let mut total_ms: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail("each part needs a number before its unit"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| fail("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(fail("a number without a unit")),
            _ => return Err(fail("units are ms, s, m, h and d")),
        };
        rest = &rest[unit_len..];
        total_ms = value
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| fail("the number is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_add_up_and_bare_numbers_are_minutes() {
        let ms = |text: &str| parse_duration(text).map(|d| d.as_millis());
        assert_eq!(ms("30m"), Ok(1_800_000));
        assert_eq!(ms("90s"), Ok(90_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("2d"), Ok(172_800_000));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms(" 45 "), Ok(2_700_000));
        assert_eq!(ms("0m"), Ok(0));
        for bad in [
            "",
            "m",
            "10x",
            "1h 30m",
            "-5m",
            "1.5h",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            parse_duration("10x")
                .unwrap_err()
                .to_string()
                .contains("units are ms, s, m, h and d")
        );
    }
}
