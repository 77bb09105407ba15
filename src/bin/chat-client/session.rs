//! The chat as the client sees it, with no socket and no terminal: events in
//! (a connection made or lost, a server line, a typed line, time passing),
//! [`Action`]s out (lines to send, lines to show, reconnect, exit). Both the
//! line mode and the terminal mode drive the same [`Session`].
//!
//! The rules kept: a name (or a password) is asked for again only at a
//! terminal (a script's second line is never taken for a name, nor for a
//! password: see [`account`]); the login, the heartbeat and the leaving all
//! have deadlines, so nothing the server does can keep the user waiting
//! forever; what the server says is shown once (see [`crate::rooms`] for
//! history lines); a line longer than the server takes is refused here,
//! saying the limit, instead of being sent to be refused there; and a
//! connection the user's own `AUTH` took over elsewhere is never made again.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use chat::protocol::{self, sanitize, Command};

use crate::display::{farewell, Style};
use crate::heartbeat::{Beat, Heartbeat};
use crate::input::{interpret, name_from_prompt, say_line, Input, CLIENT_HELP, COMMANDS};
use crate::pending::{Awaited, Change, Pending, MAX_AWAITED};
use crate::rooms::{is_lobby, Rooms};
use crate::secret::Secret;
use account::{NewPassword, Source};

/// The longest line the server takes by default (`--max-line`), `\n` not counted.
pub const SERVER_MAX_LINE: usize = 4096;

/// How many messages are asked for to fill the gap after a reconnect.
const GAP: usize = 200;

/// After `QUIT`, a script's client leaves once the server has been silent
/// this long without saying `BYE`; every line that arrives restarts the
/// wait, so a long backlog of answers is never cut short...
const QUIT_PATIENCE: Duration = Duration::from_secs(5);
/// ...up to this long in all.
const QUIT_LIMIT: Duration = Duration::from_secs(60);
/// A person at a terminal waits this long at most.
const QUIT_AT_TERMINAL: Duration = Duration::from_secs(2);

/// A history block the client asked for itself is kept until complete
/// (it is then filtered); this many lines and bytes at most.
const MAX_BLOCK_LINES: usize = 1000;
const MAX_BLOCK_BYTES: usize = 4 << 20;

/// At most this many names are remembered for Tab completion.
const MAX_NAMES: usize = 1000;

/// How the session behaves, from the command line and the terminal.
#[derive(Debug, Clone)]
pub struct Config {
    /// The name to log in with; asked for when `None`.
    pub name: Option<String>,
    /// The password from `--password-file`, for a registered name.
    pub password: Option<Secret>,
    /// Send every typed line and show every server line verbatim.
    pub raw: bool,
    /// A person at a terminal: DMs are confirmed, mentions ring, quitting is quick.
    pub interactive: bool,
    /// Input is a terminal: a refused name is asked for again.
    pub retry_names: bool,
    pub reconnect: bool,
    /// How many of the lobby's last messages are shown after logging in.
    pub history: usize,
    pub heartbeat: Duration,
    pub bell: bool,
}

/// How a session ended; the binary turns it into an exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user left (end of input, `/quit`, `QUIT`): exit 0.
    Left,
    /// The server closed the connection; the `BYE` reason if it gave one.
    Disconnected(Option<String>),
    /// The server stopped answering.
    Lost,
    /// The session could not start or go on: the sentence to print.
    Failed(String),
    /// A script's name (or its password) was refused: the sentence to
    /// print, exit 3.
    NameRefused(String),
    /// `BYE logged-in-elsewhere`: the user's `AUTH` on another connection
    /// took the name; connecting again would only take it back. Exit 4.
    TakenOver,
}

