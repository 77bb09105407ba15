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

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::protocol::ServerLine;
use crate::support::deadline::is_timeout;
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

/// After a flush the outbox keeps its buffer only if it is this small: after a
/// burst it gives the memory back, so ten thousand idle connections stay small.
const KEEP_BUFFER_BYTES: usize = 1024;

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

#[cfg(test)]
impl Claim {
    /// Writes the claimed outbox out now; the outbox's own tests do without
    /// a [`Claims`](super::Claims).
    pub fn flush(self) {
        if let Some(outbox) = self.0 {
            outbox.flush();
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
}

impl Outbox {
    /// An outbox holding at most `limit` bytes for `stream`, starting its writer
    /// threads (when the socket is full) within `threads`; a write that makes
    /// no progress for `stall_limit` drops the client.
    pub fn new(
        stream: Arc<TcpStream>,
        codec: Box<dyn Codec>,
        limit: usize,
        stall_limit: Duration,
        threads: Arc<ThreadBudget>,
        gate: Option<Arc<dyn Gate>>,
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
            }),
            closing: AtomicBool::new(false),
            finished: Condvar::new(),
            limit,
            stall_limit,
            codec,
            stream,
            threads,
            gate,
        }
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
        self.append(|out| self.codec.encode_lines(lines, out), lines.len())
    }

    /// Appends transport bytes to be written exactly as they are (a telnet
    /// refusal, a WebSocket pong).
    pub fn push_raw(self: &Arc<Self>, bytes: &[u8]) -> Claim {
        self.append(|out| out.extend_from_slice(bytes), bytes.len())
            .0
    }

    /// Appends `len` bytes (before framing) written by `encode`.
    fn append(
        self: &Arc<Self>,
        encode: impl FnOnce(&mut Vec<u8>),
        len: usize,
    ) -> (Claim, Result<(), Overflow>) {
        let mut state = self.lock();
        if state.farewell.is_some() {
            return (Claim(None), Ok(()));
        }
        if state.in_flight + state.backlog.len() + len > self.limit {
            let keep = state.unsent_rest;
            state.backlog.truncate(keep);
            self.add_farewell(&mut state, Farewell::TooSlow);
            let claim = self.claim(&mut state);
            drop(state);
            self.stop_reading();
            return (claim, Err(Overflow));
        }
        encode(&mut state.backlog);
        (self.claim(&mut state), Ok(()))
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
    fn claim(self: &Arc<Self>, state: &mut State) -> Claim {
        let work = !state.backlog.is_empty() || state.farewell.is_some();
        if state.writing == Writing::Idle && work && !state.finished {
            state.writing = Writing::Claimed;
            Claim(Some(Arc::clone(self)))
        } else {
            Claim(None)
        }
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
    pub(crate) fn flush(self: &Arc<Self>) {
        let mut state = self.lock();
        for round in 1.. {
            if state.backlog.is_empty() {
                return self.go_idle(&mut state);
            }
            if round == MAX_FLUSH_ROUNDS + 1 {
                state.writing = Writing::Writer;
                drop(state);
                if self.spawn_writer() {
                    return;
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
            match sent {
                Ok(n) if n == out.len() => recycle(&mut state, out),
                Ok(n) => return self.start_writer(state, out, n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    return self.start_writer(state, out, 0)
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    put_back(&mut state, out, 0)
                }
                Err(_) => return self.peer_gone(&mut state),
            }
        }
    }

    fn pass_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.wait();
        }
    }

    /// The socket is full: puts the unsent rest back in front and hands the
    /// outbox to a writer thread, or drops the client if none can start.
    fn start_writer(self: &Arc<Self>, mut state: MutexGuard<'_, State>, out: Vec<u8>, sent: usize) {
        put_back(&mut state, out, sent);
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
                Ok(()) => recycle(&mut state, out),
                Err(err) if is_timeout(&err) => return self.drop_too_slow(&mut state),
                Err(_) => return self.peer_gone(&mut state),
            }
        }
    }

    /// Nothing left to write: the outbox is free to be claimed again, and a
    /// connection whose farewell has gone out is finished.
    fn go_idle(&self, state: &mut State) {
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

/// Puts what a write left unsent back in front of the backlog.
fn put_back(state: &mut State, mut out: Vec<u8>, sent: usize) {
    out.drain(..sent);
    state.unsent_rest = out.len();
    out.extend_from_slice(&state.backlog);
    state.backlog = out;
}

/// Reuses a written-out buffer as the backlog if nothing new arrived and it is
/// small; otherwise it is freed.
fn recycle(state: &mut State, mut out: Vec<u8>) {
    if state.backlog.is_empty() && out.capacity() <= KEEP_BUFFER_BYTES {
        out.clear();
        state.backlog = out;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Instant;

    /// The line protocol's framing, as the lines front has it: delivery's
    /// tests stand below the fronts.
    pub(crate) struct PlainLines;

    impl Codec for PlainLines {
        fn encode_lines(&self, lines: &[u8], out: &mut Vec<u8>) {
            out.extend_from_slice(lines);
        }

        fn encode_farewell(&self, farewell: Farewell, out: &mut Vec<u8>) {
            if let Some(line) = farewell.line() {
                line.encode(out);
            }
        }
    }

    /// An outbox on one end of a loopback connection, and the other end.
    pub(crate) fn outbox_and_peer(
        limit: usize,
        threads: &Arc<ThreadBudget>,
    ) -> (Arc<Outbox>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let outbox = Outbox::new(
            Arc::new(ours),
            Box::new(PlainLines),
            limit,
            WRITE_STALL_LIMIT,
            Arc::clone(threads),
            None,
        );
        (Arc::new(outbox), peer)
    }

    /// Numbered lines, 64 KiB in all, so a reader can check order and loss.
    fn block(number: usize) -> Vec<u8> {
        let mut lines = Vec::new();
        let mut line = 0;
        while lines.len() < 64 * 1024 {
            lines
                .extend_from_slice(format!("MSG bench {number:06} {line:06} padding\n").as_bytes());
            line += 1;
        }
        lines
    }

    /// Pushes and flushes blocks while nobody reads, until `full` says the
    /// socket has pushed back; returns what was pushed.
    fn fill(outbox: &Arc<Outbox>, full: impl Fn() -> bool) -> Vec<u8> {
        let mut pushed = Vec::new();
        for number in 0..1024 {
            if full() {
                return pushed;
            }
            let lines = block(number);
            let (claim, appended) = outbox.push(&lines);
            appended.unwrap();
            claim.flush();
            pushed.extend_from_slice(&lines);
        }
        panic!("64 MiB went into the socket without it ever filling up");
    }

    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn nothing_is_written_until_the_claiming_thread_flushes_and_then_all_of_it_in_order() {
        let threads = ThreadBudget::new(0);
        let (outbox, mut peer) = outbox_and_peer(1 << 20, &threads);
        let (claim, pushed) = outbox.push(b"MSG a one\n");
        pushed.unwrap();
        let (again, pushed) = outbox.push(&ServerLine::Pong(Some("two")).to_bytes());
        pushed.unwrap();
        let raw = outbox.push_raw(b"MSG a three\n");
        // The first append claimed the outbox; the others ride along.
        assert!(claim.0.is_some() && again.0.is_none() && raw.0.is_none());
        peer.set_nonblocking(true).unwrap();
        let early = peer.read(&mut [0; 64]).unwrap_err();
        assert_eq!(early.kind(), io::ErrorKind::WouldBlock);
        peer.set_nonblocking(false).unwrap();
        claim.flush();
        outbox.close(Farewell::Bye(None)).flush();
        outbox.wait_finished();
        let mut got = String::new();
        peer.read_to_string(&mut got).unwrap();
        assert_eq!(got, "MSG a one\nPONG two\nMSG a three\nBYE\n");
        // Not a single thread was needed for it.
        assert_eq!(threads.running(), 0);
    }

    #[test]
    fn a_full_socket_gets_a_writer_thread_that_delivers_everything_and_then_ends() {
        let threads = ThreadBudget::new(1);
        let (outbox, mut peer) = outbox_and_peer(64 << 20, &threads);
        let pushed = fill(&outbox, || threads.running() == 1);
        // Lines queued while the writer waits for room go out after the rest.
        let (claim, appended) = outbox.push(b"MSG late line\n");
        appended.unwrap();
        claim.flush();
        let mut got = vec![0; pushed.len()];
        peer.read_exact(&mut got).unwrap();
        assert!(got == pushed, "the bytes arrived altered or out of order");
        let mut late = [0; 14];
        peer.read_exact(&mut late).unwrap();
        assert_eq!(&late, b"MSG late line\n");
        wait_for("the writer thread to end", || threads.running() == 0);
        assert_eq!(outbox.farewell(), None, "the connection is still open");
    }

    #[test]
    fn a_full_socket_with_no_thread_left_drops_the_client_as_too_slow() {
        let threads = ThreadBudget::new(0);
        let (outbox, mut peer) = outbox_and_peer(64 << 20, &threads);
        let pushed = fill(&outbox, || outbox.farewell().is_some());
        assert_eq!(outbox.farewell(), Some(Farewell::TooSlow));
        outbox.wait_finished();
        // What fitted in the socket still arrives, then the connection ends.
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert!(!got.is_empty() && pushed.starts_with(&got));
    }

    #[test]
    fn an_overflowing_backlog_is_replaced_by_bye_too_slow_and_the_session_is_woken() {
        let threads = ThreadBudget::new(0);
        let (outbox, mut peer) = outbox_and_peer(4096, &threads);
        let mut claims = Vec::new();
        let line = [b"MSG bob ".as_slice(), &[b'x'; 100], b"\n"].concat();
        let mut accepted = 0;
        loop {
            let (claim, pushed) = outbox.push(&line);
            claims.push(claim);
            if pushed.is_err() {
                break;
            }
            accepted += 1;
            assert!(accepted < 100, "4 KiB of backlog never overflowed");
        }
        assert_eq!(accepted, 4096 / line.len());
        // Later pushes are dropped quietly.
        let (claim, pushed) = outbox.push(&line);
        assert_eq!(pushed, Ok(()));
        claims.push(claim);
        // Its session, blocked reading, sees the end of its input at once.
        let read = (&*outbox.stream).read(&mut [0; 16]).unwrap();
        assert_eq!(read, 0);
        claims.into_iter().for_each(Claim::flush);
        outbox.wait_finished();
        let mut got = String::new();
        peer.read_to_string(&mut got).unwrap();
        assert_eq!(got, "BYE too-slow\n");
    }
}
