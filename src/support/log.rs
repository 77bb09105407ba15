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

use super::time;

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
    time::rfc3339_seconds(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
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
