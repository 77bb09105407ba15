//! The connection and the one event loop that drives a [`Session`]: `poll`
//! on the server's socket, the input and a wake-up pipe (signals, a finished
//! reconnection attempt), and the deadlines in between.
//!
//! The rules kept: nothing here blocks on the server. The socket is
//! non-blocking both ways, what is to be sent waits in a bounded buffer, and
//! each wake-up reads a bounded amount, so a server that floods, trickles a
//! line that never ends, or stops reading cannot take the keyboard away from
//! the user. Connecting again happens on a short-lived thread, so even a
//! connection attempt that hangs leaves `/quit` working.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use chat::support::sys::{self, PollFd};
use chat::{LineReader, Next};

use crate::backoff::Backoff;
use crate::display::Style;
use crate::session::{Action, Outcome, Session};

/// The longest line accepted from the server. Far above anything the server
/// sends (a 4 KiB message plus a name) and a bound on memory.
const MAX_LINE: usize = 64 * 1024;

/// How long connecting may take before the attempt gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What waits to be sent is bounded: a server that has not read this much
/// has stopped reading, and the connection counts as lost.
const MAX_OUTGOING: usize = 1 << 20;

/// A script's input is not read further while this much waits to be sent.
const INPUT_HIGH_WATER: usize = 64 * 1024;

/// Reads from the server per wake-up, so that typing is never starved.
const SERVER_READS: usize = 64;

/// The longest the loop sleeps: it looks at its deadlines at least this often.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The user's side of the loop: line mode or the terminal.
pub trait Front {
    /// Shows one line.
    fn show(&mut self, line: &str);
    /// Asks for a name.
    fn ask_name(&mut self);
    fn bell(&mut self);
    /// The descriptor typed input comes from, if input is read now.
    fn input(&self, session: &Session) -> Option<RawFd>;
    /// Hands what was typed to the session; `readable` says whether `poll`
    /// found input waiting (a front may also have some buffered).
    fn read_input(&mut self, session: &mut Session, readable: bool, now: Instant);
    /// The wake-up pipe was written to (a signal, perhaps).
    fn woken(&mut self, session: &mut Session, now: Instant);
    /// The front's own next deadline.
    fn deadline(&self) -> Option<Instant>;
    fn tick(&mut self, now: Instant);
    /// End of a loop turn: redraw and flush what changed.
    fn refresh(&mut self, session: &Session);
}

/// The pipe that wakes the loop: signal handlers and the connecting thread
/// write a byte to it.
pub struct Waker {
    read: UnixStream,
    write: UnixStream,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(Waker { read, write })
    }

    /// The end signal handlers write to.
    pub fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// A reader that reads at most `left` times until given more: so that a
/// [`LineReader`] hands back what it has instead of waiting for more, which
/// could block (a script's standard input) or never end (a flooding server).
pub struct Budget<R> {
    inner: R,
    left: usize,
}

impl<R> Budget<R> {
    pub fn new(inner: R) -> Budget<R> {
        Budget { inner, left: 0 }
    }

    pub fn allow(&mut self, reads: usize) {
        self.left = reads;
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.left -= 1;
        self.inner.read(buf)
    }
}

/// Standard input as a file of its own (a duplicate of descriptor 0), read
/// without `std`'s buffer, so that `poll` sees everything that waits.
pub fn stdin_file() -> io::Result<File> {
    use std::os::fd::AsFd;
    Ok(File::from(io::stdin().as_fd().try_clone_to_owned()?))
}

/// One connection to the server.
struct Connection {
    lines: LineReader<Budget<TcpStream>>,
    writer: TcpStream,
    outgoing: Vec<u8>,
}

/// What reading the server gave.
enum Got {
    More,
    Closed,
}

impl Connection {
    fn new(stream: TcpStream) -> io::Result<Connection> {
        stream.set_nonblocking(true)?;
        let writer = stream.try_clone()?;
        Ok(Connection {
            lines: LineReader::new(Budget::new(stream), MAX_LINE),
            writer,
            outgoing: Vec::new(),
        })
    }

    fn fd(&self) -> RawFd {
        self.writer.as_raw_fd()
    }

