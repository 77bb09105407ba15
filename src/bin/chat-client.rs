//! `chat-client`: parses the command line into [`Options`] and runs the
//! terminal client on standard input and output.

use std::process::ExitCode;
use std::time::Duration;

use chat::client::{self, Options, Style};
use chat::support::cli::{Args, CliError};

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

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-client: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = client::run(
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