impl Outcome {
    /// The process exit status (see `--help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Left => 0,
            Outcome::NameRefused(_) => 3,
            Outcome::TakenOver => 4,
            _ => 1,
        }
    }

    /// The line to print on standard error, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            Outcome::Left => None,
            Outcome::Disconnected(reason) => Some(farewell(reason.as_deref())),
            Outcome::Lost => Some("connection lost".into()),
            Outcome::Failed(why) | Outcome::NameRefused(why) => Some(why.clone()),
            Outcome::TakenOver => Some(
                "you logged in elsewhere: the server closed this connection, and it is not \
                 made again (that would take the name back)"
                    .into(),
            ),
        }
    }
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this protocol line (a `\n` is added).
    Send(String),
    /// Show this line.
    Show(String),
    /// Ask for a name (line mode prints the prompt).
    AskName,
    /// Ring the terminal's bell.
    Bell,
    /// Logged in: the next loss starts its backoff afresh.
    Online,
    /// Drop the connection and connect again; this says why.
    Reconnect(String),
    Exit(Outcome),
}

/// Where the login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The next typed line is a name.
    AskingName,
    /// The name is registered: the next typed line is its password, unshown.
    AskingPassword,
    /// `LOGIN` sent at this instant, answer awaited.
    LoggingIn(Instant),
    /// `AUTH` sent at this instant, answer awaited.
    Authenticating(Instant),
    Chatting,
    /// No connection: waiting to reconnect.
    Offline,
}

/// Why a connection ended.
enum Ended {
    Bye(Option<String>),
    Closed,
    Lost,
    LoginUnanswered,
    NameStillTaken,
    /// The password we have was refused for now (`ERR rate-limited`).
    PasswordThrottled,
}

/// Who asked for a history block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asker {
    /// The client: shown without what was seen, at most this many lines.
    Client(usize),
    User,
}

/// A history block being received.
struct Block {
    room: String,
    left: usize,
    asker: Asker,
    lines: Vec<(u64, String)>,
    bytes: usize,
}

/// One user's chat. See the module documentation.
pub struct Session {
    config: Config,
    style: Style,
    phase: Phase,
    name: Option<String>,
    logged_in_before: bool,
    /// The password the server took for this name (`AUTH`, `REGISTER`,
    /// `PASSWORD`), in memory only: every reconnect authenticates with it.
    account: Option<Secret>,
    /// The password the `AUTH` awaiting its answer was sent with.
    trying: Option<(Secret, Source)>,
    /// Wrong passwords at this login so far.
    wrong: u8,
    /// `/register` or `/password` being typed at the terminal.
    new_password: Option<NewPassword>,
    rooms: Rooms,
    /// Rooms joined again after a reconnect whose echo is still awaited.
    rejoining: Vec<String>,
    pending: Pending,
    /// `HISTORY` requests sent, in order: whose answer comes next.
    history_asked: VecDeque<Asker>,
    block: Option<Block>,
    /// The user's own `JOIN` echo was the last line: a block for this room
    /// that comes right after it is the join's replay.
    replay_for: Option<String>,
    /// Names seen, for Tab completion: folded → spelled.
    names: BTreeMap<String, String>,
    heartbeat: Heartbeat,
    quitting: Option<Instant>,
    last_heard: Instant,
    now: Instant,
    actions: Vec<Action>,
}

impl Session {
    pub fn new(config: Config, style: Style, now: Instant) -> Session {
        Session {
            name: config.name.clone(),
            heartbeat: Heartbeat::new(config.heartbeat, now),
            config,
            style,
            phase: Phase::Offline,
            logged_in_before: false,
            account: None,
            trying: None,
            wrong: 0,
            new_password: None,
            rooms: Rooms::default(),
            rejoining: Vec::new(),
            pending: Pending::default(),
            history_asked: VecDeque::new(),
            block: None,
            replay_for: None,
            names: BTreeMap::new(),
            quitting: None,
            last_heard: now,
            now,
            actions: Vec::new(),
        }
    }

