//! The terminal client behind `chat-client`: what a typed line means, how a
//! server line is shown, and the connection that ties them together.
//!
//! The two translations are pure functions, so they are unit-tested without a
//! socket: [`interpret`] turns what the user typed into an [`Input`] (a protocol
//! line to send, or a local action), and [`ServerLine::parse`] (the protocol's
//! own reading of what the server sent) plus [`display`] or [`display_unknown`]
//! turn a server line into the line a person reads. [`run`] is the connection:
//! a **reader thread** prints what the server sends and keeps the heartbeat, and
//! a **stdin thread** sends what the user types, so messages keep arriving while
//! the user is typing. The little they share (is the user logged in yet, which
//! `WHO` and `/ping` answers are awaited, has the user asked to leave) lives in
//! one mutex-guarded [`State`].
//!
//! Some answers need the client to know where they end. `WHO` has no end marker
//! on the wire, so `/who` sends `WHO` followed by `PING who-<n>`: the server
//! answers in order, so the `PONG` closes the list. The heartbeat and `/ping`
//! use their own token prefixes the same way (`hb-`, `rtt-`), which is how the
//! heartbeat's answers stay hidden while a `/ping` shows its round trip. Leaving
//! sends `QUIT` and waits for the `BYE`: it comes after every answer to what
//! was sent before it, so a script loses no line.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::lines::{LineReader, Next};
use crate::protocol::{self, sanitize, Command, ErrorCode, ServerLine};
use crate::sys;

/// How often an otherwise quiet client pings the server, well inside the
/// server's 60 s idle timeout.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

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

/// Everything `chat-client` can be told on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// Log in at once with this name instead of asking for one.
    pub name: Option<String>,
    /// Send every typed line verbatim and print every server line verbatim.
    pub raw: bool,
    /// How often to ping; a ping unanswered for twice this long means the
    /// connection is lost.
    pub heartbeat: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            host: "127.0.0.1".into(),
            port: 4000,
            name: None,
            raw: false,
            heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

// ---------------------------------------------------------------------------
// What the user typed

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A blank line: nothing to do.
    Nothing,
    /// Send this protocol line (without its `\n`).
    Send(String),
    /// List who is online, gathered into one line.
    Who,
    /// Measure the round trip to the server.
    Ping,
    /// Leave.
    Quit,
    /// Show the client's commands.
    Help,
    /// A mistake, explained without bothering the server.
    Mistake(String),
}

/// Protocol words that, typed in upper case at the start of a line, send the
/// line as it is: people who learned the protocol get what they typed.
const PROTOCOL_WORDS: [&str; 7] = ["LOGIN", "MSG", "DM", "WHO", "PING", "QUIT", "HELP"];

/// What the client's `/help` shows.
pub const CLIENT_HELP: &[&str] = &[
    "commands:",
    "  /who             who is online",
    "  /dm NAME TEXT    a private message (also /msg)",
    "  /ping            the round trip to the server",
    "  /quit            leave (so does Ctrl-D)",
    "  /help            this list",
    "anything else is a message to everybody (start it with // to begin with a /);",
    "a line starting with LOGIN, MSG, DM, WHO, PING, QUIT or HELP is sent as typed",
];

/// Turns one typed line (its `\n` or `\r\n` optional) into what to do.
pub fn interpret(typed: &str) -> Input {
    let line = typed.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Input::Nothing;
    }
    if let Some(command) = line.strip_prefix('/') {
        return if command.starts_with('/') {
            Input::Send(format!("MSG {command}"))
        } else {
            slash_command(command)
        };
    }
    let (word, _) = split_word(line.trim_start());
    match word {
        "WHO" => Input::Who,
        "QUIT" => Input::Quit,
        _ if PROTOCOL_WORDS.contains(&word) => Input::Send(line.trim_start().to_string()),
        _ => Input::Send(format!("MSG {line}")),
    }
}

