//! One connection's outbound bytes, and who writes them to its socket.
//!
//! Anyone with something for a client (its own session answering it, another
//! user's broadcast, a DM) appends the bytes to the client's outbox. Appending
//! never blocks, so the registry can hold its lock across a whole broadcast
//! without a stalled reader being able to freeze the room.
//!
//! **Who writes.** The thread whose append makes an idle outbox non-empty
//! *claims* it, and takes on writing it out: the append returns a [`Claim`],
//! which the thread keeps in its [`Claims`](super::Claims) and writes out once
//! it has let go of the hub's lock and before it next waits for its own client (the flush is one `send` that never
//! blocks, see [`crate::support::sys::send_nonblocking`]). Lines that others append
//! meanwhile ride along in the same `send`. A delivered line therefore costs a
//! share of one system call and no thread wake-up, which is what makes
//! thread-per-connection fast at fan-out; a session that handles several lines
//! from one read flushes once for all of them.
//!
//! **Slow readers.** Only when the client's socket buffer is full does the
//! outbox start a writer thread of its own, which waits for room with a blocking
//! write and ends as soon as the backlog is written. Meanwhile the backlog is
//! bounded (`--max-backlog`): the append that would overflow it instead drops
//! the client as too slow: the backlog is discarded, `BYE too-slow` takes its
//! place, and the read side is shut down so the session ends and the user leaves
//! at once. The same happens when one write makes no progress for the stall
//! limit ([`WRITE_STALL_LIMIT`] by default), or when there is no thread left to
//! wait with.
//!
//! Bytes are framed by the connection's front (its [`Codec`]) as they are
//! appended, so the outbox holds exactly what goes on the wire, and knows
//! nothing of any front's framing itself.
//!
//! **All together.** What an outbox holds is charged to the server-wide
//! [`OutputBudget`] as it changes; an append that takes the total over it
//! drops the biggest backlogs (see [`super::budget`]).

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::budget::OutputBudget;
use crate::protocol::ServerLine;
use crate::support::deadline::is_timeout;
use crate::support::metrics::METRICS;
use crate::support::sync;
use crate::support::sys;
use crate::support::threads::ThreadBudget;

/// How long one write may make no progress, by default, before the client is
/// judged too slow even if its backlog has not overflowed (NATS uses a similar
/// deadline).
pub const WRITE_STALL_LIMIT: Duration = Duration::from_secs(10);

/// A flushing thread sends this many times in a row at most (others may keep
/// refilling the backlog meanwhile); then a writer thread takes over, if one
/// can start.
const MAX_FLUSH_ROUNDS: usize = 64;

/// How long `wait_finished` waits for a writer to end once its socket is shut.
const GIVE_UP_WAIT: Duration = Duration::from_secs(1);

/// The output budget is charged in these units (see [`Outbox::settle`]), so
/// it bounds all backlogs together to `--max-output` plus less than this
/// much per client.
pub const CHARGE_UNIT: usize = 4096;

/// A backlog's buffer starts this big, and is kept once written out only
/// at this size (an idle connection holds one, ready for its next lines, as
/// reusing it is cheaper than a `malloc` per line; a bigger one is freed, so
/// ten thousand idle connections stay small after a burst). Just above the
/// largest chunk glibc's per-thread caches keep (1,032 bytes, seven per
/// size): growing a buffer from eight bytes by doubling frees one chunk of
/// every smaller size, and a thread that queued a notice to thousands of
/// outboxes ended up holding kilobytes of them (8 KiB per client of 10,000).
const MIN_BUFFER_BYTES: usize = 1040;

