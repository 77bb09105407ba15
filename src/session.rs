//! One connection's life, on its own reader thread: read lines within the
//! limits, enforce the idle timeout and the flood limit, dispatch each command,
//! and leave cleanly however the connection ends.
//!
//! Replies, like everybody's lines, go through the connection's [`Outbox`].
//! What the session queues (its replies, and the broadcasts it makes) it
//! writes out itself, without blocking, each time before it waits for its
//! client again: so a burst of lines from one read costs one write per
//! recipient, and a session can always go on reading, even while its client is
//! slow to read. The user's departure is announced exactly once, whatever
//! ended it (QUIT, end of stream, reset, idle timeout, flooding, or being
//! dropped as too slow).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::flush::Flushes;
use crate::lines::{LineReader, Next};
use crate::outbox::{Farewell, Framing, Outbox};
use crate::protocol::{self, Command, ErrorCode, ServerLine, Username, HELP_TEXT};
use crate::ratelimit::{FloodGuard, Verdict};
use crate::server::Shared;
use crate::websocket::{self, Event, MessageReader, Opcode};

/// Why a connection ended; it decides the farewell and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    Quit,
    Closed,
    IdleTimeout,
    Flooding,
    TooSlow,
    /// A WebSocket client broke the framing rules; the close status says which.
    WebSocketViolation(u16),
    Failed(io::ErrorKind),
}

impl Departure {
    fn farewell(self) -> Farewell {
        match self {
            Departure::Quit => Farewell::bye(None),
            Departure::IdleTimeout => Farewell::bye(Some("idle-timeout")),
            Departure::Flooding => Farewell::bye(Some("flooding")),
            Departure::TooSlow => Farewell::TOO_SLOW,
            Departure::WebSocketViolation(status) => Farewell::silent(status),
            Departure::Closed | Departure::Failed(_) => Farewell::silent(websocket::NORMAL),
        }
    }

    fn describe(self) -> String {
        match self {
            Departure::Quit => "quit".into(),
            Departure::Closed => "closed".into(),
            Departure::IdleTimeout => "idle-timeout".into(),
            Departure::Flooding => "flooding".into(),
            Departure::TooSlow => "too-slow".into(),
            Departure::WebSocketViolation(status) => {
                format!("websocket protocol violation (close {status})")
            }
            Departure::Failed(kind) => format!("error: {kind}"),
        }
    }
}

