//! The two languages the bench speaks: this project's line protocol, and IRC
//! (`--irc`, to measure other servers with the same workloads, see
//! [`crate::irc`]). Each says how to log in, join rooms and send a benchmark
//! message, and reads the server's lines as the few [`Line`]s the bench cares
//! about; everything else about a run is the same for both.

use std::io::Write;

use crate::irc;

/// Which protocol the server under test speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// This project's line protocol: `LOGIN`, `MSG`, `JOIN`; the sender gets
    /// its own messages back.
    Chat,
    /// IRC: `NICK`/`USER`, wait for `001`, `JOIN` and wait for `366`,
    /// `PRIVMSG`; the sender does not get its own messages back.
    Irc,
}

/// The lobby as a channel name (the line protocol's `MSG` without a room).
pub const LOBBY: &str = "#lobby";

/// One line from the server, as far as the bench cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// `OK` / `001`: logged in.
    Welcome,
    /// `BYE …` / `ERROR …`: the server ends the connection.
    Bye,
    /// A login announced in the lobby (`INFO <nick> connected`, room `None`),
    /// or somebody joining a room (`JOIN <room> <nick>`, IRC's `:nick JOIN`).
    Joined {
        room: Option<&'a [u8]>,
        nick: &'a [u8],
    },
    /// IRC's `366` (end of the names list): our own join of `room` is done.
    JoinDone {
        room: &'a [u8],
    },
    /// Somebody left the server (`INFO <nick> disconnected` / `:nick QUIT`).
    Left {
        nick: &'a [u8],
    },
    /// A message; `room` is `None` for the line protocol's lobby.
    Msg {
        room: Option<&'a [u8]>,
        from: &'a [u8],
        text: &'a [u8],
    },
    /// IRC's `PING`: must be answered with `PONG` and this token.
    Ping {
        token: &'a [u8],
    },
    Other,
}

impl Dialect {
    /// What a client sends first, as `name`.
    pub fn login(self, name: &str) -> Vec<u8> {
        match self {
            Dialect::Chat => format!("LOGIN {name}\n").into_bytes(),
            Dialect::Irc => irc::login(name),
        }
    }

    /// Joins `rooms` (IRC: the lobby too is a channel to join).
    pub fn join<'r>(self, rooms: impl IntoIterator<Item = &'r str>) -> Vec<u8> {
        match self {
            Dialect::Chat => rooms
                .into_iter()
                .flat_map(|room| format!("JOIN {room}\n").into_bytes())
                .collect(),
            Dialect::Irc => irc::join(rooms),
        }
    }

    /// Appends one message line of `size` bytes (at least its header) to `out`:
    /// `<seq>:<micros since start>:<padding>` said in `room` (the lobby if
    /// `None`).
    pub fn message(
        self,
        room: Option<&str>,
        seq: u64,
        sent_us: u64,
        size: usize,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let end: &[u8] = match (self, room) {
            (Dialect::Chat, None) => {
                let _ = write!(out, "MSG {seq}:{sent_us}:");
                b"\n"
            }
            (Dialect::Chat, Some(room)) => {
                let _ = write!(out, "MSG {room} {seq}:{sent_us}:");
                b"\n"
            }
            (Dialect::Irc, room) => {
                let _ = write!(out, "PRIVMSG {} :{seq}:{sent_us}:", room.unwrap_or(LOBBY));
                b"\r\n"
            }
        };
        let header = out.len() - start;
        out.resize(start + size.max(header + 1 + end.len()) - end.len(), b'x');
        out.extend_from_slice(end);
    }

    /// Reads one line (without its `\n`; a `\r` before it is ignored).
    pub fn parse(self, line: &[u8]) -> Line<'_> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self {
            Dialect::Chat => parse_chat(line),
            Dialect::Irc => irc::parse(line),
        }
    }
}