/// How a connection ends, in words every front says its own way (see
/// [`Codec::encode_farewell`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Farewell {
    /// `BYE` or `BYE <reason>` as the last line, then a normal close.
    Bye(Option<&'static str>),
    /// `BYE too-slow`: the client was dropped because it does not read.
    TooSlow,
    /// `BYE logged-in-elsewhere`: `AUTH` on another connection took the name.
    TakenOver,
    /// `BYE server-shutdown`: the server is stopping (a WebSocket closes
    /// with 1001, going away).
    Shutdown,
    /// No last line: the peer is gone, or the session ended without words.
    Silent,
    /// No last line: the client broke its front's framing rules; the code is
    /// the front's own (a WebSocket close status).
    Violation(u16),
}

impl Farewell {
    /// The last protocol line, if this farewell has one.
    pub fn line(self) -> Option<ServerLine<'static>> {
        match self {
            Farewell::Bye(reason) => Some(ServerLine::Bye(reason)),
            Farewell::TooSlow => Some(ServerLine::Bye(Some("too-slow"))),
            Farewell::TakenOver => Some(ServerLine::Bye(Some("logged-in-elsewhere"))),
            Farewell::Shutdown => Some(ServerLine::Bye(Some("server-shutdown"))),
            Farewell::Silent | Farewell::Violation(_) => None,
        }
    }
}

/// How one front puts the server's lines on its wire. Each front (lines,
/// WebSocket, IRC) implements it; the outbox calls it as bytes are
/// appended, so the outbox holds exactly what goes on the wire.
pub trait Codec: Send + Sync {
    /// Appends `lines` (whole protocol lines, each ending in `\n`) to `out`
    /// in this front's framing.
    fn encode_lines(&self, lines: &[u8], out: &mut Vec<u8>);
    /// Appends the connection's last bytes for `farewell`.
    fn encode_farewell(&self, farewell: Farewell, out: &mut Vec<u8>);
}

/// What must hold before an outbox's bytes leave the server: with
/// `--fsync always`, that every message among them is on disk. Whoever writes
/// an outbox out waits on it after taking the backlog and before sending it,
/// outside every lock; bytes appended after an event were appended after it,
/// so waiting then covers them all.
pub trait Gate: Send + Sync {
    fn wait(&self);
}

/// The duty to write an outbox out, taken by the append that found it idle.
/// The thread that gets one must write the outbox out before it next waits
/// for anything (through its [`Claims`](super::Claims)): nobody else will.
#[must_use = "a claimed outbox is written out by nobody else: hand the claim to the thread's Claims"]
pub struct Claim(pub(super) Option<Arc<Outbox>>);

/// The duty to have an outbox written out a little later, taken by the
/// [`Outbox::push_later`] that found it idle: handed (through the thread's
/// [`Claims`](super::Claims)) to the fan-out helpers' sweeper.
#[must_use = "a deferred outbox is written out by nobody else: hand it to the thread's Claims"]
pub struct Later(pub(super) Option<Arc<Outbox>>);

#[cfg(test)]
impl Claim {
    /// Writes the claimed outbox out now; the outbox's own tests do without
    /// a [`Claims`](super::Claims).
    pub fn flush(self) {
        if let Some(outbox) = self.0 {
            let _ = outbox.flush();
        }
    }
}

/// Returned by an append the one time it overflows the backlog.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

/// Who is writing the outbox out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    /// Nobody: the backlog is empty (or the connection is finished).
    Idle,
    /// Only lines that may wait are queued, and the sweeper will write them
    /// out (see [`Later`]); the first append that may not wait claims it.
    Deferred,
    /// A thread holds the [`Claim`] and will flush soon.
    Claimed,
    /// The socket was full: the outbox's own writer thread waits for room.
    Writer,
}

struct State {
    /// Bytes for the wire, in order.
    backlog: Vec<u8>,
    /// How much of the front of `backlog` is kept if the backlog is discarded:
    /// the unsent rest of a partly sent write, so the client never gets half a
    /// line before its `BYE`.
    unsent_rest: usize,
    writing: Writing,
    /// Set once the connection is ending; later appends are dropped.
    farewell: Option<Farewell>,
    /// Bytes taken out of `backlog` by the thread writing them right now; they
    /// count against the limit until they are written.
    in_flight: usize,
    /// The farewell is written (or the peer is gone) and the socket shut down.
    finished: bool,
    /// What is charged to the output budget: `backlog` and `in_flight`, as
    /// of the last [`Outbox::settle`].
    charged: usize,
}

