//! The connection: a **reader thread** shows what the server sends and keeps
//! the heartbeat, and a **stdin thread** sends what the user types, so messages
//! keep arriving while the user is typing. The little they share (is the user
//! logged in yet, which `WHO` and `/ping` answers are awaited, has the user
//! asked to leave) lives in one mutex-guarded [`State`].

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use chat::protocol::{self, sanitize, Command, ErrorCode, ServerLine};
use chat::{LineReader, Next};

use crate::display::{
    describe_error, display, display_unknown, farewell, online_line, round_trip, Clock, Style,
};
use crate::heartbeat::{Beat, Heartbeat};
use crate::input::{interpret, name_from_prompt, Input, CLIENT_HELP};
use crate::Options;

/// The longest line accepted from the server or from the keyboard. Far above
/// anything the server sends (a 4 KiB message plus a name) and a bound on memory.
const MAX_LINE: usize = 64 * 1024;

/// How long connecting may take before the client gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// After `QUIT`, the client leaves once the server has been silent this long
/// without saying `BYE`. Every line that arrives restarts the wait, so a long
/// backlog of answers is never cut short.
const QUIT_PATIENCE: Duration = Duration::from_secs(5);

/// At most this many names of a `WHO` answer are kept for the `*** online` line;
/// the rest are counted.
const MAX_LISTED: usize = 1000;

/// At most this many `/ping`s are timed at once; older ones are forgotten.
const MAX_PINGS: usize = 16;

/// How a session ended; the binary turns it into an exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user left (end of input, `/quit`, `QUIT`): exit 0.
    Left,
    /// The server closed the connection; the `BYE` reason if it gave one.
    Disconnected(Option<String>),
    /// The server stopped answering.
    Lost,
    /// The session could not start (no connection, no thread): the sentence to print.
    Failed(String),
}

impl Outcome {
    /// The process exit status: 0 only when the user chose to leave.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Left => 0,
            _ => 1,
        }
    }

    /// The line to print on standard error, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            Outcome::Left => None,
            Outcome::Disconnected(reason) => Some(farewell(reason.as_deref())),
            Outcome::Lost => Some("connection lost".into()),
            Outcome::Failed(why) => Some(why.clone()),
        }
    }
}

/// Connects, talks until the session ends, and says how it ended. `input` is
/// what the user types (standard input), `output` where the chat is shown.
pub fn run(
    options: &Options,
    style: Style,
    input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
) -> Outcome {
    let stream = match connect(&options.host, options.port) {
        Ok(stream) => stream,
        Err(why) => return Outcome::Failed(why),
    };
    let writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(err) => return Outcome::Failed(format!("cannot use the connection: {err}")),
    };
    // A server that stops reading must not block the stdin thread forever.
    let _ = writer.set_write_timeout(Some(2 * options.heartbeat));
    let phase = match (&options.name, options.raw) {
        (_, true) => Phase::Chatting,
        (Some(_), false) => Phase::LoggingIn,
        (None, false) => Phase::AskingName,
    };
    let link = Arc::new(Link {
        writer: Mutex::new(writer),
        screen: Mutex::new(Box::new(output)),
        style,
        raw: options.raw,
        state: Mutex::new(State::new(phase, options.name.clone().unwrap_or_default())),
        changed: Condvar::new(),
    });
    match &options.name {
        Some(name) => link.send(&format!("LOGIN {name}")),
        None if !options.raw => link.prompt(),
        None => {}
    }
    let typing = Arc::clone(&link);
    let reading = Arc::clone(&link);
    let heartbeat = options.heartbeat;
    let outcome = spawn("chat-stdin", move || typing.type_lines(input))
        .and_then(|_| {
            spawn("chat-reader", move || {
                reading.read_server(stream, heartbeat)
            })
        })
        .and_then(|reader| reader.join().map_err(|_| Outcome::Lost));
    link.end();
    // The stdin thread may be blocked reading the keyboard: it ends with the process.
    outcome.unwrap_or_else(|failure| failure)
}