/// Refuses a connection with a one-line `BYE <reason>` without ever blocking the
/// caller (the accept loop): the socket is fresh, so the line fits in its buffer.
pub fn refuse(stream: &TcpStream, reason: &'static str) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write_all(&ServerLine::Bye(Some(reason)).to_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

/// Runs a line-protocol connection to its end: reads and dispatches lines, then
/// leaves and waits (boundedly) for its farewell to be written.
pub fn serve_lines(stream: Arc<TcpStream>, peer: SocketAddr, shared: &Shared) {
    serve(stream, peer, shared, Framing::Lines, |idle, _, _| {
        LineReader::new(idle, shared.config.max_line)
    });
}

/// Runs a WebSocket connection (handshake done) to its end, like [`serve_lines`].
pub fn serve_websocket(stream: Arc<TcpStream>, peer: SocketAddr, shared: &Shared) {
    serve(
        stream,
        peer,
        shared,
        Framing::WebSocket,
        |idle, outbox, flushes| WebSocketInbound {
            reader: MessageReader::new(idle, shared.config.max_line),
            outbox,
            flushes,
            peer_seen: false,
        },
    );
}

fn serve<I: Inbound>(
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    shared: &Shared,
    framing: Framing,
    make_input: impl FnOnce(IdleDeadline, Arc<Outbox>, Rc<Flushes>) -> I,
) {
    let outbox = Arc::new(Outbox::new(
        Arc::clone(&stream),
        framing,
        shared.config.max_backlog,
        shared.config.write_stall_limit,
        Arc::clone(&shared.threads),
    ));
    let flushes = Rc::new(Flushes::shared_with(Arc::clone(&shared.helpers)));
    let idle = IdleDeadline::new(Arc::clone(&stream), shared.config.idle_timeout)
        .flushing(Rc::clone(&flushes));
    let mut input = make_input(idle, Arc::clone(&outbox), Rc::clone(&flushes));
    let mut session = Session::new(shared, peer, Arc::clone(&outbox), flushes);
    let departure = session.run(&mut input);
    session.finish(departure);
    outbox.wait_finished();
}

/// A reader that fails with `TimedOut` once no line has arrived for the idle
/// timeout, however the bytes trickle in. In a session, before it waits for
/// the client, it writes out what the session's thread has queued (its
/// [`Flushes`]).
///
/// The socket's read timeout applies to each `read` call, not to a line, so it
/// is re-armed to the time left whenever it would overshoot the deadline by
/// more than a little slack. A busy connection (lines arriving within the
/// slack) therefore costs no extra system calls.
pub struct IdleDeadline {
    stream: Arc<TcpStream>,
    timeout: Duration,
    deadline: Instant,
    /// The read timeout currently set on the socket.
    armed: Duration,
    flushes: Option<Rc<Flushes>>,
}

impl IdleDeadline {
    pub fn new(stream: Arc<TcpStream>, timeout: Duration) -> IdleDeadline {
        let _ = stream.set_read_timeout(Some(timeout));
        IdleDeadline {
            stream,
            timeout,
            deadline: Instant::now() + timeout,
            armed: timeout,
            flushes: None,
        }
    }

    /// Flushes `flushes` before every wait for the client.
    pub fn flushing(self, flushes: Rc<Flushes>) -> IdleDeadline {
        IdleDeadline {
            flushes: Some(flushes),
            ..self
        }
    }

    /// A line arrived: the client has another full timeout.
    pub fn reset(&mut self) {
        self.deadline = Instant::now() + self.timeout;
    }

    fn slack(&self) -> Duration {
        (self.timeout / 10).min(Duration::from_secs(1))
    }

    fn arm(&mut self, left: Duration) {
        let left = left.max(Duration::from_millis(1));
        if self.stream.set_read_timeout(Some(left)).is_ok() {
            self.armed = left;
        }
    }
}

impl Read for IdleDeadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(flushes) = &self.flushes {
            flushes.flush();
        }
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            if self.armed > left + self.slack() {
                self.arm(left);
            }
            match (&*self.stream).read(buf) {
                // Armed for less than the time left (the deadline moved on):
                // re-arm and read again.
                Err(err) if is_timeout(&err) => {
                    let left = self.deadline.saturating_duration_since(Instant::now());
                    if !left.is_zero() {
                        self.arm(left);
                    }
                }
                result => return result,
            }
        }
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Where a session reads from. The session resets the idle deadline after
/// every line; anything else that shows the peer is there (a WebSocket ping)
/// is the transport's to count, since only it knows. Telnet's option
/// negotiation is not a line and does not count.
pub trait Inbound {
    fn read_next(&mut self) -> io::Result<Next<'_>>;
    fn reset_idle(&mut self);
}

impl Inbound for LineReader<IdleDeadline> {
    fn read_next(&mut self) -> io::Result<Next<'_>> {
        LineReader::read_next(self)
    }

    fn reset_idle(&mut self) {
        self.get_mut().reset();
    }
}

/// A WebSocket client's messages as lines; a broken frame ends the
/// connection with the close status the reader chose.
struct WebSocketInbound {
    reader: MessageReader<IdleDeadline>,
    outbox: Arc<Outbox>,
    flushes: Rc<Flushes>,
    /// A ping or pong arrived: the idle deadline restarts before the next read.
    peer_seen: bool,
}

