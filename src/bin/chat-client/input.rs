//! What a typed line means: [`interpret`] turns it into an [`Input`] (a
//! protocol line to send, or a local action), a pure function tested without a
//! socket, and [`name_from_prompt`] reads a name typed at the login prompt.
//!
//! The rule kept: a line is sent as typed only when it is exactly one of the
//! protocol's commands, upper case and with the arguments that command takes
//! (`WHO`, `WHO #room`, `JOIN #room`, `DM bob hi`, ...). Anything else, such as
//! `WHO IS THERE?`, is something the user says.

use chat::protocol::{self, split_word, Command, RoomName, DEFAULT_HISTORY, LOBBY};

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A blank line: nothing to do.
    Nothing,
    /// Say this in the current room.
    Say(String),
    /// Send this protocol line (without its `\n`) as it is.
    Send(String),
    /// A private message, confirmed once the server took it.
    Dm(String, String),
    /// List who is in a room (the current one when `None`), on one line.
    Who(Option<String>),
    /// List the rooms, on one line.
    Rooms,
    Join(String),
    /// Leave a room (the current one when `None`).
    Part(Option<String>),
    /// The last messages of a room (the current one when `None`).
    History(Option<String>, usize),
    /// Send plain lines to this room from now on; `None` lists the rooms.
    Switch(Option<String>),
    /// Measure the round trip to the server.
    Ping,
    /// Make the name ours with a password (asked for, twice, unshown).
    Register,
    /// Change the name's password (asked for, twice, unshown).
    ChangePassword,
    /// Leave.
    Quit,
    /// Show the client's commands.
    Help,
    /// A mistake, explained without bothering the server.
    Mistake(String),
}

/// What the client's `/help` shows.
pub const CLIENT_HELP: &[&str] = &[
    "commands:",
    "  /join #room      join a room (made if new); plain lines go there",
    "  /part [#room]    leave a room (the current one)",
    "  /go #room        plain lines go to that room (also /switch); /go lists yours",
    "  /rooms           the rooms with people in them",
    "  /history [N]     the last N messages of the current room (default 50)",
    "  /who [#room]     who is in the current room (or that one)",
    "  /dm NAME TEXT    a private message (also /msg)",
    "  /ping            the round trip to the server",
    "  /register        make your name yours with a password (asked twice, not shown)",
    "  /password        change that password (asked twice, not shown)",
    "  /quit            leave (so does Ctrl-D)",
    "  /help            this list",
    "anything else is said in the current room (start it with // to begin with a /);",
    "a line that is exactly a protocol command (MSG text, WHO, JOIN #room...) is sent as typed",
    "keys: Left Right Home End Ctrl-A Ctrl-E Ctrl-W Ctrl-U Ctrl-K, Up Down (history), Tab, Ctrl-L",
];

/// The commands Tab completes.
pub const COMMANDS: &[&str] = &[
    "/join",
    "/part",
    "/go",
    "/switch",
    "/rooms",
    "/history",
    "/who",
    "/dm",
    "/msg",
    "/ping",
    "/register",
    "/password",
    "/quit",
    "/help",
];

/// Turns one typed line (its `\n` or `\r\n` optional) into what to do.
pub fn interpret(typed: &str) -> Input {
    let line = typed.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Input::Nothing;
    }
    if let Some(command) = line.strip_prefix('/') {
        return if command.starts_with('/') {
            Input::Say(command.to_string())
        } else {
            slash_command(command)
        };
    }
    protocol_line(line.trim()).unwrap_or_else(|| Input::Say(line.to_string()))
}

