//! `chat-bench`: load generator and measuring instrument for the chat server.
//!
//! Five workloads, each bounded in count and time and aimed at loopback only:
//! - `connect`: N clients log in; every login is announced to everybody already
//!   there, so N clients cause N(N-1)/2 join notices. Measures the time until
//!   all of them have arrived, and the server's memory and threads per client.
//! - `fanout`: C clients, S of them each sending M messages as fast as they can;
//!   every message goes to all C clients (the sender's echo included).
//! - `latency`: C clients, one sender at a steady rate: delivery latency.
//! - `slow`: like `latency` with bigger messages, plus one logged-in client that
//!   never reads: it must be dropped, nobody else may lose or wait, and the
//!   server's memory must stay flat.
//! - `cluster`: `latency` over three nodes sharing one `redis-server`, the
//!   clients spread over them (`--nodes N` does the same for any workload).
//! - `rooms`: C clients in R rooms of different sizes, each in K of them, S
//!   senders in every room (see [`plan`]): one order per room.
//!
//! `--irc` speaks IRC instead ([`irc`]), to measure other servers the same
//! way, and `--peer` measures such servers in the same sitting as ours, round
//! after round ([`compare`](mod@compare)).
//!
//! Payloads are `MSG <seq>:<micros since start>:<padding>`, so every receiver
//! can check loss, duplicates and order, and latency is measured with one clock
//! (an [`Instant`](std::time::Instant) in this process).
//!
//! The generator shares the machine (two cores here) with the server, so it
//! must stay cheap: two reader threads each own half of the sockets, poll them
//! with `epoll_wait(2)` without blocking, and nap half a millisecond whenever
//! few were ready (see `readers::COALESCE`). std has no multiplexer, and
//! `poll(2)` over thousands of sockets spent most of the generator's time
//! registering and unregistering wait queues, so the readers use epoll through
//! [`chat::support::sys::Poller`]. Latencies go into a fixed-size histogram per reader
//! thread rather than a list, so memory stays bounded however long a run is.
//!
//! This file parses the command line into [`Options`] and prints the report;
//! [`workloads::run`] is the run itself.

mod compare;
mod dialect;
mod histogram;
mod irc;
mod options;
mod plan;
mod readers;
mod received;
mod report;
mod senders;
mod server_process;
mod workloads;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use chat::support::cli::{Args, CliError};

use dialect::Dialect;
use options::{Options, Peer, SpawnHistory, Target, Workload};

const USAGE: &str = "\
usage: chat-bench <connect|fanout|latency|slow|cluster|rooms> [--spawn | --addr HOST:PORT [--pid PID] [--irc]]
                  [--peer NAME=HOST:PORT[/PID]]... [--rounds N] [options]

Measures a chat server on loopback. Workloads (defaults in brackets):
  connect   N clients log in, join notices included        [--clients 10000]
  fanout    C clients, S senders x M messages, full speed  [100 clients, 10 x 2000, 64 B]
  latency   C clients, one sender at a steady rate         [1000 clients, 100 msg/s, 10 s]
  slow      like latency, plus one client that never reads [100 clients, 2000 msg/s, 256 B, 30 s]
  cluster   latency over nodes sharing one redis-server    [1000 clients, 100 msg/s, 10 s, 3 nodes]
  rooms     C clients in R rooms of 10-50, K rooms each,    [1000 clients, 100 rooms, 3 each,
            S senders per room x M messages, full speed      2 x 300, 64 B]