    /// Queues a line; false when the server has stopped reading.
    fn queue(&mut self, line: &str) -> bool {
        if self.outgoing.len() + line.len() + 1 > MAX_OUTGOING {
            return false;
        }
        self.outgoing.extend_from_slice(line.as_bytes());
        self.outgoing.push(b'\n');
        true
    }

    /// Writes what the socket takes now; false when the connection failed.
    fn flush(&mut self) -> bool {
        while !self.outgoing.is_empty() {
            match self.writer.write(&self.outgoing) {
                Ok(0) => return false,
                Ok(n) => {
                    self.outgoing.drain(..n);
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        true
    }

    /// Hands the lines that arrived to `session`.
    fn read(&mut self, session: &mut Session, now: Instant) -> Got {
        self.lines.get_mut().allow(SERVER_READS);
        loop {
            match self.lines.read_next() {
                Ok(Next::Line(bytes)) => {
                    let line = String::from_utf8_lossy(bytes).into_owned();
                    session.server_line(&line, now);
                }
                Ok(Next::TooLong) => session.skipped_long_line(),
                Ok(Next::Reply(_)) => {}
                Ok(Next::Closed) => return Got::Closed,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Got::More,
                Err(_) => return Got::Closed,
            }
        }
    }
}

/// Opens the connection, or explains in one line why not:
/// `cannot connect to 127.0.0.1:4000: connection refused`.
pub fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let fail = |err: io::Error| {
        // OS errors read best as their kind ("connection refused"); the others
        // (a name that does not resolve) carry their own message.
        let why = match err.raw_os_error() {
            Some(_) => err.kind().to_string(),
            None => err.to_string(),
        };
        format!("cannot connect to {target}: {why}")
    };
    let mut last_error = io::Error::new(ErrorKind::NotFound, "no address found");
    for addr in (host, port).to_socket_addrs().map_err(fail)? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(err) => last_error = err,
        }
    }
    Err(fail(last_error))
}

/// Where to connect again.
pub struct Target {
    pub host: String,
    pub port: u16,
}

/// What one connection attempt gave.
type Attempt = Result<TcpStream, String>;

/// The loop's state between turns.
struct Driver<'a, F: Front> {
    front: &'a mut F,
    session: Session,
    style: Style,
    target: Target,
    waker: Waker,
    conn: Option<Connection>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    attempts: (Sender<Attempt>, Receiver<Attempt>),
    connecting: bool,
}

/// Runs `session` over `stream` (and the connections after it) with `front`
/// until the session ends, and says how.
pub fn run<F: Front>(
    front: &mut F,
    mut session: Session,
    style: Style,
    target: Target,
    waker: Waker,
    stream: TcpStream,
) -> Outcome {
    let conn = match Connection::new(stream) {
        Ok(conn) => conn,
        Err(err) => return Outcome::Failed(format!("cannot use the connection: {err}")),
    };
    session.connected(Instant::now());
    let mut driver = Driver {
        front,
        session,
        style,
        target,
        waker,
        conn: Some(conn),
        backoff: Backoff::new(),
        retry_at: None,
        attempts: mpsc::channel(),
        connecting: false,
    };
    loop {
        if let Some(outcome) = driver.apply() {
            // Best effort for a `QUIT` still waiting to go out.
            if let Some(conn) = &mut driver.conn {
                conn.flush();
            }
            return outcome;
        }
        driver.turn();
    }
}