/// The bounded outbound backlog of one connection. Shared (`Arc`) between its
/// session, the registry, and whichever thread is writing it.
pub struct Outbox {
    state: Mutex<State>,
    /// Set with `State::farewell`, readable without the lock: the session
    /// checks it before every line it handles.
    closing: AtomicBool,
    finished: Condvar,
    limit: usize,
    stall_limit: Duration,
    codec: Box<dyn Codec>,
    stream: Arc<TcpStream>,
    threads: Arc<ThreadBudget>,
    gate: Option<Arc<dyn Gate>>,
    budget: Arc<OutputBudget>,
    /// This outbox's number in the budget's list.
    id: u64,
}

impl Outbox {
    /// An outbox holding at most `limit` bytes for `stream`, starting its writer
    /// threads (when the socket is full) within `threads`; a write that makes
    /// no progress for `stall_limit` drops the client. What it holds counts
    /// against `budget`, which the caller lists it in.
    pub fn new(
        stream: Arc<TcpStream>,
        codec: Box<dyn Codec>,
        limit: usize,
        stall_limit: Duration,
        threads: Arc<ThreadBudget>,
        gate: Option<Arc<dyn Gate>>,
        budget: Arc<OutputBudget>,
    ) -> Outbox {
        // Applies to the writer thread's blocking writes only: the others never wait.
        let _ = stream.set_write_timeout(Some(stall_limit));
        Outbox {
            state: Mutex::new(State {
                backlog: Vec::new(),
                unsent_rest: 0,
                writing: Writing::Idle,
                farewell: None,
                in_flight: 0,
                finished: false,
                charged: 0,
            }),
            closing: AtomicBool::new(false),
            finished: Condvar::new(),
            limit,
            stall_limit,
            codec,
            stream,
            threads,
            gate,
            id: budget.next_id(),
            budget,
        }
    }

    /// This outbox's number in the budget's list.
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// Appends protocol lines (each ending in `\n`), framed by the codec.
    /// Never blocks. If this makes the outbox non-empty, the returned claim
    /// says the caller must write it out. The result is `Err(Overflow)` the one
    /// time the backlog overflows (the client is then being dropped as too
    /// slow); appends to a closing connection are silently dropped.
    pub fn push(self: &Arc<Self>, lines: &[u8]) -> (Claim, Result<(), Overflow>) {
        let (claim, _, pushed) = self.append(
            |out| self.codec.encode_lines(lines, out),
            lines.len(),
            false,
        );
        (claim, pushed)
    }

    /// Like [`Outbox::push`], for lines that may wait a little (join and
    /// departure notices): an idle outbox is not claimed but deferred, for the
    /// sweeper to write out with whatever joined them meanwhile. An overflow
    /// still claims it, for the farewell.
    pub fn push_later(self: &Arc<Self>, lines: &[u8]) -> (Claim, Later, Result<(), Overflow>) {
        self.append(|out| self.codec.encode_lines(lines, out), lines.len(), true)
    }

    /// Appends transport bytes to be written exactly as they are (a telnet
    /// refusal, a WebSocket pong).
    pub fn push_raw(self: &Arc<Self>, bytes: &[u8]) -> Claim {
        self.append(|out| out.extend_from_slice(bytes), bytes.len(), false)
            .0
    }

