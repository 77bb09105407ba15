//! Times as people read them: RFC 3339 UTC, to the millisecond (message
//! times) or to the second (the log).
//!
//! Rule kept: the formatting is exact for every `u64` (proleptic Gregorian
//! calendar, no leap seconds, as unix time has none), computed with Howard
//! Hinnant's `civil_from_days` and no C library; it never panics.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since 1970-01-01T00:00:00Z (0 if the clock is
/// before that).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `2026-12-01T18:04:05.123Z` for a time in unix milliseconds.
pub fn rfc3339(time_ms: u64) -> String {
    format!("{}.{:03}Z", date_and_time(time_ms / 1000), time_ms % 1000)
}

/// `2026-12-01T18:04:05Z` for a time in unix seconds.
pub fn rfc3339_seconds(secs: u64) -> String {
    format!("{}Z", date_and_time(secs))
}

/// `2026-12-01T18:04:05` for a time in unix seconds.
fn date_and_time(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // days < 2^64 / 86_400 < 2^48, so it fits an i64 with room to spare.
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(999), "1970-01-01T00:00:00.999Z");
        assert_eq!(rfc3339(86_399_999), "1970-01-01T23:59:59.999Z");
        assert_eq!(rfc3339(68_169_600_000), "1972-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(rfc3339(951_868_800_000), "2000-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_234_567_890_123), "2009-02-13T23:31:30.123Z");
        assert_eq!(rfc3339(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(1_796_148_245_123), "2026-12-01T18:04:05.123Z");
        // 2100 is not a leap year: February 28 is followed by March 1.
        assert_eq!(rfc3339(4_107_456_000_000), "2100-02-28T00:00:00.000Z");
        assert_eq!(rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn extremes_do_not_panic() {
        assert!(rfc3339(u64::MAX).ends_with(".615Z"));
        assert!(now_ms() > 1_700_000_000_000);
    }
}
