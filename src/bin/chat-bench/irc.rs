//! IRC as the bench speaks it (`--irc`), to run the same workloads against
//! other servers (ngIRCd, InspIRCd): `NICK`/`USER`, then after `001` a `JOIN`
//! of the client's channels (the lobby is `#lobby`), `PRIVMSG` to send, `PONG`
//! to every `PING`. IRC does not echo a message to its sender, so a sender
//! expects nobody's copy but the others'.
//!
//! Only the few lines a run needs are read (RFC 2812 message format:
//! `[:prefix] command params… [:trailing]`); every other line is
//! [`Line::Other`].

use crate::dialect::Line;

/// The longest line IRC allows, `\r\n` included (RFC 2812, 2.3).
pub const MAX_LINE: usize = 512;

/// Registration: `NICK` and `USER` (the answer, `001`, is awaited by the reader).
pub fn login(nick: &str) -> Vec<u8> {
    format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").into_bytes()
}

/// One `JOIN` for all of `channels`.
pub fn join<'c>(channels: impl IntoIterator<Item = &'c str>) -> Vec<u8> {
    let channels: Vec<&str> = channels.into_iter().collect();
    format!("JOIN {}\r\n", channels.join(",")).into_bytes()
}

/// The answer to `PING <token>`.
pub fn pong(token: &[u8]) -> Vec<u8> {
    [b"PONG :", token, b"\r\n"].concat()
}

/// Reads one IRC line (without `\r\n`).
pub fn parse(line: &[u8]) -> Line<'_> {
    let (prefix, rest) = match line.strip_prefix(b":") {
        Some(tagged) => match split_word(tagged) {
            (prefix, Some(rest)) => (Some(prefix), rest),
            (_, None) => return Line::Other,
        },
        None => (None, line),
    };
    let (command, params) = split_word(rest);
    let params = params.unwrap_or_default();
    let nick = prefix.map(|p| p.split(|&b| b == b'!').next().unwrap_or(p));
    match (command, nick) {
        (b"001", _) => Line::Welcome,
        (b"ERROR", _) => Line::Bye,
        // 432/433: a nickname refused or in use, before registration.
        (b"432" | b"433", _) => Line::Bye,
        (b"PING", _) => Line::Ping {
            token: trailing(params),
        },
        (b"366", _) => {
            // `366 <me> <channel> :End of /NAMES list`
            let (_me, after) = split_word(params);
            let (channel, _) = split_word(after.unwrap_or_default());
            Line::JoinDone { room: channel }
        }
        (b"JOIN", Some(nick)) => Line::Joined {
            room: Some(trailing(params)),
            nick,
        },
        (b"QUIT", Some(nick)) => Line::Left { nick },
        (b"PRIVMSG", Some(from)) => match split_word(params) {
            (channel, Some(text)) => Line::Msg {
                room: Some(channel),
                from,
                text: text.strip_prefix(b":").unwrap_or(text),
            },
            (_, None) => Line::Other,
        },
        _ => Line::Other,
    }
}

/// The first word and what follows the space after it.
fn split_word(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == b' ') {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    }
}

/// The last parameter: after ` :` if there is one, else the first word.
fn trailing(params: &[u8]) -> &[u8] {
    match params.strip_prefix(b":") {
        Some(text) => text,
        None => match params.windows(2).position(|w| w == b" :") {
            Some(at) => &params[at + 2..],
            None => split_word(params).0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_a_run_needs() {
        assert_eq!(
            parse(b":irc.local 001 b0 :Welcome to the network b0!b0@127.0.0.1"),
            Line::Welcome
        );
        assert_eq!(
            parse(b":irc.local 366 b0 #lobby :End of /NAMES list."),
            Line::JoinDone { room: b"#lobby" }
        );
        // ngIRCd and InspIRCd spell a JOIN differently.
        for join in [
            &b":b3!~b3@localhost JOIN :#lobby"[..],
            b":b3!b3@127.0.0.1 JOIN #lobby",
        ] {
            assert_eq!(
                parse(join),
                Line::Joined {
                    room: Some(b"#lobby"),
                    nick: b"b3"
                }
            );
        }
        assert_eq!(
            parse(b":b3!~b3@localhost PRIVMSG #r7 :12:345:xx x"),
            Line::Msg {
                room: Some(b"#r7"),
                from: b"b3",
                text: b"12:345:xx x"
            }
        );
        assert_eq!(
            parse(b":stalled!~s@localhost QUIT :Write error"),
            Line::Left { nick: b"stalled" }
        );
        assert_eq!(
            parse(b"PING :irc.local"),
            Line::Ping {
                token: b"irc.local"
            }
        );
        assert_eq!(
            parse(b":irc.local PING irc.local :tok"),
            Line::Ping { token: b"tok" }
        );
        assert_eq!(parse(b"ERROR :Closing link"), Line::Bye);
        assert_eq!(parse(b":irc.local 433 * b0 :Nickname in use"), Line::Bye);
        for other in [
            &b":irc.local 353 b0 = #lobby :b0 b1"[..],
            b":irc.local NOTICE * :*** Looking up your hostname",
            b":",
            b"",
            b":b3!x PRIVMSG",
        ] {
            assert_eq!(parse(other), Line::Other, "{other:?}");
        }
    }

    #[test]
    fn what_the_bench_sends() {
        assert_eq!(login("b1"), b"NICK b1\r\nUSER b1 0 * :b1\r\n");
        assert_eq!(join(["#r1", "#r2"]), b"JOIN #r1,#r2\r\n");
        assert_eq!(pong(b"irc.local"), b"PONG :irc.local\r\n");
    }
}