impl Inbound for WebSocketInbound {
    fn read_next(&mut self) -> io::Result<Next<'_>> {
        if std::mem::take(&mut self.peer_seen) {
            self.reader.get_mut().reset();
        }
        Ok(match self.reader.read_next()? {
            Event::Text(text) => Next::Line(text.as_bytes()),
            // A browser's ping or pong shows it is there, like a line does.
            Event::Ping(payload) => {
                let mut pong = Vec::new();
                websocket::encode_frame(Opcode::Pong, payload, &mut pong);
                self.peer_seen = true;
                Next::Reply(pong)
            }
            Event::Pong => {
                self.peer_seen = true;
                Next::Reply(Vec::new())
            }
            Event::Close(_) | Event::Ended => Next::Closed,
            Event::Violation(status) => {
                // The first farewell wins: the session's own (silent, 1000) comes second.
                self.outbox.close(Farewell::silent(status), &self.flushes);
                Next::Closed
            }
        })
    }

    fn reset_idle(&mut self) {
        self.reader.get_mut().reset();
    }
}

/// What to do after a line.
enum Flow {
    Continue,
    End(Departure),
}

/// The state of one connection: who it is (once logged in) and its limits.
pub struct Session<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    outbox: Arc<Outbox>,
    /// What this thread has queued and must write out (see [`Outbox`]).
    flushes: Rc<Flushes>,
    name: Option<Username>,
    flood: Option<FloodGuard>,
}

