//! The server's lines (the line protocol's) as one IRC client sees them:
//! the codec's pure core.
//!
//! | server line | IRC |
//! |---|---|
//! | `MSG <from> <text>` | `:from!… PRIVMSG #lobby :text` |
//! | `MSG #room <from> <text>` | `:from!… PRIVMSG #room :text` |
//! | `DM <from> <text>` | `:from!… PRIVMSG <me> :text` |
//! | `JOIN #room <name>`, `PART #room <name>` | `:name!… JOIN #room`, `:name!… PART #room [:reason]` |
//! | `INFO <name> connected` / `disconnected` | `:name!… JOIN #lobby` / `:name!… QUIT :reason` |
//! | `HIST #room …` | `@time=… PRIVMSG` with `server-time`, else a `NOTICE` marked `[history …]` |
//! | `ERR <code>` | the numeric for the command it answers (see [`Pending`]) |
//!
//! Rules kept: the client's own messages are not echoed back (IRC clients
//! show what they send themselves; their `JOIN` and `PART` are); message
//! text too long for one IRC line is split into several, between
//! characters; a `NOTICE` is never answered with an error; with
//! `server-time` every relayed line carries `@time=`.

use super::numerics::{self, put, Replies};
use super::parse::MAX_LINE;
use super::registry::Seen;
use super::text;
use crate::protocol::{ErrorCode, ServerLine, LOBBY};

/// What the command the session is carrying out was, so that an `ERR` it
/// answers with can be worded as IRC's numeric for it, naming its target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Pending {
    /// Nothing in particular (a reply the front wrote, an over-long line).
    #[default]
    None,
    /// Logging in as this nick.
    Login(String),
    /// A `PRIVMSG` or `NOTICE` to a channel or a nick.
    Message {
        target: String,
        notice: bool,
    },
    Join(String),
    Part(String),
}

/// Who the lines are for.
pub struct Recipient<'a> {
    pub replies: Replies<'a>,
    /// The `@time=` of relayed lines, when the client asked for `server-time`.
    pub time: Option<&'a str>,
}

/// Appends what `line` is for the recipient. `seen` says how a user
/// appears (and what it is saying); `OK` is the codec's to handle.
pub fn translate(
    line: ServerLine<'_>,
    to: &Recipient,
    pending: &Pending,
    seen: &dyn Fn(&str) -> Seen,
    out: &mut Vec<u8>,
) {
    let me = to.replies.me;
    let is_me = |name: &str| name.eq_ignore_ascii_case(me);
    match line {
        ServerLine::Ok | ServerLine::History(..) => {}
        ServerLine::Err(code) => error(code, pending, &to.replies, out),
        ServerLine::Msg(from, text) if !is_me(from) => {
            message(out, to.time, &seen(from), LOBBY, text);
        }
        ServerLine::RoomMsg(room, from, text) if !is_me(from) => {
            message(out, to.time, &seen(from), room, text);
        }
        ServerLine::Msg(..) | ServerLine::RoomMsg(..) => {}
        ServerLine::Dm(from, text) => message(out, to.time, &seen(from), me, text),
        ServerLine::Join(room, name) => {
            relay(out, to.time, &seen(name).mask, "JOIN", &[room], None)
        }
        ServerLine::Part(room, name) => {
            let who = seen(name);
            relay(
                out,
                to.time,
                &who.mask,
                "PART",
                &[room],
                who.saying.reason.as_deref(),
            );
        }
        ServerLine::Info(info) => match info.rsplit_once(' ') {
            Some((name, "connected")) if !name.contains(' ') => {
                relay(out, to.time, &seen(name).mask, "JOIN", &[LOBBY], None);
            }
            Some((name, "disconnected")) if !name.contains(' ') => {
                let who = seen(name);
                let reason = who.saying.reason.as_deref().unwrap_or("Disconnected");
                relay(out, to.time, &who.mask, "QUIT", &[], Some(reason));
            }
            _ => to.replies.notice(out, info),
        },
        ServerLine::Hist {
            room,
            time,
            from,
            text,
            ..
        } => {
            let who = Seen {
                saying: Default::default(),
                ..seen(from)
            };
            match to.time {
                Some(_) => message(out, Some(time), &who, room, text),
                None => {
                    let marked = format!("[history {}] {text}", readable(time));
                    let notice = Seen {
                        saying: super::registry::Saying {
                            notice: true,
                            reason: None,
                        },
                        ..who
                    };
                    message(out, None, &notice, room, &marked);
                }
            }
        }
        // Answers to commands this front never sends; said as they are.
        ServerLine::Room(..) | ServerLine::User(_) | ServerLine::Pong(_) | ServerLine::Bye(_) => {
            let text = line.to_bytes();
            to.replies
                .notice(out, String::from_utf8_lossy(&text).trim_end());
        }
    }
}

