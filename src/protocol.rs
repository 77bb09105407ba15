//! The wire protocol, with no sockets in sight: parsing a client's line into a
//! [`Command`], validating names ([`Username`]), and formatting every line the
//! server sends ([`ServerLine`]) as well as parsing it back, for the terminal
//! client.
//!
//! Keeping this pure means the whole grammar is unit-tested here, and neither
//! the session nor the client decides how a line is spelled, only what to do
//! with it.
//!
//! Lines are UTF-8 and end in `\n` (the framing lives in [`crate::lines`]); the
//! command word is case-insensitive, arguments are separated by spaces, and
//! surrounding whitespace (including the `\r` that telnet sends) is trimmed.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The longest name a user may take, in characters (all of them ASCII).
pub const MAX_NAME_LEN: usize = 32;

/// A validated user name: 1–32 characters of `A-Z a-z 0-9 _ . -`.
///
/// It keeps the spelling the user registered with (shown to everybody), but
/// compares and hashes case-insensitively, so `Alice` and `alice` are the same
/// key in the registry and a DM to `ALICE` finds her.
#[derive(Clone, Debug)]
pub struct Username(String);

impl Username {
    /// Validates `name`, or says why it is not a name.
    pub fn parse(name: &str) -> Result<Username, ErrorCode> {
        let valid_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(valid_char) {
            return Err(ErrorCode::InvalidUsername);
        }
        Ok(Username(name.to_string()))
    }

    /// The name as the user spelled it at login.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form, used to sort lists of names the way people read them.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for Username {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Username {}

impl Hash for Username {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One line from a client, understood. Arguments borrow from the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// A blank line: ignored, but it still counts as activity.
    Empty,
    /// `LOGIN <name>`: the raw argument; validity and uniqueness are checked
    /// against the registry by the session.
    Login(&'a str),
    /// `MSG <text>`: the text may be empty, which the session refuses.
    Msg(&'a str),
    /// `DM <user> <text>`; `None` when the user or the text is missing.
    Dm(Option<(&'a str, &'a str)>),
    Who,
    /// `PING` or `PING <token>`.
    Ping(Option<&'a str>),
    Quit,
    Help,
    Unknown,
}

impl Command<'_> {
    /// Whether the command is refused with `ERR not-logged-in` before `LOGIN`.
    pub fn needs_login(&self) -> bool {
        matches!(self, Command::Msg(_) | Command::Dm(_) | Command::Who)
    }
}

/// Parses one line (without its `\n`) into a [`Command`].
pub fn parse(line: &str) -> Command<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Command::Empty;
    }
    let (word, rest) = split_word(line);
    let is = |name: &str| word.eq_ignore_ascii_case(name);
    if is("LOGIN") {
        Command::Login(rest)
    } else if is("MSG") {
        Command::Msg(rest)
    } else if is("DM") {
        let (to, text) = split_word(rest);
        Command::Dm((!to.is_empty() && !text.is_empty()).then_some((to, text)))
    } else if is("WHO") {
        Command::Who
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

/// Splits off the first space-separated word; the rest has its leading
/// whitespace removed (the caller has already trimmed the end).
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// The code after `ERR` (or, for [`ErrorCode::InvalidUsername`], the reason a
/// name was refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    UsernameTaken,
    InvalidUsername,
    AlreadyLoggedIn,
    EmptyMessage,
    UserNotFound,
    InvalidDm,
    NotLoggedIn,
    UnknownCommand,
    LineTooLong,
    InvalidUtf8,
    RateLimited,
}

impl ErrorCode {
    /// Every code, so that [`ErrorCode::parse`] reads back exactly what
    /// [`ErrorCode::as_str`] writes, with no second list of spellings to drift.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::UsernameTaken,
        ErrorCode::InvalidUsername,
        ErrorCode::AlreadyLoggedIn,
        ErrorCode::EmptyMessage,
        ErrorCode::UserNotFound,
        ErrorCode::InvalidDm,
        ErrorCode::NotLoggedIn,
        ErrorCode::UnknownCommand,
        ErrorCode::LineTooLong,
        ErrorCode::InvalidUtf8,
        ErrorCode::RateLimited,
    ];

