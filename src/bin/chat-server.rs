//! `chat-server`: parses the command line into a [`Config`], runs the server,
//! and stops it gracefully on SIGTERM or SIGINT (a second one ends the
//! process at once, and so does a stop that overruns `--shutdown-timeout`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use chat::protocol::MAX_HISTORY;
use chat::server::RateLimit;
use chat::server::{Config, Fsync, RedisUrl, Server, MAX_ITERATIONS};
use chat::support::cli::{Args, CliError};
use chat::support::log::Log;
use chat::support::netaddr::Network;
use chat::support::sys::TerminationSignals;

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
  --login-timeout SECS   drop a client not logged in this long after connecting, whatever
                         it sends (default 60)
  --max-clients N        connections at once; one more gets BYE server-full (default 10000)
  --max-line BYTES       longest accepted line (default 4096)
  --max-backlog BYTES    output waiting for one client before it is dropped as too slow
                         (default 1048576)
  --max-per-ip N         connections at once from one address or IPv6 /64 (default 100;
                         loopback is exempt unless this flag is given)
  --max-connect-rate N   new connections a minute from one address or IPv6 /64, N at once
                         (default 30; 'off'; loopback is exempt unless this flag is given)
  --max-rate LINES       per-client flood limit in lines a second; WebSocket pings and
                         telnet option requests count (default 10; 'off'; loopback is
                         exempt unless this flag is given)
  --burst N              lines allowed at once under --max-rate (default: 2 x rate, min 1)
  --max-output BYTES     output queued for all clients together before the biggest
                         backlogs are dropped (default 268435456)
  --proxy-protocol WHICH listeners that require a PROXY protocol v1/v2 header: lines, web
                         or lines,web (default: none)
  --trusted-proxy LIST   ADDR[/PREFIX],... that may send a PROXY header or X-Forwarded-For
                         (default 127.0.0.0/8,::1)
  --metrics ADDR:PORT    serve GET /metrics (Prometheus) and GET /healthz (default: off)
  --shutdown-timeout SECS  on SIGTERM/SIGINT, how long the graceful stop may take (default 5)
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
  --redis URL            be one node of the cluster of every server given this Redis,
                         redis://[:PASSWORD@]HOST[:PORT][/DB]; names, rooms, DMs and
                         history are shared there (--data-dir is then not used)
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
    let shutdown_timeout = config.shutdown_timeout;
    // Before the listeners open, so that no signal finds the default
    // action (ending the process at once) once clients are connected.
    let signals = TerminationSignals::install();
    match Server::bind(config) {
        Ok(server) => run(server, signals, shutdown_timeout),
        Err(err) => {
            eprintln!("chat-server: {err}");
            ExitCode::from(1)
        }
    }
}

/// Serves until a signal, then stops gracefully within `timeout`; exits 0
/// once stopped. A second signal, or a stop that takes longer, ends the
/// process at once with status 1.
fn run(
    server: Server,
    signals: std::io::Result<TerminationSignals>,
    timeout: Duration,
) -> ExitCode {
    let log = Log {
        client_events: true,
    };
    let signals = match signals {
        Ok(signals) => signals,
        Err(err) => {
            log.event(
                None,
                format_args!("note: cannot handle signals ({err}); SIGTERM stops at once"),
            );
            loop {
                thread::park();
            }
        }
    };
    let signal = signals.wait(None).unwrap_or("an unreadable signal");
    log.event(
        None,
        format_args!(
            "received {signal}: stopping gracefully within {} s (a second signal stops at once)",
            timeout.as_secs_f64()
        ),
    );
    let watchdog = thread::Builder::new()
        .name("chat-stop".into())
        .spawn(move || {
            match signals.wait(Some(timeout)) {
                Some(again) => log.event(None, format_args!("received {again} again: exiting now")),
                None => log.event(
                    None,
                    format_args!(
                        "the graceful stop took longer than {} s: exiting now",
                        timeout.as_secs_f64()
                    ),
                ),
            }
            std::process::exit(1);
        });
    if let Err(err) = watchdog {
        log.event(None, format_args!("note: no watchdog for the stop ({err})"));
    }
    server.shut_down(timeout);
    ExitCode::SUCCESS
}

