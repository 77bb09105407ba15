//! What one thread has claimed and must write out: its [`Claims`].
//!
//! A thread that appends to an idle outbox claims it (see [`super::outbox`])
//! and must write it out before it next waits for anything; its claims collect
//! here, and the session flushes them at one visible point of its loop. A big
//! batch is shared with the fan-out [`Helpers`].

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::thread;

use super::fanout::{Helpers, SHARE_ABOVE};
use super::outbox::{Claim, Farewell, Later, Outbox, Overflow};
use crate::protocol::ServerLine;
use crate::support::metrics::METRICS;

/// A thread about to write out more outboxes than this yields the CPU first:
/// other runnable sessions then queue their lines before the sends, and more
/// of them ride along in each. In a storm of logins this makes the join
/// notices 10-25% cheaper (measured; yielding only when not sharing with the
/// helpers lost that, and gained no clear latency).
const YIELD_ABOVE: usize = 256;

/// The outboxes one thread has claimed and must write out. A thread flushes
/// them after its hub work and before it waits for anything; dropping the
/// list flushes it too, so a claim is never forgotten. Appending through it
/// (`push`, `close`) keeps the claims in one place.
///
/// It also counts what this thread delivered (each push: a line, or a block
/// such as a `WHO` answer), and adds it to the metrics once per flush: one
/// shared counter touched per batch, not per delivery (on two cores a
/// contended atomic per delivery, or counting each line's `\n`s, was
/// measurable in fan-out).
#[derive(Default)]
pub struct Claims {
    claimed: RefCell<Vec<Arc<Outbox>>>,
    /// Deferred outboxes ([`Claims::push_later`]), for the helpers' sweeper.
    later: RefCell<Vec<Arc<Outbox>>>,
    helpers: Option<Arc<Helpers>>,
    delivered: Cell<u64>,
    /// Bytes appended through these claims since the last flush.
    queued: Cell<usize>,
}

impl Claims {
    /// Claims that this thread writes out with `helpers` when there are many.
    pub fn shared_with(helpers: Arc<Helpers>) -> Claims {
        Claims {
            claimed: RefCell::default(),
            later: RefCell::default(),
            helpers: Some(helpers),
            delivered: Cell::new(0),
            queued: Cell::new(0),
        }
    }

    /// Keeps a claim to write out at the next flush.
    pub fn add(&self, claim: Claim) {
        if let Some(outbox) = claim.0 {
            self.claimed.borrow_mut().push(outbox);
        }
    }

    /// Appends protocol lines to `outbox` (see [`Outbox::push`]).
    pub fn push(&self, outbox: &Arc<Outbox>, lines: &[u8]) -> Result<(), Overflow> {
        let (claim, pushed) = outbox.push(lines);
        self.add(claim);
        self.count(lines, &pushed);
        pushed
    }

    /// Appends lines that may wait a little (see [`Outbox::push_later`]).
    pub fn push_later(&self, outbox: &Arc<Outbox>, lines: &[u8]) -> Result<(), Overflow> {
        let (claim, later, pushed) = outbox.push_later(lines);
        self.add(claim);
        if let Later(Some(outbox)) = later {
            self.later.borrow_mut().push(outbox);
        }
        self.count(lines, &pushed);
        pushed
    }

    fn count(&self, lines: &[u8], pushed: &Result<(), Overflow>) {
        if pushed.is_ok() {
            self.delivered.set(self.delivered.get() + 1);
            self.queued.set(self.queued.get() + lines.len());
        }
    }

    /// Bytes appended through these claims since the last flush (all
    /// recipients together), for the session's flush point.
    pub fn queued(&self) -> usize {
        self.queued.get()
    }

    /// Appends `lines` to every outbox of `recipients` (a lobby, a room),
    /// through [`Outbox::push_later`] if `later`; returns the keys of those
    /// that overflowed.
    pub fn push_all<'a, K: Clone + 'a>(
        &self,
        recipients: impl IntoIterator<Item = (&'a K, &'a Arc<Outbox>)>,
        lines: &[u8],
        later: bool,
    ) -> Vec<K> {
        let mut overflowed = Vec::new();
        for (key, outbox) in recipients {
            let pushed = if later {
                self.push_later(outbox, lines)
            } else {
                self.push(outbox, lines)
            };
            if pushed.is_err() {
                overflowed.push(key.clone());
            }
        }
        overflowed
    }

    /// Appends one line for a connection's own client. An overflow needs no
    /// answer: that client is not reading and is being dropped already.
    pub fn push_line(&self, outbox: &Arc<Outbox>, line: ServerLine<'_>) {
        let _ = self.push(outbox, &line.to_bytes());
    }