    /// The code spelled `code` on the wire; `None` for one this build does not
    /// know (a newer server may have more).
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|known| known.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UsernameTaken => "username-taken",
            ErrorCode::InvalidUsername => "invalid-username",
            ErrorCode::AlreadyLoggedIn => "already-logged-in",
            ErrorCode::EmptyMessage => "empty-message",
            ErrorCode::UserNotFound => "user-not-found",
            ErrorCode::InvalidDm => "invalid-dm",
            ErrorCode::NotLoggedIn => "not-logged-in",
            ErrorCode::UnknownCommand => "unknown-command",
            ErrorCode::LineTooLong => "line-too-long",
            ErrorCode::InvalidUtf8 => "invalid-utf8",
            ErrorCode::RateLimited => "rate-limited",
        }
    }
}

/// Every line the server sends. [`ServerLine::encode`] appends it, with its
/// `\n`, to a buffer: broadcasts are encoded once and shared by all recipients.
/// [`ServerLine::parse`] reads one back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLine<'a> {
    Ok,
    Err(ErrorCode),
    /// `INFO <text>`: join and leave notices, help text.
    Info(&'a str),
    /// `MSG <from> <text>`: a chat message to everybody.
    Msg(&'a str, &'a str),
    /// `DM <from> <text>`: a private message.
    Dm(&'a str, &'a str),
    /// `USER <name>`: one line of a `WHO` answer.
    User(&'a str),
    Pong(Option<&'a str>),
    /// `BYE` or `BYE <reason>`: the last line before the server closes.
    Bye(Option<&'a str>),
}

impl ServerLine<'_> {
    /// Appends the line and its `\n` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut put = |parts: &[&str]| {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(part.as_bytes());
            }
            out.push(b'\n');
        };
        match *self {
            ServerLine::Ok => put(&["OK"]),
            ServerLine::Err(code) => put(&["ERR", code.as_str()]),
            ServerLine::Info(text) => put(&["INFO", text]),
            ServerLine::Msg(from, text) => put(&["MSG", from, text]),
            ServerLine::Dm(from, text) => put(&["DM", from, text]),
            ServerLine::User(name) => put(&["USER", name]),
            ServerLine::Pong(None) => put(&["PONG"]),
            ServerLine::Pong(Some(token)) => put(&["PONG", token]),
            ServerLine::Bye(None) => put(&["BYE"]),
            ServerLine::Bye(Some(reason)) => put(&["BYE", reason]),
        }
    }

    /// The line as bytes, `\n` included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl<'a> ServerLine<'a> {
    /// Parses one line (without its `\n`) as [`ServerLine::encode`] writes it;
    /// `None` for anything else, including an `ERR` code this build does not
    /// know. Arguments borrow from the line.
    ///
    /// Unlike [`parse`] for client lines, nothing is trimmed and the words are
    /// upper case: this is the exact inverse of `encode`, so that text keeps
    /// every space it was sent with. The one thing `encode` cannot express is a
    /// `MSG` or `DM` sender containing a space, which no [`Username`] does.
    pub fn parse(line: &'a str) -> Option<ServerLine<'a>> {
        let (word, rest) = match line.split_once(' ') {
            Some((word, rest)) => (word, Some(rest)),
            None => (line, None),
        };
        let line = match (word, rest) {
            ("OK", None) => ServerLine::Ok,
            ("ERR", Some(code)) => ServerLine::Err(ErrorCode::parse(code)?),
            ("INFO", Some(text)) => ServerLine::Info(text),
            ("MSG", Some(rest)) => {
                let (from, text) = rest.split_once(' ')?;
                ServerLine::Msg(from, text)
            }
            ("DM", Some(rest)) => {
                let (from, text) = rest.split_once(' ')?;
                ServerLine::Dm(from, text)
            }
            ("USER", Some(name)) => ServerLine::User(name),
            ("PONG", token) => ServerLine::Pong(token),
            ("BYE", reason) => ServerLine::Bye(reason),
            _ => return None,
        };
        Some(line)
    }
}

