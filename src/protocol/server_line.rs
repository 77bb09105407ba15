//! Every line the server sends, encoded once and parsed back by the client.

use super::ErrorCode;
#[cfg(doc)]
use super::Username;

/// Every line the server sends. [`ServerLine::encode`] appends it, with its
/// `\n`, to a buffer: broadcasts are encoded once and shared by all recipients.
/// [`ServerLine::parse`] reads one back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLine<'a> {
    Ok,
    Err(ErrorCode),
    /// `INFO <text>`: join and leave notices, help text.
    Info(&'a str),
    /// `MSG <from> <text>`: a chat message in the lobby (the v1 form).
    Msg(&'a str, &'a str),
    /// `MSG <#room> <from> <text>`: a chat message in another room.
    RoomMsg(&'a str, &'a str, &'a str),
    /// `JOIN <#room> <name>`: somebody joined a room.
    Join(&'a str, &'a str),
    /// `PART <#room> <name>`: somebody left a room.
    Part(&'a str, &'a str),
    /// `ROOM <#room> <members>`: one line of a `ROOMS` answer.
    Room(&'a str, usize),
    /// `HISTORY <#room> <k>`: a history block of `k` lines follows.
    History(&'a str, usize),
    /// `HIST <#room> <seq> <time> <from> <text>`: one message of a history
    /// block; the time is RFC 3339 UTC with milliseconds.
    Hist {
        room: &'a str,
        seq: u64,
        time: &'a str,
        from: &'a str,
        text: &'a str,
    },
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
            ServerLine::RoomMsg(room, from, text) => put(&["MSG", room, from, text]),
            ServerLine::Join(room, name) => put(&["JOIN", room, name]),
            ServerLine::Part(room, name) => put(&["PART", room, name]),
            ServerLine::Room(room, members) => put(&["ROOM", room, &members.to_string()]),
            ServerLine::History(room, count) => put(&["HISTORY", room, &count.to_string()]),
            ServerLine::Hist {
                room,
                seq,
                time,
                from,
                text,
            } => put(&["HIST", room, &seq.to_string(), time, from, text]),
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
    /// Unlike [`crate::protocol::parse`] for client lines, nothing is trimmed and the words are
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
                let (first, text) = rest.split_once(' ')?;
                if first.starts_with('#') {
                    let (from, text) = text.split_once(' ')?;
                    ServerLine::RoomMsg(first, from, text)
                } else {
                    ServerLine::Msg(first, text)
                }
            }
            ("JOIN", Some(rest)) => {
                let (room, name) = rest.split_once(' ')?;
                ServerLine::Join(room, name)
            }
            ("PART", Some(rest)) => {
                let (room, name) = rest.split_once(' ')?;
                ServerLine::Part(room, name)
            }
            ("ROOM", Some(rest)) => {
                let (room, members) = rest.split_once(' ')?;
                ServerLine::Room(room, number(members)?)
            }
            ("HISTORY", Some(rest)) => {
                let (room, count) = rest.split_once(' ')?;
                ServerLine::History(room, number(count)?)
            }
            ("HIST", Some(rest)) => {
                let (room, rest) = rest.split_once(' ')?;
                let (seq, rest) = rest.split_once(' ')?;
                let (time, rest) = rest.split_once(' ')?;
                let (from, text) = rest.split_once(' ')?;
                ServerLine::Hist {
                    room,
                    seq: number(seq)?,
                    time,
                    from,
                    text,
                }
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

/// A decimal number as `encode` writes it: digits only, no sign or spaces.
fn number<T: std::str::FromStr>(digits: &str) -> Option<T> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
