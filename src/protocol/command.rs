//! What a client's line means: the command grammar of the line protocol.

use super::password::{split_once_exact, Password};
use super::ErrorCode;

/// One line from a client, understood. Arguments borrow from the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// A blank line: ignored, but it still counts as activity.
    Empty,
    /// `LOGIN <name>`: the raw argument; validity and uniqueness are checked
    /// against the registry by the session.
    Login(&'a str),
    /// `MSG [#room] <text>`: a room message when the first word starts with
    /// `#` (the room is not validated yet), otherwise a lobby message. The
    /// text may be empty, which the session refuses.
    Msg(Option<&'a str>, &'a str),
    /// `DM <user> <text>`; `None` when the user or the text is missing.
    Dm(Option<(&'a str, &'a str)>),
    /// `WHO` or `WHO #room`. Anything after `WHO` that does not start with
    /// `#` is ignored, as it always was.
    Who(Option<&'a str>),
    /// `JOIN <#room>`: the raw argument, validated by the session.
    Join(&'a str),
    /// `PART <#room>`: the raw argument, validated by the session.
    Part(&'a str),
    /// `ROOMS`: the rooms with members.
    Rooms,
    /// `HISTORY [#room] [N]`: the room (raw) and how many messages (1–1000,
    /// default [`DEFAULT_HISTORY`]); `Err` for a count out of range, not a
    /// number, or a word too many.
    History(Result<(Option<&'a str>, usize), ErrorCode>),
    /// `REGISTER <password>`: protect the name this session holds.
    Register(Password<'a>),
    /// `AUTH <name> <password>`: log in as a registered name (the name raw,
    /// validated by the session).
    Auth(&'a str, Password<'a>),
    /// `PASSWORD <new>`: change the password of the registered name held.
    Password(Password<'a>),
    /// `PING` or `PING <token>`.
    Ping(Option<&'a str>),
    Quit,
    Help,
    Unknown,
}

impl Command<'_> {
    /// Whether the command is refused with `ERR not-logged-in` before `LOGIN`.
    pub fn needs_login(&self) -> bool {
        matches!(
            self,
            Command::Msg(..)
                | Command::Dm(_)
                | Command::Who(_)
                | Command::Join(_)
                | Command::Part(_)
                | Command::Rooms
                | Command::History(_)
                | Command::Register(_)
                | Command::Password(_)
        )
    }
}

/// Parses one line (without its `\n`) into a [`Command`].
///
/// A password is the exception to trimming: it is everything after the one
/// space that follows `REGISTER`, `PASSWORD` or `AUTH`'s name, leading and
/// trailing spaces included; only the line end (`\r`) is cut.
pub fn parse(line: &str) -> Command<'_> {
    let untrimmed = line.trim_start();
    let line = line.trim();
    if line.is_empty() {
        return Command::Empty;
    }
    let (word, rest) = split_word(line);
    let is = |name: &str| word.eq_ignore_ascii_case(name);
    if is("LOGIN") {
        Command::Login(rest)
    } else if is("MSG") {
        match split_word(rest) {
            (room, text) if room.starts_with('#') => Command::Msg(Some(room), text),
            _ => Command::Msg(None, rest),
        }
    } else if is("DM") {
        let (to, text) = split_word(rest);
        Command::Dm((!to.is_empty() && !text.is_empty()).then_some((to, text)))
    } else if is("WHO") {
        let (room, _) = split_word(rest);
        Command::Who(room.starts_with('#').then_some(room))
    } else if is("JOIN") {
        Command::Join(rest)
    } else if is("PART") {
        Command::Part(rest)
    } else if is("ROOMS") {
        Command::Rooms
    } else if is("HISTORY") {
        Command::History(history_args(rest))
    } else if is("REGISTER") {
        Command::Register(password_after_word(untrimmed))
    } else if is("PASSWORD") {
        Command::Password(password_after_word(untrimmed))
    } else if is("AUTH") {
        let (_, rest) = split_once_exact(untrimmed);
        let (name, password) = split_once_exact(rest.trim_start());
        Command::Auth(name, Password::from_rest(password))
    } else if is("PING") {
        Command::Ping((!rest.is_empty()).then_some(rest))
    } else if is("QUIT") {
        Command::Quit
    } else if is("HELP") {
        Command::Help
    } else {
        Command::Unknown
    }
}

/// The password after a line's first word and its one separating space.
fn password_after_word(untrimmed: &str) -> Password<'_> {
    Password::from_rest(split_once_exact(untrimmed).1)
}

/// The most messages one `HISTORY` returns.
pub const MAX_HISTORY: usize = 1000;

/// How many messages `HISTORY` returns when not told.
pub const DEFAULT_HISTORY: usize = 50;

/// `[#room] [N]`, the arguments of `HISTORY`.
fn history_args(rest: &str) -> Result<(Option<&str>, usize), ErrorCode> {
    let mut words = rest.split_whitespace().peekable();
    let room = words.next_if(|word| word.starts_with('#'));
    let count = match words.next() {
        None => DEFAULT_HISTORY,
        Some(word) => match word.parse::<usize>() {
            Ok(n) if (1..=MAX_HISTORY).contains(&n) => n,
            _ => return Err(ErrorCode::InvalidHistory),
        },
    };
    match words.next() {
        None => Ok((room, count)),
        Some(_) => Err(ErrorCode::InvalidHistory),
    }
}

/// Splits off the first space-separated word; the rest has its leading
/// whitespace removed (the caller has already trimmed the end).
pub fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// What `HELP` answers, one `INFO` line each.
pub const HELP_TEXT: &[&str] = &[
    "commands (one per line, the command word in any case):",
    "LOGIN <name>       take a name: 1-32 of A-Z a-z 0-9 _ . -",
    "MSG <text>         say something to everybody (in #lobby)",
    "MSG #room <text>   say something in a room you joined",
    "DM <user> <text>   say something to one user",
    "WHO [#room]        list who is online (or in a room)",
    "JOIN #room         join a room (made if new): #, then 1-32 of A-Z a-z 0-9 _ . -",
    "PART #room         leave a room",
    "ROOMS              list the rooms with people in them",
    "HISTORY [#room] [N] the last N messages (1-1000, default 50) of a room or #lobby",
    "REGISTER <password> keep the name you hold: AUTH needs the password from now on",
    "AUTH <name> <password> log in as a registered name (a stale connection is closed)",
    "PASSWORD <new>     change the password of the registered name you hold",
    "  (a password is 8-128 bytes, spaces included: all after the one space)",
    "PING [token]       check the connection (answer: PONG [token])",
    "QUIT               leave",
];