    /// What to do now, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Whether a script's next line should be read now: not while a login
    /// is awaited (the line might be sent before the login is known to have
    /// worked) nor while offline or leaving.
    pub fn wants_input(&self) -> bool {
        self.quitting.is_none()
            && matches!(
                self.phase,
                Phase::AskingName | Phase::AskingPassword | Phase::Chatting
            )
    }

    /// The input line's prompt at a terminal.
    pub fn prompt(&self) -> String {
        if let Some(prompt) = self.password_prompt() {
            return prompt;
        }
        match self.phase {
            Phase::AskingName => "Enter your username: ".into(),
            Phase::Offline => format!("(offline) {}> ", self.rooms.current()),
            _ => format!("{}> ", self.rooms.current()),
        }
    }

    /// What Tab may complete `word` to, and what to put after it.
    pub fn completions(&self, word: &str, first: bool) -> (Vec<String>, &'static str) {
        if word.starts_with('/') && first {
            (COMMANDS.iter().map(|c| c.to_string()).collect(), " ")
        } else if word.starts_with('#') {
            (self.rooms.all(), " ")
        } else {
            let names = self.names.values().cloned().collect();
            (names, if first { ": " } else { " " })
        }
    }

    /// When [`Session::tick`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let connected = self.phase != Phase::Offline;
        [
            self.quit_deadline(),
            self.login_deadline(),
            connected.then(|| self.heartbeat.next_due()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // -- the connection

    /// A connection was made (the first one, or again).
    pub fn connected(&mut self, now: Instant) {
        self.now = now;
        self.heartbeat = Heartbeat::new(self.config.heartbeat, now);
        self.last_heard = now;
        if self.config.raw {
            self.phase = Phase::Chatting;
            return;
        }
        match self.name.clone() {
            Some(name) => self.log_in(&name),
            None => {
                self.phase = Phase::AskingName;
                self.actions.push(Action::AskName);
            }
        }
    }

    /// The one place where the client logs in, first and after every
    /// reconnect: `LOGIN`, and when the server answers that the name is
    /// registered, `AUTH` with the password we have or one asked for (see
    /// [`Session::name_reserved`]).
    fn log_in(&mut self, name: &str) {
        self.phase = Phase::LoggingIn(self.now);
        self.trying = None;
        self.send(&format!("LOGIN {name}"));
    }

    /// The connection closed without a `BYE` (or writing to it failed).
    pub fn closed(&mut self, now: Instant) {
        self.now = now;
        self.ended(Ended::Closed);
    }

    fn ended(&mut self, why: Ended) {
        if self.phase == Phase::Offline {
            return;
        }
        self.phase = Phase::Offline;
        self.trying = None;
        self.new_password = None;
        self.block = None;
        self.replay_for = None;
        self.history_asked.clear();
        self.pending.clear();
        let outcome = match why {
            _ if self.quitting.is_some() => Outcome::Left,
            Ended::Bye(Some(reason)) if reason == "logged-in-elsewhere" => Outcome::TakenOver,
            Ended::Bye(reason) => Outcome::Disconnected(reason),
            Ended::Closed => Outcome::Disconnected(None),
            Ended::Lost => Outcome::Lost,
            Ended::LoginUnanswered => Outcome::Failed("the server did not answer the login".into()),
            Ended::NameStillTaken => Outcome::Failed(format!(
                "the name {} is still taken (by the old connection?)",
                sanitize(self.name.as_deref().unwrap_or(""))
            )),
            Ended::PasswordThrottled => Outcome::Failed(format!(
                "too many wrong passwords for {} lately (someone guessing?); the server waits a minute",
                sanitize(self.name.as_deref().unwrap_or(""))
            )),
        };
        let again = !matches!(outcome, Outcome::Left | Outcome::TakenOver);
        if self.config.reconnect && !self.config.raw && again {
            self.rooms.reconnected();
            let why = outcome.message().unwrap_or_default();
            self.actions.push(Action::Reconnect(why));
        } else {
            self.actions.push(Action::Exit(outcome));
        }
    }

    /// Time passed: deadlines and the heartbeat.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
        if self.quit_deadline().is_some_and(|at| now >= at) {
            self.actions.push(Action::Exit(Outcome::Left));
            return;
        }
        if self.phase == Phase::Offline {
            return;
        }
        if self.login_deadline().is_some_and(|at| now >= at) {
            return self.ended(Ended::LoginUnanswered);
        }
        match self.heartbeat.beat(now) {
            Beat::Nothing => {}
            Beat::Ping(n) => self.actions.push(Action::Send(format!("PING hb-{n}"))),
            Beat::Lost => self.ended(Ended::Lost),
        }
    }

    fn quit_deadline(&self) -> Option<Instant> {
        let since = self.quitting?;
        Some(if self.config.interactive {
            since + QUIT_AT_TERMINAL
        } else {
            (since.max(self.last_heard) + QUIT_PATIENCE).min(since + QUIT_LIMIT)
        })
    }

    /// A server that answers pings but never the login is given as long as
    /// twice the heartbeat's patience.
    fn login_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::LoggingIn(since) | Phase::Authenticating(since) => {
                Some(since + 2 * self.heartbeat.patience())
            }
            _ => None,
        }
    }

    fn send(&mut self, line: &str) {
        self.heartbeat.sent(self.now);
        self.actions.push(Action::Send(line.to_string()));
    }

    fn show(&mut self, line: String) {
        self.actions.push(Action::Show(line));
    }

    fn notice(&mut self, text: &str) {
        let line = self.style.notice(text);
        self.show(line);
    }

    fn is_me(&self, name: &str) -> bool {
        self.name
            .as_deref()
            .is_some_and(|me| me.eq_ignore_ascii_case(name))
    }

    // -- typing

    /// The user typed `line`. False when it was not taken (not connected, or
    /// too long): at a terminal it stays in the input line to try again.
    pub fn typed(&mut self, line: &str, now: Instant) -> bool {
        self.now = now;
        if self.config.raw {
            if protocol::parse(line) == Command::Quit {
                self.quitting = Some(now);
            }
            self.send(line);
            return true;
        }
        match self.phase {
            Phase::AskingName => {
                let name = name_from_prompt(line).to_string();
                if name.is_empty() {
                    self.actions.push(Action::AskName);
                } else {
                    self.name = Some(name.clone());
                    self.wrong = 0;
                    self.log_in(&name);
                }
                true
            }
            Phase::AskingPassword => {
                self.password_typed(line);
                true
            }
            Phase::Chatting if self.new_password.is_some() => {
                self.new_password_typed(line);
                true
            }
            Phase::Chatting => self.act(interpret(line)),
            Phase::LoggingIn(_) | Phase::Authenticating(_) | Phase::Offline => {
                match interpret(line) {
                    input @ (Input::Nothing
                    | Input::Quit
                    | Input::Help
                    | Input::Switch(_)
                    | Input::Mistake(_)) => self.act(input),
                    _ => {
                        self.notice("not connected yet: press Enter again once logged in");
                        false
                    }
                }
            }
        }
    }

    /// The end of input (Ctrl-D, the end of a script): leave.
    pub fn end_of_input(&mut self, now: Instant) {
        self.now = now;
        self.quit();
    }

    /// Ctrl-C or a signal to leave: leave now, telling the server if possible.
    pub fn leave_now(&mut self, now: Instant) {
        self.now = now;
        if self.phase != Phase::Offline {
            self.send("QUIT");
        }
        self.actions.push(Action::Exit(Outcome::Left));
    }

    fn quit(&mut self) {
        if self.phase == Phase::Offline {
            self.actions.push(Action::Exit(Outcome::Left));
        } else if self.quitting.is_none() {
            self.quitting = Some(self.now);
            self.send("QUIT");
        } else if self.config.interactive {
            // Asked twice: no more waiting for the server.
            self.actions.push(Action::Exit(Outcome::Left));
        }
    }

    /// Sends a line derived from what was typed, unless it is too long.
    fn send_typed(&mut self, line: &str) -> bool {
        if line.len() > SERVER_MAX_LINE {
            self.notice(&format!(
                "that line is {} bytes, over the {SERVER_MAX_LINE} the server takes; it was not sent",
                line.len()
            ));
            return false;
        }
        self.send(line);
        true
    }

    /// Sends `line` (if any) and the `PING` that ends its answer.
    fn send_awaited(&mut self, line: Option<&str>, awaited: Awaited) -> bool {
        if let Some(line) = line.filter(|line| line.len() > SERVER_MAX_LINE) {
            return self.send_typed(line);
        }
        match self.pending.push(awaited) {
            Some(ping) => {
                if let Some(line) = line {
                    self.send(line);
                }
                self.send(&ping);
                true
            }
            None => {
                self.notice(&format!(
                    "{MAX_AWAITED} answers are awaited already; try again in a moment"
                ));
                false
            }
        }
    }

    fn act(&mut self, input: Input) -> bool {
        match input {
            Input::Nothing => true,
            Input::Say(text) => {
                let line = say_line(self.rooms.current(), &text);
                self.send_typed(&line)
            }
            Input::Send(line) => self.send_typed(&line),
            Input::Dm(to, text) => {
                let line = format!("DM {to} {text}");
                if !self.config.interactive {
                    return self.send_typed(&line);
                }
                let failed = false;
                self.send_awaited(Some(&line), Awaited::Dm { to, text, failed })
            }
            Input::Who(room) => {
                let room = room.or_else(|| {
                    let current = self.rooms.current();
                    (!is_lobby(current)).then(|| current.to_string())
                });
                let line = match &room {
                    Some(room) => format!("WHO {room}"),
                    None => "WHO".into(),
                };
                self.send_awaited(Some(&line), Awaited::who(room))
            }
            Input::Rooms => self.send_awaited(Some("ROOMS"), Awaited::rooms()),
            Input::Join(room) => match self.rooms.find(&room) {
                Some(joined) => self.act(Input::Switch(Some(joined))),
                None => self.send_typed(&format!("JOIN {room}")),
            },
            Input::Part(room) => {
                let room = room.unwrap_or_else(|| self.rooms.current().to_string());
                self.send_typed(&format!("PART {room}"))
            }
            Input::History(room, count) => {
                let room = room.unwrap_or_else(|| self.rooms.current().to_string());
                self.ask_history(&room, count, Asker::User);
                true
            }
            Input::Switch(Some(room)) => {
                if self.rooms.switch(&room) {
                    let current = self.rooms.current().to_string();
                    self.notice(&format!("plain lines go to {current} now"));
                } else {
                    self.notice(&format!("you are not in {room}: /join {room} first"));
                }
                true
            }
            Input::Switch(None) => {
                let rooms = self.rooms.all().join(", ");
                let current = self.rooms.current().to_string();
                self.notice(&format!("your rooms: {rooms}; plain lines go to {current}"));
                true
            }
            Input::Ping => self.send_awaited(None, Awaited::Rtt { sent: self.now }),
            Input::Register => self.ask_new_password(Change::Register),
            Input::ChangePassword => self.ask_new_password(Change::Password),
            Input::Quit => {
                self.quit();
                true
            }
            Input::Help => {
                CLIENT_HELP.iter().for_each(|line| self.notice(line));
                true
            }
            Input::Mistake(why) => {
                self.notice(&why);
                true
            }
        }
    }

    fn ask_history(&mut self, room: &str, count: usize, asker: Asker) {
        self.history_asked.push_back(asker);
        self.send(&format!("HISTORY {room} {count}"));
    }
}

mod account;
#[cfg(test)]
mod account_tests;
mod incoming;
#[cfg(test)]
mod tests;