/// `2026-12-01 18:04:05 UTC` for an RFC 3339 time with milliseconds.
fn readable(time: &str) -> String {
    match (time.get(..10), time.get(11..19)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => time.to_string(),
    }
}

/// Appends a relayed line, with its `@time=` when asked for.
fn relay(
    out: &mut Vec<u8>,
    time: Option<&str>,
    mask: &str,
    command: &str,
    middle: &[&str],
    trailing: Option<&str>,
) {
    if let Some(time) = time {
        out.extend_from_slice(b"@time=");
        out.extend_from_slice(time.as_bytes());
        out.push(b' ');
    }
    put(out, Some(mask), command, middle, trailing);
}

/// Appends `from`'s message to `target` as `PRIVMSG`s (or `NOTICE`s), as
/// many as its text needs.
fn message(out: &mut Vec<u8>, time: Option<&str>, from: &Seen, target: &str, text: &str) {
    let command = if from.saying.notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    };
    let (action, body) = text::to_irc(text);
    // `:mask COMMAND target :` … `CR LF`, and `\x01ACTION ` … `\x01`.
    let overhead = 1 + from.mask.len() + 1 + command.len() + 1 + target.len() + 2 + 2;
    let overhead = overhead + if action { 9 } else { 0 };
    for piece in text::split(body, MAX_LINE.saturating_sub(overhead)) {
        if action {
            let piece = format!("\x01ACTION {piece}\x01");
            relay(out, time, &from.mask, command, &[target], Some(&piece));
        } else {
            relay(out, time, &from.mask, command, &[target], Some(piece));
        }
    }
}