    /// Appends `len` bytes (before framing) written by `encode`; `later` if
    /// they may wait for the sweeper.
    fn append(
        self: &Arc<Self>,
        encode: impl FnOnce(&mut Vec<u8>),
        len: usize,
        later: bool,
    ) -> (Claim, Later, Result<(), Overflow>) {
        let mut state = self.lock();
        if state.farewell.is_some() {
            return (Claim(None), Later(None), Ok(()));
        }
        if state.in_flight + state.backlog.len() + len > self.limit {
            let keep = state.unsent_rest;
            state.backlog.truncate(keep);
            self.add_farewell(&mut state, Farewell::TooSlow);
            self.settle(&mut state);
            let claim = self.claim(&mut state);
            drop(state);
            self.stop_reading();
            return (claim, Later(None), Err(Overflow));
        }
        if state.backlog.capacity() == 0 {
            state.backlog.reserve(MIN_BUFFER_BYTES.max(len));
        }
        encode(&mut state.backlog);
        let over_budget = self.settle(&mut state);
        let (claim, deferred) = if later {
            (Claim(None), self.defer(&mut state))
        } else {
            (self.claim(&mut state), Later(None))
        };
        drop(state);
        if over_budget {
            self.budget.shed();
        }
        (claim, deferred, Ok(()))
    }

    /// Charges the budget with what changed since the last settle; says
    /// whether the total is now over it. What an outbox holds is charged in
    /// whole [`CHARGE_UNIT`]s, rounded down: a client that keeps up holds
    /// less than one and never touches the shared counter.
    fn settle(&self, state: &mut State) -> bool {
        let held = (state.backlog.len() + state.in_flight) / CHARGE_UNIT * CHARGE_UNIT;
        let charged = std::mem::replace(&mut state.charged, held);
        self.budget
            .charge(held.saturating_sub(charged), charged.saturating_sub(held))
    }

    /// What dropping this client would free: its backlog, queued and being
    /// written; nothing if it is ending already.
    pub(super) fn droppable(&self) -> usize {
        let state = self.lock();
        match state.farewell {
            Some(_) => 0,
            None => state.backlog.len() + state.in_flight,
        }
    }

    /// Drops the client to bring the output budget back within bounds: its
    /// backlog is discarded and its socket shut at once (a blocked write
    /// ends), so the session leaves as if it were too slow, which it is.
    pub(super) fn shed(&self) {
        let mut state = self.lock();
        if state.farewell.is_some() {
            return;
        }
        state.backlog = Vec::new();
        state.unsent_rest = 0;
        // The writer's bytes are freed as its write fails, a moment from now.
        state.in_flight = 0;
        self.set_farewell(&mut state, Farewell::TooSlow);
        self.settle(&mut state);
        METRICS.output_shed.inc();
        if matches!(state.writing, Writing::Idle | Writing::Deferred) {
            self.finish(&mut state);
        } else {
            // Whoever writes it sees the socket fail and finishes it.
            let _ = self.stream.shutdown(Shutdown::Both);
        }
    }

    /// Ends the connection: what is queued goes out, then the farewell, then the
    /// socket is shut down. Only the first farewell counts.
    pub fn close(self: &Arc<Self>, farewell: Farewell) -> Claim {
        let mut state = self.lock();
        if state.farewell.is_some() {
            return Claim(None);
        }
        self.add_farewell(&mut state, farewell);
        self.claim(&mut state)
    }

    fn add_farewell(&self, state: &mut State, farewell: Farewell) {
        self.set_farewell(state, farewell);
        self.codec.encode_farewell(farewell, &mut state.backlog);
    }

    /// Marks the connection as ending, for good.
    fn set_farewell(&self, state: &mut State, farewell: Farewell) {
        state.farewell = Some(farewell);
        self.closing.store(true, Ordering::Release);
    }

    /// Takes the claim on an idle outbox that has something to do: bytes to
    /// write, or a farewell (even a silent one) to finish the connection with.
    /// A deferred outbox counts as idle here: its lines go out now, with
    /// these.
    fn claim(self: &Arc<Self>, state: &mut State) -> Claim {
        let work = !state.backlog.is_empty() || state.farewell.is_some();
        let free = matches!(state.writing, Writing::Idle | Writing::Deferred);
        if free && work && !state.finished {
            state.writing = Writing::Claimed;
            Claim(Some(Arc::clone(self)))
        } else {
            Claim(None)
        }
    }

