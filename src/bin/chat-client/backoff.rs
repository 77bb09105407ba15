//! How long to wait before the next reconnection attempt: 1 s, doubling to
//! 30 s, each delay spread by ±25 % so that many clients dropped at once by
//! a server restart do not all come back in the same instant.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);

/// The delays of one run of attempts; [`Backoff::reset`] once connected.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    /// Where the jitter comes from: a fraction in [0, 1) per call.
    random: fn() -> f64,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff::with_random(random_fraction)
    }

    fn with_random(random: fn() -> f64) -> Backoff {
        Backoff {
            next: FIRST,
            random,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(LONGEST);
        base.mul_f64(0.75 + 0.5 * (self.random)())
    }

    /// A connection worked: the next loss starts again at 1 s.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

/// A fraction in [0, 1): std's per-process random hash keys mixed with the
/// clock; plenty for spreading retries (no crate, no `/dev/urandom` needed).
fn random_fraction() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_to_thirty_seconds_with_jitter_and_reset() {
        let mut steady = Backoff::with_random(|| 0.5);
        let delays: Vec<u64> = (0..8).map(|_| steady.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        steady.reset();
        assert_eq!(steady.next_delay(), FIRST);
        let mut low = Backoff::with_random(|| 0.0);
        assert_eq!(low.next_delay(), Duration::from_millis(750));
        let mut high = Backoff::with_random(|| 0.999_999);
        assert!(high.next_delay() < Duration::from_millis(1250));
        let mut real = Backoff::new();
        for _ in 0..20 {
            let delay = real.next_delay();
            assert!(delay >= Duration::from_millis(750) && delay < Duration::from_millis(37_500));
        }
        let fractions: Vec<f64> = (0..50).map(|_| random_fraction()).collect();
        assert!(fractions.iter().all(|f| (0.0..1.0).contains(f)));
        assert!(
            fractions.windows(2).any(|w| w[0] != w[1]),
            "no jitter at all"
        );
    }
}