/// What `HELP` answers, one `INFO` line each.
pub const HELP_TEXT: &[&str] = &[
    "commands (one per line, the command word in any case):",
    "LOGIN <name>       take a name: 1-32 of A-Z a-z 0-9 _ . -",
    "MSG <text>         say something to everybody",
    "DM <user> <text>   say something to one user",
    "WHO                list who is online",
    "PING [token]       check the connection (answer: PONG [token])",
    "QUIT               leave",
];

/// Makes text from one client safe to show on another's terminal: every control
/// character except TAB (C0, DEL, C1, and therefore every escape sequence) is
/// replaced by U+FFFD, so readers can see that something was there but nothing
/// can move their cursor or clear their screen.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if unsafe_char(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_are_case_insensitive_and_trimmed() {
        assert_eq!(parse("LOGIN alice"), Command::Login("alice"));
        assert_eq!(parse("  login   alice \r"), Command::Login("alice"));
        assert_eq!(parse("Msg hello  world "), Command::Msg("hello  world"));
        assert_eq!(parse("who"), Command::Who);
        assert_eq!(parse("QUIT"), Command::Quit);
        assert_eq!(parse("help"), Command::Help);
        assert_eq!(parse(" \t\r"), Command::Empty);
        assert_eq!(parse("LOGINalice"), Command::Unknown);
        assert_eq!(parse("HELLO there"), Command::Unknown);
    }

    #[test]
    fn arguments() {
        assert_eq!(parse("MSG"), Command::Msg(""));
        assert_eq!(parse("LOGIN"), Command::Login(""));
        assert_eq!(parse("LOGIN two words"), Command::Login("two words"));
        assert_eq!(
            parse("DM bob hi there"),
            Command::Dm(Some(("bob", "hi there")))
        );
        assert_eq!(parse("DM bob"), Command::Dm(None));
        assert_eq!(parse("DM"), Command::Dm(None));
        assert_eq!(parse("PING"), Command::Ping(None));
        assert_eq!(parse("ping abc 1"), Command::Ping(Some("abc 1")));
    }

    #[test]
    fn login_is_needed_only_for_talking_and_listing() {
        assert!(parse("MSG x").needs_login());
        assert!(parse("DM a b").needs_login());
        assert!(parse("WHO").needs_login());
        for free in ["PING", "HELP", "QUIT", "LOGIN a", "", "FOO"] {
            assert!(!parse(free).needs_login(), "{free}");
        }
    }

    #[test]
    fn usernames() {
        for ok in ["a", "Alice", "bob_99", "x.y-z", &"n".repeat(32)] {
            assert_eq!(Username::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "two words",
            "é",
            "a/b",
            "tab\t",
            &"n".repeat(33),
            "a\u{1b}",
        ] {
            assert_eq!(
                Username::parse(bad),
                Err(ErrorCode::InvalidUsername),
                "{bad:?}"
            );
        }
        let alice = Username::parse("Alice").unwrap();
        let lower = Username::parse("alice").unwrap();
        assert_eq!(alice, lower);
        let mut set = std::collections::HashSet::new();
        set.insert(alice);
        assert!(set.contains(&lower));
        assert_eq!(set.iter().next().unwrap().as_str(), "Alice");
    }

    #[test]
    fn server_lines() {
        let text = |line: ServerLine| String::from_utf8(line.to_bytes()).unwrap();
        assert_eq!(text(ServerLine::Ok), "OK\n");
        assert_eq!(
            text(ServerLine::Err(ErrorCode::UsernameTaken)),
            "ERR username-taken\n"
        );
        assert_eq!(
            text(ServerLine::Info("bob connected")),
            "INFO bob connected\n"
        );
        assert_eq!(text(ServerLine::Msg("bob", "hi all")), "MSG bob hi all\n");
        assert_eq!(text(ServerLine::Dm("bob", "psst")), "DM bob psst\n");
        assert_eq!(text(ServerLine::User("bob")), "USER bob\n");
        assert_eq!(text(ServerLine::Pong(None)), "PONG\n");
        assert_eq!(text(ServerLine::Pong(Some("42"))), "PONG 42\n");
        assert_eq!(text(ServerLine::Bye(None)), "BYE\n");
        assert_eq!(
            text(ServerLine::Bye(Some("idle-timeout"))),
            "BYE idle-timeout\n"
        );
    }

    #[test]
    fn every_error_code_is_kebab_case_and_parses_back() {
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{s}"
            );
            assert_eq!(ErrorCode::parse(s), Some(code));
        }
        for unknown in ["", "brand-new", "Username-Taken", " username-taken"] {
            assert_eq!(ErrorCode::parse(unknown), None, "{unknown:?}");
        }
    }

    /// `line` encoded, then parsed without its `\n`.
    fn round_trip(line: ServerLine) {
        let bytes = line.to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        let text = text.strip_suffix('\n').unwrap();
        assert_eq!(ServerLine::parse(text), Some(line), "{text:?}");
    }

    #[test]
    fn every_server_line_parses_back_to_itself() {
        for code in ErrorCode::ALL {
            round_trip(ServerLine::Err(code));
        }
        round_trip(ServerLine::Ok);
        for text in [
            "",
            "bob connected",
            " two  spaces ",
            "tab\there",
            "héllo 🌍",
        ] {
            round_trip(ServerLine::Info(text));
            round_trip(ServerLine::Msg("bob", text));
            round_trip(ServerLine::Dm("bob", text));
            round_trip(ServerLine::User(text));
            round_trip(ServerLine::Pong(Some(text)));
            round_trip(ServerLine::Bye(Some(text)));
        }
        round_trip(ServerLine::Msg("", "no sender"));
        round_trip(ServerLine::Pong(None));
        round_trip(ServerLine::Bye(None));
    }

    #[test]
    fn malformed_server_lines_are_none() {
        for bad in [
            "",
            " ",
            "OK ",
            "OK then",
            "ok",
            "ERR",
            "ERR ",
            "ERR brand-new",
            "ERR username-taken ",
            "INFO",
            "MSG",
            "MSG bob",
            "DM bob",
            "USER",
            "Pong",
            "HELLO world",
            " OK",
            "MSG\tbob hi",
        ] {
            assert_eq!(ServerLine::parse(bad), None, "{bad:?}");
        }
        // A CR left by CRLF framing is the reader's to strip; here it is text.
        assert_eq!(ServerLine::parse("OK\r"), None);
        assert_eq!(
            ServerLine::parse("PONG x\r"),
            Some(ServerLine::Pong(Some("x\r")))
        );
        // Every cut of a line, wherever a character starts, parses or not, without a panic.
        let line = "MSG bob héllo 🌍 \u{1b}[2J";
        for (i, _) in line.char_indices() {
            let _ = ServerLine::parse(&line[..i]);
            let _ = ServerLine::parse(&line[i..]);
        }
    }

    #[test]
    fn sanitize_replaces_controls_but_keeps_tabs_and_unicode() {
        assert!(matches!(sanitize("plain text"), Cow::Borrowed(_)));
        assert_eq!(sanitize("a\tb"), "a\tb");
        assert_eq!(sanitize("héllo 🌍"), "héllo 🌍");
        assert_eq!(sanitize("\u{1b}[2Jx"), "\u{FFFD}[2Jx");
        assert_eq!(
            sanitize("a\u{7f}b\u{9b}c\rd\0"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}"
        );
    }
}