/// The numeric (or notice) for `ERR <code>`, given what it answers.
fn error(code: ErrorCode, pending: &Pending, replies: &Replies, out: &mut Vec<u8>) {
    use numerics::*;
    let target = match pending {
        // Never an error for a NOTICE.
        Pending::Message { notice: true, .. } => return,
        Pending::Message { target, .. } | Pending::Join(target) | Pending::Part(target) => {
            target.as_str()
        }
        Pending::Login(nick) => nick.as_str(),
        Pending::None => "*",
    };
    let mut numeric = |code, text| replies.numeric(out, code, &[target], text);
    match (code, pending) {
        (ErrorCode::UsernameTaken, _) => numeric(ERR_NICKNAMEINUSE, "Nickname is already in use"),
        (ErrorCode::NameReserved, _) => numeric(
            ERR_NICKNAMEINUSE,
            "Nickname is registered: connect with its password (PASS)",
        ),
        // The login is tried again without the password (see the client).
        (ErrorCode::NotRegistered, Pending::Login(_)) => {}
        (ErrorCode::WrongPassword, _) => {
            replies.numeric(out, ERR_PASSWDMISMATCH, &[], "Password incorrect")
        }
        (ErrorCode::RateLimited, Pending::Login(_)) => replies.numeric(
            out,
            ERR_PASSWDMISMATCH,
            &[],
            "Too many attempts: try again later",
        ),
        (ErrorCode::InvalidUsername, _) => numeric(ERR_ERRONEUSNICKNAME, "Erroneous nickname"),
        (ErrorCode::NotInRoom, Pending::Part(_)) => {
            numeric(ERR_NOTONCHANNEL, "You're not on that channel")
        }
        (ErrorCode::NotInRoom, _) => numeric(
            ERR_CANNOTSENDTOCHAN,
            "Cannot send to channel (join it first)",
        ),
        (ErrorCode::StorageFailed, _) => numeric(
            ERR_CANNOTSENDTOCHAN,
            "Cannot send to channel: the server cannot store messages right now",
        ),
        (ErrorCode::UserNotFound, _) => numeric(ERR_NOSUCHNICK, "No such nick/channel"),
        (ErrorCode::InvalidRoom | ErrorCode::NoSuchRoom, _) => {
            numeric(ERR_NOSUCHCHANNEL, "No such channel")
        }
        (ErrorCode::TooManyRooms, _) => {
            numeric(ERR_TOOMANYCHANNELS, "You have joined too many channels")
        }
        // JOIN of a channel one is on: IRC servers say nothing.
        (ErrorCode::AlreadyInRoom, _) => {}
        (ErrorCode::EmptyMessage | ErrorCode::InvalidDm, _) => {
            replies.numeric(out, ERR_NOTEXTTOSEND, &[], "No text to send")
        }
        (ErrorCode::NotLoggedIn, _) => {
            replies.numeric(out, ERR_NOTREGISTERED, &[], "You have not registered")
        }
        (ErrorCode::LineTooLong, _) => {
            replies.numeric(out, ERR_INPUTTOOLONG, &[], "Input line was too long")
        }
        (ErrorCode::RateLimited, _) => replies.notice(
            out,
            "You are sending too fast: that line was dropped (flood limit)",
        ),
        (other, _) => replies.notice(out, &format!("Error: {}", other.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::irc::registry::Saying;

    fn seen(name: &str) -> Seen {
        let (mask, saying) = match name {
            "ircy" => (
                "ircy!~iy@irc".to_string(),
                Saying {
                    notice: true,
                    reason: Some("bye now".into()),
                },
            ),
            _ => (format!("{name}!{name}@chat"), Saying::default()),
        };
        Seen { mask, saying }
    }

    fn irc(line: &str, time: Option<&str>, pending: &Pending) -> String {
        let to = Recipient {
            replies: Replies {
                server: "irc.test",
                me: "me",
            },
            time,
        };
        let mut out = Vec::new();
        let line = ServerLine::parse(line).expect("a server line");
        translate(line, &to, pending, &seen, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn plain(line: &str) -> String {
        irc(line, None, &Pending::None)
    }

    #[test]
    fn the_table() {
        assert_eq!(
            plain("MSG #rust alice hi"),
            ":alice!alice@chat PRIVMSG #rust :hi\r\n"
        );
        assert_eq!(
            plain("MSG alice hi all"),
            ":alice!alice@chat PRIVMSG #lobby :hi all\r\n"
        );
        assert_eq!(
            plain("DM alice psst"),
            ":alice!alice@chat PRIVMSG me :psst\r\n"
        );
        assert_eq!(
            plain("DM me note to self"),
            ":me!me@chat PRIVMSG me :note to self\r\n"
        );
        assert_eq!(
            plain("JOIN #rust alice"),
            ":alice!alice@chat JOIN #rust\r\n"
        );
        assert_eq!(
            plain("PART #rust alice"),
            ":alice!alice@chat PART #rust\r\n"
        );
        assert_eq!(
            plain("INFO alice connected"),
            ":alice!alice@chat JOIN #lobby\r\n"
        );
        assert_eq!(
            plain("INFO alice disconnected"),
            ":alice!alice@chat QUIT :Disconnected\r\n"
        );
        assert_eq!(
            plain("MSG #rust alice /me waves"),
            ":alice!alice@chat PRIVMSG #rust :\x01ACTION waves\x01\r\n"
        );
        assert_eq!(plain("OK"), "");
        assert_eq!(plain("HISTORY #rust 2"), "");
    }

    #[test]
    fn own_messages_are_not_echoed_but_own_joins_are() {
        assert_eq!(plain("MSG #rust me hi"), "");
        assert_eq!(plain("MSG ME hi"), "");
        assert_eq!(plain("JOIN #rust me"), ":me!me@chat JOIN #rust\r\n");
    }

    #[test]
    fn what_an_irc_user_is_saying_travels_with_its_lines() {
        assert_eq!(
            plain("MSG #rust ircy hi"),
            ":ircy!~iy@irc NOTICE #rust :hi\r\n"
        );
        assert_eq!(
            plain("PART #rust ircy"),
            ":ircy!~iy@irc PART #rust :bye now\r\n"
        );
        assert_eq!(
            plain("INFO ircy disconnected"),
            ":ircy!~iy@irc QUIT :bye now\r\n"
        );
    }

    #[test]
    fn history_is_marked_or_timed() {
        let hist = "HIST #rust 7 2026-12-01T18:04:05.123Z bob the build is green";
        assert_eq!(
            plain(hist),
            ":bob!bob@chat NOTICE #rust :[history 2026-12-01 18:04:05 UTC] the build is green\r\n"
        );
        assert_eq!(
            irc(hist, Some("2027-01-01T00:00:00.000Z"), &Pending::None),
            "@time=2026-12-01T18:04:05.123Z :bob!bob@chat PRIVMSG #rust :the build is green\r\n"
        );
        // Own history is shown: the client has not seen it.
        assert!(
            plain("HIST #rust 8 2026-12-01T18:04:06.000Z me mine").contains(":me!me@chat NOTICE")
        );
    }

    #[test]
    fn server_time_stamps_every_relayed_line() {
        let now = Some("2026-12-01T18:04:05.123Z");
        assert_eq!(
            irc("JOIN #rust alice", now, &Pending::None),
            "@time=2026-12-01T18:04:05.123Z :alice!alice@chat JOIN #rust\r\n"
        );
        assert!(
            irc("ERR not-in-room", now, &Pending::Part("#x".into())).starts_with(":irc.test 442")
        );
    }

    #[test]
    fn long_text_is_split_between_characters_into_lines_that_fit() {
        let text = "ünïcödé ".repeat(200);
        let out = plain(&format!("MSG #rust alice {text}"));
        let mut joined = String::new();
        for line in out.split_terminator("\r\n") {
            assert!(line.len() + 2 <= MAX_LINE, "{}", line.len());
            let (head, piece) = line.split_once(" :").unwrap();
            assert_eq!(head, ":alice!alice@chat PRIVMSG #rust");
            joined.push_str(piece);
        }
        assert!(out.split_terminator("\r\n").count() > 1);
        assert_eq!(joined, text, "nothing lost");
        let action = plain(&format!("MSG #rust alice /me {}", "x".repeat(1000)));
        for line in action.split_terminator("\r\n") {
            assert!(line.len() + 2 <= MAX_LINE);
            assert!(line.ends_with("\x01") && line.contains(":\x01ACTION x"));
        }
    }

    #[test]
    fn errors_name_what_they_answer_and_a_notice_gets_none() {
        let message = |notice| Pending::Message {
            target: "#x".into(),
            notice,
        };
        assert_eq!(
            irc("ERR not-in-room", None, &message(false)),
            ":irc.test 404 me #x :Cannot send to channel (join it first)\r\n"
        );
        assert_eq!(irc("ERR not-in-room", None, &message(true)), "");
        assert_eq!(irc("ERR rate-limited", None, &message(true)), "");
        assert_eq!(
            irc("ERR not-in-room", None, &Pending::Part("#x".into())),
            ":irc.test 442 me #x :You're not on that channel\r\n"
        );
        assert_eq!(
            irc(
                "ERR user-not-found",
                None,
                &Pending::Message {
                    target: "bob".into(),
                    notice: false
                }
            ),
            ":irc.test 401 me bob :No such nick/channel\r\n"
        );
        assert_eq!(
            irc("ERR too-many-rooms", None, &Pending::Join("#y".into())),
            ":irc.test 405 me #y :You have joined too many channels\r\n"
        );
        assert_eq!(
            irc("ERR already-in-room", None, &Pending::Join("#y".into())),
            ""
        );
        assert_eq!(
            irc("ERR line-too-long", None, &Pending::None),
            ":irc.test 417 me :Input line was too long\r\n"
        );
        assert_eq!(
            irc("ERR username-taken", None, &Pending::Login("bob".into())),
            ":irc.test 433 me bob :Nickname is already in use\r\n"
        );
    }
}
