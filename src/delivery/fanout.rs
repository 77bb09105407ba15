//! Helper threads that share the writing out of a big fan-out.
//!
//! Writing out one outbox is one non-blocking `send`, a few microseconds, so a
//! broadcast to a thousand users is several milliseconds of sends for the
//! thread that made it, and the last recipient waits for all the others. So a
//! thread with a big batch keeps one share and hands the other shares to
//! helper threads (one per other core), which write them out at the same time.
//! An outbox is only ever written by whoever holds its claim, so sharing the
//! batch changes no client's order of lines.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use super::outbox::Outbox;
use crate::support::metrics::METRICS;
use crate::support::sync;
use crate::support::threads::ThreadBudget;

/// A batch bigger than this is shared with the helpers.
pub(super) const SHARE_ABOVE: usize = 512;

/// Threads that write out shares of big batches; see the module documentation.
pub struct Helpers {
    state: Mutex<HelperState>,
    work_ready: Condvar,
    /// How many helper threads were started (they run until stopped).
    running: AtomicUsize,
}

#[derive(Default)]
struct HelperState {
    /// Shares waiting for a helper, oldest first.
    shares: VecDeque<Vec<Arc<Outbox>>>,
    stopping: bool,
}

impl Helpers {
    /// Starts one helper per core beyond the first, within `threads`; with
    /// none running, every thread writes out its own batches.
    pub fn start(threads: &Arc<ThreadBudget>) -> Arc<Helpers> {
        let helpers = Arc::new(Helpers {
            state: Mutex::default(),
            work_ready: Condvar::new(),
            running: AtomicUsize::new(0),
        });
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        for _ in 1..cores {
            let worker = Arc::clone(&helpers);
            if threads
                .spawn_reserved("chat-fanout", move || worker.run())
                .is_ok()
            {
                helpers.running.fetch_add(1, Ordering::AcqRel);
            }
        }
        helpers
    }

    fn lock(&self) -> MutexGuard<'_, HelperState> {
        sync::lock(&self.state)
    }

    /// Moves all but this thread's share of `batch` to the helpers, unless
    /// earlier shares still wait for them: then the caller writes it all out
    /// itself, rather than let outboxes wait (and their backlogs grow) behind a
    /// queue of shares.
    pub(super) fn share(&self, batch: &mut Vec<Arc<Outbox>>) {
        let helpers = self.running.load(Ordering::Acquire);
        let mut state = self.lock();
        if helpers == 0 || state.stopping || !state.shares.is_empty() {
            return;
        }
        let share = batch.len().div_ceil(helpers + 1);
        while batch.len() > share {
            let at = (batch.len() - share).max(share);
            state.shares.push_back(batch.split_off(at));
        }
        drop(state);
        self.work_ready.notify_all();
    }

    fn run(&self) {
        let mut state = self.lock();
        loop {
            if let Some(share) = state.shares.pop_front() {
                drop(state);
                let sent: usize = share.iter().map(Outbox::flush).sum();
                METRICS.bytes_out.add(sent as u64);
                state = self.lock();
            } else if state.stopping {
                return;
            } else {
                state = sync::wait(&self.work_ready, state);
            }
        }
    }

    /// Lets the helpers write out what they were given, then end. Later
    /// batches are written out by the threads that claimed them.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.work_ready.notify_all();
    }
}