/// A line that started with `/`, without the slash.
fn slash_command(command: &str) -> Input {
    let (word, rest) = split_word(command);
    match word.to_ascii_lowercase().as_str() {
        "who" => Input::Who,
        "ping" => Input::Ping,
        "quit" => Input::Quit,
        "help" => Input::Help,
        "dm" | "msg" => match split_word(rest) {
            (name, text) if !name.is_empty() && !text.trim().is_empty() => {
                Input::Send(format!("DM {name} {text}"))
            }
            _ => Input::Mistake(format!("usage: /{word} NAME TEXT")),
        },
        _ => Input::Mistake(format!("unknown command /{word}; /help lists the commands")),
    }
}

/// The first space-separated word and the rest, without the spaces between them.
fn split_word(s: &str) -> (&str, &str) {
    match s.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (s, ""),
    }
}

/// The name in a line typed at the `Enter your username:` prompt. Someone who
/// types `LOGIN alice` there means `alice`.
pub fn name_from_prompt(typed: &str) -> &str {
    match protocol::parse(typed) {
        Command::Login(name) => name,
        _ => typed.trim(),
    }
}

// ---------------------------------------------------------------------------
// What the server sent

/// A time of day, as shown in front of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl Clock {
    /// The local time now, or UTC where the local zone cannot be known.
    pub fn now() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let unix = i64::try_from(unix).unwrap_or(i64::MAX);
        match sys::local_time_of_day(unix) {
            Some((hour, minute, second)) => Clock {
                hour,
                minute,
                second,
            },
            None => Clock::utc(unix),
        }
    }

    /// The UTC time of day at `unix` seconds since 1970.
    pub fn utc(unix: i64) -> Clock {
        let of_day = unix.rem_euclid(86_400);
        // All three are below 60 or 24, so the narrowing is exact.
        Clock {
            hour: (of_day / 3600) as u8,
            minute: (of_day / 60 % 60) as u8,
            second: (of_day % 60) as u8,
        }
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// How lines are decorated: colours only for a person at a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

/// ANSI foreground colours for names: six clearly different hues, readable on
/// dark and light backgrounds (the bright variants look too much alike).
const NAME_COLOURS: [u8; 6] = [31, 32, 33, 34, 35, 36];

impl Style {
    /// Colours when standard output is a terminal and `NO_COLOR` is unset or empty.
    pub fn for_stdout() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: io::stdout().is_terminal() && !no_color,
        }
    }

    /// A user name, made harmless and, with colours, always in the same colour.
    fn name(self, name: &str) -> String {
        let name = sanitize(name);
        if !self.colour {
            return name.into_owned();
        }
        // Back to the default colour only, so a notice around the name stays dim.
        format!("\x1b[{}m{name}\x1b[39m", name_colour(&name))
    }

    /// A line from the client itself rather than from a person: `*** text`.
    pub fn notice(self, text: &str) -> String {
        if self.colour {
            format!("\x1b[2m*** {text}\x1b[0m")
        } else {
            format!("*** {text}")
        }
    }
}

/// The colour code of `name`: a hash of its case-folded spelling, so the same
/// person keeps their colour in every session.
pub fn name_colour(name: &str) -> u8 {
    // FNV-1a: tiny and well spread for short strings.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
    });
    NAME_COLOURS[hash as usize % NAME_COLOURS.len()]
}

/// The line a person reads for a server line that needs no context: messages,
/// notices, errors. Everything from the server is made harmless first.
pub fn display(line: &ServerLine<'_>, at: Clock, style: Style) -> String {
    match *line {
        ServerLine::Ok => style.notice("ok"),
        ServerLine::Err(code) => style.notice(describe_error(code)),
        ServerLine::Info(text) => {
            let text = sanitize(text);
            match text.split_once(' ') {
                Some((name, "connected")) => style.notice(&format!("{name} joined")),
                Some((name, "disconnected")) => style.notice(&format!("{name} left")),
                _ => style.notice(&text),
            }
        }
        ServerLine::Msg(from, text) => {
            format!("[{at}] {}: {}", style.name(from), sanitize(text))
        }
        ServerLine::Dm(from, text) => {
            format!("[{at}] (dm) {}: {}", style.name(from), sanitize(text))
        }
        ServerLine::User(name) => style.notice(&format!("online: {}", style.name(name))),
        ServerLine::Pong(None) => style.notice("PONG"),
        ServerLine::Pong(Some(token)) => style.notice(&format!("PONG {}", sanitize(token))),
        ServerLine::Bye(reason) => farewell(reason),
    }
}

