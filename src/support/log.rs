//! The server's log: one readable line per event on stderr, each starting with
//! a UTC timestamp and, where there is one, the peer's address.
//!
//! Only text the server itself chose or validated (user names, causes, error
//! kinds) is ever logged, never a client's raw bytes, so a client cannot write
//! escape sequences into an operator's terminal or forge log lines.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where events go. Per-client events can be turned off (`--quiet`, and in
/// tests); the server's own lines (where it listens, limits, failures) never are.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub client_events: bool,
}

impl Log {
    /// Logs one event, e.g. `log.event(Some(peer), format_args!("login {name}"))`;
    /// events with a peer are per-client events.
    pub fn event(&self, peer: Option<SocketAddr>, what: fmt::Arguments<'_>) {
        if peer.is_some() && !self.client_events {
            return;
        }
        let now = utc_timestamp(SystemTime::now());
        // Never `eprintln!`, which panics when stderr fails (a closed pipe,
        // `chat-server 2>&1 | head`): a log that cannot be written is lost,
        // the server carries on. One locked write per line keeps lines whole.
        let mut stderr = io::stderr().lock();
        let _ = match peer {
            Some(peer) => writeln!(stderr, "{now} {peer} {what}"),
            None => writeln!(stderr, "{now} {what}"),
        };
    }
}

/// `2026-11-22T23:59:01Z` for a point in time (UTC, whole seconds).
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's well-known `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let at = |secs| utc_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_391_999), "2026-11-22T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