/// Starts a named thread of the client, or says why it could not.
fn spawn<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<thread::JoinHandle<T>, Outcome> {
    thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|err| Outcome::Failed(format!("cannot start a thread: {err}")))
}

/// Opens the connection, or explains in one line why not:
/// `cannot connect to 127.0.0.1:4000: connection refused`.
fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
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

/// Where the login stands; the stdin thread reads a name or a chat line accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The next typed line is a name.
    AskingName,
    /// `LOGIN` sent, answer awaited: typed lines wait, since the next one is a
    /// name again if this one is refused.
    LoggingIn,
    Chatting,
    /// The session is over.
    Over,
}

/// What the two threads share.
struct State {
    phase: Phase,
    /// The name last sent with `LOGIN`, for the welcome line.
    name: String,
    /// The last token number used for `who-` and `rtt-` pings.
    tokens: u64,
    /// `/who` answers awaited (their `USER` lines are gathered).
    who_awaited: usize,
    who_listed: Vec<String>,
    who_unlisted: usize,
    /// `/ping`s awaited: token number and when it was sent.
    pings: VecDeque<(u64, Instant)>,
    /// The user asked to leave.
    quitting: bool,
}

impl State {
    fn new(phase: Phase, name: String) -> State {
        State {
            phase,
            name,
            tokens: 0,
            who_awaited: 0,
            who_listed: Vec::new(),
            who_unlisted: 0,
            pings: VecDeque::new(),
            quitting: false,
        }
    }

    fn next_token(&mut self) -> u64 {
        self.tokens += 1;
        self.tokens
    }
}

/// The connection as both threads see it. Locks are taken in the order
/// state, then screen or writer, never the other way round.
struct Link {
    writer: Mutex<TcpStream>,
    screen: Mutex<Box<dyn Write + Send>>,
    style: Style,
    raw: bool,
    state: Mutex<State>,
    changed: Condvar,
}