options:
  --spawn              start chat-server (next to this program) on a free port (default);
                       it is killed when the run ends, however it ends
  --addr HOST:PORT     use a running server instead (loopback only)
  --pid PID            its process id, to report memory, threads and CPU
  --irc                the server speaks IRC (NICK/USER, JOIN, PRIVMSG; no echo)
  --peer NAME=HOST:PORT[/PID]
                       also measure this IRC server (e.g. ngircd=127.0.0.1:6667/1234),
                       after ours in every round; prints one column per server
  --rounds N           run N times against each server, alternating (default 1)
  --login-window N     logins unanswered at a time, at most (default 64; ngIRCd's listen
                       queue holds 10 connections: 8 keeps it from dropping any)
  --window LINES       full-speed senders keep at most LINES per client unread
                       (default 2048; 0: no limit, as fast as the server takes them)
  --max-backlog BYTES  with --spawn: the server's --max-backlog
  --no-persist         with --spawn: history in memory only (default: on disk, in a
                       temporary directory removed after the run)
  --fsync-always       with --spawn: history on disk with --fsync always
  --nodes N            with --spawn: N servers as one cluster (--redis) through a
                       redis-server started with them, clients spread over them
  --clients N  --senders N  --messages N  --rate MSGS_PER_SEC  --size BYTES
  --rooms N  --rooms-per-client N
                       (rooms: --senders is per room; --rate paces all rooms together)
  --duration SECS      how long the paced sender runs (latency, slow)
  --timeout SECS       the whole run stops after this long, finished or not (default 120)
  --json               one JSON line instead of a table
  -h, --help           show this help

Prints the report and exits 0 when every client got in and every message
arrived, 1 when not (the report says what is missing), 2 on a usage error.
";

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-bench: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = if !options.peers.is_empty() || options.rounds > 1 {
        compare(&options)
    } else {
        single(&options)
    };
    match outcome {
        // Scripts can tell a full run from one that lost or refused something.
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("chat-bench: {err}");
            ExitCode::from(1)
        }
    }
}

