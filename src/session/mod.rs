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
//! ended it (QUIT, end of stream, reset, idle timeout, flooding, being
//! dropped as too slow, or being taken over by `AUTH` elsewhere).

mod accounts;
mod departure;
mod dispatch;
mod flood;
mod throttle;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::delivery::{Claims, Codec, Gate, Helpers, Outbox, OutputBudget};
use crate::hub::{Hub, Me};
use crate::protocol::{self, Command, ErrorCode, ServerLine, Username};
use crate::support::deadline::is_timeout;
use crate::support::log::Log;
use crate::support::metrics::METRICS;
use crate::support::netaddr;
use crate::support::threads::ThreadBudget;
use departure::Departure;
use flood::{FloodGuard, Verdict};

pub use flood::RateLimit;
pub use throttle::Throttle;

/// Everything a connection's thread needs from the server: the hub, the log,
/// the threads it may start, and the limits that apply to every client.
pub struct Context {
    pub hub: Hub,
    pub log: Log,
    /// Every connection thread (sessions, writers for full sockets, fan-out
    /// helpers) starts within this budget.
    pub threads: Arc<ThreadBudget>,
    /// Threads that share the writing out of big broadcasts.
    pub helpers: Arc<Helpers>,
    pub limits: Limits,
    /// What every outbox waits on before sending (the history's `fsync`
    /// with `--fsync always`).
    pub gate: Option<Arc<dyn Gate>>,
    /// Password attempts and writes, per name and address, for everybody.
    pub throttle: Throttle,
    /// What all outboxes together may hold (`--max-output`), and the list
    /// of them all.
    pub budget: Arc<OutputBudget>,
}

/// The per-client limits, as configured.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No line for this long (login or not) and the client is dropped.
    pub idle_timeout: Duration,
    /// Longest accepted line (or WebSocket message) in bytes.
    pub max_line: usize,
    /// Bytes waiting to be sent to one client before it is dropped as too slow.
    pub max_backlog: usize,
    /// How long one write may make no progress before the client is dropped.
    pub write_stall_limit: Duration,
    /// No login this long after connecting and the client is dropped.
    pub login_timeout: Duration,
    /// Per-client flood limit; `None` means unlimited.
    pub max_rate: Option<RateLimit>,
    /// PBKDF2 rounds of each new password record.
    pub pbkdf2_iterations: u32,
    /// Whether the flood limit applies to loopback peers too.
    pub rate_loopback: bool,
}

impl Context {
    /// A fresh outbox for a connection, framed by its front's `codec`.
    pub fn outbox(&self, stream: &Arc<TcpStream>, codec: Box<dyn Codec>) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::new(
            Arc::clone(stream),
            codec,
            self.limits.max_backlog,
            self.limits.write_stall_limit,
            Arc::clone(&self.threads),
            self.gate.clone(),
            Arc::clone(&self.budget),
        ));
        // Made as the server stops: it says goodbye at once (the claims
        // write it out as they are dropped).
        if let Some(farewell) = self.budget.register(&outbox) {
            self.claims().close(&outbox, farewell);
        }
        outbox
    }

    /// The claims list for one connection thread.
    pub fn claims(&self) -> Claims {
        Claims::shared_with(Arc::clone(&self.helpers))
    }
}

