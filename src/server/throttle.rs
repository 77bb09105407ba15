//! The connection-rate limit (`--max-connect-rate`): a token bucket per
//! address group (an IPv4 address, an IPv6 /64), in a bounded table.
//!
//! A bucket that has refilled completely says nothing a new one would not,
//! so it is forgotten; the table is swept of those once a minute, and at
//! once (at most once a second) when it is full. If it is still full, a new
//! group is let through untracked: the limit fails open rather than refuse
//! everybody new, and `--max-per-ip` and `--max-clients` still hold.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::session::RateLimit;
use crate::support::bucket::TokenBucket;
use crate::support::netaddr::Group;

/// Address groups tracked at most (a few MiB of table).
const MAX_TRACKED: usize = 65_536;

/// How often full buckets are swept out anyway.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often a full table may be swept (a sweep looks at every entry).
const SWEEP_WHEN_FULL_EVERY: Duration = Duration::from_secs(1);

pub struct Throttle {
    limit: RateLimit,
    buckets: HashMap<Group, TokenBucket>,
    last_sweep: Instant,
    max_tracked: usize,
}

impl Throttle {
    pub fn new(limit: RateLimit, now: Instant) -> Throttle {
        Throttle::with_capacity(limit, now, MAX_TRACKED)
    }

    fn with_capacity(limit: RateLimit, now: Instant, max_tracked: usize) -> Throttle {
        Throttle {
            limit,
            buckets: HashMap::new(),
            last_sweep: now,
            max_tracked,
        }
    }

    /// Whether one more connection from `group` is allowed at `now` (it then
    /// takes a token).
    pub fn allow(&mut self, group: Group, now: Instant) -> bool {
        let since = now.saturating_duration_since(self.last_sweep);
        let full = self.buckets.len() >= self.max_tracked;
        if since >= SWEEP_EVERY || (full && since >= SWEEP_WHEN_FULL_EVERY) {
            self.buckets.retain(|_, bucket| !bucket.is_full(now));
            self.last_sweep = now;
        }
        if let Some(bucket) = self.buckets.get_mut(&group) {
            return bucket.take(now);
        }
        if self.buckets.len() >= self.max_tracked {
            return true;
        }
        let mut bucket = TokenBucket::new(self.limit.burst, self.limit.per_sec, now);
        let allowed = bucket.take(now);
        self.buckets.insert(group, bucket);
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(n: u32) -> Group {
        Group::of(std::net::Ipv4Addr::from(n).into())
    }

    #[test]
    fn each_group_gets_its_burst_then_the_rate() {
        let start = Instant::now();
        let limit = RateLimit {
            per_sec: 0.5,
            burst: 3,
        };
        let mut throttle = Throttle::new(limit, start);
        assert!((0..3).all(|_| throttle.allow(group(1), start)));
        assert!(!throttle.allow(group(1), start));
        assert!(
            throttle.allow(group(2), start),
            "another address is not affected"
        );
        assert!(throttle.allow(group(1), start + Duration::from_secs(2)));
        assert!(!throttle.allow(group(1), start + Duration::from_secs(2)));
    }

    #[test]
    fn the_table_stays_bounded_and_fails_open_when_full() {
        let start = Instant::now();
        let limit = RateLimit {
            per_sec: 1.0,
            burst: 1,
        };
        let mut throttle = Throttle::with_capacity(limit, start, 4);
        for n in 0..4 {
            assert!(throttle.allow(group(n), start));
        }
        // Full of groups that used their token: a newcomer is let through
        // untracked, and one already tracked is still limited.
        assert!(throttle.allow(group(9), start));
        assert!(!throttle.allow(group(0), start));
        assert_eq!(throttle.buckets.len(), 4);
        // Once their buckets refill they are swept, and tracking resumes.
        let later = start + Duration::from_secs(5);
        assert!(throttle.allow(group(9), later));
        assert!(!throttle.allow(group(9), later));
        assert_eq!(throttle.buckets.len(), 1);
    }
}