/// Prints `text`; a closed pipe (e.g. `| head`) is not worth a panic.
fn print(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// One run: its report, and whether it was complete.
fn single(options: &Options) -> Result<bool, String> {
    let mut report = workloads::run(options)?;
    report.server = match options.dialect {
        Dialect::Chat => "ours".into(),
        Dialect::Irc => "irc".into(),
    };
    let mut text = if options.json {
        report.json() + "\n"
    } else {
        report.table()
    };
    if options.is_standard() && !options.json {
        text += &report.target_row();
    }
    print(&text);
    Ok(report.complete)
}

/// Ours and the peers, round after round: each run's report as it comes
/// (one JSON line each with `--json`), then the table of medians.
fn compare(options: &Options) -> Result<bool, String> {
    let mut complete = true;
    let columns = compare::run(options, |report| {
        complete &= report.complete;
        print(&if options.json {
            report.json() + "\n"
        } else {
            report.table() + "\n"
        });
    })?;
    if !options.json {
        print(&compare::table(&columns));
    }
    Ok(complete)
}

/// `NAME=HOST:PORT[/PID]`.
fn peer(spec: &str) -> Result<Peer, CliError> {
    let bad = || CliError(format!("--peer wants NAME=HOST:PORT[/PID], not '{spec}'"));
    let (name, rest) = spec.split_once('=').ok_or_else(bad)?;
    let (addr, pid) = match rest.split_once('/') {
        Some((addr, pid)) => (addr, Some(pid.parse().map_err(|_| bad())?)),
        None => (rest, None),
    };
    let addr: std::net::SocketAddr = addr.parse().map_err(|_| bad())?;
    if name.is_empty() || !addr.ip().is_loopback() {
        return Err(bad());
    }
    Ok(Peer {
        name: name.into(),
        addr,
        pid,
    })
}

fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, CliError> {
    let mut args: Vec<String> = args.collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return Ok(None);
    }
    if args.is_empty() {
        return Err(CliError("which workload?".into()));
    }
    let name = args.remove(0);
    let workload =
        Workload::parse(&name).ok_or_else(|| CliError(format!("unknown workload '{name}'")))?;
    let mut options = Options::defaults(workload);
    let mut max_backlog = None;
    let mut history = SpawnHistory::Disk;
    let mut attach = None;
    let mut pid = None;
    let mut args = Args::new(args);
    while let Some(flag) = args.next_flag()? {
        match flag.as_str() {
            "--spawn" => attach = None,
            "--addr" => attach = Some(args.value::<std::net::SocketAddr>(&flag)?),
            "--pid" => pid = Some(args.value(&flag)?),
            "--max-backlog" => max_backlog = Some(args.value(&flag)?),
            "--no-persist" => history = SpawnHistory::Memory,
            "--fsync-always" => history = SpawnHistory::DiskAlways,
            "--clients" => options.clients = args.value(&flag)?,
            "--senders" => options.senders = args.value(&flag)?,
            "--messages" => options.messages = args.value(&flag)?,
            "--rate" => options.rate = args.value(&flag)?,
            "--size" => options.size = args.value(&flag)?,
            "--duration" => options.duration = seconds(&mut args, &flag)?,
            "--timeout" => options.timeout = seconds(&mut args, &flag)?,
            "--json" => options.json = true,
            "--nodes" => options.nodes = args.value(&flag)?,
            "--irc" => options.dialect = Dialect::Irc,
            "--peer" => options.peers.push(peer(&args.value::<String>(&flag)?)?),
            "--rounds" => options.rounds = args.value(&flag)?,
            "--login-window" => options.login_window = args.value(&flag)?,
            "--window" => options.window = args.value(&flag)?,
            "--rooms" => options.rooms = args.value(&flag)?,
            "--rooms-per-client" => options.rooms_per_client = args.value(&flag)?,
            other => return Err(CliError::unknown(other)),
        }
    }
    if attach.is_some() && options.nodes > 1 {
        return Err(CliError("--nodes needs --spawn".into()));
    }
    options.target = match attach {
        Some(addr) if !addr.ip().is_loopback() => {
            return Err(CliError(format!("{addr} is not a loopback address")))
        }
        Some(addr) => Target::Attach { addr, pid },
        None => Target::Spawn {
            max_backlog,
            history,
        },
    };
    if options.nodes == 0 {
        return Err(CliError("--nodes must be at least 1".into()));
    }
    if options.clients == 0 || options.senders == 0 || options.senders > options.clients {
        return Err(CliError(
            "need at least one client and one sender, and no more senders than clients".into(),
        ));
    }
    if workload.paced() && !(options.rate.is_finite() && options.rate > 0.0) {
        return Err(CliError("--rate must be a positive number".into()));
    }
    if !(options.rate.is_finite() && options.rate >= 0.0) {
        return Err(CliError("--rate must not be negative".into()));
    }
    if workload == Workload::Rooms && (options.rooms == 0 || options.rooms_per_client == 0) {
        return Err(CliError(
            "rooms needs at least one room, and one per client".into(),
        ));
    }
    if options.login_window == 0 {
        return Err(CliError("--login-window must be at least 1".into()));
    }
    if options.rounds == 0 {
        return Err(CliError("--rounds must be at least 1".into()));
    }
    let irc_spawned =
        matches!(options.target, Target::Spawn { .. }) && options.dialect == Dialect::Irc;
    if irc_spawned {
        return Err(CliError(
            "--irc measures a running server: give its --addr".into(),
        ));
    }
    let irc = options.dialect == Dialect::Irc || !options.peers.is_empty();
    if irc && options.size > irc::MAX_LINE {
        return Err(CliError(format!(
            "IRC lines are at most {} bytes: --size too big",
            irc::MAX_LINE
        )));
    }
    Ok(Some(options))
}

/// A number of seconds, fractions allowed.
fn seconds(args: &mut Args, flag: &str) -> Result<Duration, CliError> {
    let secs: f64 = args.value(flag)?;
    Duration::try_from_secs_f64(secs).map_err(|_| {
        CliError(format!(
            "invalid number of seconds '{secs}' for option '{flag}'"
        ))
    })
}
