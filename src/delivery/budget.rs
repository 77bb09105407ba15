//! All outboxes together: the server-wide output budget (`--max-output`),
//! and the list of every outbox, which is also how a stopping server says
//! goodbye to everybody.
//!
//! Each outbox is bounded on its own (`--max-backlog`), but ten thousand
//! clients that all stop reading would still hold ten thousand backlogs. So
//! every outbox charges what it holds (queued and being written) to one
//! budget, and an append that takes the total over it drops the clients
//! with the biggest backlogs, one at a time, until the total is back under:
//! those are the ones that stopped reading longest ago, and dropping them
//! frees the most. Everybody who keeps up holds next to nothing, so is never
//! chosen. Outboxes charge whole units of [`CHARGE_UNIT`](super::outbox::CHARGE_UNIT)
//! (rounded down), so the many that hold a few lines never touch the
//! shared counter.
//!
//! Lock order: a thread may take an outbox's lock while holding the member
//! list's, never the other way round.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::claims::Claims;
use super::outbox::{Farewell, Outbox};
use crate::support::sync;

/// The budget and the outboxes that share it.
pub struct OutputBudget {
    limit: usize,
    used: AtomicUsize,
    next_id: AtomicU64,
    members: Mutex<Members>,
}

#[derive(Default)]
struct Members {
    all: HashMap<u64, Weak<Outbox>>,
    /// Set when the server stops: outboxes made after that are closed at once.
    closing: Option<Farewell>,
}

impl OutputBudget {
    /// A budget of `limit` bytes for all outboxes together.
    pub fn new(limit: usize) -> Arc<OutputBudget> {
        Arc::new(OutputBudget {
            limit,
            used: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            members: Mutex::default(),
        })
    }

    /// The budget, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by all outboxes now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A new outbox's number, for [`OutputBudget::register`].
    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Lists a new outbox. If the server is stopping, returns the farewell
    /// to close it with at once.
    pub fn register(&self, outbox: &Arc<Outbox>) -> Option<Farewell> {
        let mut members = sync::lock(&self.members);
        // Outboxes are not removed when they end (that would take this lock
        // in their `Drop`, wherever that runs): the dead are swept whenever
        // the list has doubled, which keeps it within twice the live ones.
        if members.all.len() >= 1024 && members.all.len().is_power_of_two() {
            members.all.retain(|_, outbox| outbox.strong_count() > 0);
        }
        members.all.insert(outbox.id(), Arc::downgrade(outbox));
        members.closing
    }

    /// Closes every outbox with `farewell` (a stopping server), now and as
    /// they are made; the claims are the caller's to write out.
    pub fn close_all(&self, farewell: Farewell, claims: &Claims) {
        for outbox in self.live(|members| members.closing = Some(farewell)) {
            claims.close(&outbox, farewell);
        }
    }

    /// Every live outbox, after `change` to the member list under its lock.
    /// The outboxes are dropped by the caller, after the lock is let go.
    fn live(&self, change: impl FnOnce(&mut Members)) -> Vec<Arc<Outbox>> {
        let mut members = sync::lock(&self.members);
        change(&mut members);
        members.all.values().filter_map(Weak::upgrade).collect()
    }

    /// Adds what one outbox holds more (or less); says whether the total is
    /// now over the budget.
    pub(super) fn charge(&self, more: usize, less: usize) -> bool {
        if more > 0 {
            let before = self.used.fetch_add(more, Ordering::Relaxed);
            return before + more > self.limit;
        }
        // Nothing changed (the usual case): the shared counter is not touched.
        if less > 0 {
            self.used.fetch_sub(less, Ordering::Relaxed);
        }
        false
    }

    /// Drops the clients with the biggest backlogs until the total is within
    /// the budget (or nobody holds anything that can be dropped).
    pub(super) fn shed(&self) {
        let outboxes = self.live(|_| {});
        for _ in 0..outboxes.len() {
            if self.used() <= self.limit {
                return;
            }
            let biggest = outboxes
                .iter()
                .map(|outbox| (outbox.droppable(), outbox))
                .max_by_key(|(held, _)| *held);
            match biggest {
                Some((held, outbox)) if held > 0 => outbox.shed(),
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outbox::tests::outbox_and_peer_within;
    use crate::delivery::outbox::WRITE_STALL_LIMIT;
    use crate::support::threads::ThreadBudget;

    #[test]
    fn over_budget_the_biggest_backlog_is_dropped_first() {
        let threads = ThreadBudget::new(0);
        let budget = OutputBudget::new(64 * 1024);
        let clients: Vec<_> = (0..3)
            .map(|_| outbox_and_peer_within(1 << 20, &threads, &budget))
            .collect();
        let claims = Claims::default();
        // Nobody flushes: everything stays queued and charged.
        let line = [&[b'x'; 1023][..], b"\n"].concat();
        for _ in 0..32 {
            claims.push(&clients[0].0, &line).unwrap();
        }
        for _ in 0..20 {
            claims.push(&clients[1].0, &line).unwrap();
        }
        assert_eq!(budget.used(), 52 * 1024);
        // Charged in whole units: a few bytes more change nothing.
        claims.push(&clients[1].0, b"x\n").unwrap();
        assert_eq!(budget.used(), 52 * 1024);
        assert!(clients.iter().all(|(outbox, _)| !outbox.is_closing()));
        // The third takes the total over: the first, the biggest, is dropped.
        for _ in 0..20 {
            claims.push(&clients[2].0, &line).unwrap();
        }
        assert!(clients[0].0.is_closing(), "the biggest backlog is dropped");
        assert!(!clients[1].0.is_closing() && !clients[2].0.is_closing());
        assert_eq!(clients[0].0.farewell(), Some(Farewell::TooSlow));
        assert!(budget.used() <= 64 * 1024, "{}", budget.used());
        claims.flush();
        drop(clients);
        assert_eq!(budget.used(), 0, "everything is given back");
    }

    #[test]
    fn a_deferred_backlog_over_budget_is_dropped_and_finished_at_once() {
        let threads = ThreadBudget::new(0);
        let budget = OutputBudget::new(16 * 1024);
        let (outbox, mut peer) = outbox_and_peer_within(1 << 20, &threads, &budget);
        let claims = Claims::default();
        let line = [&[b'x'; 1023][..], b"\n"].concat();
        // Notices that may wait, and nobody flushes: the outbox is deferred
        // when the total goes over.
        for _ in 0..20 {
            let (claim, later, pushed) = outbox.push_later(&line);
            pushed.unwrap();
            claims.add(claim);
            drop(later);
        }
        assert_eq!(outbox.farewell(), Some(Farewell::TooSlow));
        // Nobody is writing it, so it is finished now, not at the sweeper's
        // turn: the connection ends with nothing more sent (waiting for a
        // writer that never comes would take the stall limit, 10 s).
        let started = std::time::Instant::now();
        outbox.wait_finished();
        assert!(started.elapsed() < WRITE_STALL_LIMIT / 2);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut peer, &mut got).unwrap();
        assert!(got.is_empty(), "{} bytes arrived", got.len());
        assert_eq!(budget.used(), 0);
    }
}
