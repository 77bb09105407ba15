//! One connection's outbound queue, and the writer thread that drains it.
//!
//! Nobody but a connection's own writer thread ever writes to its socket. Everyone
//! else (the session answering its own client, another user's broadcast, a DM)
//! only *pushes* onto this queue, which never blocks: that is what lets the
//! registry hold its lock across a whole broadcast without a stalled reader being
//! able to freeze the room.
//!
//! The queue is bounded in bytes (`--max-backlog`). A client that stops reading
//! fills it, and the push that would overflow it instead marks the client as too
//! slow: the queue is discarded, `BYE too-slow` is queued in its place, and the
//! read side is shut down so the session ends and the user leaves at once. The
//! same happens when a single write stays blocked for [`WRITE_STALL_LIMIT`].
//!
//! Broadcast lines are shared (`Arc<[u8]>`, encoded once for all recipients);
//! the writer takes everything queued in one go and sends it with one `write`,
//! framed for its transport ([`Framing`]).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::protocol::ServerLine;
use crate::websocket;

/// How long one write may stay blocked before the client is judged too slow,
/// even if its backlog has not overflowed (NATS uses a similar write deadline).
pub const WRITE_STALL_LIMIT: Duration = Duration::from_secs(10);

/// The writer keeps its batch buffers between writes, but only small ones: after
/// a burst it gives the memory back, so ten thousand idle connections stay small.
const KEEP_WIRE_BYTES: usize = 1024;
const KEEP_BATCH_ITEMS: usize = 16;

/// How a connection ends, from the writer's side: the last line to send (if
/// any) and, for WebSocket clients, the close status that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Farewell {
    pub line: Option<ServerLine<'static>>,
    pub ws_status: u16,
}

impl Farewell {
    /// The farewell for a client dropped because its backlog overflowed.
    pub const TOO_SLOW: Farewell = Farewell {
        line: Some(ServerLine::Bye(Some("too-slow"))),
        ws_status: websocket::POLICY_VIOLATION,
    };

    /// A farewell with a `BYE` line and a normal WebSocket close.
    pub const fn bye(reason: Option<&'static str>) -> Farewell {
        Farewell {
            line: Some(ServerLine::Bye(reason)),
            ws_status: websocket::NORMAL,
        }
    }

    /// A silent farewell: the peer is already gone, or broke the framing rules
    /// (then `ws_status` says which rule).
    pub const fn silent(ws_status: u16) -> Farewell {
        Farewell {
            line: None,
            ws_status,
        }
    }
}

/// How bytes go on the wire for this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The line protocol: lines are sent as they are.
    Lines,
    /// WebSocket: one text frame per line, and a close frame at the end.
    WebSocket,
}

/// Returned by [`Outbox::push`] the one time a push overflows the backlog.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

enum Item {
    /// Protocol lines (one or more, each ending in `\n`), shared between recipients.
    Lines(Arc<[u8]>),
    /// Transport bytes sent exactly as they are (a telnet refusal, a WebSocket pong).
    Raw(Vec<u8>),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Lines(bytes) => bytes.len(),
            Item::Raw(bytes) => bytes.len(),
        }
    }
}

struct State {
    queue: VecDeque<Item>,
    queued_bytes: usize,
    writer_waiting: bool,
    /// Set once the connection is ending; later pushes are dropped.
    farewell: Option<Farewell>,
}

/// The bounded outbound queue of one connection. Shared (`Arc`) between the
/// session, the registry and the writer thread.
pub struct Outbox {
    state: Mutex<State>,
    wake_writer: Condvar,
    limit: usize,
    stream: Arc<TcpStream>,
}

