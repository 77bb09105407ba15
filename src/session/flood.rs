//! Flood control: an optional per-client limit on lines per second.
//!
//! Off by default, so bots, tests and benchmarks are never throttled; operators
//! of public servers turn it on with `--max-rate`. A client gets a token bucket
//! of `burst` lines refilled at `per_sec`; a line with no token left is refused
//! (`ERR rate-limited`). Refusals draw on a second bucket of the same size and
//! rate, so a client that keeps sending at well over twice the limit empties it
//! and is disconnected (`BYE flooding`), while a short burst is only refused.

use std::time::Instant;

/// The limit an operator configures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained lines per second.
    pub per_sec: f64,
    /// Lines allowed at once after a quiet spell.
    pub burst: u32,
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
            allowance: TokenBucket::new(limit, now),
            patience: TokenBucket::new(limit, now),
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

#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(limit: RateLimit, now: Instant) -> TokenBucket {
        let capacity = f64::from(limit.burst.max(1));
        TokenBucket {
            tokens: capacity,
            capacity,
            per_sec: limit.per_sec.max(0.0),
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
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
