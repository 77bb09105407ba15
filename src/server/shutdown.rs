//! Stopping gracefully (SIGTERM, SIGINT, `systemctl stop`): stop accepting,
//! say goodbye to everybody (`BYE server-shutdown`; a WebSocket also gets
//! close 1001), give their connections a moment to close, hang up on the
//! rest, and make the history durable, all within a deadline.
//!
//! The rule: whatever the clients do, this takes at most the time it is
//! given, less a little kept for the history's `fsync`; and every step is
//! logged, so the operator sees what a stop did.

use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use super::{Server, Shared};
use crate::delivery::Farewell;

/// How often the connections still open are counted while waiting.
const POLL: Duration = Duration::from_millis(20);

impl Server {
    /// Stops gracefully within `within` (see the module docs). Returns
    /// whether every connection closed on its own in time.
    pub fn shut_down(mut self, within: Duration) -> bool {
        let start = Instant::now();
        // A fifth of the time (a second at most) is kept for the fsync.
        let drain_until = start + within - (within / 5).min(Duration::from_secs(1));
        self.stop_accepting();
        let shared = &self.shared;
        let log = &shared.context.log;
        let open = shared.admission.open();
        log.event(
            None,
            format_args!(
                "shutting down: stopped accepting; saying BYE server-shutdown to {open} \
                 connections and waiting up to {:.1} s for them to close",
                drain_until
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64()
            ),
        );
        {
            // Every outbox gets its farewell before any is written out: no
            // departure notice reaches anybody before their own goodbye.
            let claims = shared.context.claims();
            shared.context.budget.close_all(Farewell::Shutdown, &claims);
        }
        // Readers still waiting for a request or a PROXY header, and
        // sessions, see the end of their input and finish.
        shared.admission.hang_up_all(Shutdown::Read);
        while shared.admission.open() > 0 && Instant::now() < drain_until {
            thread::sleep(POLL);
        }
        let left = shared.admission.open();
        if left > 0 {
            log.event(
                None,
                format_args!("shutting down: {left} connections did not close in time; hanging up"),
            );
        } else {
            log.event(
                None,
                format_args!(
                    "shutting down: every connection closed in {:.1} s",
                    start.elapsed().as_secs_f64()
                ),
            );
        }
        self.finish();
        left == 0
    }
}

/// Makes everything written to the history durable, and logs how it went.
pub(super) fn sync_history(shared: &Shared) {
    let context = &shared.context;
    let start = Instant::now();
    match context.hub.sync_history() {
        Ok(()) if !shared.history_on_disk => {}
        Ok(()) => context.log.event(
            None,
            format_args!(
                "history synced to disk in {:.1} ms",
                start.elapsed().as_secs_f64() * 1000.0
            ),
        ),
        Err(err) => context
            .log
            .event(None, format_args!("history: cannot fsync the log: {err}")),
    }
}
