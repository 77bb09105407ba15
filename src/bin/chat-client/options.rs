//! The command line: [`Options`], their defaults, and `--help`.

use std::path::PathBuf;
use std::time::Duration;

use chat::support::cli::{Args, CliError};

pub const USAGE: &str = "\
usage: chat-client [options]

A terminal client for the chat server. Type a line to say it in the current
room (#lobby, where everybody is, unless you /join another).
Commands: /join #room, /part [#room], /go #room, /rooms, /history [N],
/who [#room], /dm NAME TEXT (also /msg), /register, /password, /ping,
/quit, /help.
Ctrl-D or the end of a pipe leaves, like /quit.

At a terminal (input and output both), the input line stays at the bottom
with the usual keys (arrows, Home/End, Ctrl-A/E/W/U/K, Up/Down history,
Tab completion, Ctrl-L redraw), the lobby's last messages are shown after
logging in, and a lost connection is made again by itself. From a script or
a pipe, lines are read and printed as they come: the name is --name or the
first line, nothing else.

A registered name asks for its password at a terminal (not shown); /register
makes your name yours (the password asked twice), /password changes it. The
password is kept in memory to log in again after a reconnect.

options:
  --host HOST         server to connect to (default 127.0.0.1)
  --port PORT         its line-protocol port (default 4000)
  --name NAME         log in at once with this name instead of being asked
  --password-file FILE
                      the password of a registered name, on the first line of
                      FILE (for scripts; a password never goes on the command
                      line, where `ps` shows it)
  --raw               send every line as typed and print every server line as
                      sent: a netcat that keeps the connection alive
  --reconnect         connect again after a loss, also from a script
  --no-reconnect      exit when the connection is lost, also at a terminal
  --history N         show the lobby's last N messages after logging in
                      (default 20 at a terminal, 0 from a script)
  --no-bell           no terminal bell when someone mentions your name
  --heartbeat SECS    ping the server after this long without traffic
                      (default 2, enough for any server idle timeout of 5 s or
                      more); no answer within 5 times as long means the
                      connection is lost
  -h, --help          show this help
  -V, --version       show the version

Exit status: 0 when you leave; 1 when the connection is refused, or lost or
closed by the server without reconnecting; 2 for a bad option or password
file; 3 when a script's name is taken or invalid, or registered and its
password missing or wrong; 4 when you logged in elsewhere (that login took
the name over, so this client does not connect again).

Colours are used when the output is a terminal and NO_COLOR is not set.
";

/// Pings more often than this would only load the server.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

/// Ping after this long without traffic: short enough for any server idle
/// timeout of 5 s or more, whatever the server was started with.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);

/// Everything `chat-client` can be told on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// Log in at once with this name instead of asking for one.
    pub name: Option<String>,
    /// The file whose first line is the name's password.
    pub password_file: Option<PathBuf>,
    /// Send every typed line verbatim and print every server line verbatim.
    pub raw: bool,
    /// Reconnect after a loss: `None` is the default for the mode.
    pub reconnect: Option<bool>,
    /// Lobby messages shown after login: `None` is the default for the mode.
    pub history: Option<usize>,
    pub bell: bool,
    pub heartbeat: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            host: "127.0.0.1".into(),
            port: 4000,
            name: None,
            password_file: None,
            raw: false,
            reconnect: None,
            history: None,
            bell: true,
            heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

/// The options, or `None` when the user only asked for help or version.
pub fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, CliError> {
    let mut options = Options::default();
    let mut args = Args::new(args);
    while let Some(flag) = args.next_flag()? {
        match flag.as_str() {
            "--host" => options.host = args.value(&flag)?,
            "--port" => options.port = args.value(&flag)?,
            "--name" => options.name = Some(args.value(&flag)?),
            "--password-file" => options.password_file = Some(args.value(&flag)?),
            "--password" => {
                return Err(CliError(
                    "no --password: everybody on the machine sees a command line (ps); \
                     use --password-file FILE"
                        .into(),
                ))
            }
            "--raw" => options.raw = true,
            "--reconnect" => options.reconnect = Some(true),
            "--no-reconnect" => options.reconnect = Some(false),
            "--no-bell" => options.bell = false,
            "--history" => {
                let count: usize = args.value(&flag)?;
                if count > chat::protocol::MAX_HISTORY {
                    return Err(CliError("--history is at most 1000".into()));
                }
                options.history = Some(count);
            }
            "--heartbeat" => {
                let secs: f64 = args.value(&flag)?;
                options.heartbeat = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|every| *every >= MIN_HEARTBEAT)
                    .ok_or_else(|| CliError("--heartbeat must be at least 0.1 seconds".into()))?;
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("chat-client {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => return Err(CliError::unknown(other)),
        }
    }
    Ok(Some(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Option<Options>, CliError> {
        parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags() {
        let options = parsed(&[
            "--name",
            "bob",
            "--reconnect",
            "--history",
            "5",
            "--no-bell",
            "--heartbeat",
            "0.5",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(options.name.as_deref(), Some("bob"));
        assert_eq!(options.reconnect, Some(true));
        assert_eq!(options.history, Some(5));
        assert!(!options.bell);
        assert_eq!(options.heartbeat, Duration::from_millis(500));
        assert_eq!(parsed(&[]).unwrap().unwrap(), Options::default());
        assert_eq!(
            parsed(&["--no-reconnect"]).unwrap().unwrap().reconnect,
            Some(false)
        );
        assert!(parsed(&["--history", "1001"]).is_err());
        assert_eq!(
            parsed(&["--password-file", "/run/pw"])
                .unwrap()
                .unwrap()
                .password_file,
            Some(PathBuf::from("/run/pw"))
        );
        let refused = parsed(&["--password", "hunter22"]).unwrap_err().to_string();
        assert!(refused.contains("--password-file"), "{refused}");
        assert!(parsed(&["--heartbeat", "0.05"]).is_err());
    }
}
