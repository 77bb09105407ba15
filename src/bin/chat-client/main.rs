//! `chat-client`: the terminal client. It parses the command line into
//! [`Options`] and runs the client on standard input and output: what a typed
//! line means ([`input`]), how a server line is shown ([`display`]), and the
//! connection that ties them together ([`link`]), with its [`heartbeat`].
//!
//! The two translations are pure functions, so they are unit-tested without a
//! socket. The connection is two threads: one reads the server and one reads
//! the keyboard, so messages keep arriving while the user is typing.
//!
//! Some answers need the client to know where they end. `WHO` has no end marker
//! on the wire, so `/who` sends `WHO` followed by `PING who-<n>`: the server
//! answers in order, so the `PONG` closes the list. The heartbeat and `/ping`
//! use their own token prefixes the same way (`hb-`, `rtt-`), which is how the
//! heartbeat's answers stay hidden while a `/ping` shows its round trip. Leaving
//! sends `QUIT` and waits for the `BYE`: it comes after every answer to what
//! was sent before it, so a script loses no line.

mod display;
mod heartbeat;
mod input;
mod link;

use std::process::ExitCode;
use std::time::Duration;

use chat::support::cli::{Args, CliError};

use display::Style;

const USAGE: &str = "\
usage: chat-client [options]

A terminal client for the chat server. Type a line to say it to everybody.
Commands: /who, /dm NAME TEXT (also /msg), /ping, /quit, /help.
Ctrl-D or the end of a pipe leaves, like /quit.

options:
  --host HOST         server to connect to (default 127.0.0.1)
  --port PORT         its line-protocol port (default 4000)
  --name NAME         log in at once with this name instead of being asked
  --raw               send every line as typed and print every server line as
                      sent: a netcat that keeps the connection alive
  --heartbeat SECS    ping the server this often; no answer in twice as long
                      means the connection is lost (default 15; shorter is
                      for testing)
  -h, --help          show this help
  -V, --version       show the version

Colours are used when the output is a terminal and NO_COLOR is not set.
";

/// Pings more often than this would only load the server.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

/// How often an otherwise quiet client pings the server, well inside the
/// server's 60 s idle timeout.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// Everything `chat-client` can be told on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// Log in at once with this name instead of asking for one.
    pub name: Option<String>,
    /// Send every typed line verbatim and print every server line verbatim.
    pub raw: bool,
    /// How often to ping; a ping unanswered for twice this long means the
    /// connection is lost.
    pub heartbeat: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            host: "127.0.0.1".into(),
            port: 4000,
            name: None,
            raw: false,
            heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-client: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = link::run(
        &options,
        Style::for_stdout(),
        std::io::stdin(),
        std::io::stdout(),
    );
    if let Some(message) = outcome.message() {
        eprintln!("{message}");
    }
    ExitCode::from(outcome.exit_code())
}

/// The options, or `None` when the user only asked for help or version.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, CliError> {
    let mut options = Options::default();
    let mut args = Args::new(args);
    while let Some(flag) = args.next_flag()? {
        match flag.as_str() {
            "--host" => options.host = args.value(&flag)?,
            "--port" => options.port = args.value(&flag)?,
            "--name" => options.name = Some(args.value(&flag)?),
            "--raw" => options.raw = true,
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
