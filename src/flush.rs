//! Writing out what a thread has queued: its [`Flushes`], and the [`Helpers`]
//! that share a big fan-out.
//!
//! A thread that appends to an idle outbox claims it (see [`crate::outbox`])
//! and must write it out before it next waits for anything; its claims collect
//! in its `Flushes`. Writing out one outbox is one non-blocking `send`, a few
//! microseconds, so a broadcast to a thousand users is several milliseconds of
//! sends for the thread that made it, and the last recipient waits for all the
//! others. So a thread with a big batch keeps one share and hands the other
//! shares to helper threads (one per other core), which write them out at the
//! same time. An outbox is only ever written by whoever holds its claim, so
//! sharing the batch changes no client's order of lines.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use crate::outbox::Outbox;
use crate::threads::ThreadBudget;

/// A batch bigger than this is shared with the helpers.
const SHARE_ABOVE: usize = 512;

/// A thread about to write out more outboxes than this yields the CPU first:
/// other runnable sessions then queue their lines before the sends, and more
/// of them ride along in each. In a storm of logins this makes the join
/// notices 10-25% cheaper (measured; yielding only when not sharing with the
/// helpers lost that, and gained no clear latency).
const YIELD_ABOVE: usize = 256;

/// The outboxes one thread has claimed and must write out. A thread flushes
/// them after its registry work and before it waits for anything; dropping
/// the list flushes it too, so a claim is never forgotten.
#[derive(Default)]
pub struct Flushes {
    claimed: RefCell<Vec<Arc<Outbox>>>,
    helpers: Option<Arc<Helpers>>,
}

impl Flushes {
    /// Claims that this thread writes out alone.
    pub fn new() -> Flushes {
        Flushes::default()
    }

    /// Claims that this thread writes out with `helpers` when there are many.
    pub fn shared_with(helpers: Arc<Helpers>) -> Flushes {
        Flushes {
            claimed: RefCell::default(),
            helpers: Some(helpers),
        }
    }

    pub(crate) fn add(&self, claimed: bool, outbox: &Arc<Outbox>) {
        if claimed {
            self.claimed.borrow_mut().push(Arc::clone(outbox));
        }
    }

    /// Writes out every claimed outbox (never blocks).
    pub fn flush(&self) {
        let mut claimed = std::mem::take(&mut *self.claimed.borrow_mut());
        if claimed.len() > YIELD_ABOVE {
            thread::yield_now();
        }
        if let Some(helpers) = &self.helpers {
            if claimed.len() > SHARE_ABOVE {
                helpers.share(&mut claimed);
            }
        }
        for outbox in claimed {
            outbox.flush();
        }
    }
}

impl Drop for Flushes {
    fn drop(&mut self) {
        self.flush();
    }
}

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
            if threads.spawn("chat-fanout", move || worker.run()).is_ok() {
                helpers.running.fetch_add(1, Ordering::AcqRel);
            }
        }
        helpers
    }

    fn lock(&self) -> MutexGuard<'_, HelperState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves all but this thread's share of `batch` to the helpers, unless
    /// earlier shares still wait for them: then the caller writes it all out
    /// itself, rather than let outboxes wait (and their backlogs grow) behind a
    /// queue of shares.
    fn share(&self, batch: &mut Vec<Arc<Outbox>>) {
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
                for outbox in share {
                    outbox.flush();
                }
                state = self.lock();
            } else if state.stopping {
                return;
            } else {
                state = self
                    .work_ready
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::tests::outbox_and_peer;
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::Duration;

    /// `n` outboxes on loopback connections, and the far ends.
    fn outboxes(n: usize, threads: &Arc<ThreadBudget>) -> Vec<(Arc<Outbox>, TcpStream)> {
        (0..n).map(|_| outbox_and_peer(1 << 16, threads)).collect()
    }

    fn broadcast_and_check(flushes: &Flushes, clients: &mut [(Arc<Outbox>, TcpStream)]) {
        for (outbox, _) in clients.iter() {
            outbox.push(b"MSG a one\n", flushes).unwrap();
            outbox.push(b"MSG a two\n", flushes).unwrap();
        }
        flushes.flush();
        for (_, peer) in clients.iter_mut() {
            let mut got = [0; 20];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"MSG a one\nMSG a two\n");
        }
    }

    #[test]
    fn a_big_batch_shared_with_helpers_reaches_everybody_in_order() {
        let threads = ThreadBudget::new(8);
        let helpers = Helpers::start(&threads);
        let mut clients = outboxes(SHARE_ABOVE + 88, &threads);
        let flushes = Flushes::shared_with(Arc::clone(&helpers));
        broadcast_and_check(&flushes, &mut clients);
        // Once stopped, the helpers end and the claiming thread does it all.
        helpers.stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while threads.running() > 0 {
            assert!(std::time::Instant::now() < deadline, "helpers never ended");
            thread::sleep(Duration::from_millis(5));
        }
        broadcast_and_check(&flushes, &mut clients);
    }
}