/// What a front's reader has for the session next.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// One line (or WebSocket text message), not yet checked for UTF-8.
    Line(&'a [u8]),
    /// A line over the limit; the front skips the rest of it.
    TooLong,
    /// Transport bytes to send back as they are (one telnet refusal); not
    /// activity, but it counts against the flood limit like a line.
    Reply(Vec<u8>),
    /// The peer showed it is there without a line (a WebSocket ping or pong);
    /// the bytes (a pong, maybe none) go back as they are. Counts against the
    /// flood limit like a line.
    Alive(Vec<u8>),
    /// The peer closed its side.
    Closed,
    /// The peer broke its front's framing rules; the code is the front's own.
    Violation(u16),
    /// A line of a front that speaks another protocol (IRC), already
    /// translated into the command it means: it is checked and dispatched
    /// like a parsed line (flood limit, login, errors as `ERR` lines, which
    /// the front's codec words its own way).
    Command(Command<'a>),
    /// A line the front understood and answered itself (IRC's `CAP`,
    /// `MODE`, `WHOIS`…): it counts against the flood limit like any line,
    /// and the answer (maybe none) goes back as it is.
    Answered(Vec<u8>),
}

/// A session reading a burst defers its flush point only while it has queued
/// less than this for its recipients (all of them together): a burst to a
/// hundred clients goes out in a few `send`s to each, while one to ten
/// thousand (a megabyte per few lines) is flushed as before, so backlogs do
/// not grow by the burst times the audience.
pub const DEFER_BELOW: usize = 1 << 20;

/// Where a session reads from: a front's reader over the client's socket,
/// which applies the idle deadline.
pub trait Inbound {
    /// The next event. `before_wait` runs each time the reader is about to
    /// wait for the client (read from its socket): the session's flush point.
    /// A reader that knows more of a burst is ready may read it first, without
    /// the flush, while `may_defer` says so: the session has not queued much
    /// for others yet (see [`DEFER_BELOW`]).
    fn next_event(
        &mut self,
        before_wait: &mut dyn FnMut(),
        may_defer: &dyn Fn() -> bool,
    ) -> io::Result<Event<'_>>;
    /// The client showed activity: it has another full idle timeout.
    fn reset_idle(&mut self);
    /// Sets (or lifts) a deadline that activity does not move (see
    /// [`IdleDeadline::cap`](crate::support::deadline::IdleDeadline::cap)).
    fn cap_deadline(&mut self, at: Option<Instant>);
}

/// Runs a connection to its end: reads and dispatches its client's lines,
/// then leaves and waits (boundedly) for its farewell to be written.
pub fn serve(context: &Context, peer: SocketAddr, outbox: Arc<Outbox>, input: &mut impl Inbound) {
    let mut session = Session::new(context, peer, Arc::clone(&outbox));
    let departure = session.run(input);
    session.finish(departure);
    outbox.wait_finished();
}

/// What to do after a line.
enum Flow {
    Continue,
    End(Departure),
}

/// The state of one connection: who it is (once logged in) and its limits.
struct Session<'a> {
    context: &'a Context,
    peer: SocketAddr,
    outbox: Arc<Outbox>,
    /// What this thread has queued and must write out (see [`Outbox`]).
    claims: Claims,
    name: Option<Username>,
    /// Whether `name` is registered and this session came by it rightly
    /// (`AUTH`, or its own `REGISTER`).
    holds_registered: bool,
    flood: Option<FloodGuard>,
    /// When a client not logged in by then is dropped; `None` once it has.
    login_deadline: Option<Instant>,
}

