//! What a typed line means: [`interpret`] turns it into an [`Input`] (a
//! protocol line to send, or a local action), a pure function tested without a
//! socket, and [`name_from_prompt`] reads a name typed at the login prompt.

use chat::protocol::{self, split_word, Command};

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A blank line: nothing to do.
    Nothing,
    /// Send this protocol line (without its `\n`).
    Send(String),
    /// List who is online, gathered into one line.
    Who,
    /// Measure the round trip to the server.
    Ping,
    /// Leave.
    Quit,
    /// Show the client's commands.
    Help,
    /// A mistake, explained without bothering the server.
    Mistake(String),
}

/// Protocol words that, typed in upper case at the start of a line, send the
/// line as it is: people who learned the protocol get what they typed.
const PROTOCOL_WORDS: [&str; 7] = ["LOGIN", "MSG", "DM", "WHO", "PING", "QUIT", "HELP"];

/// What the client's `/help` shows.
pub const CLIENT_HELP: &[&str] = &[
    "commands:",
    "  /who             who is online",
    "  /dm NAME TEXT    a private message (also /msg)",
    "  /ping            the round trip to the server",
    "  /quit            leave (so does Ctrl-D)",
    "  /help            this list",
    "anything else is a message to everybody (start it with // to begin with a /);",
    "a line starting with LOGIN, MSG, DM, WHO, PING, QUIT or HELP is sent as typed",
];

/// Turns one typed line (its `\n` or `\r\n` optional) into what to do.
pub fn interpret(typed: &str) -> Input {
    let line = typed.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Input::Nothing;
    }
    if let Some(command) = line.strip_prefix('/') {
        return if command.starts_with('/') {
            Input::Send(format!("MSG {command}"))
        } else {
            slash_command(command)
        };
    }
    let (word, _) = split_word(line.trim_start());
    match word {
        "WHO" => Input::Who,
        "QUIT" => Input::Quit,
        _ if PROTOCOL_WORDS.contains(&word) => Input::Send(line.trim_start().to_string()),
        _ => Input::Send(format!("MSG {line}")),
    }
}

/// A line that started with `/`, without the slash.
fn slash_command(command: &str) -> Input {
    let (word, rest) = split_word(command);
    match word.to_ascii_lowercase().as_str() {
        "who" => Input::Who,
        "ping" => Input::Ping,
        "quit" => Input::Quit,
        "help" => Input::Help,
        "dm" | "msg" => match split_word(rest) {
            (name, text) if !name.is_empty() && !text.trim().is_empty() => {
                Input::Send(format!("DM {name} {text}"))
            }
            _ => Input::Mistake(format!("usage: /{word} NAME TEXT")),
        },
        _ => Input::Mistake(format!("unknown command /{word}; /help lists the commands")),
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

    #[test]
    fn plain_lines_are_messages() {
        assert_eq!(interpret("hello everyone\n"), send("MSG hello everyone"));
        assert_eq!(interpret("héllo\r\n"), send("MSG héllo"));
        assert_eq!(interpret("who"), send("MSG who"));
        assert_eq!(interpret("quit"), send("MSG quit"));
        assert_eq!(
            interpret("Msg lower case is chat"),
            send("MSG Msg lower case is chat")
        );
        assert_eq!(interpret("//etc/passwd"), send("MSG /etc/passwd"));
        assert_eq!(interpret(""), Input::Nothing);
        assert_eq!(interpret("  \t\r\n"), Input::Nothing);
    }

    #[test]
    fn slash_commands() {
        assert_eq!(interpret("/who"), Input::Who);
        assert_eq!(interpret("/WHO\r"), Input::Who);
        assert_eq!(interpret("/ping"), Input::Ping);
        assert_eq!(interpret("/quit"), Input::Quit);
        assert_eq!(interpret("/help"), Input::Help);
        assert_eq!(
            interpret("/dm bob psst, over here"),
            send("DM bob psst, over here")
        );
        assert_eq!(interpret("/msg  bob   hi"), send("DM bob hi"));
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
    fn upper_case_protocol_lines_are_sent_as_typed() {
        assert_eq!(interpret("MSG hi there"), send("MSG hi there"));
        assert_eq!(interpret("DM bob psst"), send("DM bob psst"));
        assert_eq!(interpret("LOGIN alice"), send("LOGIN alice"));
        assert_eq!(interpret("PING abc"), send("PING abc"));
        assert_eq!(interpret("  HELP"), send("HELP"));
        // These two also need the client's bookkeeping: the list's end, the leaving.
        assert_eq!(interpret("WHO"), Input::Who);
        assert_eq!(interpret("QUIT"), Input::Quit);
        // Only the whole word counts.
        assert_eq!(interpret("MSGS are fun"), send("MSG MSGS are fun"));
    }

    #[test]
    fn names_typed_at_the_prompt() {
        assert_eq!(name_from_prompt(" alice \r"), "alice");
        assert_eq!(name_from_prompt("LOGIN bob"), "bob");
        assert_eq!(name_from_prompt("login  carol"), "carol");
        assert_eq!(name_from_prompt(""), "");
    }
}