    /// Defers an idle outbox that has lines to write, for the sweeper.
    fn defer(self: &Arc<Self>, state: &mut State) -> Later {
        if state.writing == Writing::Idle && !state.backlog.is_empty() && !state.finished {
            state.writing = Writing::Deferred;
            Later(Some(Arc::clone(self)))
        } else {
            Later(None)
        }
    }

    /// The sweeper's turn (or, with no sweeper, at once): writes a deferred
    /// outbox out, unless a line that may not wait has claimed it meanwhile.
    /// Returns how many bytes it sent.
    pub(crate) fn flush_deferred(self: &Arc<Self>) -> usize {
        let mut state = self.lock();
        if state.writing != Writing::Deferred {
            return 0;
        }
        state.writing = Writing::Claimed;
        drop(state);
        self.flush()
    }

    /// Shuts the read side of the socket, which wakes the connection's session
    /// (blocked reading) so that the user leaves now.
    pub fn stop_reading(&self) {
        let _ = self.stream.shutdown(Shutdown::Read);
    }

    /// The farewell, once the connection is ending.
    pub fn farewell(&self) -> Option<Farewell> {
        self.lock().farewell
    }

    /// Whether the connection is ending (it has its farewell): cheap enough
    /// to ask before every line. A client dropped (as too slow, or because
    /// its socket failed) is done: nothing it still sends may be handled.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Waits until the farewell is written (or the peer is gone) and no writer
    /// thread is writing any more (one may still be returning), so a session
    /// does not end while its connection is still being written. A client
    /// still taking its last bytes slowly gets a little longer than a write may
    /// stall; then the socket is shut down, which ends any write at once.
    pub fn wait_finished(&self) {
        let busy = |state: &mut State| !state.finished || state.writing == Writing::Writer;
        let mut state = self.lock();
        for patience in [self.stall_limit + Duration::from_secs(1), GIVE_UP_WAIT] {
            state = sync::wait_timeout_while(&self.finished, state, patience, busy).0;
            self.finish(&mut state);
        }
    }

    /// Writes the backlog out without ever blocking; called by the thread that
    /// claimed the outbox. A full socket hands the rest to a writer thread, and
    /// so does a backlog that others keep refilling: the claiming thread has
    /// its own client to get back to.
    /// Returns how many bytes it sent (for the metrics, which the caller
    /// adds up once for all it flushed).
    pub(crate) fn flush(self: &Arc<Self>) -> usize {
        let mut state = self.lock();
        let mut total = 0;
        for round in 1.. {
            if state.backlog.is_empty() {
                self.go_idle(&mut state);
                return total;
            }
            if round == MAX_FLUSH_ROUNDS + 1 {
                state.writing = Writing::Writer;
                drop(state);
                if self.spawn_writer() {
                    return total;
                }
                // No thread to hand it to: this client keeps up, so carry on
                // here rather than drop it.
                state = self.lock();
                state.writing = Writing::Claimed;
            }
            let out = take_backlog(&mut state);
            drop(state);
            self.pass_gate();
            let sent = sys::send_nonblocking(&self.stream, &out);
            state = self.lock();
            state.in_flight = 0;
            if let Ok(n) = sent {
                total += n;
            }
            match sent {
                Ok(n) if n == out.len() => self.recycle(&mut state, out),
                Ok(n) => {
                    self.start_writer(state, out, n);
                    return total;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.start_writer(state, out, 0);
                    return total;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    self.put_back(&mut state, out, 0)
                }
                Err(_) => {
                    self.peer_gone(&mut state);
                    return total;
                }
            }
        }
        total
    }