impl<'a> Session<'a> {
    fn new(context: &'a Context, peer: SocketAddr, outbox: Arc<Outbox>) -> Session<'a> {
        let limits = &context.limits;
        let now = Instant::now();
        // Local bots and tools are not throttled unless the operator says so.
        let flood = limits
            .max_rate
            .filter(|_| limits.rate_loopback || !netaddr::is_loopback(peer.ip()))
            .map(|limit| FloodGuard::new(limit, now));
        Session {
            context,
            peer,
            outbox,
            claims: context.claims(),
            name: None,
            holds_registered: false,
            flood,
            login_deadline: Some(now + limits.login_timeout),
        }
    }

    /// Reads and handles lines until the connection ends, and says why it did.
    ///
    /// **The flush point.** Whatever this thread queued (its replies, and the
    /// broadcasts it made) it writes out just before its reader waits for the
    /// client: a burst of lines from one read costs one `send` per recipient.
    fn run(&mut self, input: &mut impl Inbound) -> Departure {
        input.cap_deadline(self.login_deadline);
        loop {
            let claims = &self.claims;
            let event = input.next_event(&mut || claims.flush(), &|| claims.queued() < DEFER_BELOW);
            // Dropped meanwhile (too slow, or its socket failed): the user has
            // left, so nothing its client still sends is handled, neither
            // lines read already nor bytes still queued in the socket (a shut
            // read side returns those). `finish` takes the cause from the
            // farewell.
            if self.outbox.is_closing() {
                return Departure::Closed;
            }
            let flow = match event {
                Ok(Event::Line(bytes)) => self.handle_line(bytes),
                Ok(Event::TooLong) => self.refuse_line(ErrorCode::LineTooLong),
                // Transport bytes to send back; not a line, so not activity,
                // but answering costs like a line does.
                Ok(Event::Reply(bytes)) => match self.admit_answer() {
                    Ok(()) => {
                        self.claims.push_raw(&self.outbox, &bytes);
                        continue;
                    }
                    Err(Flow::Continue) => continue,
                    Err(flow) => flow,
                },
                Ok(Event::Alive(bytes)) => match self.admit_answer() {
                    Ok(()) => {
                        if !bytes.is_empty() {
                            self.claims.push_raw(&self.outbox, &bytes);
                        }
                        Flow::Continue
                    }
                    Err(flow) => flow,
                },
                Ok(Event::Command(command)) => match self.admit_line() {
                    Ok(()) => self.handle_command(command),
                    Err(flow) => flow,
                },
                Ok(Event::Answered(bytes)) => match self.admit_line() {
                    Ok(()) => {
                        self.claims.push_raw(&self.outbox, &bytes);
                        Flow::Continue
                    }
                    Err(flow) => flow,
                },
                Ok(Event::Closed) => Flow::End(Departure::Closed),
                Ok(Event::Violation(status)) => Flow::End(Departure::WebSocketViolation(status)),
                Err(err) if is_timeout(&err) => Flow::End(self.timed_out()),
                Err(err) => Flow::End(Departure::Failed(err.kind())),
            };
            match flow {
                Flow::Continue => {
                    if self.name.is_some() && self.login_deadline.take().is_some() {
                        input.cap_deadline(None);
                    }
                    input.reset_idle();
                }
                Flow::End(departure) => return departure,
            }
        }
    }

    /// Which deadline passed: the login deadline (for a client not logged
    /// in by then), or the idle timeout.
    fn timed_out(&self) -> Departure {
        match self.login_deadline {
            Some(deadline) if self.name.is_none() && Instant::now() >= deadline => {
                Departure::LoginTimeout
            }
            _ => Departure::IdleTimeout,
        }
    }

    fn reply(&self, line: ServerLine<'_>) {
        self.catch_up();
        self.claims.push_line(&self.outbox, line);
    }

    /// Queues a block of lines for our own client (an overflow means it is not
    /// reading and is being dropped already; `finish` says so).
    fn reply_lines(&self, lines: &[u8]) {
        self.catch_up();
        let _ = self.claims.push(&self.outbox, lines);
    }

    /// What the flood limit says about one more thing to handle.
    fn flood_verdict(&mut self) -> Verdict {
        match self.flood.as_mut() {
            Some(flood) => flood.check(Instant::now()),
            None => Verdict::Allow,
        }
    }

    /// On a node of a cluster, a reply comes after what the session's earlier
    /// commands caused (its echo): see [`Hub::catch_up`].
    fn catch_up(&self) {
        if let Some(name) = &self.name {
            let outbox = &self.outbox;
            self.context.hub.catch_up(Me { name, outbox });
        }
    }

    /// Applies the flood limit to one incoming line.
    fn admit_line(&mut self) -> Result<(), Flow> {
        match self.flood_verdict() {
            Verdict::Allow => Ok(()),
            Verdict::Refuse => {
                self.reply(ServerLine::Err(ErrorCode::RateLimited));
                Err(Flow::Continue)
            }
            Verdict::Disconnect => Err(Flow::End(Departure::Flooding)),
        }
    }

    /// Applies the flood limit to something answered without a line (a
    /// WebSocket ping, a telnet option request): a refused one goes
    /// unanswered, so a ping flood costs like a line flood and ends the same.
    fn admit_answer(&mut self) -> Result<(), Flow> {
        match self.flood_verdict() {
            Verdict::Allow => Ok(()),
            Verdict::Refuse => Err(Flow::Continue),
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
        self.handle_command(protocol::parse(line))
    }

    /// Carries out one admitted command, answering a refusal with `ERR`.
    fn handle_command(&mut self, command: Command<'_>) -> Flow {
        if self.name.is_none() && command.needs_login() {
            self.reply(ServerLine::Err(ErrorCode::NotLoggedIn));
            return Flow::Continue;
        }
        let message = matches!(command, Command::Msg(..) | Command::Dm(..));
        match self.dispatch(command) {
            Ok(flow) => {
                if message {
                    METRICS.messages.inc();
                }
                flow
            }
            Err(code) => {
                self.reply(ServerLine::Err(code));
                Flow::Continue
            }
        }
    }

    fn login(&mut self, requested: &str) -> Result<(), ErrorCode> {
        if self.name.is_some() {
            return Err(ErrorCode::AlreadyLoggedIn);
        }
        let name = Username::parse(requested)?;
        self.context.hub.login(&name, &self.outbox, &self.claims)?;
        // Deliver the join notices before logging: writing the log can block
        // (a full stderr pipe), and everybody's lines would wait behind this
        // thread's claims meanwhile.
        self.claims.flush();
        self.context
            .log
            .event(Some(self.peer), format_args!("login {name}"));
        self.name = Some(name);
        Ok(())
    }

    /// Leaves the hub (announcing the departure once), queues the
    /// farewell, writes out what is queued, and logs why the connection ended.
    fn finish(self, departure: Departure) {
        // A client dropped as too slow shows up here as a closed stream; the
        // farewell says why.
        let departure = self
            .outbox
            .farewell()
            .and_then(Departure::from_farewell)
            .unwrap_or(departure);
        if let Some(name) = &self.name {
            let outbox = &self.outbox;
            self.context.hub.leave(Me { name, outbox }, &self.claims);
        }
        self.claims.close(&self.outbox, departure.farewell());
        self.claims.flush();
        METRICS.departures.inc(departure.reason());
        let who = self
            .name
            .as_ref()
            .map_or("(not logged in)", Username::as_str);
        self.context.log.event(
            Some(self.peer),
            format_args!("left {who}: {}", departure.describe()),
        );
    }
}