/// The line a person reads for a server line that [`ServerLine::parse`] does
/// not know: shown as it came, made harmless.
pub fn display_unknown(line: &str, style: Style) -> String {
    match line.strip_prefix("ERR ") {
        // A code added to the server after this client was built still reads
        // as an error rather than as noise.
        Some(code) => style.notice(&format!("error from the server: {}", sanitize(code))),
        None => style.notice(&format!("server said: {}", sanitize(line))),
    }
}

/// What the client says when the server closed the connection, with the `BYE`
/// reason if it gave one.
pub fn farewell(reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("disconnected by server ({})", sanitize(reason)),
        None => "disconnected by server".into(),
    }
}

/// An `ERR` code as a sentence.
pub fn describe_error(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UsernameTaken => "that name is taken, please choose another",
        ErrorCode::InvalidUsername => "a name is 1 to 32 letters, digits, '_', '.' or '-'",
        ErrorCode::AlreadyLoggedIn => "you are already logged in",
        ErrorCode::EmptyMessage => "an empty message is not sent",
        ErrorCode::UserNotFound => "nobody by that name is online",
        ErrorCode::InvalidDm => "a private message needs a name and a text: /dm NAME TEXT",
        ErrorCode::NotLoggedIn => "log in first",
        ErrorCode::UnknownCommand => "the server does not know that command",
        ErrorCode::LineTooLong => "that line is too long for the server; it was not sent",
        ErrorCode::InvalidUtf8 => "the server only takes UTF-8 text",
        ErrorCode::RateLimited => "too fast: the server dropped that line",
    }
}

/// The `*** online (3): alice, bob, carol` line for a gathered `WHO` answer:
/// `listed` names kept and `unlisted` more counted.
pub fn online_line(listed: &[String], unlisted: usize, style: Style) -> String {
    let names: Vec<String> = listed.iter().map(|name| style.name(name)).collect();
    let mut text = format!("online ({}): {}", listed.len() + unlisted, names.join(", "));
    if unlisted > 0 {
        text.push_str(&format!(" and {unlisted} more"));
    }
    style.notice(&text)
}

/// A round trip as people read it: `0.4 ms`, `12 ms`.
pub fn round_trip(elapsed: Duration) -> String {
    let ms = elapsed.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("pong from the server in {ms:.1} ms")
    } else {
        format!("pong from the server in {ms:.0} ms")
    }
}

// ---------------------------------------------------------------------------
// The heartbeat

/// When to ping and when to give up, kept apart from the socket so that it is
/// tested with plain instants.
#[derive(Debug)]
pub struct Heartbeat {
    interval: Duration,
    next_ping: Instant,
    /// When the ping that is still unanswered was sent.
    waiting_since: Option<Instant>,
    sent: u64,
}

/// What the heartbeat wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Nothing,
    /// Send `PING hb-<n>`.
    Ping(u64),
    /// A ping went unanswered for twice the interval.
    Lost,
}

impl Heartbeat {
    pub fn new(interval: Duration, now: Instant) -> Heartbeat {
        Heartbeat {
            interval,
            next_ping: now + interval,
            waiting_since: None,
            sent: 0,
        }
    }

    /// What to do at `now`. One ping is in flight at a time.
    pub fn beat(&mut self, now: Instant) -> Beat {
        match self.waiting_since {
            Some(since) if now >= since + 2 * self.interval => Beat::Lost,
            Some(_) => Beat::Nothing,
            None if now >= self.next_ping => {
                self.waiting_since = Some(now);
                self.next_ping = now + self.interval;
                self.sent += 1;
                Beat::Ping(self.sent)
            }
            None => Beat::Nothing,
        }
    }

    /// The server answered a heartbeat ping.
    pub fn answered(&mut self) {
        self.waiting_since = None;
    }

    /// When [`Heartbeat::beat`] next has something to do.
    pub fn next_due(&self) -> Instant {
        match self.waiting_since {
            Some(since) => since + 2 * self.interval,
            None => self.next_ping,
        }
    }
}