/// A lock whose holder panicked still guards consistent data here (every
/// update is a single assignment), so the client carries on.
fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Link {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sends one protocol line. A failure shows up on the reader's side as a
    /// closed connection, which is where it is reported.
    fn send(&self, line: &str) {
        let _ = lock(&self.writer).write_all(format!("{line}\n").as_bytes());
    }

    /// Shows one line. A closed standard output is no reason to stop chatting.
    fn show(&self, line: &str) {
        let mut screen = lock(&self.screen);
        let _ = writeln!(screen, "{line}");
        let _ = screen.flush();
    }

    fn notice(&self, text: &str) {
        self.show(&self.style.notice(text));
    }

    fn prompt(&self) {
        let mut screen = lock(&self.screen);
        let _ = write!(screen, "Enter your username: ");
        let _ = screen.flush();
    }

    /// The session is over: wake the stdin thread if it waits for a login.
    fn end(&self) {
        self.state().phase = Phase::Over;
        self.changed.notify_all();
    }

    // -- the stdin thread

    /// Reads typed lines until the end of input, then leaves.
    fn type_lines(&self, input: impl Read) {
        let mut lines = LineReader::new(input, MAX_LINE);
        loop {
            let typed = match lines.read_next() {
                Ok(Next::Line(bytes)) => match std::str::from_utf8(bytes) {
                    Ok(text) => text.to_string(),
                    Err(_) => {
                        self.notice("that line is not UTF-8 text; it was not sent");
                        continue;
                    }
                },
                Ok(Next::TooLong) => {
                    self.notice(&format!(
                        "that line is over {MAX_LINE} bytes; it was not sent"
                    ));
                    continue;
                }
                Ok(Next::Reply(_)) => continue,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Ok(Next::Closed) | Err(_) => break,
            };
            if !self.act_on(&typed) {
                return;
            }
        }
        if self.settled_phase() != Phase::Over {
            self.quit();
        }
    }

    /// Waits until a pending login is answered, and returns the phase then.
    fn settled_phase(&self) -> Phase {
        let mut state = self.state();
        while state.phase == Phase::LoggingIn {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.phase
    }

    /// Does what a typed line asks; false once there is nothing more to type
    /// (the session is over, or the user asked to leave).
    fn act_on(&self, typed: &str) -> bool {
        match self.settled_phase() {
            Phase::Over => return false,
            Phase::AskingName => {
                let name = name_from_prompt(typed);
                if name.is_empty() {
                    self.prompt();
                } else {
                    let mut state = self.state();
                    state.phase = Phase::LoggingIn;
                    state.name = name.to_string();
                    drop(state);
                    self.send(&format!("LOGIN {name}"));
                }
            }
            Phase::LoggingIn | Phase::Chatting if self.raw => {
                if protocol::parse(typed) == Command::Quit {
                    self.state().quitting = true;
                }
                self.send(typed);
            }
            Phase::LoggingIn | Phase::Chatting => self.act(interpret(typed)),
        }
        !self.state().quitting
    }

    fn act(&self, input: Input) {
        match input {
            Input::Nothing => {}
            Input::Send(line) => self.send(&line),
            Input::Who => {
                let token = {
                    let mut state = self.state();
                    state.who_awaited += 1;
                    state.next_token()
                };
                self.send(&format!("WHO\nPING who-{token}"));
            }
            Input::Ping => {
                let token = {
                    let mut state = self.state();
                    let token = state.next_token();
                    if state.pings.len() == MAX_PINGS {
                        state.pings.pop_front();
                    }
                    state.pings.push_back((token, Instant::now()));
                    token
                };
                self.send(&format!("PING rtt-{token}"));
            }
            Input::Quit => self.quit(),
            Input::Help => CLIENT_HELP.iter().for_each(|line| self.notice(line)),
            Input::Mistake(why) => self.notice(&why),
        }
    }

    fn quit(&self) {
        self.state().quitting = true;
        self.send("QUIT");
    }

    // -- the reader thread

    /// Shows what the server sends and keeps the heartbeat, until the end.
    fn read_server(&self, stream: TcpStream, interval: Duration) -> Outcome {
        let mut heartbeat = Heartbeat::new(interval, Instant::now());
        // Set once the user asked to leave: when to stop waiting for `BYE`.
        let mut leave_by: Option<Instant> = None;
        let mut lines = LineReader::new(stream, MAX_LINE);
        loop {
            let now = Instant::now();
            if leave_by.is_none() && self.state().quitting {
                leave_by = Some(now + QUIT_PATIENCE);
            }
            let wake = leave_by.map_or(heartbeat.next_due(), |at| at.min(heartbeat.next_due()));
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            // Waking at least every second notices `quitting`, set by the other thread.
            let wait = wait.min(Duration::from_secs(1));
            let _ = lines.get_mut().set_read_timeout(Some(wait));
            match lines.read_next() {
                Ok(Next::Line(bytes)) => {
                    let line = String::from_utf8_lossy(bytes).into_owned();
                    if leave_by.is_some() {
                        leave_by = Some(Instant::now() + QUIT_PATIENCE);
                    }
                    if let Some(outcome) = self.on_server_line(&line, &mut heartbeat) {
                        return outcome;
                    }
                }
                Ok(Next::TooLong) => self.notice("skipped a line too long to show"),
                Ok(Next::Reply(_)) => {}
                Ok(Next::Closed) => return self.closed(None),
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return self.closed(None),
            }
            let now = Instant::now();
            if leave_by.is_some_and(|at| now >= at) {
                return Outcome::Left;
            }
            match heartbeat.beat(now) {
                Beat::Nothing => {}
                Beat::Ping(n) => self.send(&format!("PING hb-{n}")),
                Beat::Lost if self.state().quitting => return Outcome::Left,
                Beat::Lost => return Outcome::Lost,
            }
        }
    }

    /// The connection closed (after `BYE <reason>` or without one).
    fn closed(&self, reason: Option<&str>) -> Outcome {
        if self.state().quitting {
            Outcome::Left
        } else {
            Outcome::Disconnected(reason.map(str::to_string))
        }
    }

    /// Handles one server line; `Some` when it ends the session.
    fn on_server_line(&self, line: &str, heartbeat: &mut Heartbeat) -> Option<Outcome> {
        // A server behind something that ends lines with CRLF is still understood;
        // raw mode shows the CR all the same, as it shows everything.
        let text = line.strip_suffix('\r').unwrap_or(line);
        let incoming = ServerLine::parse(text);
        if let Some(ServerLine::Pong(Some(token))) = incoming {
            if token.starts_with("hb-") {
                heartbeat.answered();
                return None;
            }
        }
        match incoming {
            _ if self.raw => self.show(&sanitize(line)),
            Some(incoming) => self.show_incoming(&incoming),
            None => self.show(&display_unknown(text, self.style)),
        }
        match incoming {
            Some(ServerLine::Bye(reason)) => Some(self.closed(reason)),
            _ => None,
        }
    }

    fn show_incoming(&self, incoming: &ServerLine<'_>) {
        let mut state = self.state();
        match *incoming {
            ServerLine::Ok if state.phase == Phase::LoggingIn => {
                state.phase = Phase::Chatting;
                self.changed.notify_all();
                let name = self.style.name(&state.name);
                self.notice(&format!("logged in as {name}; type /help for the commands"));
            }
            ServerLine::Err(code @ (ErrorCode::UsernameTaken | ErrorCode::InvalidUsername))
                if state.phase == Phase::LoggingIn =>
            {
                state.phase = Phase::AskingName;
                self.changed.notify_all();
                self.notice(describe_error(code));
                self.prompt();
            }
            ServerLine::User(name) if state.who_awaited > 0 => {
                if state.who_listed.len() < MAX_LISTED {
                    state.who_listed.push(name.to_string());
                } else {
                    state.who_unlisted += 1;
                }
            }
            ServerLine::Pong(Some(token)) if token.starts_with("who-") && state.who_awaited > 0 => {
                state.who_awaited -= 1;
                let listed = std::mem::take(&mut state.who_listed);
                let unlisted = std::mem::take(&mut state.who_unlisted);
                self.show(&online_line(&listed, unlisted, self.style));
            }
            ServerLine::Pong(Some(token)) if token.starts_with("rtt-") => {
                let number = token
                    .strip_prefix("rtt-")
                    .and_then(|n| n.parse::<u64>().ok());
                let timed = state
                    .pings
                    .iter()
                    .position(|(n, _)| Some(*n) == number)
                    .and_then(|i| state.pings.remove(i));
                match timed {
                    Some((_, sent)) => self.notice(&round_trip(sent.elapsed())),
                    // Typed by hand: shown as it came.
                    None => self.show(&display(incoming, Clock::now(), self.style)),
                }
            }
            // The end of the session is reported once, by the caller.
            ServerLine::Bye(_) => {}
            _ => self.show(&display(incoming, Clock::now(), self.style)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_exit_codes() {
        assert_eq!(Outcome::Left.exit_code(), 0);
        assert_eq!(Outcome::Left.message(), None);
        assert_eq!(Outcome::Lost.exit_code(), 1);
        assert_eq!(Outcome::Lost.message().as_deref(), Some("connection lost"));
        let kicked = Outcome::Disconnected(Some("idle-timeout".into()));
        assert_eq!(kicked.exit_code(), 1);
        assert_eq!(
            kicked.message().as_deref(),
            Some("disconnected by server (idle-timeout)")
        );
        assert_eq!(
            Outcome::Disconnected(None).message().as_deref(),
            Some("disconnected by server")
        );
    }
}