impl<'a> Session<'a> {
    pub fn new(
        shared: &'a Shared,
        peer: SocketAddr,
        outbox: Arc<Outbox>,
        flushes: Rc<Flushes>,
    ) -> Session<'a> {
        let flood = shared
            .config
            .max_rate
            .map(|limit| FloodGuard::new(limit, Instant::now()));
        Session {
            shared,
            peer,
            outbox,
            flushes,
            name: None,
            flood,
        }
    }

    /// Reads and handles lines until the connection ends, and says why it did.
    pub fn run(&mut self, input: &mut impl Inbound) -> Departure {
        loop {
            let flow = match input.read_next() {
                Ok(Next::Line(bytes)) => self.handle_line(bytes),
                Ok(Next::TooLong) => self.refuse_line(ErrorCode::LineTooLong),
                // Transport bytes to send back; not a line, so not activity.
                Ok(Next::Reply(bytes)) => {
                    if !bytes.is_empty() {
                        self.outbox.push_raw(&bytes, &self.flushes);
                    }
                    continue;
                }
                Ok(Next::Closed) => Flow::End(Departure::Closed),
                Err(err) if is_timeout(&err) => Flow::End(Departure::IdleTimeout),
                Err(err) => Flow::End(Departure::Failed(err.kind())),
            };
            match flow {
                Flow::Continue => input.reset_idle(),
                Flow::End(departure) => return departure,
            }
        }
    }

    fn reply(&self, line: ServerLine<'_>) {
        self.outbox.push_line(line, &self.flushes);
    }

    /// Queues a block of lines for our own client (an overflow means it is not
    /// reading and is being dropped already; `finish` says so).
    fn reply_lines(&self, lines: &[u8]) {
        let _ = self.outbox.push(lines, &self.flushes);
    }

    /// Applies the flood limit to one incoming line.
    fn admit_line(&mut self) -> Result<(), Flow> {
        let Some(flood) = self.flood.as_mut() else {
            return Ok(());
        };
        match flood.check(Instant::now()) {
            Verdict::Allow => Ok(()),
            Verdict::Refuse => {
                self.reply(ServerLine::Err(ErrorCode::RateLimited));
                Err(Flow::Continue)
            }
            Verdict::Disconnect => Err(Flow::End(Departure::Flooding)),
        }
    }

    fn refuse_line(&mut self, code: ErrorCode) -> Flow {
        if let Err(flow) = self.admit_line() {
            return flow;
        }
        self.reply(ServerLine::Err(code));
        Flow::Continue
    }

    fn handle_line(&mut self, bytes: &[u8]) -> Flow {
        if let Err(flow) = self.admit_line() {
            return flow;
        }
        let Ok(line) = std::str::from_utf8(bytes) else {
            self.reply(ServerLine::Err(ErrorCode::InvalidUtf8));
            return Flow::Continue;
        };
        let command = protocol::parse(line);
        if self.name.is_none() && command.needs_login() {
            self.reply(ServerLine::Err(ErrorCode::NotLoggedIn));
            return Flow::Continue;
        }
        let name = self.name.as_ref();
        match command {
            Command::Empty => {}
            Command::Login(requested) => self.login(requested),
            Command::Msg(text) => match name {
                Some(name) if !text.is_empty() => {
                    let text = protocol::sanitize(text);
                    self.shared
                        .registry
                        .broadcast_msg(name, &text, &self.flushes);
                }
                _ => self.reply(ServerLine::Err(ErrorCode::EmptyMessage)),
            },
            Command::Dm(target) => match (name, target) {
                (Some(name), Some((to, text))) => {
                    let text = protocol::sanitize(text);
                    let sent = self
                        .shared
                        .registry
                        .direct_message(name, to, &text, &self.flushes);
                    if let Err(code) = sent {
                        self.reply(ServerLine::Err(code));
                    }
                }
                _ => self.reply(ServerLine::Err(ErrorCode::InvalidDm)),
            },
            Command::Who => {
                self.reply_lines(&self.shared.registry.who());
            }
            Command::Ping(token) => {
                let token = token.map(protocol::sanitize);
                self.reply(ServerLine::Pong(token.as_deref()));
            }
            Command::Quit => return Flow::End(Departure::Quit),
            Command::Help => {
                let mut help = Vec::new();
                for text in HELP_TEXT {
                    ServerLine::Info(text).encode(&mut help);
                }
                self.reply_lines(&help);
            }
            Command::Unknown => self.reply(ServerLine::Err(ErrorCode::UnknownCommand)),
        }
        Flow::Continue
    }

    fn login(&mut self, requested: &str) {
        if self.name.is_some() {
            return self.reply(ServerLine::Err(ErrorCode::AlreadyLoggedIn));
        }
        let name = match Username::parse(requested) {
            Ok(name) => name,
            Err(code) => return self.reply(ServerLine::Err(code)),
        };
        match self
            .shared
            .registry
            .login(&name, &self.outbox, &self.flushes)
        {
            Ok(()) => {
                // Deliver the join notices before logging: writing the log can
                // block (a full stderr pipe), and everybody's lines would wait
                // behind this thread's claims meanwhile.
                self.flushes.flush();
                self.shared
                    .log
                    .event(Some(self.peer), format_args!("login {name}"));
                self.name = Some(name);
            }
            Err(code) => self.reply(ServerLine::Err(code)),
        }
    }

    /// Leaves the registry (announcing the departure once), queues the
    /// farewell, writes out what is queued, and logs why the connection ended.
    pub fn finish(self, departure: Departure) {
        // A client dropped as too slow, or a WebSocket client that broke the
        // rules, shows up here as a closed stream; the farewell says which.
        let departure = match self.outbox.farewell() {
            Some(farewell) if farewell == Farewell::TOO_SLOW => Departure::TooSlow,
            Some(Farewell {
                line: None,
                ws_status,
            }) if ws_status != websocket::NORMAL => Departure::WebSocketViolation(ws_status),
            _ => departure,
        };
        if let Some(name) = &self.name {
            self.shared
                .registry
                .leave(name, &self.outbox, &self.flushes);
        }
        self.outbox.close(departure.farewell(), &self.flushes);
        self.flushes.flush();
        let who = self
            .name
            .as_ref()
            .map_or("(not logged in)", Username::as_str);
        self.shared.log.event(
            Some(self.peer),
            format_args!("left {who}: {}", departure.describe()),
        );
    }
}
