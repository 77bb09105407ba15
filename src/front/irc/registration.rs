//! Connection registration (`CAP`, `PASS`, `NICK`, `USER`) as a pure state
//! machine, and capability negotiation, which goes on after it too.
//!
//! Rules kept: registration completes once the client has a nick and a user
//! and is not negotiating capabilities (`CAP LS` or `CAP REQ` suspend it until
//! `CAP END`), so no `001` comes before `CAP END`; nick rules are the line
//! protocol's (`[A-Za-z0-9_.-]{1,32}`, case-insensitive): anything else is
//! `432`, a nick somebody holds `433` (checked again by the hub, which has
//! the last word; with a `PASS` the nick may be held, as `AUTH` takes a
//! registered name over); `PASS` counts only before `NICK`/`USER` complete
//! and never shows in a `Debug` ([`Secret`]). The
//! only capability offered is `server-time` (implemented fully: see
//! [`super::translate`](mod@super::translate)); `CAP REQ` is acknowledged or refused whole, the
//! answer echoing the request exactly.

use super::numerics::*;
use super::parse::Message;
use super::text;
use crate::protocol::{self, Username};

/// The capabilities this server offers.
const CAPS: &[&str] = &["server-time"];

/// Longest `USER` user name kept (`USERLEN`).
pub const USERLEN: usize = 16;

/// Longest real name kept, in bytes.
const REALNAME_LEN: usize = 100;

/// The capabilities a client has enabled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub server_time: bool,
}

/// What a `CAP` command did to negotiation.
#[derive(Debug, PartialEq, Eq)]
pub enum Negotiation {
    /// `LS` or `REQ`: registration waits for `END`.
    Started,
    Ended,
    /// `LIST`, or an error.
    Unchanged,
}

/// Answers `CAP …` into `out` and applies `REQ` to `caps`.
pub fn cap(
    message: &Message,
    replies: &Replies,
    caps: &mut Caps,
    out: &mut Vec<u8>,
) -> Negotiation {
    let Some(sub) = message.param(0) else {
        replies.need_more_params(out, "CAP");
        return Negotiation::Unchanged;
    };
    let sub = sub.to_ascii_uppercase();
    let mut answer = |sub: &str, list: &str| {
        put(
            out,
            Some(replies.server),
            "CAP",
            &[replies.me, sub],
            Some(list),
        )
    };
    match sub.as_str() {
        "LS" => {
            answer("LS", &CAPS.join(" "));
            Negotiation::Started
        }
        "LIST" => {
            answer("LIST", if caps.server_time { "server-time" } else { "" });
            Negotiation::Unchanged
        }
        "REQ" => {
            let request = message.param(1).unwrap_or("");
            let wanted: Vec<(bool, &str)> = request
                .split(' ')
                .filter(|cap| !cap.is_empty())
                .map(|cap| match cap.strip_prefix('-') {
                    Some(cap) => (false, cap),
                    None => (true, cap),
                })
                .collect();
            let known = !wanted.is_empty() && wanted.iter().all(|(_, cap)| CAPS.contains(cap));
            if known {
                for (on, _) in wanted {
                    caps.server_time = on;
                }
                answer("ACK", request);
            } else {
                answer("NAK", request);
            }
            Negotiation::Started
        }
        "END" => Negotiation::Ended,
        _ => {
            replies.numeric(
                out,
                ERR_INVALIDCAPCMD,
                &[message.param(0).unwrap_or("")],
                "Invalid CAP command",
            );
            Negotiation::Unchanged
        }
    }
}

/// A password from `PASS`, which no `Debug` or log line shows.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// A client that has registered: what the session logs in with.
#[derive(Debug, PartialEq, Eq)]
pub struct Ready {
    pub nick: Username,
    /// Checked, without the `~` it is shown with.
    pub user: String,
    pub realname: String,
    /// A `PASS` sent before registration completed.
    pub password: Option<Secret>,
}

/// Where registration is after one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    Ready(Ready),
    Quit(Option<String>),
}

/// The registration of one connection, until it completes.
#[derive(Debug, Default)]
pub struct Registration {
    nick: Option<Username>,
    /// User name and real name, as sent.
    user: Option<(String, String)>,
    password: Option<Secret>,
    negotiating: bool,
    /// A `Ready` is out and its login not yet answered.
    logging_in: bool,
}