    /// Appends transport bytes as they are (see [`Outbox::push_raw`]).
    pub fn push_raw(&self, outbox: &Arc<Outbox>, bytes: &[u8]) {
        self.add(outbox.push_raw(bytes));
    }

    /// Ends a connection with `farewell` (see [`Outbox::close`]).
    pub fn close(&self, outbox: &Arc<Outbox>, farewell: Farewell) {
        self.add(outbox.close(farewell));
    }

    /// Writes out every claimed outbox (never blocks), and hands the
    /// deferred ones to the sweeper (or, with none, writes them out too).
    pub fn flush(&self) {
        let delivered = self.delivered.replace(0);
        self.queued.set(0);
        if delivered > 0 {
            METRICS.deliveries.add(delivered);
        }
        let later = std::mem::take(&mut *self.later.borrow_mut());
        if !later.is_empty() {
            let refused = match &self.helpers {
                Some(helpers) => helpers.later(later),
                None => Some(later),
            };
            let sent: usize = refused.iter().flatten().map(Outbox::flush_deferred).sum();
            if sent > 0 {
                METRICS.bytes_out.add(sent as u64);
            }
        }
        let mut claimed = std::mem::take(&mut *self.claimed.borrow_mut());
        if claimed.len() > YIELD_ABOVE {
            thread::yield_now();
        }
        if let Some(helpers) = &self.helpers {
            if claimed.len() > SHARE_ABOVE {
                helpers.share(&mut claimed);
            }
        }
        let sent: usize = claimed.iter().map(Outbox::flush).sum();
        if sent > 0 {
            METRICS.bytes_out.add(sent as u64);
        }
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outbox::tests::outbox_and_peer;
    use crate::support::threads::ThreadBudget;
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::Duration;

    /// `n` outboxes on loopback connections, and the far ends.
    fn outboxes(n: usize, threads: &Arc<ThreadBudget>) -> Vec<(Arc<Outbox>, TcpStream)> {
        (0..n).map(|_| outbox_and_peer(1 << 16, threads)).collect()
    }

    fn broadcast_and_check(claims: &Claims, clients: &mut [(Arc<Outbox>, TcpStream)]) {
        for (outbox, _) in clients.iter() {
            claims.push(outbox, b"MSG a one\n").unwrap();
            claims.push(outbox, b"MSG a two\n").unwrap();
        }
        claims.flush();
        for (_, peer) in clients.iter_mut() {
            let mut got = [0; 20];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"MSG a one\nMSG a two\n");
        }
    }

    #[test]
    fn what_was_queued_since_the_last_flush_is_counted_for_the_flush_point() {
        let threads = ThreadBudget::new(0);
        let clients = outboxes(3, &threads);
        let claims = Claims::default();
        for (outbox, _) in &clients {
            claims.push(outbox, b"MSG a hello\n").unwrap();
        }
        claims
            .push_later(&clients[0].0, b"INFO b connected\n")
            .unwrap();
        assert_eq!(claims.queued(), 3 * 12 + 17);
        claims.flush();
        assert_eq!(claims.queued(), 0);
    }

    #[test]
    fn deferred_lines_go_out_with_the_sweeper_or_at_once_without_one() {
        let threads = ThreadBudget::new(8);
        let helpers = Helpers::start(&threads);
        let mut clients = outboxes(3, &threads);
        for claims in [Claims::shared_with(Arc::clone(&helpers)), Claims::default()] {
            for (outbox, _) in clients.iter() {
                claims.push_later(outbox, b"INFO a connected\n").unwrap();
            }
            // Each peer's read has a timeout: a line never written fails it.
            claims.flush();
            for (_, peer) in clients.iter_mut() {
                let mut got = [0; 17];
                peer.read_exact(&mut got).unwrap();
                assert_eq!(&got, b"INFO a connected\n");
            }
        }
        helpers.stop();
    }

    #[test]
    fn a_big_batch_shared_with_helpers_reaches_everybody_in_order() {
        let threads = ThreadBudget::new(8);
        let helpers = Helpers::start(&threads);
        let mut clients = outboxes(SHARE_ABOVE + 88, &threads);
        let claims = Claims::shared_with(Arc::clone(&helpers));
        broadcast_and_check(&claims, &mut clients);
        // Once stopped, the helpers end and the claiming thread does it all.
        helpers.stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while threads.running() > 0 {
            assert!(std::time::Instant::now() < deadline, "helpers never ended");
            thread::sleep(Duration::from_millis(5));
        }
        broadcast_and_check(&claims, &mut clients);
    }
}