/// The line protocol's lines (README's protocol section).
fn parse_chat(line: &[u8]) -> Line<'_> {
    // Nearly every line of a run is a message: read it without the general
    // split below (the generator shares the cores with the server).
    if let Some(rest) = line.strip_prefix(b"MSG ") {
        if let Some(msg) = parse_msg(rest) {
            return msg;
        }
    }
    let mut words = line.splitn(4, |&b| b == b' ');
    let (first, second, third, rest) = (words.next(), words.next(), words.next(), words.next());
    match (first, second, third) {
        (Some(b"OK"), None, _) => Line::Welcome,
        (Some(b"BYE"), ..) => Line::Bye,
        (Some(b"INFO"), Some(nick), Some(b"connected")) if rest.is_none() => {
            Line::Joined { room: None, nick }
        }
        (Some(b"INFO"), Some(nick), Some(b"disconnected")) if rest.is_none() => Line::Left { nick },
        (Some(b"JOIN"), Some(room), Some(nick)) if rest.is_none() => Line::Joined {
            room: Some(room),
            nick,
        },
        _ => Line::Other,
    }
}

/// `[<room> ]<from> <text>` after `MSG ` (names never start with `#`, rooms
/// always do).
fn parse_msg(rest: &[u8]) -> Option<Line<'_>> {
    let (first, after) = split_at_space(rest)?;
    if !first.starts_with(b"#") {
        return Some(Line::Msg {
            room: None,
            from: first,
            text: after,
        });
    }
    let (from, text) = split_at_space(after)?;
    Some(Line::Msg {
        room: Some(first),
        from,
        text,
    })
}

/// The word before the first space, and what follows it.
fn split_at_space(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = s.iter().position(|&b| b == b' ')?;
    Some((&s[..at], &s[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_lines() {
        let chat = Dialect::Chat;
        assert_eq!(chat.parse(b"OK"), Line::Welcome);
        assert_eq!(chat.parse(b"OK\r"), Line::Welcome);
        assert_eq!(chat.parse(b"BYE server-full"), Line::Bye);
        assert_eq!(
            chat.parse(b"INFO b7 connected"),
            Line::Joined {
                room: None,
                nick: b"b7"
            }
        );
        assert_eq!(
            chat.parse(b"INFO b7 disconnected"),
            Line::Left { nick: b"b7" }
        );
        assert_eq!(
            chat.parse(b"JOIN #r3 b7"),
            Line::Joined {
                room: Some(b"#r3"),
                nick: b"b7"
            }
        );
        assert_eq!(
            chat.parse(b"MSG b1 2:3:x y"),
            Line::Msg {
                room: None,
                from: b"b1",
                text: b"2:3:x y"
            }
        );
        assert_eq!(
            chat.parse(b"MSG #r3 b1 2:3:x y"),
            Line::Msg {
                room: Some(b"#r3"),
                from: b"b1",
                text: b"2:3:x y"
            }
        );
        for other in [&b"MSG"[..], b"MSG b1", b"INFO help text", b"", b"\xff"] {
            assert_eq!(chat.parse(other), Line::Other, "{other:?}");
        }
    }

    #[test]
    fn messages_have_the_requested_size() {
        let mut out = Vec::new();
        Dialect::Chat.message(None, 42, 123_456, 64, &mut out);
        assert_eq!(out.len(), 64);
        assert!(out.starts_with(b"MSG 42:123456:x") && out.ends_with(b"x\n"));
        out.clear();
        Dialect::Chat.message(None, 7, 1, 1, &mut out);
        assert_eq!(out, b"MSG 7:1:x\n", "never shorter than the header");
        out.clear();
        Dialect::Chat.message(Some("#r5"), 7, 1, 20, &mut out);
        assert_eq!(out, b"MSG #r5 7:1:xxxxxxx\n");
        out.clear();
        Dialect::Irc.message(None, 7, 1, 30, &mut out);
        assert_eq!(out, b"PRIVMSG #lobby :7:1:xxxxxxxx\r\n");
        assert_eq!(out.len(), 30);
    }
}
