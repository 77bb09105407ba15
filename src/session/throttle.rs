//! Password throttling, shared by every session: how many password attempts
//! and password writes a name and an address get, in sliding windows.
//!
//! - wrong passwords: 5 per name and 20 per address per minute;
//! - password writes (`REGISTER`, `PASSWORD`): 5 per address per hour.
//!
//! Rules kept:
//! - **Checked before the KDF, and charged then.** An `AUTH` takes its
//!   place in both windows before its password is hashed, and gives it back
//!   only if the password was right; so concurrent attempts can never run
//!   more KDFs than the limits allow. Beyond a limit the answer is
//!   `ERR rate-limited` (a right password included) until the window passes.
//! - **Bounded memory.** A key keeps at most `limit` instants; a window
//!   keeps at most [`MAX_KEYS`] keys: when full, keys with nothing in the
//!   window are pruned, and if that is not enough, the key whose last attempt
//!   is oldest is forgotten (wide attacks then cost an attacker a KDF per
//!   attempt, which is what the limits are for, not a lockout of everybody).
//! - An IPv6 address counts as its /64 (one host usually has a whole one);
//!   an IPv4-mapped one as its IPv4 address.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::protocol::ErrorCode;
use crate::support::sync;

/// Keys one window remembers at most.
pub const MAX_KEYS: usize = 4096;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The windows, behind one short lock (no KDF, no I/O under it).
pub struct Throttle {
    windows: Mutex<Windows>,
}

struct Windows {
    wrong_by_name: Window<String>,
    wrong_by_address: Window<IpAddr>,
    writes_by_address: Window<IpAddr>,
}

/// One `AUTH`'s places in the windows, given back by [`Throttle::passed`].
#[derive(Debug)]
pub struct Attempt {
    name_key: String,
    address: IpAddr,
    at: Instant,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle {
            windows: Mutex::new(Windows {
                wrong_by_name: Window::new(5, MINUTE),
                wrong_by_address: Window::new(20, MINUTE),
                writes_by_address: Window::new(5, HOUR),
            }),
        }
    }
}

impl Throttle {
    /// Takes a place for one password attempt on `name_key` from `address`
    /// at `now`, before its KDF runs; `ERR rate-limited` if either window
    /// is full.
    pub fn begin_attempt(
        &self,
        name_key: &str,
        address: IpAddr,
        now: Instant,
    ) -> Result<Attempt, ErrorCode> {
        let address = address_key(address);
        let mut windows = sync::lock(&self.windows);
        let name_key = name_key.to_owned();
        if windows.wrong_by_name.is_full(&name_key, now)
            || windows.wrong_by_address.is_full(&address, now)
        {
            return Err(ErrorCode::RateLimited);
        }
        windows.wrong_by_name.hit(&name_key, now);
        windows.wrong_by_address.hit(&address, now);
        Ok(Attempt {
            name_key,
            address,
            at: now,
        })
    }

    /// The attempt's password was right: it was not a wrong one after all.
    pub fn passed(&self, attempt: Attempt) {
        let mut windows = sync::lock(&self.windows);
        windows.wrong_by_name.unhit(&attempt.name_key, attempt.at);
        windows.wrong_by_address.unhit(&attempt.address, attempt.at);
    }

    /// Takes a place for one password write from `address` at `now`, before
    /// its KDF runs; `ERR rate-limited` if the window is full.
    pub fn begin_write(&self, address: IpAddr, now: Instant) -> Result<(), ErrorCode> {
        let address = address_key(address);
        let mut windows = sync::lock(&self.windows);
        if windows.writes_by_address.is_full(&address, now) {
            return Err(ErrorCode::RateLimited);
        }
        windows.writes_by_address.hit(&address, now);
        Ok(())
    }
}

/// What an address counts as: IPv6 by its /64, IPv4-mapped as IPv4.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// A sliding window: at most `limit` hits per key within any `span`.
struct Window<K> {
    limit: usize,
    span: Duration,
    /// Per key, its hits within the span, oldest first (at most `limit`).
    hits: HashMap<K, VecDeque<Instant>>,
}

impl<K: Hash + Eq + Clone> Window<K> {
    fn new(limit: usize, span: Duration) -> Window<K> {
        Window {
            limit,
            span,
            hits: HashMap::new(),
        }
    }

