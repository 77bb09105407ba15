//! `chat-server`: parses the command line into a [`Config`] and runs the server.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chat::protocol::MAX_HISTORY;
use chat::server::RateLimit;
use chat::server::{Config, Fsync, Server, MAX_ITERATIONS};
use chat::support::cli::{Args, CliError};

const USAGE: &str = "\
usage: chat-server [options]

A chat server for the LOGIN / MSG / DM / WHO / JOIN / HISTORY line protocol.
Connect with chat-client, `nc HOST PORT` or `telnet HOST PORT`, a browser on the
web port, or any IRC client on the IRC port.

options:
  --bind ADDR            address to listen on (default 0.0.0.0)
  --port PORT            line-protocol port (default 4000; 0 picks a free one)
  --web-port PORT        web page and WebSocket port (default 8080; 0 turns it off)
  --irc-port PORT        IRC port (default 6667; 0 turns it off)
  --irc-name NAME        the IRC server's name in prefixes, 004 and PONG (default: the
                         host name)
  --idle-timeout SECS    drop a client that sends no line for this long (default 60)
  --max-clients N        connections at once; one more gets BYE server-full (default 10000)
  --max-line BYTES       longest accepted line (default 4096)
  --max-backlog BYTES    output waiting for one client before it is dropped as too slow
                         (default 1048576)
  --max-per-ip N         connections at once from one address (default 100; loopback is
                         exempt unless this flag is given)
  --max-rate LINES       per-client flood limit in lines per second (default: off)
  --burst N              lines allowed at once under --max-rate (default: 2 x rate, min 1)
  --max-rooms-per-user N rooms one user may be in, #lobby not counted (default 100)
  --max-rooms N          rooms with members on the server (default 10000)
  --data-dir DIR         where history is kept (default ./chat-data, created if missing)
  --no-persist           keep history in memory only
  --fsync always|1s      fsync the history log before delivering each message (always),
                         or at least once a second (1s, the default)
  --history-keep N       messages kept per room (default 10000)
  --replay N             messages a joiner of a room is shown (default 20; 0: none)
  --pbkdf2-iterations N  PBKDF2 rounds of each new password (default 100000, about
                         55 ms of one core per AUTH or REGISTER; 1 to 10000000)
  --quiet                do not log per-client events (connect, login, left)
  -h, --help             show this help
  -V, --version          show the version
";

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => return ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-server: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match Server::bind(config) {
        Ok(server) => {
            server.wait();
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("chat-server: {err}");
            ExitCode::from(1)
        }
    }
}

/// The configuration, or `None` when the user only asked for help or version.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<Config>, CliError> {
    let mut config = Config::default();
    let mut args = Args::new(args);
    let mut bind: IpAddr = config.addr.ip();
    let mut port = config.addr.port();
    let mut web_port: u16 = config.web_addr.map_or(0, |web| web.port());
    let mut irc_port: u16 = config.irc_addr.map_or(0, |irc| irc.port());
    let mut rate: Option<f64> = None;
    let mut burst: Option<u32> = None;
    while let Some(flag) = args.next_flag()? {
        match flag.as_str() {
            "--bind" => bind = args.value(&flag)?,
            "--port" => port = args.value(&flag)?,
            "--web-port" => web_port = args.value(&flag)?,
            "--irc-port" => irc_port = args.value(&flag)?,
            "--irc-name" => {
                let name: String = args.value(&flag)?;
                if !Config::is_valid_irc_name(&name) {
                    return Err(CliError(
                        "--irc-name takes 1-63 characters of A-Z a-z 0-9 . - _".into(),
                    ));
                }
                config.irc_name = name;
            }
            "--idle-timeout" => {
                let secs: u64 = args.value(&flag)?;
                if secs == 0 {
                    return Err(CliError("--idle-timeout must be at least 1 second".into()));
                }
                config.idle_timeout = Duration::from_secs(secs);
            }
            "--max-clients" => config.max_clients = positive(&mut args, &flag)?,
            "--max-line" => config.max_line = positive(&mut args, &flag)?,
            "--max-backlog" => config.max_backlog = positive(&mut args, &flag)?,
            "--max-per-ip" => {
                config.max_per_ip = positive(&mut args, &flag)?;
                config.limit_loopback = true;
            }
            "--max-rate" => {
                let per_sec: f64 = args.value(&flag)?;
                if !(per_sec.is_finite() && per_sec > 0.0) {
                    return Err(CliError("--max-rate must be a positive number".into()));
                }
                rate = Some(per_sec);
            }
            "--burst" => burst = Some(positive(&mut args, &flag)?),
            "--max-rooms-per-user" => config.max_rooms_per_user = positive(&mut args, &flag)?,
            "--max-rooms" => config.max_rooms = positive(&mut args, &flag)?,
            "--data-dir" => config.data_dir = Some(args.value::<PathBuf>(&flag)?),
            "--no-persist" => config.data_dir = None,
            "--fsync" => {
                config.fsync = match args.value::<String>(&flag)?.as_str() {
                    "always" => Fsync::Always,
                    "1s" => Fsync::EverySecond,
                    _ => return Err(CliError("--fsync takes 'always' or '1s'".into())),
                }
            }
            "--history-keep" => config.history_keep = positive(&mut args, &flag)?,
            "--replay" => {
                config.replay = args.value(&flag)?;
                if config.replay > MAX_HISTORY {
                    return Err(CliError(format!("--replay is at most {MAX_HISTORY}")));
                }
            }
            "--pbkdf2-iterations" => {
                let rounds: u32 = args.value(&flag)?;
                if !(1..=MAX_ITERATIONS).contains(&rounds) {
                    return Err(CliError(format!(
                        "--pbkdf2-iterations must be from 1 to {MAX_ITERATIONS}"
                    )));
                }
                config.pbkdf2_iterations = rounds;
            }
            "--quiet" => config.log = false,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("chat-server {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => return Err(CliError::unknown(other)),
        }
    }
    config.addr = SocketAddr::new(bind, port);
    config.web_addr = (web_port != 0).then(|| SocketAddr::new(bind, web_port));
    config.irc_addr = (irc_port != 0).then(|| SocketAddr::new(bind, irc_port));
    config.max_rate = match (rate, burst) {
        (Some(per_sec), burst) => Some(RateLimit {
            per_sec,
            burst: burst.unwrap_or((per_sec * 2.0).ceil().max(1.0) as u32),
        }),
        (None, Some(_)) => return Err(CliError("--burst needs --max-rate".into())),
        (None, None) => None,
    };
    Ok(Some(config))
}

/// A value of at least 1.
fn positive<T: std::str::FromStr + PartialOrd + From<u8>>(
    args: &mut Args,
    flag: &str,
) -> Result<T, CliError> {
    let value: T = args.value(flag)?;
    if value < T::from(1) {
        return Err(CliError(format!("option '{flag}' must be at least 1")));
    }
    Ok(value)
}
