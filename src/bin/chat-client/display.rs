//! How a server line is shown to a person: [`ServerLine::parse`] (the
//! protocol's own reading of it) plus [`display`] or [`display_unknown`] give the
//! line to print, with the time of day in front of messages ([`Clock`]) and, at
//! a terminal, a colour per name ([`Style`]). Lines of a room other than the
//! lobby name their room; history lines say `(history)` and carry the time
//! they were said, in local time; a message that mentions the user is bold.
//! Everything from the server is made harmless first. Pure functions, tested
//! without a socket.

use std::fmt;
use std::io::{self, IsTerminal};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chat::protocol::{sanitize, ErrorCode, ServerLine, LOBBY};
use chat::support::sys::{self, LocalTime};

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
        match sys::local_time(unix) {
            Some(local) => Clock {
                hour: local.hour,
                minute: local.minute,
                second: local.second,
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
    pub fn name(self, name: &str) -> String {
        let name = sanitize(name);
        if !self.colour {
            return name.into_owned();
        }
        // Back to the default colour only, so a notice around the name stays dim.
        format!("\x1b[{}m{name}\x1b[39m", name_colour(&name))
    }

    /// A whole line in bold: someone mentioned the user.
    pub fn mention(self, line: &str) -> String {
        if self.colour {
            format!("\x1b[1m{line}\x1b[22m")
        } else {
            line.to_string()
        }
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
        ServerLine::RoomMsg(room, from, text) => format!(
            "[{at}] {}{}: {}",
            in_room(room),
            style.name(from),
            sanitize(text)
        ),
        ServerLine::Join(room, name) => {
            style.notice(&format!("{} joined {}", sanitize(name), sanitize(room)))
        }
        ServerLine::Part(room, name) => {
            style.notice(&format!("{} left {}", sanitize(name), sanitize(room)))
        }
        ServerLine::Room(room, members) => {
            style.notice(&format!("room {} ({members} in it)", sanitize(room)))
        }
        ServerLine::History(room, 0) => style.notice(&format!("no history in {}", sanitize(room))),
        ServerLine::History(room, count) => {
            style.notice(&format!("last {count} messages of {}:", sanitize(room)))
        }
        ServerLine::Hist {
            room,
            time,
            from,
            text,
            ..
        } => format!(
            "[{}] (history) {}{}: {}",
            history_time(time),
            in_room(room),
            style.name(from),
            sanitize(text)
        ),
        ServerLine::User(name) => style.notice(&format!("online: {}", style.name(name))),
        ServerLine::Pong(None) => style.notice("PONG"),
        ServerLine::Pong(Some(token)) => style.notice(&format!("PONG {}", sanitize(token))),
        ServerLine::Bye(reason) => farewell(reason),
    }
}

/// `#rust ` in front of a room's line; nothing for the lobby.
fn in_room(room: &str) -> String {
    if room.eq_ignore_ascii_case(LOBBY) {
        String::new()
    } else {
        format!("{} ", sanitize(room))
    }
}

/// What the user reads for a DM the server took: `(dm) to bob: text`.
pub fn dm_sent(to: &str, text: &str, at: Clock, style: Style) -> String {
    format!("[{at}] (dm) to {}: {}", style.name(to), sanitize(text))
}

/// Whether `text` mentions `name`: the name as a word of its own, in any case.
pub fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    let lower = text.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    lower.match_indices(&name).any(|(at, found)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + found.len()..].chars().next();
        !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
    })
}

/// A history line's time (`2026-12-01T18:04:05.123Z`) in local time: the time
/// of day when it is from today, with the date otherwise.
fn history_time(rfc3339: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let today = sys::local_time(i64::try_from(now).unwrap_or(i64::MAX));
    let said = unix_seconds(rfc3339).and_then(sys::local_time);
    local_history_time(said, today, rfc3339)
}