    fn pass_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.wait();
        }
    }

    /// The socket is full: puts the unsent rest back in front and hands the
    /// outbox to a writer thread, or drops the client if none can start.
    fn start_writer(self: &Arc<Self>, mut state: MutexGuard<'_, State>, out: Vec<u8>, sent: usize) {
        self.put_back(&mut state, out, sent);
        // From here until the writer gives the outbox back, nobody else writes.
        state.writing = Writing::Writer;
        drop(state);
        if !self.spawn_writer() {
            self.drop_too_slow(&mut self.lock());
        }
    }

    /// Starts a writer thread for an outbox in `Writing::Writer`; says whether
    /// one started. Detached: a thread that is never joined would keep its
    /// stack mapped after it ends; `writing` says whether it still runs.
    fn spawn_writer(self: &Arc<Self>) -> bool {
        let outbox = Arc::clone(self);
        self.threads
            .spawn_reserved("chat-writer", move || outbox.run_writer())
            .is_ok()
    }

    /// The writer thread: blocking writes until the backlog is empty, then it
    /// gives the outbox back and ends.
    fn run_writer(&self) {
        let mut state = self.lock();
        loop {
            if state.backlog.is_empty() {
                return self.go_idle(&mut state);
            }
            let out = take_backlog(&mut state);
            drop(state);
            self.pass_gate();
            let written = (&*self.stream).write_all(&out);
            state = self.lock();
            state.in_flight = 0;
            match written {
                Ok(()) => {
                    METRICS.bytes_out.add(out.len() as u64);
                    self.recycle(&mut state, out);
                }
                Err(err) if is_timeout(&err) => return self.drop_too_slow(&mut state),
                Err(_) => return self.peer_gone(&mut state),
            }
        }
    }

    /// Nothing left to write: the outbox is free to be claimed again, and a
    /// connection whose farewell has gone out is finished.
    fn go_idle(&self, state: &mut State) {
        self.settle(state);
        state.writing = Writing::Idle;
        if state.farewell.is_some() {
            if state.finished {
                // A writer leaving after the end: news for `wait_finished`.
                self.finished.notify_all();
            } else {
                self.finish(state);
            }
        }
    }

    /// The client cannot keep up (or no thread could wait for it): drops it
    /// without waiting any longer.
    fn drop_too_slow(&self, state: &mut State) {
        if state.farewell.is_none() {
            self.set_farewell(state, Farewell::TooSlow);
        }
        self.peer_gone(state);
    }

    /// The socket failed (or is given up on): nothing more can be sent.
    fn peer_gone(&self, state: &mut State) {
        state.backlog = Vec::new();
        state.unsent_rest = 0;
        if state.farewell.is_none() {
            self.set_farewell(state, Farewell::Silent);
        }
        self.go_idle(state);
    }

    fn finish(&self, state: &mut State) {
        if !state.finished {
            state.finished = true;
            // Ends the session too, if it is still reading.
            let _ = self.stream.shutdown(Shutdown::Both);
            self.finished.notify_all();
        }
    }
}

/// Takes the whole backlog out for writing; it stays counted as in flight.
fn take_backlog(state: &mut State) -> Vec<u8> {
    let out = std::mem::take(&mut state.backlog);
    state.unsent_rest = 0;
    state.in_flight = out.len();
    out
}

impl Outbox {
    /// Puts what a write left unsent back in front of the backlog.
    fn put_back(&self, state: &mut State, mut out: Vec<u8>, sent: usize) {
        out.drain(..sent);
        state.unsent_rest = out.len();
        out.extend_from_slice(&state.backlog);
        state.backlog = out;
        self.settle(state);
    }

    /// Reuses a written-out buffer as the backlog if nothing new arrived and
    /// it is small; otherwise it is freed. What was written is no longer
    /// charged.
    fn recycle(&self, state: &mut State, mut out: Vec<u8>) {
        if state.backlog.is_empty() && out.capacity() <= MIN_BUFFER_BYTES {
            out.clear();
            state.backlog = out;
        }
        self.settle(state);
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        self.budget.charge(0, state.charged);
    }
}

#[cfg(test)]
pub(crate) mod tests;