// ---------------------------------------------------------------------------
// The connection

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

    fn send(line: &str) -> Input {
        Input::Send(line.to_string())
    }

    #[test]
    fn plain_lines_are_messages() {
        assert_eq!(interpret("hello everyone\n"), send("MSG hello everyone"));
        assert_eq!(interpret("héllo\r\n"), send("MSG héllo"));
        assert_eq!(interpret("who"), send("MSG who"));
        assert_eq!(interpret("quit"), send("MSG quit"));
        assert_eq!(
            interpret("Msg lower case is chat"),
            send("MSG Msg lower case is chat")
        );
        assert_eq!(interpret("//etc/passwd"), send("MSG /etc/passwd"));
        assert_eq!(interpret(""), Input::Nothing);
        assert_eq!(interpret("  \t\r\n"), Input::Nothing);
    }

    #[test]
    fn slash_commands() {
        assert_eq!(interpret("/who"), Input::Who);
        assert_eq!(interpret("/WHO\r"), Input::Who);
        assert_eq!(interpret("/ping"), Input::Ping);
        assert_eq!(interpret("/quit"), Input::Quit);
        assert_eq!(interpret("/help"), Input::Help);
        assert_eq!(
            interpret("/dm bob psst, over here"),
            send("DM bob psst, over here")
        );
        assert_eq!(interpret("/msg  bob   hi"), send("DM bob hi"));
        assert_eq!(
            interpret("/dm bob"),
            Input::Mistake("usage: /dm NAME TEXT".into())
        );
        assert_eq!(
            interpret("/msg"),
            Input::Mistake("usage: /msg NAME TEXT".into())
        );
        assert_eq!(
            interpret("/nope x"),
            Input::Mistake("unknown command /nope; /help lists the commands".into())
        );
    }

    #[test]
    fn upper_case_protocol_lines_are_sent_as_typed() {
        assert_eq!(interpret("MSG hi there"), send("MSG hi there"));
        assert_eq!(interpret("DM bob psst"), send("DM bob psst"));
        assert_eq!(interpret("LOGIN alice"), send("LOGIN alice"));
        assert_eq!(interpret("PING abc"), send("PING abc"));
        assert_eq!(interpret("  HELP"), send("HELP"));
        // These two also need the client's bookkeeping: the list's end, the leaving.
        assert_eq!(interpret("WHO"), Input::Who);
        assert_eq!(interpret("QUIT"), Input::Quit);
        // Only the whole word counts.
        assert_eq!(interpret("MSGS are fun"), send("MSG MSGS are fun"));
    }

    #[test]
    fn names_typed_at_the_prompt() {
        assert_eq!(name_from_prompt(" alice \r"), "alice");
        assert_eq!(name_from_prompt("LOGIN bob"), "bob");
        assert_eq!(name_from_prompt("login  carol"), "carol");
        assert_eq!(name_from_prompt(""), "");
    }

    const PLAIN: Style = Style { colour: false };
    const COLOUR: Style = Style { colour: true };
    const AT: Clock = Clock {
        hour: 14,
        minute: 20,
        second: 31,
    };

    fn shown(line: &str) -> String {
        shown_in(line, PLAIN)
    }

    fn shown_in(line: &str, style: Style) -> String {
        match ServerLine::parse(line) {
            Some(parsed) => display(&parsed, AT, style),
            None => display_unknown(line, style),
        }
    }

    #[test]
    fn server_lines_are_shown_for_people() {
        assert_eq!(
            shown("MSG alice hello everyone"),
            "[14:20:31] alice: hello everyone"
        );
        assert_eq!(shown("DM bob psst"), "[14:20:31] (dm) bob: psst");
        assert_eq!(shown("INFO carol connected"), "*** carol joined");
        assert_eq!(shown("INFO carol disconnected"), "*** carol left");
        assert_eq!(
            shown("INFO WHO   list who is online"),
            "*** WHO   list who is online"
        );
        assert_eq!(
            shown("ERR user-not-found"),
            "*** nobody by that name is online"
        );
        assert_eq!(
            shown("ERR brand-new"),
            "*** error from the server: brand-new"
        );
        assert_eq!(shown("PONG x"), "*** PONG x");
        assert_eq!(shown("USER dave"), "*** online: dave");
        assert_eq!(
            shown("BYE idle-timeout"),
            "disconnected by server (idle-timeout)"
        );
        assert_eq!(shown("WAT"), "*** server said: WAT");
        assert_eq!(shown("OK then"), "*** server said: OK then");
    }

    #[test]
    fn control_characters_from_others_are_made_harmless() {
        let line = shown("MSG eve \x1b[2J\x1b[Hgotcha\x07\u{9b}31m");
        assert_eq!(
            line,
            "[14:20:31] eve: \u{FFFD}[2J\u{FFFD}[Hgotcha\u{FFFD}\u{FFFD}31m"
        );
        assert!(!shown("DM \x1bev\x08e hi\r").contains(char::is_control));
        assert!(!shown("INFO \x1b]0;title\x07 connected").contains(char::is_control));
        assert!(!shown("ERR \x1b[31m").contains(char::is_control));
    }

    #[test]
    fn colours_only_when_asked_and_stable_per_name() {
        assert!(!shown("MSG alice hi").contains('\x1b'));
        let coloured = shown_in("MSG alice hi", COLOUR);
        let code = name_colour("alice");
        assert_eq!(
            coloured,
            format!("[14:20:31] \x1b[{code}malice\x1b[39m: hi")
        );
        assert_eq!(
            name_colour("ALICE"),
            code,
            "the same person whatever the case"
        );
        let spread: std::collections::HashSet<u8> =
            ["alice", "bob", "carol", "dave", "eve", "frank"]
                .iter()
                .map(|name| name_colour(name))
                .collect();
        assert!(spread.len() >= 3, "names share too few colours: {spread:?}");
        assert_eq!(COLOUR.notice("hi"), "\x1b[2m*** hi\x1b[0m");
        // The escape codes are ours; one smuggled in a name is neutralised.
        let sneaky = shown_in("MSG \x1b[8mbob hi", COLOUR);
        assert_eq!(sneaky.matches('\x1b').count(), 2);
    }

    #[test]
    fn who_answers_become_one_line() {
        let names: Vec<String> = ["alice", "bob", "carol"].map(String::from).to_vec();
        assert_eq!(
            online_line(&names, 0, PLAIN),
            "*** online (3): alice, bob, carol"
        );
        assert_eq!(
            online_line(&names[..1], 2, PLAIN),
            "*** online (3): alice and 2 more"
        );
    }

    #[test]
    fn clock_and_round_trip() {
        assert_eq!(Clock::utc(0).to_string(), "00:00:00");
        assert_eq!(Clock::utc(1_700_000_000).to_string(), "22:13:20");
        assert_eq!(Clock::utc(-1).to_string(), "23:59:59");
        let now = Clock::now();
        assert!(now.hour < 24 && now.minute < 60 && now.second <= 60);
        assert_eq!(
            round_trip(Duration::from_micros(420)),
            "pong from the server in 0.4 ms"
        );
        assert_eq!(
            round_trip(Duration::from_millis(123)),
            "pong from the server in 123 ms"
        );
    }

    #[test]
    fn heartbeat_pings_then_gives_up() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut beat = Heartbeat::new(15 * second, start);
        assert_eq!(beat.beat(start + 14 * second), Beat::Nothing);
        assert_eq!(beat.next_due(), start + 15 * second);
        assert_eq!(beat.beat(start + 15 * second), Beat::Ping(1));
        // One ping in flight at a time, however long the answer takes...
        assert_eq!(beat.beat(start + 31 * second), Beat::Nothing);
        beat.answered();
        assert_eq!(beat.beat(start + 31 * second), Beat::Ping(2));
        // ...but no answer for twice the interval means the server is gone.
        assert_eq!(beat.next_due(), start + 61 * second);
        assert_eq!(beat.beat(start + 60 * second), Beat::Nothing);
        assert_eq!(beat.beat(start + 61 * second), Beat::Lost);
    }

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