/// [`history_time`] with the local times given; the raw time, made harmless,
/// when it cannot be read.
fn local_history_time(said: Option<LocalTime>, today: Option<LocalTime>, raw: &str) -> String {
    match (said, today) {
        (Some(said), Some(today))
            if (said.year, said.month, said.day) == (today.year, today.month, today.day) =>
        {
            format!("{:02}:{:02}:{:02}", said.hour, said.minute, said.second)
        }
        (Some(said), _) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            said.year, said.month, said.day, said.hour, said.minute
        ),
        (None, _) => sanitize(raw).into_owned(),
    }
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SS[.fff]Z`, as the server writes it.
fn unix_seconds(rfc3339: &str) -> Option<i64> {
    let b = rfc3339.as_bytes();
    let shape = b.len() >= 20
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':')
        && b.last() == Some(&b'Z');
    if !shape {
        return None;
    }
    let field = |from: usize, to: usize| -> Option<i64> {
        let digits = rfc3339.get(from..to)?;
        digits
            .bytes()
            .all(|d| d.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
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
        ErrorCode::InvalidRoom => "a room is '#' and 1 to 32 letters, digits, '_', '.' or '-'",
        ErrorCode::AlreadyInRoom => "you are in that room already",
        ErrorCode::TooManyRooms => "too many rooms: leave one first",
        ErrorCode::NotInRoom => "you are not in that room: /join it first",
        ErrorCode::CannotLeaveLobby => "everybody stays in #lobby",
        ErrorCode::NoSuchRoom => "nobody is in that room",
        ErrorCode::InvalidHistory => "history takes a room and a count from 1 to 1000",
        ErrorCode::StorageFailed => "the server could not store that message; it was not sent",
        ErrorCode::AlreadyRegistered => "this name is registered already",
        ErrorCode::WeakPassword => "a password is 8 to 128 bytes",
        ErrorCode::WrongPassword => "wrong password",
        ErrorCode::NotRegistered => "that name is not registered",
        ErrorCode::NameReserved => "that name is registered: log in with its password",
    }
}

/// The `*** online (3): alice, bob, carol` line for a gathered `WHO` answer
/// (`*** in #rust (2): ...` for a room's): `listed` names kept and
/// `unlisted` more counted.
pub fn online_line(room: Option<&str>, listed: &[String], unlisted: usize, style: Style) -> String {
    let label = match room {
        Some(room) if !room.eq_ignore_ascii_case(LOBBY) => format!("in {}", sanitize(room)),
        _ => "online".to_string(),
    };
    let names: Vec<String> = listed.iter().map(|name| style.name(name)).collect();
    list_line(&label, &names, unlisted, style)
}

/// The `*** rooms (2): #lobby (3), #rust (2)` line for a gathered `ROOMS` answer.
pub fn rooms_line(listed: &[String], unlisted: usize, style: Style) -> String {
    let rooms: Vec<String> = listed
        .iter()
        .map(|room| sanitize(room).into_owned())
        .collect();
    list_line("rooms", &rooms, unlisted, style)
}

fn list_line(label: &str, entries: &[String], unlisted: usize, style: Style) -> String {
    let mut text = format!(
        "{label} ({}): {}",
        entries.len() + unlisted,
        entries.join(", ")
    );
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rooms_and_history_lines() {
        assert_eq!(shown("MSG #rust bob hi"), "[14:20:31] #rust bob: hi");
        assert_eq!(shown("JOIN #rust bob"), "*** bob joined #rust");
        assert_eq!(shown("PART #rust bob"), "*** bob left #rust");
        let hist = shown("HIST #lobby 3 2026-12-01T18:04:05.123Z bob earlier");
        assert!(hist.starts_with('['), "{hist}");
        assert!(hist.ends_with("] (history) bob: earlier"), "{hist}");
        let hist = shown("HIST #rust 3 garbage bob earlier");
        assert_eq!(hist, "[garbage] (history) #rust bob: earlier");
        assert_eq!(
            dm_sent("bob", "psst", AT, PLAIN),
            "[14:20:31] (dm) to bob: psst"
        );
    }

    #[test]
    fn history_times_are_read_and_shown_locally() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            unix_seconds("2023-11-14T22:13:20.000Z"),
            Some(1_700_000_000)
        );
        assert_eq!(unix_seconds("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        for bad in [
            "",
            "2024-02-29",
            "2024-13-01T00:00:00Z",
            "2024-0a-01T00:00:00Z",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
        let at = |day, hour| LocalTime {
            year: 2026,
            month: 12,
            day,
            hour,
            minute: 4,
            second: 5,
        };
        assert_eq!(
            local_history_time(Some(at(1, 18)), Some(at(1, 23)), "x"),
            "18:04:05"
        );
        assert_eq!(
            local_history_time(Some(at(1, 18)), Some(at(2, 9)), "x"),
            "2026-12-01 18:04"
        );
        assert_eq!(local_history_time(None, None, "\x1bx"), "\u{FFFD}x");
    }

    #[test]
    fn mentions_are_whole_names_in_any_case() {
        assert!(mentions("hey Alice, look", "alice"));
        assert!(mentions("alice", "ALICE"));
        assert!(mentions("@alice: hi", "alice"));
        assert!(!mentions("malice aforethought", "alice"));
        assert!(!mentions("alice_b is here", "alice"));
        assert!(!mentions("anything", ""));
        assert_eq!(COLOUR.mention("x"), "\x1b[1mx\x1b[22m");
        assert_eq!(PLAIN.mention("x"), "x");
    }

    #[test]
    fn who_answers_become_one_line() {
        let names: Vec<String> = ["alice", "bob", "carol"].map(String::from).to_vec();
        assert_eq!(
            online_line(None, &names, 0, PLAIN),
            "*** online (3): alice, bob, carol"
        );
        assert_eq!(
            online_line(Some("#lobby"), &names[..1], 2, PLAIN),
            "*** online (3): alice and 2 more"
        );
        assert_eq!(
            online_line(Some("#rust"), &names[..2], 0, PLAIN),
            "*** in #rust (2): alice, bob"
        );
        let rooms = ["#lobby (3)".to_string(), "#rust (2)".to_string()];
        assert_eq!(
            rooms_line(&rooms, 0, PLAIN),
            "*** rooms (2): #lobby (3), #rust (2)"
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
}