impl Registration {
    /// Handles one line before registration, answering into `out`.
    /// `taken` says whether a nick is somebody's already.
    pub fn handle(
        &mut self,
        message: &Message,
        replies: &Replies,
        caps: &mut Caps,
        taken: &dyn Fn(&Username) -> bool,
        out: &mut Vec<u8>,
    ) -> Verdict {
        let command = message.command.to_ascii_uppercase();
        match command.as_str() {
            "CAP" => match cap(message, replies, caps, out) {
                Negotiation::Started => self.negotiating = true,
                Negotiation::Ended => self.negotiating = false,
                Negotiation::Unchanged => {}
            },
            "PASS" => match message.param(0) {
                Some(password) if !password.is_empty() => {
                    self.password = Some(Secret(password.to_string()))
                }
                _ => replies.need_more_params(out, "PASS"),
            },
            "NICK" => self.nick(message, replies, taken, out),
            "USER" => match (message.param(0), message.param(3)) {
                (Some(user), Some(realname)) if !user.is_empty() && !realname.is_empty() => {
                    self.user = Some((user.to_string(), realname.to_string()));
                }
                _ => replies.need_more_params(out, "USER"),
            },
            "PING" => match message.param(0) {
                Some(token) => replies.pong(out, token),
                None => replies.numeric(out, ERR_NOORIGIN, &[], "No origin specified"),
            },
            "PONG" => {}
            "QUIT" => return Verdict::Quit(message.param(0).map(str::to_string)),
            _ => replies.numeric(out, ERR_NOTREGISTERED, &[], "You have not registered"),
        }
        self.verdict()
    }

    fn nick(
        &mut self,
        message: &Message,
        replies: &Replies,
        taken: &dyn Fn(&Username) -> bool,
        out: &mut Vec<u8>,
    ) {
        let Some(wanted) = message.param(0).filter(|nick| !nick.is_empty()) else {
            replies.numeric(out, ERR_NONICKNAMEGIVEN, &[], "No nickname given");
            return;
        };
        match Username::parse(wanted) {
            Err(_) => replies.numeric(out, ERR_ERRONEUSNICKNAME, &[wanted], "Erroneous nickname"),
            Ok(nick) if self.password.is_none() && taken(&nick) => replies.numeric(
                out,
                ERR_NICKNAMEINUSE,
                &[wanted],
                "Nickname is already in use",
            ),
            Ok(nick) => self.nick = Some(nick),
        }
    }

    /// `Ready` the first time everything is there.
    fn verdict(&mut self) -> Verdict {
        if self.negotiating || self.logging_in {
            return Verdict::Waiting;
        }
        let (Some(nick), Some((user, realname))) = (&self.nick, &self.user) else {
            return Verdict::Waiting;
        };
        self.logging_in = true;
        Verdict::Ready(Ready {
            nick: nick.clone(),
            user: ident(user, nick),
            realname: clean(realname, REALNAME_LEN),
            password: self.password.clone(),
        })
    }

    /// The hub refused the nick after all (somebody took it meanwhile): the
    /// client may send another `NICK`.
    pub fn nick_refused(&mut self) {
        self.nick = None;
        self.logging_in = false;
    }
}

/// The user name as shown: `USERLEN` characters of `A-Z a-z 0-9 _ . -`
/// from what was sent, or the nick if none are left.
fn ident(user: &str, nick: &Username) -> String {
    let kept: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(USERLEN)
        .collect();
    if kept.is_empty() {
        nick.as_str().chars().take(USERLEN).collect()
    } else {
        kept
    }
}