/// The configuration, or `None` when the user only asked for help or version.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<Config>, CliError> {
    let mut config = Config::default();
    let mut args = Args::new(args);
    let mut bind: IpAddr = config.addr.ip();
    let mut port = config.addr.port();
    let mut web_port: u16 = config.web_addr.map_or(0, |web| web.port());
    let mut irc_port: u16 = config.irc_addr.map_or(0, |irc| irc.port());
    // `Some(None)`: --max-rate off.
    let mut rate: Option<Option<f64>> = None;
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
            "--login-timeout" => config.login_timeout = seconds(&mut args, &flag)?,
            "--shutdown-timeout" => config.shutdown_timeout = seconds(&mut args, &flag)?,
            "--max-per-ip" => {
                config.max_per_ip = positive(&mut args, &flag)?;
                config.limit_loopback = true;
            }
            "--max-connect-rate" => {
                config.max_connect_rate = match args.value::<String>(&flag)?.as_str() {
                    "off" => None,
                    per_minute => {
                        let per_minute: u32 =
                            per_minute.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                                CliError(
                                    "--max-connect-rate takes a number of at least 1, or 'off'"
                                        .into(),
                                )
                            })?;
                        Some(RateLimit {
                            per_sec: f64::from(per_minute) / 60.0,
                            burst: per_minute,
                        })
                    }
                };
                config.connect_rate_loopback = true;
            }
            "--max-rate" => {
                rate = match args.value::<String>(&flag)?.as_str() {
                    "off" => Some(None),
                    per_sec => match per_sec.parse::<f64>() {
                        Ok(per_sec) if per_sec.is_finite() && per_sec > 0.0 => Some(Some(per_sec)),
                        _ => {
                            return Err(CliError(
                                "--max-rate must be a positive number, or 'off'".into(),
                            ))
                        }
                    },
                };
            }
            "--max-output" => config.max_output = positive(&mut args, &flag)?,
            "--proxy-protocol" => {
                for listener in args.value::<String>(&flag)?.split(',') {
                    match listener.trim() {
                        "lines" => config.lines_proxy_protocol = true,
                        "web" => config.web_proxy_protocol = true,
                        _ => {
                            return Err(CliError(
                                "--proxy-protocol takes lines, web or lines,web".into(),
                            ))
                        }
                    }
                }
            }
            "--trusted-proxy" => {
                config.trusted_proxies = Network::parse_list(&args.value::<String>(&flag)?)
                    .map_err(|err| CliError(format!("--trusted-proxy: {err}")))?;
            }
            "--metrics" => config.metrics_addr = Some(args.value(&flag)?),
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
            "--redis" => {
                let url: String = args.value(&flag)?;
                let url =
                    RedisUrl::parse(&url).map_err(|why| CliError(format!("--redis: {why}")))?;
                config.redis = Some(url);
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
    match (rate, burst) {
        (Some(Some(per_sec)), burst) => {
            config.max_rate = Some(RateLimit {
                per_sec,
                burst: burst.unwrap_or((per_sec * 2.0).ceil().max(1.0) as u32),
            });
            config.rate_loopback = true;
        }
        (Some(None), None) => config.max_rate = None,
        (Some(None), Some(_)) | (None, Some(_)) => {
            return Err(CliError("--burst needs --max-rate RATE".into()))
        }
        (None, None) => {}
    }
    Ok(Some(config))
}

/// A whole number of seconds, at least 1.
fn seconds(args: &mut Args, flag: &str) -> Result<Duration, CliError> {
    let secs: u64 = args.value(flag)?;
    if secs == 0 {
        return Err(CliError(format!("{flag} must be at least 1 second")));
    }
    Ok(Duration::from_secs(secs))
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