impl Outbox {
    /// A queue holding at most `limit` bytes for `stream`.
    pub fn new(stream: Arc<TcpStream>, limit: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued_bytes: 0,
                writer_waiting: false,
                farewell: None,
            }),
            wake_writer: Condvar::new(),
            limit,
            stream,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding this lock leaves a consistent queue
        // (every update is a single push or swap), so carry on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues shared protocol lines and wakes the writer if it sleeps. Never
    /// blocks. Returns `Err(Overflow)` the one time the backlog overflows (the
    /// client is then being dropped as too slow); pushes to a closing connection
    /// are silently dropped.
    pub fn push(&self, lines: Arc<[u8]>) -> Result<(), Overflow> {
        self.wake_if(self.enqueue(lines)?);
        Ok(())
    }

    /// Queues one protocol line for this connection alone.
    pub fn push_line(&self, line: ServerLine<'_>) -> Result<(), Overflow> {
        self.push(line.to_bytes().into())
    }

    /// Queues transport bytes to be written exactly as they are.
    pub fn push_raw(&self, bytes: Vec<u8>) -> Result<(), Overflow> {
        self.wake_if(self.enqueue_item(Item::Raw(bytes))?);
        Ok(())
    }

    /// Like [`Outbox::push`], but leaves the wake-up to the caller: returns
    /// whether the writer sleeps and must be woken with [`Outbox::wake`]. The
    /// registry uses this to wake writers only after releasing its lock, so a
    /// broadcast holds the lock for in-memory pushes alone.
    pub fn enqueue(&self, lines: Arc<[u8]>) -> Result<bool, Overflow> {
        self.enqueue_item(Item::Lines(lines))
    }

    /// Wakes the writer (see [`Outbox::enqueue`]).
    pub fn wake(&self) {
        self.wake_writer.notify_one();
    }

    fn wake_if(&self, needed: bool) {
        if needed {
            self.wake();
        }
    }

    fn enqueue_item(&self, item: Item) -> Result<bool, Overflow> {
        let mut state = self.lock();
        if state.farewell.is_some() {
            return Ok(false);
        }
        if state.queued_bytes + item.len() > self.limit {
            state.queue.clear();
            state.queued_bytes = 0;
            drop(state);
            self.close(Farewell::TOO_SLOW);
            // Wake the session (blocked in a read) so the user leaves now; the
            // writer may still get `BYE too-slow` out if the client wakes up.
            let _ = self.stream.shutdown(Shutdown::Read);
            return Err(Overflow);
        }
        state.queued_bytes += item.len();
        state.queue.push_back(item);
        // Only the first item after an idle spell needs a wake-up: a busy writer
        // comes back for the rest by itself, and a system call per line would cost.
        Ok(state.writer_waiting && state.queue.len() == 1)
    }

    /// Ends the connection: the writer sends what is queued, then the farewell,
    /// then closes. Only the first farewell counts.
    pub fn close(&self, farewell: Farewell) {
        let mut state = self.lock();
        if state.farewell.is_none() {
            state.farewell = Some(farewell);
            drop(state);
            self.wake();
        }
    }

    /// The farewell, once the connection is ending.
    pub fn farewell(&self) -> Option<Farewell> {
        self.lock().farewell
    }

    /// Waits for work: moves everything queued into `batch` (which must be
    /// empty) and returns `None`, or, once the queue is empty and the connection
    /// is ending, returns the farewell.
    fn take(&self, batch: &mut VecDeque<Item>) -> Option<Farewell> {
        let mut state = self.lock();
        loop {
            if !state.queue.is_empty() {
                std::mem::swap(&mut state.queue, batch);
                state.queued_bytes = 0;
                return None;
            }
            if let Some(farewell) = state.farewell {
                return Some(farewell);
            }
            state.writer_waiting = true;
            state = self
                .wake_writer
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.writer_waiting = false;
        }
    }

    /// The writer thread's whole life: drain, frame, write, until the farewell
    /// or a failed write; then close the socket so the session ends too.
    pub fn run_writer(&self, framing: Framing) {
        let mut batch = VecDeque::new();
        let mut wire = Vec::new();
        let _ = self.stream.set_write_timeout(Some(WRITE_STALL_LIMIT));
        loop {
            let farewell = self.take(&mut batch);
            for item in batch.drain(..) {
                match (item, framing) {
                    (Item::Raw(bytes), _) => wire.extend_from_slice(&bytes),
                    (Item::Lines(lines), Framing::Lines) => wire.extend_from_slice(&lines),
                    (Item::Lines(lines), Framing::WebSocket) => {
                        websocket::encode_lines(&lines, &mut wire)
                    }
                }
            }
            if let Some(farewell) = farewell {
                if let Some(line) = farewell.line {
                    match framing {
                        Framing::Lines => line.encode(&mut wire),
                        Framing::WebSocket => websocket::encode_lines(&line.to_bytes(), &mut wire),
                    }
                }
                if framing == Framing::WebSocket {
                    websocket::encode_close(farewell.ws_status, &mut wire);
                }
                let _ = (&*self.stream).write_all(&wire);
                break;
            }
            if let Err(err) = (&*self.stream).write_all(&wire) {
                if is_stall(&err) {
                    self.close(Farewell::TOO_SLOW);
                }
                break;
            }
            wire.clear();
            if wire.capacity() > KEEP_WIRE_BYTES {
                wire = Vec::new();
            }
            if batch.capacity() > KEEP_BATCH_ITEMS {
                batch = VecDeque::new();
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn is_stall(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