impl<F: Front> Driver<'_, F> {
    /// Carries out the session's actions; `Some` once it is over.
    fn apply(&mut self) -> Option<Outcome> {
        loop {
            let actions = self.session.take_actions();
            if actions.is_empty() {
                break;
            }
            for action in actions {
                match action {
                    Action::Send(line) => {
                        let queued = self.conn.as_mut().is_some_and(|conn| conn.queue(&line));
                        if !queued && self.conn.take().is_some() {
                            self.session.closed(Instant::now());
                        }
                    }
                    Action::Show(line) => self.front.show(&line),
                    Action::AskName => self.front.ask_name(),
                    Action::Bell => self.front.bell(),
                    Action::Online => self.backoff.reset(),
                    Action::Reconnect(why) => {
                        self.conn = None;
                        self.schedule(&why);
                    }
                    Action::Exit(outcome) => return Some(outcome),
                }
            }
        }
        if let Some(conn) = &mut self.conn {
            if !conn.flush() {
                self.conn = None;
                self.session.closed(Instant::now());
                return self.apply();
            }
        }
        self.front.refresh(&self.session);
        None
    }

    fn schedule(&mut self, why: &str) {
        let delay = self.backoff.next_delay();
        self.retry_at = Some(Instant::now() + delay);
        let notice = format!(
            "{why}; connecting again in {:.1} s (/quit leaves)",
            delay.as_secs_f64()
        );
        self.front.show(&self.style.notice(&notice));
    }

    /// One wait for something to happen, and handling it.
    fn turn(&mut self) {
        let deadline = [
            self.session.next_deadline(),
            self.front.deadline(),
            self.retry_at.filter(|_| !self.connecting),
        ]
        .into_iter()
        .flatten()
        .min();
        let now = Instant::now();
        let sleep = deadline.map_or(MAX_SLEEP, |at| at.saturating_duration_since(now));
        let sleep_ms = sleep.min(MAX_SLEEP).as_millis();
        // Round up, so that a deadline 0.4 ms away is not a busy loop.
        let timeout = i32::try_from(sleep_ms)
            .unwrap_or(1000)
            .max(i32::from(!sleep.is_zero()));

        let mut fds = vec![PollFd::new(self.waker.read.as_raw_fd(), false)];
        let socket = self.conn.as_ref().map(|conn| {
            fds.push(PollFd::new(conn.fd(), !conn.outgoing.is_empty()));
            fds.len() - 1
        });
        let backlog_ok = self
            .conn
            .as_ref()
            .is_none_or(|conn| conn.outgoing.len() < INPUT_HIGH_WATER);
        let input = self
            .front
            .input(&self.session)
            .filter(|_| backlog_ok)
            .map(|fd| {
                fds.push(PollFd::new(fd, false));
                fds.len() - 1
            });
        // A signal cuts the wait short: what it did is looked at below.
        let _ = sys::poll(&mut fds, timeout);
        let now = Instant::now();
        let ready = |index: Option<usize>, f: fn(&PollFd) -> bool| {
            index.and_then(|i| fds.get(i)).is_some_and(f)
        };

        if fds.first().is_some_and(PollFd::readable) {
            self.waker.drain();
            self.front.woken(&mut self.session, now);
        }
        if let Ok(attempt) = self.attempts.1.try_recv() {
            self.connecting = false;
            self.attempted(attempt, now);
        }
        if ready(socket, PollFd::readable) {
            if let Some(conn) = &mut self.conn {
                if let Got::Closed = conn.read(&mut self.session, now) {
                    self.conn = None;
                    self.session.closed(now);
                }
            }
        }
        if ready(socket, PollFd::writable) {
            if let Some(conn) = &mut self.conn {
                if !conn.flush() {
                    self.conn = None;
                    self.session.closed(now);
                }
            }
        }
        // Asked again: the server's answer may just have made the session
        // want input, and the front may have some buffered already.
        if backlog_ok && self.front.input(&self.session).is_some() {
            self.front
                .read_input(&mut self.session, ready(input, PollFd::readable), now);
        }
        if !self.connecting && self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
            self.attempt();
        }
        self.front.tick(now);
        self.session.tick(now);
    }

    /// Starts one connection attempt on a thread of its own.
    fn attempt(&mut self) {
        let host = self.target.host.clone();
        let port = self.target.port;
        let results = self.attempts.0.clone();
        let wake = self.waker.write.try_clone();
        let started = thread::Builder::new()
            .name("chat-connect".into())
            .spawn(move || {
                let _ = results.send(connect(&host, port));
                if let Ok(mut wake) = wake {
                    let _ = wake.write(&[1]);
                }
            });
        match started {
            Ok(_) => self.connecting = true,
            Err(err) => self.schedule(&format!("cannot start a thread: {err}")),
        }
    }

    fn attempted(&mut self, attempt: Attempt, now: Instant) {
        match attempt.and_then(|stream| {
            Connection::new(stream).map_err(|err| format!("cannot use the connection: {err}"))
        }) {
            Ok(conn) => {
                self.conn = Some(conn);
                self.session.connected(now);
            }
            Err(why) => self.schedule(&why),
        }
    }
}