/// Free text from a client (a real name, an away message, a reason) as it
/// may be shown: without formatting codes, controls replaced, at most `max`
/// bytes.
pub fn clean(text: &str, max: usize) -> String {
    let plain = text::strip_formatting(text);
    cut(&protocol::sanitize(&plain), max).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLIES: Replies = Replies {
        server: "irc.test",
        me: "*",
    };

    /// Feeds lines; returns everything answered and the last verdict.
    fn run(registration: &mut Registration, caps: &mut Caps, lines: &[&str]) -> (String, Verdict) {
        let taken = |nick: &Username| nick.as_str().eq_ignore_ascii_case("taken");
        let mut out = Vec::new();
        let mut verdict = Verdict::Waiting;
        for line in lines {
            let message = Message::parse(line).unwrap();
            verdict = registration.handle(&message, &REPLIES, caps, &taken, &mut out);
        }
        (String::from_utf8(out).unwrap(), verdict)
    }

    fn ready(nick: &str, user: &str, realname: &str) -> Verdict {
        Verdict::Ready(Ready {
            nick: Username::parse(nick).unwrap(),
            user: user.into(),
            realname: realname.into(),
            password: None,
        })
    }

    #[test]
    fn nick_and_user_register_in_either_order() {
        for lines in [
            ["NICK alice", "USER al 0 * :Alice L"],
            ["USER al 0 * :Alice L", "NICK alice"],
        ] {
            let (out, verdict) = run(&mut Registration::default(), &mut Caps::default(), &lines);
            assert_eq!(out, "");
            assert_eq!(verdict, ready("alice", "al", "Alice L"));
        }
    }

    #[test]
    fn cap_suspends_registration_until_end() {
        let mut registration = Registration::default();
        let mut caps = Caps::default();
        let (out, verdict) = run(
            &mut registration,
            &mut caps,
            &["CAP LS 302", "NICK a", "USER a 0 * :A"],
        );
        assert_eq!(out, ":irc.test CAP * LS :server-time\r\n");
        assert_eq!(verdict, Verdict::Waiting);
        let (out, verdict) = run(
            &mut registration,
            &mut caps,
            &[
                "CAP REQ :multi-prefix sasl",
                "CAP REQ :server-time",
                "CAP LIST",
                "CAP END",
            ],
        );
        assert_eq!(
            out,
            ":irc.test CAP * NAK :multi-prefix sasl\r\n\
             :irc.test CAP * ACK :server-time\r\n\
             :irc.test CAP * LIST :server-time\r\n"
        );
        assert!(caps.server_time);
        assert_eq!(verdict, ready("a", "a", "A"));
    }

    #[test]
    fn cap_errors() {
        let mut caps = Caps::default();
        let (out, _) = run(
            &mut Registration::default(),
            &mut caps,
            &[
                "CAP LIST",
                "CAP FROB",
                "CAP",
                "CAP REQ :server-time bogus",
                "CAP REQ :-server-time",
            ],
        );
        assert_eq!(
            out,
            ":irc.test CAP * LIST :\r\n\
             :irc.test 410 * FROB :Invalid CAP command\r\n\
             :irc.test 461 * CAP :Not enough parameters\r\n\
             :irc.test CAP * NAK :server-time bogus\r\n\
             :irc.test CAP * ACK :-server-time\r\n"
        );
        assert!(!caps.server_time);
    }

    #[test]
    fn nick_rules() {
        let (out, verdict) = run(
            &mut Registration::default(),
            &mut Caps::default(),
            &[
                "NICK",
                "NICK b@d",
                "NICK taken",
                "NICK é",
                &format!("NICK {}", "n".repeat(33)),
                "USER u 0 * :U",
            ],
        );
        let n33 = "n".repeat(33);
        assert_eq!(
            out,
            format!(
                ":irc.test 431 * :No nickname given\r\n\
                 :irc.test 432 * b@d :Erroneous nickname\r\n\
                 :irc.test 433 * taken :Nickname is already in use\r\n\
                 :irc.test 432 * é :Erroneous nickname\r\n\
                 :irc.test 432 * {n33} :Erroneous nickname\r\n"
            )
        );
        assert_eq!(verdict, Verdict::Waiting, "no nick yet");
    }

    #[test]
    fn a_refused_login_waits_for_another_nick() {
        let mut registration = Registration::default();
        let mut caps = Caps::default();
        let (_, verdict) = run(&mut registration, &mut caps, &["NICK bob", "USER b 0 * :B"]);
        assert_eq!(verdict, ready("bob", "b", "B"));
        // Answered once, however many lines come before the hub answers.
        assert_eq!(
            run(&mut registration, &mut caps, &["PING x"]).1,
            Verdict::Waiting
        );
        registration.nick_refused();
        assert_eq!(
            run(&mut registration, &mut caps, &["NICK bob2"]).1,
            ready("bob2", "b", "B")
        );
    }

    #[test]
    fn other_commands_wait_for_registration() {
        let (out, verdict) = run(
            &mut Registration::default(),
            &mut Caps::default(),
            &[
                "JOIN #a",
                "PING tok",
                "PING",
                "USER onlyone",
                "USER u 0 * :",
            ],
        );
        assert_eq!(
            out,
            ":irc.test 451 * :You have not registered\r\n\
             :irc.test PONG irc.test :tok\r\n\
             :irc.test 409 * :No origin specified\r\n\
             :irc.test 461 * USER :Not enough parameters\r\n\
             :irc.test 461 * USER :Not enough parameters\r\n"
        );
        assert_eq!(verdict, Verdict::Waiting);
        let (_, verdict) = run(
            &mut Registration::default(),
            &mut Caps::default(),
            &["QUIT :bye"],
        );
        assert_eq!(verdict, Verdict::Quit(Some("bye".into())));
    }

    #[test]
    fn pass_counts_before_registration_and_user_fields_are_cleaned() {
        let (_, verdict) = run(
            &mut Registration::default(),
            &mut Caps::default(),
            &[
                "PASS sesame",
                "NICK carol",
                "USER ~c@r\u{FFFD}l!x 0 * :\x02Carol\x02 \u{1b}[2J",
            ],
        );
        assert_eq!(
            verdict,
            Verdict::Ready(Ready {
                nick: Username::parse("carol").unwrap(),
                user: "crlx".into(),
                realname: "Carol \u{FFFD}[2J".into(),
                password: Some(Secret("sesame".into())),
            })
        );
        let (_, verdict) = run(
            &mut Registration::default(),
            &mut Caps::default(),
            &["NICK dave", "USER @@@ 0 * :D"],
        );
        assert_eq!(verdict, ready("dave", "dave", "D"));
        // With a password the nick may be held (AUTH takes a registered name
        // over), and the password shows in no Debug.
        let mut registration = Registration::default();
        let lines = ["PASS sesame12", "NICK taken", "USER t 0 * :T"];
        let (out, verdict) = run(&mut registration, &mut Caps::default(), &lines);
        assert_eq!(out, "");
        assert!(matches!(verdict, Verdict::Ready(_)));
        assert!(!format!("{verdict:?} {registration:?}").contains("sesame"));
        // Kept for another try after a refused login.
        registration.nick_refused();
        let (_, verdict) = run(&mut registration, &mut Caps::default(), &["NICK other"]);
        assert!(matches!(
            verdict,
            Verdict::Ready(Ready {
                password: Some(_),
                ..
            })
        ));
    }
}
