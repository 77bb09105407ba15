//! Flood control: a per-client limit on lines per second.
//!
//! On by default for clients on other hosts ([`RateLimit::DEFAULT`]); loopback
//! peers (local bots, tests, benchmarks) are exempt unless `--max-rate` is
//! given. A client gets a token bucket of `burst` lines refilled at
//! `per_sec`; a line with no token left is refused (`ERR rate-limited`).
//! Refusals draw on a second bucket of the same size and rate, so a client
//! that keeps sending at well over twice the limit empties it and is
//! disconnected (`BYE flooding`), while a short burst is only refused. What
//! the client makes the server answer without a line (a WebSocket ping, a
//! telnet option request) counts like a line.

use std::time::Instant;

use crate::support::bucket::TokenBucket;

/// The limit an operator configures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained lines per second.
    pub per_sec: f64,
    /// Lines allowed at once after a quiet spell.
    pub burst: u32,
}

impl RateLimit {
    /// The default for clients on other hosts: 10 lines a second, 20 at
    /// once. People type a line every few seconds and paste a few at once;
    /// a bot answering commands stays well within it. A flooder of 4 KiB
    /// lines gets 40 KiB/s at most to everybody, which a reader of a few
    /// hundred KiB/s takes from several flooders at once without falling
    /// behind.
    pub const DEFAULT: RateLimit = RateLimit {
        per_sec: 10.0,
        burst: 20,
    };
}

/// What the limiter says about one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Refuse,
    Disconnect,
}

/// One client's limiter state.
#[derive(Debug)]
pub struct FloodGuard {
    allowance: TokenBucket,
    patience: TokenBucket,
}

impl FloodGuard {
    pub fn new(limit: RateLimit, now: Instant) -> FloodGuard {
        FloodGuard {
            allowance: TokenBucket::new(limit.burst, limit.per_sec, now),
            patience: TokenBucket::new(limit.burst, limit.per_sec, now),
        }
    }

    /// Judges a line arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.allowance.take(now) {
            Verdict::Allow
        } else if self.patience.take(now) {
            Verdict::Refuse
        } else {
            Verdict::Disconnect
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refuse_then_disconnect() {
        let start = Instant::now();
        let mut guard = FloodGuard::new(
            RateLimit {
                per_sec: 2.0,
                burst: 3,
            },
            start,
        );
        let verdicts: Vec<Verdict> = (0..7).map(|_| guard.check(start)).collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [Allow, Allow, Allow, Refuse, Refuse, Refuse, Disconnect]
        );
    }

    #[test]
    fn tokens_come_back_with_time() {
        let start = Instant::now();
        let mut guard = FloodGuard::new(
            RateLimit {
                per_sec: 2.0,
                burst: 1,
            },
            start,
        );
        assert_eq!(guard.check(start), Verdict::Allow);
        assert_eq!(guard.check(start), Verdict::Refuse);
        let later = start + Duration::from_millis(600);
        assert_eq!(guard.check(later), Verdict::Allow);
        // Sending at exactly the rate is always fine.
        for i in 1..100u64 {
            let t = later + Duration::from_millis(500 * i);
            assert_eq!(guard.check(t), Verdict::Allow, "line {i}");
        }
    }
}
