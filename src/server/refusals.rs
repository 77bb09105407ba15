//! Logging refused connections without letting a flood of them flood the
//! log: at most [`PER_SECOND`] refusal lines a second; the rest are counted
//! and summed up in one line when the next second's first refusal is logged.
//! Every refusal is counted in the metrics, logged or not.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::log::Log;
use crate::support::metrics::METRICS;
use crate::support::sync;

/// Refusal lines logged per second at most.
pub const PER_SECOND: usize = 10;

/// The refusal lines of the current second.
struct Window {
    start: Instant,
    logged: usize,
    /// Refusals not logged since the last line that said how many.
    unlogged: u64,
}

/// A rate-limited log of refused connections.
pub struct Refusals {
    log: Log,
    window: Mutex<Window>,
}

impl Refusals {
    pub fn new(log: Log) -> Refusals {
        Refusals {
            log,
            window: Mutex::new(Window {
                start: Instant::now(),
                logged: 0,
                unlogged: 0,
            }),
        }
    }

    /// Counts a refusal of `peer` for `reason` (a metrics label, such as
    /// `server-full`) and logs it as `refused: {what}` if this second's
    /// lines are not used up. The log is written outside the lock.
    pub fn refused(&self, peer: SocketAddr, reason: &str, what: std::fmt::Arguments<'_>) {
        METRICS.refusals.inc(reason);
        let (log_it, unlogged) = {
            let mut window = sync::lock(&self.window);
            let now = Instant::now();
            if now.saturating_duration_since(window.start) >= Duration::from_secs(1) {
                window.start = now;
                window.logged = 0;
            }
            if window.logged < PER_SECOND {
                window.logged += 1;
                (true, std::mem::take(&mut window.unlogged))
            } else {
                window.unlogged += 1;
                (false, 0)
            }
        };
        // A per-client event too: `--quiet` silences it with the lines it sums up.
        if unlogged > 0 && self.log.client_events {
            self.log.event(
                None,
                format_args!(
                    "refused {unlogged} more connections without logging each (at most \
                     {PER_SECOND} refusal lines a second)"
                ),
            );
        }
        if log_it {
            self.log.event(Some(peer), format_args!("refused: {what}"));
        }
    }
}