    /// Whether `key` has used up its hits within the span before `now`
    /// (forgetting those older than that).
    fn is_full(&mut self, key: &K, now: Instant) -> bool {
        let Some(hits) = self.hits.get_mut(key) else {
            return false;
        };
        while hits
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= self.span)
        {
            hits.pop_front();
        }
        if hits.is_empty() {
            self.hits.remove(key);
            return false;
        }
        hits.len() >= self.limit
    }

    /// Records a hit for `key` at `now` (after [`Window::is_full`] said no).
    fn hit(&mut self, key: &K, now: Instant) {
        if !self.hits.contains_key(key) && self.hits.len() >= MAX_KEYS {
            self.make_room(now);
        }
        let hits = self.hits.entry(key.clone()).or_default();
        if hits.len() < self.limit {
            hits.push_back(now);
        }
    }

    /// Takes back the hit of `key` made at `at`.
    fn unhit(&mut self, key: &K, at: Instant) {
        if let Some(hits) = self.hits.get_mut(key) {
            if let Some(i) = hits.iter().rposition(|&hit| hit == at) {
                hits.remove(i);
            }
            if hits.is_empty() {
                self.hits.remove(key);
            }
        }
    }

    /// Frees at least one key's place: those with no hit within the span go;
    /// if none, the key whose newest hit is oldest.
    fn make_room(&mut self, now: Instant) {
        let span = self.span;
        self.hits.retain(|_, hits| {
            hits.back()
                .is_some_and(|&at| now.saturating_duration_since(at) < span)
        });
        if self.hits.len() < MAX_KEYS {
            return;
        }
        let stalest = self
            .hits
            .iter()
            .min_by_key(|(_, hits)| hits.back().copied())
            .map(|(key, _)| key.clone());
        if let Some(key) = stalest {
            self.hits.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn five_wrong_per_name_per_minute() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(throttle.begin_attempt("alice", HOME, t0).is_ok(), "{i}");
        }
        // Full, from any address, and for a right password too.
        assert_eq!(
            throttle.begin_attempt("alice", AWAY, t0).unwrap_err(),
            ErrorCode::RateLimited
        );
        assert!(throttle.begin_attempt("bob", HOME, t0).is_ok());
        let later = t0 + Duration::from_secs(59);
        assert!(throttle.begin_attempt("alice", HOME, later).is_err());
        // The window slides: a minute after the first five, there is room.
        let after = t0 + MINUTE;
        assert!(throttle.begin_attempt("alice", HOME, after).is_ok());
    }

    #[test]
    fn twenty_wrong_per_address_per_minute() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..20 {
            let name = format!("user{}", i % 4);
            assert!(throttle.begin_attempt(&name, HOME, t0).is_ok(), "{i}");
        }
        assert!(throttle.begin_attempt("fresh", HOME, t0).is_err());
        assert!(throttle.begin_attempt("fresh", AWAY, t0).is_ok());
        assert!(throttle.begin_attempt("fresh", HOME, t0 + MINUTE).is_ok());
    }

    #[test]
    fn a_right_password_gives_its_place_back() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..10 {
            let attempt = throttle.begin_attempt("alice", HOME, t0).unwrap();
            throttle.passed(attempt);
        }
        for _ in 0..5 {
            throttle.begin_attempt("alice", HOME, t0).unwrap();
        }
        assert!(throttle.begin_attempt("alice", HOME, t0).is_err());
    }

    #[test]
    fn five_writes_per_address_per_hour() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            throttle.begin_write(HOME, t0).unwrap();
        }
        assert!(throttle.begin_write(HOME, t0 + MINUTE * 59).is_err());
        assert!(throttle.begin_write(AWAY, t0).is_ok());
        assert!(throttle.begin_write(HOME, t0 + HOUR).is_ok());
        // Writes and wrong passwords are separate windows.
        assert!(throttle.begin_attempt("alice", HOME, t0).is_ok());
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a.into()), address_key(b.into()));
        assert_ne!(address_key(a.into()), address_key(c.into()));
        let mapped: Ipv6Addr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped.into()), HOME);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut window: Window<u32> = Window::new(3, MINUTE);
        let t0 = Instant::now();
        for key in 0..(MAX_KEYS as u32 * 2) {
            let now = t0 + Duration::from_millis(u64::from(key));
            for _ in 0..10 {
                if !window.is_full(&key, now) {
                    window.hit(&key, now);
                }
            }
            assert!(window.hits.len() <= MAX_KEYS);
            assert!(window.hits.values().all(|hits| hits.len() <= 3));
        }
        // The newest keys are the ones remembered.
        let newest = MAX_KEYS as u32 * 2 - 1;
        assert!(window.is_full(&newest, t0 + Duration::from_millis(u64::from(newest))));
        // Keys with nothing left in the window are pruned first.
        let much_later = t0 + HOUR;
        window.hit(&u32::MAX, much_later);
        assert_eq!(window.hits.len(), 1);
    }
}
