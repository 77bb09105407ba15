//! The wire protocol, with no sockets in sight: parsing a client's line into a
//! [`Command`], validating names ([`Username`]), and formatting every line the
//! server sends ([`ServerLine`]) as well as parsing it back, for the terminal
//! client.
//!
//! Keeping this pure means the whole grammar is unit-tested here, and neither
//! the session nor the client decides how a line is spelled, only what to do
//! with it.
//!
//! Lines are UTF-8 and end in `\n` (the framing lives in the lines front); the
//! command word is case-insensitive, arguments are separated by spaces, and
//! surrounding whitespace (including the `\r` that telnet sends) is trimmed,
//! except around a password (see [`parse`]).

mod command;
mod error;
mod names;
mod password;
mod sanitize;
mod server_line;

pub use command::{parse, split_word, Command, DEFAULT_HISTORY, HELP_TEXT, MAX_HISTORY};
pub use error::ErrorCode;
pub use names::{RoomName, Username, LOBBY, MAX_NAME_LEN};
pub use password::{Password, MAX_PASSWORD, MIN_PASSWORD};
pub use sanitize::sanitize;
pub use server_line::ServerLine;

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn command_words_are_case_insensitive_and_trimmed() {
        assert_eq!(parse("LOGIN alice"), Command::Login("alice"));
        assert_eq!(parse("  login   alice \r"), Command::Login("alice"));
        assert_eq!(
            parse("Msg hello  world "),
            Command::Msg(None, "hello  world")
        );
        assert_eq!(parse("who"), Command::Who(None));
        assert_eq!(parse("QUIT"), Command::Quit);
        assert_eq!(parse("help"), Command::Help);
        assert_eq!(parse(" \t\r"), Command::Empty);
        assert_eq!(parse("LOGINalice"), Command::Unknown);
        assert_eq!(parse("HELLO there"), Command::Unknown);
    }

    #[test]
    fn arguments() {
        assert_eq!(parse("MSG"), Command::Msg(None, ""));
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
    fn room_commands() {
        assert_eq!(
            parse("MSG #rust hi there"),
            Command::Msg(Some("#rust"), "hi there")
        );
        assert_eq!(parse("MSG #rust"), Command::Msg(Some("#rust"), ""));
        assert_eq!(parse("MSG # x"), Command::Msg(Some("#"), "x"));
        assert_eq!(parse("MSG hi #rust"), Command::Msg(None, "hi #rust"));
        assert_eq!(parse("join #a"), Command::Join("#a"));
        assert_eq!(parse("JOIN"), Command::Join(""));
        assert_eq!(parse("PART #a"), Command::Part("#a"));
        assert_eq!(parse("WHO #a"), Command::Who(Some("#a")));
        // As in v1, words after WHO that name no room are ignored.
        assert_eq!(parse("WHO IS THERE?"), Command::Who(None));
        assert_eq!(parse("rooms"), Command::Rooms);
        for free in [
            "JOIN #a", "PART #a", "ROOMS", "HISTORY", "WHO #a", "MSG #a b",
        ] {
            assert!(parse(free).needs_login(), "{free}");
        }
    }

    #[test]
    fn account_commands_keep_the_password_as_sent() {
        let pw = |command: Command| -> Vec<u8> {
            match command {
                Command::Register(p) | Command::Password(p) | Command::Auth(_, p) => {
                    p.as_bytes().to_vec()
                }
                other => panic!("not an account command: {other:?}"),
            }
        };
        assert_eq!(pw(parse("REGISTER hunter22")), b"hunter22");
        // Everything after the one separating space, up to the line end.
        assert_eq!(pw(parse("register  two  spaces \r")), b" two  spaces ");
        assert_eq!(pw(parse("  PASSWORD new one ")), b"new one ");
        assert_eq!(pw(parse("REGISTER")), b"");
        assert_eq!(pw(parse("REGISTER ")), b"");
        assert_eq!(pw(parse("REGISTER\té 🌍")), "é 🌍".as_bytes());
        match parse("AUTH  alice  pass word \r") {
            Command::Auth(name, password) => {
                assert_eq!(name, "alice");
                assert_eq!(password.as_bytes(), b" pass word ");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse("auth alice"), Command::Auth("alice", p) if p.as_bytes().is_empty())
        );
        assert!(matches!(parse("AUTH"), Command::Auth("", _)));
        assert!(parse("REGISTER x").needs_login());
        assert!(parse("PASSWORD x").needs_login());
        assert!(!parse("AUTH a b").needs_login());
        assert_eq!(parse("REGISTERx"), Command::Unknown);
        // A command's Debug never shows its password.
        let shown = format!("{:?}", parse("AUTH alice s3cret-pw"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn history_arguments() {
        let history = |line| match parse(line) {
            Command::History(args) => args,
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(history("HISTORY"), Ok((None, DEFAULT_HISTORY)));
        assert_eq!(history("HISTORY 7"), Ok((None, 7)));
        assert_eq!(
            history("HISTORY #rust"),
            Ok((Some("#rust"), DEFAULT_HISTORY))
        );
        assert_eq!(history("history #rust 1000"), Ok((Some("#rust"), 1000)));
        assert_eq!(history("HISTORY #b@d 3"), Ok((Some("#b@d"), 3)));
        for bad in [
            "HISTORY 0",
            "HISTORY 1001",
            "HISTORY -1",
            "HISTORY ten",
            "HISTORY #a 5 6",
            "HISTORY 5 #a",
            "HISTORY #a #b",
            "HISTORY 99999999999999999999999",
        ] {
            assert_eq!(history(bad), Err(ErrorCode::InvalidHistory), "{bad}");
        }
    }

    #[test]
    fn room_names() {
        for ok in ["#a", "#Rust", "#x.y-z_1", &format!("#{}", "n".repeat(32))] {
            assert_eq!(RoomName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "#",
            "rust",
            "##a",
            "#a b",
            "#é",
            &format!("#{}", "n".repeat(33)),
        ] {
            assert_eq!(RoomName::parse(bad), Err(ErrorCode::InvalidRoom), "{bad:?}");
        }
        assert_eq!(RoomName::parse("#Rust"), RoomName::parse("#rUST"));
        assert!(RoomName::parse("#LOBBY").unwrap().is_lobby());
        assert!(!RoomName::parse("#lobby2").unwrap().is_lobby());
        assert_eq!(RoomName::lobby().as_str(), LOBBY);
        assert_eq!(RoomName::parse("#Rust").unwrap().folded(), "#rust");
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
        for text in ["hi", "#not a room", "  spaced  ", ""] {
            round_trip(ServerLine::RoomMsg("#rust", "bob", text));
            round_trip(ServerLine::Hist {
                room: "#rust",
                seq: 18_446_744_073_709_551_615,
                time: "2026-12-01T18:04:05.123Z",
                from: "bob",
                text,
            });
        }
        round_trip(ServerLine::Join("#Rust", "bob"));
        round_trip(ServerLine::Part("#rust", "bob"));
        round_trip(ServerLine::Room("#lobby", 10_000));
        round_trip(ServerLine::History("#rust", 0));
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