/// The line as a protocol command, if it is exactly one, upper case.
fn protocol_line(line: &str) -> Option<Input> {
    let (word, rest) = split_word(line);
    if word.bytes().any(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let one_room = |rest: &str| RoomName::parse(rest).is_ok().then(|| rest.to_string());
    Some(match protocol::parse(line) {
        Command::Who(_) if rest.is_empty() => Input::Who(None),
        Command::Who(Some(room)) if room == rest => Input::Who(Some(one_room(rest)?)),
        Command::Quit if rest.is_empty() => Input::Quit,
        Command::Rooms if rest.is_empty() => Input::Rooms,
        Command::Help if rest.is_empty() => Input::Send(line.to_string()),
        Command::Join(_) => Input::Join(one_room(rest)?),
        Command::Part(_) => Input::Part(Some(one_room(rest)?)),
        Command::History(Ok((room, count))) => {
            Input::History(Some(room.unwrap_or(LOBBY).to_string()), count)
        }
        Command::Dm(Some((to, text))) => Input::Dm(to.to_string(), text.to_string()),
        Command::Login(name) if !name.is_empty() => Input::Send(line.to_string()),
        Command::Msg(_, text) if !text.is_empty() => Input::Send(line.to_string()),
        Command::Ping(_) => Input::Send(line.to_string()),
        // Typed, the password would be on the screen and in the history, and
        // said to everybody if it were taken for a message: neither is done.
        Command::Register(_) | Command::Password(_) | Command::Auth(..) => Input::Mistake(
            "nothing was sent: /register and /password ask for the password without showing it"
                .into(),
        ),
        _ => return None,
    })
}

/// A line that started with `/`, without the slash.
fn slash_command(command: &str) -> Input {
    let (word, rest) = split_word(command);
    let rest = rest.trim();
    let room_arg = |rest: &str| match rest {
        "" => Ok(None),
        room => room_name(room).map(Some),
    };
    let input = match word.to_ascii_lowercase().as_str() {
        "who" => room_arg(rest).map(Input::Who),
        "rooms" => Ok(Input::Rooms),
        "ping" => Ok(Input::Ping),
        "register" => Ok(Input::Register),
        "password" => Ok(Input::ChangePassword),
        "quit" => Ok(Input::Quit),
        "help" => Ok(Input::Help),
        "join" if rest.is_empty() => Err(format!("usage: /{word} #room")),
        "join" => room_name(rest).map(Input::Join),
        "part" | "leave" => room_arg(rest).map(Input::Part),
        "go" | "switch" => room_arg(rest).map(Input::Switch),
        "history" => history_args(rest),
        "dm" | "msg" => match split_word(rest) {
            (name, text) if !name.is_empty() && !text.trim().is_empty() => {
                Ok(Input::Dm(name.to_string(), text.to_string()))
            }
            _ => Err(format!("usage: /{word} NAME TEXT")),
        },
        _ => Err(format!("unknown command /{word}; /help lists the commands")),
    };
    input.unwrap_or_else(Input::Mistake)
}

/// A room as typed after a command: `#rust`, or `rust` meaning `#rust`.
fn room_name(typed: &str) -> Result<String, String> {
    let room = if typed.starts_with('#') {
        typed.to_string()
    } else {
        format!("#{typed}")
    };
    match RoomName::parse(&room) {
        Ok(_) => Ok(room),
        Err(_) => Err(format!(
            "{typed} is not a room name: '#' and 1 to 32 letters, digits, '_', '.' or '-'"
        )),
    }
}

/// `/history [#room] [N]`.
fn history_args(rest: &str) -> Result<Input, String> {
    let usage = || "usage: /history [#room] [N], N from 1 to 1000".to_string();
    let mut words = rest.split_whitespace().peekable();
    let room = match words.next_if(|word| word.starts_with('#')) {
        Some(room) => Some(room_name(room)?),
        None => None,
    };
    let count = match words.next() {
        None => DEFAULT_HISTORY,
        Some(word) => match word.parse::<usize>() {
            Ok(n) if (1..=protocol::MAX_HISTORY).contains(&n) => n,
            _ => return Err(usage()),
        },
    };
    match words.next() {
        None => Ok(Input::History(room, count)),
        Some(_) => Err(usage()),
    }
}

/// Whether a typed line holds a password (`REGISTER`, `PASSWORD` or `AUTH`
/// typed as a protocol line): it is not kept in the input history.
pub fn carries_password(typed: &str) -> bool {
    matches!(interpret(typed), Input::Mistake(_))
        && matches!(
            protocol::parse(typed.trim_start()),
            Command::Register(_) | Command::Password(_) | Command::Auth(..)
        )
}

/// The protocol line that says `text` in `room`. Lobby text that starts
/// with `#` names the lobby, or the server would read a room name in it.
pub fn say_line(room: &str, text: &str) -> String {
    if room.eq_ignore_ascii_case(LOBBY) && !text.starts_with('#') {
        format!("MSG {text}")
    } else {
        format!("MSG {room} {text}")
    }
}

/// The name in a line typed at the `Enter your username:` prompt. Someone who
/// types `LOGIN alice` there means `alice`.
pub fn name_from_prompt(typed: &str) -> &str {
    match protocol::parse(typed) {
        Command::Login(name) => name,
        _ => typed.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(line: &str) -> Input {
        Input::Send(line.to_string())
    }

    fn say(text: &str) -> Input {
        Input::Say(text.to_string())
    }

    #[test]
    fn plain_lines_are_said() {
        assert_eq!(interpret("hello everyone\n"), say("hello everyone"));
        assert_eq!(interpret("héllo\r\n"), say("héllo"));
        assert_eq!(interpret("who"), say("who"));
        assert_eq!(interpret("quit"), say("quit"));
        assert_eq!(
            interpret("Msg lower case is chat"),
            say("Msg lower case is chat")
        );
        assert_eq!(interpret("//etc/passwd"), say("/etc/passwd"));
        assert_eq!(interpret(""), Input::Nothing);
        assert_eq!(interpret("  \t\r\n"), Input::Nothing);
    }

    #[test]
    fn slash_commands() {
        assert_eq!(interpret("/who"), Input::Who(None));
        assert_eq!(interpret("/WHO #rust\r"), Input::Who(Some("#rust".into())));
        assert_eq!(interpret("/ping"), Input::Ping);
        assert_eq!(interpret("/quit"), Input::Quit);
        assert_eq!(interpret("/help"), Input::Help);
        assert_eq!(interpret("/rooms"), Input::Rooms);
        assert_eq!(interpret("/register"), Input::Register);
        assert_eq!(interpret("/PASSWORD"), Input::ChangePassword);
        assert!(matches!(interpret("REGISTER hunter222"), Input::Mistake(_)));
        assert!(matches!(interpret("AUTH me hunter222"), Input::Mistake(_)));
        assert_eq!(
            interpret("/dm bob psst, over here"),
            Input::Dm("bob".into(), "psst, over here".into())
        );
        assert_eq!(
            interpret("/msg  bob   hi"),
            Input::Dm("bob".into(), "hi".into())
        );
        assert_eq!(
            interpret("/dm bob"),
            Input::Mistake("usage: /dm NAME TEXT".into())
        );
        assert_eq!(
            interpret("/msg"),
            Input::Mistake("usage: /msg NAME TEXT".into())
        );
        assert_eq!(
            interpret("/nope x"),
            Input::Mistake("unknown command /nope; /help lists the commands".into())
        );
    }

    #[test]
    fn room_commands() {
        assert_eq!(interpret("/join #rust"), Input::Join("#rust".into()));
        assert_eq!(interpret("/join rust"), Input::Join("#rust".into()));
        assert_eq!(
            interpret("/join"),
            Input::Mistake("usage: /join #room".into())
        );
        assert!(matches!(interpret("/join #b@d"), Input::Mistake(_)));
        assert_eq!(interpret("/part"), Input::Part(None));
        assert_eq!(interpret("/part #go"), Input::Part(Some("#go".into())));
        assert_eq!(interpret("/go #go"), Input::Switch(Some("#go".into())));
        assert_eq!(
            interpret("/switch lobby"),
            Input::Switch(Some("#lobby".into()))
        );
        assert_eq!(interpret("/go"), Input::Switch(None));
        assert_eq!(interpret("/history"), Input::History(None, 50));
        assert_eq!(interpret("/history 5"), Input::History(None, 5));
        assert_eq!(
            interpret("/history #rust 1000"),
            Input::History(Some("#rust".into()), 1000)
        );
        for bad in ["/history 0", "/history 1001", "/history x", "/history 5 6"] {
            assert!(matches!(interpret(bad), Input::Mistake(_)), "{bad}");
        }
    }

    #[test]
    fn only_exact_protocol_commands_are_sent_as_typed() {
        assert_eq!(interpret("MSG hi there"), send("MSG hi there"));
        assert_eq!(interpret("MSG #rust hi"), send("MSG #rust hi"));
        assert_eq!(
            interpret("DM bob psst"),
            Input::Dm("bob".into(), "psst".into())
        );
        assert_eq!(interpret("LOGIN alice"), send("LOGIN alice"));
        assert_eq!(interpret("PING abc"), send("PING abc"));
        assert_eq!(interpret("  HELP"), send("HELP"));
        assert_eq!(interpret("WHO"), Input::Who(None));
        assert_eq!(interpret("WHO #rust"), Input::Who(Some("#rust".into())));
        assert_eq!(interpret("QUIT"), Input::Quit);
        assert_eq!(interpret("ROOMS"), Input::Rooms);
        assert_eq!(interpret("JOIN #a"), Input::Join("#a".into()));
        assert_eq!(interpret("PART #a"), Input::Part(Some("#a".into())));
        assert_eq!(
            interpret("HISTORY #a 3"),
            Input::History(Some("#a".into()), 3)
        );
        assert_eq!(
            interpret("HISTORY"),
            Input::History(Some("#lobby".into()), 50)
        );
        // Words a person says, even when they start like a command.
        for said in [
            "WHO IS THERE?",
            "QUIT SMOKING",
            "HELP ME",
            "ROOMS ARE FUN",
            "JOIN US",
            "PART TIME",
            "HISTORY LESSON",
            "MSG",
            "DM ME",
            "LOGIN",
            "MSGS are fun",
            "Who cares",
        ] {
            assert_eq!(interpret(said), say(said), "{said}");
        }
    }

    #[test]
    fn what_is_said_where() {
        assert_eq!(say_line("#lobby", "hi"), "MSG hi");
        assert_eq!(say_line("#lobby", "#1 fan"), "MSG #lobby #1 fan");
        assert_eq!(say_line("#Rust", "hi"), "MSG #Rust hi");
    }

    #[test]
    fn names_typed_at_the_prompt() {
        assert_eq!(name_from_prompt(" alice \r"), "alice");
        assert_eq!(name_from_prompt("LOGIN bob"), "bob");
        assert_eq!(name_from_prompt("login  carol"), "carol");
        assert_eq!(name_from_prompt(""), "");
    }
}
