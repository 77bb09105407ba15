//! Helper threads that share the writing out of a big fan-out.
//!
//! Writing out one outbox is one non-blocking `send`, a few microseconds, so a
//! broadcast to a thousand users is several milliseconds of sends for the
//! thread that made it, and the last recipient waits for all the others. So a
//! thread with a big batch keeps one share and hands the other shares to
//! helper threads (one per other core), which write them out at the same time.
//! An outbox is only ever written by whoever holds its claim, so sharing the
//! batch changes no client's order of lines.
//!
//! **Later.** Lines that may wait a little (join and departure notices, see
//! [`Outbox::push_later`]) are not written out by the thread that queued
//! them but by one *sweeper* thread, [`LATER`] after they were queued, with
//! whatever joined them meanwhile. In a storm of logins every login is
//! announced to everybody: written out at once, each notice took a `send` of
//! its own per recipient, and the sessions doing it left no CPU for the logins
//! themselves. One sweeper uses one core at most, and the longer its rounds
//! take, the more notices share each `send`. Any other line for a deferred
//! outbox claims it as usual and takes the notices along at once, in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use super::outbox::Outbox;
use crate::support::metrics::METRICS;
use crate::support::threads::ThreadBudget;
use crate::support::{sync, sys};

/// A batch bigger than this is shared with the helpers.
pub(super) const SHARE_ABOVE: usize = 512;

/// How long deferred lines wait for others to join them, at least.
pub const LATER: Duration = Duration::from_millis(10);

/// After a storm (rounds that wrote out this many outboxes in all, and then
/// nothing due), the sweeper gives the memory freed by its backlogs back to
/// the system.
const TRIM_AFTER: usize = 2048;

/// Threads that write out shares of big batches; see the module documentation.
pub struct Helpers {
    state: Mutex<HelperState>,
    work_ready: Condvar,
    /// How many helper threads were started (they run until stopped).
    running: AtomicUsize,
    /// Wakes the sweeper when the first deferred outbox arrives.
    due_ready: Condvar,
    /// Whether the sweeper was started (it runs until stopped).
    sweeping: AtomicBool,
}

#[derive(Default)]
struct HelperState {
    /// Shares waiting for a helper, oldest first.
    shares: VecDeque<Vec<Arc<Outbox>>>,
    /// Deferred outboxes for the sweeper's next round.
    due: Vec<Arc<Outbox>>,
    stopping: bool,
}

impl Helpers {
    /// Starts one helper per core beyond the first, and the sweeper, within
    /// `threads`; with none running, every thread writes out its own batches
    /// (and deferred outboxes at once).
    pub fn start(threads: &Arc<ThreadBudget>) -> Arc<Helpers> {
        let helpers = Arc::new(Helpers {
            state: Mutex::default(),
            work_ready: Condvar::new(),
            running: AtomicUsize::new(0),
            due_ready: Condvar::new(),
            sweeping: AtomicBool::new(false),
        });
        let sweeper = Arc::clone(&helpers);
        if threads
            .spawn_reserved("chat-later", move || sweeper.sweep())
            .is_ok()
        {
            helpers.sweeping.store(true, Ordering::Release);
        }
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

    /// Takes deferred outboxes for the sweeper; hands them back when there is
    /// no sweeper (any more), for the caller to write out at once.
    pub(super) fn later(&self, batch: Vec<Arc<Outbox>>) -> Option<Vec<Arc<Outbox>>> {
        let mut state = self.lock();
        if !self.sweeping.load(Ordering::Acquire) || state.stopping {
            return Some(batch);
        }
        let first = state.due.is_empty();
        state.due.extend(batch);
        drop(state);
        if first {
            self.due_ready.notify_one();
        }
        None
    }

    /// The sweeper: waits for deferred outboxes, lets [`LATER`] pass so that
    /// more lines join them, then writes out everything deferred so far; what
    /// is deferred meanwhile waits for the next round. Ends once stopped and
    /// done.
    fn sweep(&self) {
        let mut swept = 0;
        let mut state = self.lock();
        loop {
            if state.due.is_empty() {
                if swept >= TRIM_AFTER {
                    drop(state);
                    sys::release_free_memory();
                    swept = 0;
                    state = self.lock();
                    continue;
                }
                if state.stopping {
                    return;
                }
                state = sync::wait(&self.due_ready, state);
                continue;
            }
            drop(state);
            thread::sleep(LATER);
            let due = std::mem::take(&mut self.lock().due);
            swept += due.len();
            let sent: usize = due.iter().map(Outbox::flush_deferred).sum();
            METRICS.bytes_out.add(sent as u64);
            state = self.lock();
        }
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
        self.due_ready.notify_all();
    }
}
