//! `chat-bench`: load generator and measuring instrument for the chat server.
//!
//! Four workloads, each bounded in count and time and aimed at loopback only:
//! - `connect`: N clients log in; every login is announced to everybody already
//!   there, so N clients cause N(N-1)/2 join notices. Measures the time until
//!   all of them have arrived, and the server's memory and threads per client.
//! - `fanout`: C clients, S of them each sending M messages as fast as they can;
//!   every message goes to all C clients (the sender's echo included).
//! - `latency`: C clients, one sender at a steady rate: delivery latency.
//! - `slow`: like `latency` with bigger messages, plus one logged-in client that
//!   never reads: it must be dropped, nobody else may lose or wait, and the
//!   server's memory must stay flat.
//!
//! Payloads are `MSG <seq>:<micros since start>:<padding>`, so every receiver
//! can check loss, duplicates and order, and latency is measured with one clock
//! (an [`Instant`] in this process).
//!
//! The generator shares the machine (two cores here) with the server, so it
//! must stay cheap: two reader threads each own half of the sockets, poll them
//! with `epoll_wait(2)` without blocking, and nap half a millisecond whenever
//! few were ready (see `COALESCE`). std has no multiplexer, and
//! `poll(2)` over thousands of sockets spent most of the generator's time
//! registering and unregistering wait queues, so the readers use epoll through
//! [`sys::Poller`](crate::sys::Poller).
//! Latencies go into a fixed-size histogram per reader thread rather than a
//! list, so memory stays bounded however long a run is.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::sys::{EpollEvent, Poller};
use crate::{json, procfs, sys};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Connect,
    Fanout,
    Latency,
    Slow,
}

impl Workload {
    pub fn parse(name: &str) -> Option<Workload> {
        match name {
            "connect" => Some(Workload::Connect),
            "fanout" => Some(Workload::Fanout),
            "latency" => Some(Workload::Latency),
            "slow" => Some(Workload::Slow),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Connect => "connect",
            Workload::Fanout => "fanout",
            Workload::Latency => "latency",
            Workload::Slow => "slow",
        }
    }
}

/// Where the server is: one we start ourselves, or one already running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Start `chat-server` (found next to this executable) on a free loopback port.
    Spawn { max_backlog: Option<usize> },
    /// A running server; `pid` (if known) lets us read its memory and threads.
    Attach { addr: SocketAddr, pid: Option<u32> },
}

/// One run's parameters. [`Options::defaults`] gives the issue's workloads.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub workload: Workload,
    pub target: Target,
    pub clients: usize,
    /// Clients that send (fanout); the paced workloads always have one.
    pub senders: usize,
    /// Messages per sender (fanout).
    pub messages: usize,
    /// Messages per second (latency, slow).
    pub rate: f64,
    /// Bytes per message line as sent, `\n` included.
    pub size: usize,
    /// How long the paced sender runs (latency, slow).
    pub duration: Duration,
    /// The whole run stops by itself after this long, finished or not.
    pub timeout: Duration,
    pub json: bool,
}

impl Options {
    pub fn defaults(workload: Workload) -> Options {
        let base = Options {
            workload,
            target: Target::Spawn { max_backlog: None },
            clients: 100,
            senders: 1,
            messages: 0,
            rate: 0.0,
            size: 64,
            duration: Duration::ZERO,
            timeout: Duration::from_secs(120),
            json: false,
        };
        match workload {
            Workload::Connect => Options {
                clients: 10_000,
                ..base
            },
            Workload::Fanout => Options {
                senders: 10,
                messages: 2_000,
                ..base
            },
            Workload::Latency => Options {
                clients: 1_000,
                rate: 100.0,
                duration: Duration::from_secs(10),
                ..base
            },
            Workload::Slow => Options {
                rate: 2_000.0,
                size: 256,
                duration: Duration::from_secs(30),
                ..base
            },
        }
    }
}

impl Options {
    /// Whether this run is the issue's workload as specified (only where the
    /// server is, the time limit and the output format may differ): the one
    /// the performance targets are about.
    pub fn is_standard(&self) -> bool {
        let standard = Options::defaults(self.workload);
        Options {
            target: standard.target.clone(),
            timeout: standard.timeout,
            json: standard.json,
            ..self.clone()
        } == standard
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Latencies in microseconds, counted in buckets: exact below 1,024 µs, then
/// 512 buckets per power of two (within 0.2%). A fixed 17,000 counters
/// whatever the number of samples, and merging two is adding them up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    samples: u64,
    max: u64,
}

impl Histogram {
    /// Values below this are counted exactly.
    const EXACT: u64 = 1024;
    /// Buckets per power of two above `EXACT`.
    const STEPS: u64 = 512;
    /// Larger values (over 12 days) are counted as this.
    const CEILING: u64 = (1 << 40) - 1;

    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; Self::bucket(Self::CEILING) + 1],
            samples: 0,
            max: 0,
        }
    }

    fn bucket(value: u64) -> usize {
        if value < Self::EXACT {
            return value as usize;
        }
        // Keep the top ten bits: `value >> shift` is in STEPS..2*STEPS.
        let shift = u64::from(63 - value.leading_zeros()) - 9;
        (Self::EXACT + (shift - 1) * Self::STEPS + ((value >> shift) - Self::STEPS)) as usize
    }

    /// The smallest value that falls into `bucket`.
    fn lowest(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        if bucket < Self::EXACT {
            return bucket;
        }
        let above = bucket - Self::EXACT;
        (above % Self::STEPS + Self::STEPS) << (above / Self::STEPS + 1)
    }

    pub fn record(&mut self, micros: u64) {
        let micros = micros.min(Self::CEILING);
        self.counts[Self::bucket(micros)] += 1;
        self.samples += 1;
        self.max = self.max.max(micros);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.samples += other.samples;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (nearest rank); `None` when empty.
    fn quantile(&self, q: f64) -> Option<u64> {
        if self.samples == 0 {
            return None;
        }
        let rank = ((self.samples as f64 * q).ceil() as u64).clamp(1, self.samples);
        let mut seen = 0;
        self.counts.iter().enumerate().find_map(|(bucket, &count)| {
            seen += count;
            (seen >= rank).then(|| Self::lowest(bucket).min(self.max))
        })
    }

    pub fn percentiles(&self) -> Option<Percentiles> {
        Some(Percentiles {
            p50: self.quantile(0.50)?,
            p99: self.quantile(0.99)?,
            p999: self.quantile(0.999)?,
            max: self.max,
        })
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub workload: &'static str,
    pub clients: usize,
    /// Clients the server refused (`BYE …` instead of `OK`).
    pub refused: usize,
    /// Reading clients the server dropped after letting them in (`BYE …`
    /// after `OK`); the stalled client of `slow` is not one of them.
    pub dropped: u64,
    /// Whether every client got in and everything expected arrived before
    /// the time ran out.
    pub complete: bool,
    /// `connect`: until everybody settled; otherwise from the first message
    /// sent until the last one arrived (or the time ran out).
    pub seconds: f64,
    /// Message lines sent (all senders together).
    pub sent: u64,
    /// Lines received: `MSG`s, or for `connect` the join notices.
    pub deliveries: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Whether every receiver saw the messages in one and the same order.
    pub same_order: bool,
    pub latency: Option<Percentiles>,
    /// Server memory (VmRSS, KiB) before any client connected, its peak during
    /// the run (VmHWM), and at the end with every client still connected.
    pub rss_kb_start: Option<u64>,
    pub rss_kb_peak: Option<u64>,
    pub rss_kb_end: Option<u64>,
    /// VmRSS once a second while messages were being sent.
    pub rss_kb_timeline: Vec<u64>,
    /// Server threads at the end, every client still connected.
    pub threads: Option<u64>,
    /// CPU time (user + system, all threads) the server and this generator
    /// used over `seconds`: who the two shared cores went to.
    pub server_cpu: Option<f64>,
    pub bench_cpu: Option<f64>,
    /// `slow` only: whether the stalled client was dropped, and when (seconds
    /// after the first message).
    pub stalled_dropped: Option<bool>,
    pub stalled_dropped_after: Option<f64>,
    /// Why the run could not do all it meant to, if it could not.
    pub problem: Option<String>,
    /// The machine's one-minute load average when the run began: other work
    /// competing for the cores makes every figure worse.
    pub load_average: Option<f64>,
}

impl Report {
    pub fn deliveries_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.deliveries as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// RSS growth per connected client from start to end, in KiB.
    pub fn rss_kib_per_client(&self) -> Option<f64> {
        let (start, end) = (self.rss_kb_start?, self.rss_kb_end?);
        let served = self.clients.saturating_sub(self.refused).max(1);
        Some(end.saturating_sub(start) as f64 / served as f64)
    }

    /// Whether memory stayed flat while messages flowed: the second half of
    /// the timeline never rises more than 10% + 1 MiB above the first half's
    /// peak. `None` with fewer than four samples.
    pub fn rss_flat(&self) -> Option<bool> {
        let samples = &self.rss_kb_timeline;
        if samples.len() < 4 {
            return None;
        }
        let (first, second) = samples.split_at(samples.len() / 2);
        let (first, second) = (first.iter().max()?, second.iter().max()?);
        Some(*second <= first + first / 10 + 1024)
    }

    /// The performance target for this workload (as specified by
    /// [`Options::defaults`]), and whether this run met it.
    pub fn target(&self) -> (&'static str, bool) {
        let p99_within = |ms: u64| self.latency.is_some_and(|l| l.p99 <= ms * 1000);
        let nothing_lost = self.complete && self.lost == 0 && self.duplicates == 0;
        match self.workload {
            "fanout" => (
                ">= 3 M deliveries/s, nothing lost, one order",
                nothing_lost && self.same_order && self.deliveries_per_sec() >= 3e6,
            ),
            "latency" => ("p99 <= 10 ms, nothing lost", nothing_lost && p99_within(10)),
            "slow" => (
                "stalled client dropped; others lose nothing, p99 <= 25 ms; RSS flat",
                nothing_lost
                    && self.stalled_dropped == Some(true)
                    && p99_within(25)
                    && self.rss_flat() != Some(false),
            ),
            _ => (
                "all settled within 30 s, <= 20 KiB RSS per client",
                self.complete
                    && self.refused == 0
                    && self.seconds <= 30.0
                    && self.rss_kib_per_client().is_some_and(|kib| kib <= 20.0),
            ),
        }
    }

    /// The `target` row for the table: the target and whether it was met.
    pub fn target_row(&self) -> String {
        let (target, met) = self.target();
        let verdict = if met { "met" } else { "MISSED" };
        format!("  {:<20} {target}: {verdict}\n", "target")
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<20} {v}");
        };
        let mib = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
        row("workload", self.workload.to_string());
        row(
            "clients",
            format!("{} ({} refused)", self.clients, self.refused),
        );
        row("complete", yes_no(self.complete).into());
        if let Some(problem) = &self.problem {
            row("problem", problem.clone());
        }
        row("time", format!("{:.2} s", self.seconds));
        if self.sent > 0 {
            row("sent", self.sent.to_string());
        }
        row("deliveries", self.deliveries.to_string());
        row(
            "deliveries/s",
            format!("{:.3} M", self.deliveries_per_sec() / 1e6),
        );
        row("lost", self.lost.to_string());
        row("dropped", self.dropped.to_string());
        row("duplicates", self.duplicates.to_string());
        row("same order", yes_no(self.same_order).into());
        if let Some(l) = self.latency {
            let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
            row(
                "latency ms",
                format!(
                    "p50 {}  p99 {}  p99.9 {}  max {}",
                    ms(l.p50),
                    ms(l.p99),
                    ms(l.p999),
                    ms(l.max)
                ),
            );
        }
        if let (Some(s), Some(p), Some(e)) = (self.rss_kb_start, self.rss_kb_peak, self.rss_kb_end)
        {
            row(
                "server RSS MiB",
                format!("start {}  peak {}  end {}", mib(s), mib(p), mib(e)),
            );
        }
        if !self.rss_kb_timeline.is_empty() {
            let timeline: Vec<String> = self.rss_kb_timeline.iter().map(|&kb| mib(kb)).collect();
            let flat = self
                .rss_flat()
                .map_or("", |f| if f { "  (flat)" } else { "  (GROWING)" });
            row(
                "RSS MiB per second",
                format!("{}{flat}", timeline.join(" ")),
            );
        }
        if let Some(per) = self.rss_kib_per_client() {
            row("RSS per client", format!("{per:.1} KiB"));
        }
        if let Some(t) = self.threads {
            row("server threads", t.to_string());
        }
        if let (Some(server), Some(bench)) = (self.server_cpu, self.bench_cpu) {
            row(
                "CPU seconds",
                format!(
                    "server {server:.2}  bench {bench:.2}  (over {:.2} s)",
                    self.seconds
                ),
            );
        }
        if let Some(load) = self.load_average {
            row("load average", format!("{load:.2} (at start)"));
        }
        if let Some(dropped) = self.stalled_dropped {
            let after = self
                .stalled_dropped_after
                .map_or(String::new(), |s| format!(" after {s:.2} s"));
            row("stalled dropped", format!("{}{after}", yes_no(dropped)));
        }
        out
    }

    /// One line of JSON.
    pub fn json(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
        let latency = self.latency.map_or("null".to_string(), |l| {
            format!(
                "{{\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
                l.p50, l.p99, l.p999, l.max
            )
        });
        let timeline: Vec<String> = self.rss_kb_timeline.iter().map(u64::to_string).collect();
        format!(
            "{{\"workload\":\"{}\",\"clients\":{},\"refused\":{},\"complete\":{},\"seconds\":{:.3},\
             \"sent\":{},\"deliveries\":{},\"deliveries_per_sec\":{:.0},\"lost\":{},\
             \"dropped\":{},\"duplicates\":{},\"same_order\":{},\"latency\":{},\"rss_kb_start\":{},\
             \"rss_kb_peak\":{},\"rss_kb_end\":{},\"rss_kb_timeline\":[{}],\"rss_flat\":{},\
             \"rss_kib_per_client\":{},\"threads\":{},\"server_cpu_s\":{},\"bench_cpu_s\":{},\
             \"stalled_dropped\":{},\
             \"stalled_dropped_after\":{},\"problem\":{},\"load_average\":{}}}",
            self.workload,
            self.clients,
            self.refused,
            self.complete,
            self.seconds,
            self.sent,
            self.deliveries,
            self.deliveries_per_sec(),
            self.lost,
            self.dropped,
            self.duplicates,
            self.same_order,
            latency,
            opt(self.rss_kb_start),
            opt(self.rss_kb_peak),
            opt(self.rss_kb_end),
            timeline.join(","),
            self.rss_flat().map_or("null".to_string(), |f| f.to_string()),
            self.rss_kib_per_client()
                .map_or("null".to_string(), |k| format!("{k:.1}")),
            opt(self.threads),
            seconds(self.server_cpu),
            seconds(self.bench_cpu),
            self.stalled_dropped
                .map_or("null".to_string(), |d| d.to_string()),
            seconds(self.stalled_dropped_after),
            self.problem.as_deref().map_or("null".to_string(), json::string_literal),
            self.load_average
                .map_or("null".to_string(), |l| format!("{l:.2}")),
        )
    }
}

/// Seconds with millisecond precision, or `null`.
fn seconds(value: Option<f64>) -> String {
    value.map_or("null".to_string(), |s| format!("{s:.3}"))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The line-protocol address in a `chat-server` log line such as
/// `2026-11-23T00:00:00Z listening on 127.0.0.1:4000 (line protocol)`; a line
/// about the web listener does not count.
fn listening_addr(log_line: &str) -> Option<SocketAddr> {
    let (_, rest) = log_line.split_once("listening on ")?;
    if rest.contains("web") || rest.contains("http") {
        return None;
    }
    rest.split_whitespace().next()?.parse().ok()
}

/// The server under test; a spawned one is killed when this is dropped.
struct ServerProcess {
    addr: SocketAddr,
    pid: Option<u32>,
    child: Option<Child>,
}

/// How long a spawned server may take to say where it listens.
const STARTUP_PATIENCE: Duration = Duration::from_secs(10);

impl ServerProcess {
    fn start(target: &Target, clients: usize) -> Result<ServerProcess, String> {
        let max_backlog = match target {
            Target::Attach { addr, pid } => {
                return Ok(ServerProcess {
                    addr: *addr,
                    pid: *pid,
                    child: None,
                })
            }
            Target::Spawn { max_backlog } => *max_backlog,
        };
        let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        let program = exe.with_file_name("chat-server");
        let mut command = Command::new(&program);
        command.args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--web-port",
            "0",
            "--quiet",
        ]);
        // Long enough that no client idles out during a run.
        command.args(["--idle-timeout", "600"]);
        command.args(["--max-clients", &(clients + 16).to_string()]);
        if let Some(bytes) = max_backlog {
            command.args(["--max-backlog", &bytes.to_string()]);
        }
        // SAFETY: the closure runs in the forked child just before exec and
        // makes one async-signal-safe system call (prctl), touching no memory
        // shared with the parent.
        unsafe {
            command.pre_exec(sys::die_with_parent);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut server = ServerProcess {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid: Some(child.id()),
            child: None,
        };
        let stderr = child.stderr.take();
        server.child = Some(child);
        let stderr = stderr.ok_or("no stderr from the server")?;
        let (found, address) = mpsc::channel();
        // Reads the log until the address shows up, then keeps draining it so
        // the server never blocks on a full pipe.
        thread::spawn(move || {
            let mut log = BufReader::new(stderr);
            let mut line = String::new();
            while matches!(log.read_line(&mut line), Ok(n) if n > 0) {
                if let Some(addr) = listening_addr(&line) {
                    let _ = found.send(Ok(addr));
                    let _ = io::copy(&mut log, &mut io::sink());
                    return;
                }
                let _ = found.send(Err(std::mem::take(&mut line)));
            }
        });
        let deadline = Instant::now() + STARTUP_PATIENCE;
        let mut said = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match address.recv_timeout(left) {
                Ok(Ok(addr)) => {
                    server.addr = addr;
                    return Ok(server);
                }
                Ok(Err(line)) => said.push_str(&line),
                Err(_) => return Err(format!("the server did not say where it listens: {said}")),
            }
        }
    }

    fn status(&self, field: &str) -> Option<u64> {
        procfs::status_field(self.pid?, field)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Client `i` logs in as `b<i>`; the one in `slow` that never reads as this.
const STALLED_NAME: &str = "stalled";
/// What the others hear when the server drops it.
const STALLED_LEFT: &[u8] = b"INFO stalled disconnected";

/// One line from the server, as far as the bench cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    LoggedIn,
    Refused,
    /// `BYE` after `OK`: the server dropped one of our reading clients.
    Dropped,
    Joined,
    StalledLeft,
    /// A benchmark message, `latency` microseconds after it was sent.
    Message {
        latency: u64,
    },
    Other,
}

/// What one client has received so far: a pure account of lines, no I/O.
#[derive(Debug, Default)]
struct Received {
    ok: bool,
    /// Next expected sequence number, per sender.
    next_seq: Vec<u64>,
    msgs: u64,
    lost: u64,
    duplicates: u64,
    /// A running hash of (sender, seq) in arrival order.
    order: u64,
}

impl Received {
    fn new(senders: usize) -> Received {
        Received {
            next_seq: vec![0; senders],
            ..Received::default()
        }
    }

    /// Accounts for one line (without its `\n`) received `now_us` after the epoch.
    fn take_line(&mut self, line: &[u8], now_us: u64) -> Heard {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"MSG b") {
            return self.take_msg(rest, now_us);
        }
        match line {
            b"OK" => {
                self.ok = true;
                Heard::LoggedIn
            }
            _ if line.starts_with(b"BYE") && !self.ok => Heard::Refused,
            _ if line.starts_with(b"BYE") => Heard::Dropped,
            _ if line.starts_with(b"INFO ") && line.ends_with(b" connected") => Heard::Joined,
            _ if line == STALLED_LEFT => Heard::StalledLeft,
            _ => Heard::Other,
        }
    }

    /// `<sender> <seq>:<micros>:<padding>` after `MSG b`.
    fn take_msg(&mut self, rest: &[u8], now_us: u64) -> Heard {
        let mut fields = rest.splitn(4, |&b| b == b' ' || b == b':');
        let (Some(sender), Some(seq), Some(sent_us)) = (
            fields.next().and_then(parse_number),
            fields.next().and_then(parse_number),
            fields.next().and_then(parse_number),
        ) else {
            return Heard::Other;
        };
        let Some(expected) = usize::try_from(sender)
            .ok()
            .and_then(|s| self.next_seq.get_mut(s))
        else {
            return Heard::Other;
        };
        self.msgs += 1;
        if seq < *expected {
            self.duplicates += 1;
        } else {
            // Saturating: a garbled sequence number must not overflow the count.
            self.lost = self.lost.saturating_add(seq - *expected);
            *expected = seq + 1;
        }
        self.order = self
            .order
            .wrapping_mul(0x100_0000_01b3)
            .wrapping_add((sender << 40) ^ seq);
        Heard::Message {
            latency: now_us.saturating_sub(sent_us),
        }
    }

    /// Messages lost so far, counting whatever is still missing given how
    /// many each sender sent.
    fn lost_given(&self, sent: &[u64]) -> u64 {
        sent.iter()
            .zip(&self.next_seq)
            .map(|(sent, next)| sent.saturating_sub(*next))
            .fold(self.lost, u64::saturating_add)
    }
}

/// A decimal number of at most 19 digits.
fn parse_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// Counters shared by the reader threads, to know when everything has arrived.
#[derive(Default)]
struct Totals {
    oks: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
    joins: AtomicU64,
    msgs: AtomicU64,
    stalled_leaves: AtomicU64,
    /// Microseconds after the epoch when the first `INFO stalled disconnected` came.
    stalled_left_at: AtomicU64,
}

/// Longest line a reader keeps; the server's own limit is far below.
const MAX_LINE: usize = 64 * 1024;

struct Client {
    stream: TcpStream,
    partial: Vec<u8>,
    got: Received,
    open: bool,
}

impl Client {
    /// Splits freshly read bytes into lines and accounts for each.
    fn feed(&mut self, mut data: &[u8], clock: &Clock) {
        while let Some(end) = data.iter().position(|&b| b == b'\n') {
            let heard = if self.partial.is_empty() {
                self.got.take_line(&data[..end], clock.now_us())
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&data[..end]);
                let heard = self.got.take_line(&line, clock.now_us());
                line.clear();
                self.partial = line; // keep the allocation
                heard
            };
            clock.count(heard);
            data = &data[end + 1..];
        }
        if self.partial.len() + data.len() > MAX_LINE {
            self.partial.clear(); // a line this long is not ours: drop it
        } else {
            self.partial.extend_from_slice(data);
        }
    }
}

/// The epoch every timestamp counts from, the shared totals, and the reader
/// thread's own latency histogram.
struct Clock {
    epoch: Instant,
    totals: Arc<Totals>,
    latencies: std::cell::RefCell<Histogram>,
}

impl Clock {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn count(&self, heard: Heard) {
        let totals = &self.totals;
        match heard {
            Heard::LoggedIn => totals.oks.fetch_add(1, Ordering::Relaxed),
            Heard::Refused => totals.refused.fetch_add(1, Ordering::Relaxed),
            Heard::Dropped => totals.dropped.fetch_add(1, Ordering::Relaxed),
            Heard::Joined => totals.joins.fetch_add(1, Ordering::Relaxed),
            Heard::StalledLeft => {
                let _ = totals.stalled_left_at.compare_exchange(
                    0,
                    self.now_us().max(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                totals.stalled_leaves.fetch_add(1, Ordering::Relaxed)
            }
            Heard::Message { latency } => {
                self.latencies.borrow_mut().record(latency);
                totals.msgs.fetch_add(1, Ordering::Relaxed)
            }
            Heard::Other => 0,
        };
    }
}

/// What a reader thread hands back: its clients and their latencies.
#[derive(Default)]
struct ReaderResult {
    clients: Vec<Client>,
    latencies: Histogram,
}

/// Two threads reading many non-blocking sockets, each in its own epoll.
struct Readers {
    inboxes: Vec<Sender<TcpStream>>,
    handles: Vec<JoinHandle<ReaderResult>>,
    stop: Arc<AtomicBool>,
    next: usize,
}

/// One reader per core: enough to keep up, few enough to leave the server room.
const READER_THREADS: usize = 2;

impl Readers {
    fn start(senders: usize, epoch: Instant, totals: &Arc<Totals>) -> Result<Readers, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Readers {
            inboxes: Vec::new(),
            handles: Vec::new(),
            stop: Arc::clone(&stop),
            next: 0,
        };
        for _ in 0..READER_THREADS {
            let poller = Poller::new().map_err(|e| format!("epoll: {e}"))?;
            let (sender, inbox) = mpsc::channel();
            let (stop, totals) = (Arc::clone(&stop), Arc::clone(totals));
            let clock = Clock {
                epoch,
                totals,
                latencies: Default::default(),
            };
            let handle = thread::Builder::new()
                .name("bench-reader".into())
                .spawn(move || read_loop(&poller, &inbox, &stop, senders, clock))
                .map_err(|e| format!("reader thread: {e}"))?;
            readers.inboxes.push(sender);
            readers.handles.push(handle);
        }
        Ok(readers)
    }

    fn add(&mut self, stream: TcpStream) {
        let _ = self.inboxes[self.next % self.inboxes.len()].send(stream);
        self.next += 1;
    }

    /// Stops the threads and hands back every client with what it received,
    /// and all latencies.
    fn finish(mut self) -> ReaderResult {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = ReaderResult::default();
        for handle in std::mem::take(&mut self.handles) {
            let mut one = handle.join().unwrap_or_default();
            all.clients.append(&mut one.clients);
            all.latencies.merge(&one.latencies);
        }
        all
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        // On an early return the threads stop too (within one wait).
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Readers never block in `epoll_wait`: they poll, and nap this long whenever
/// fewer than `COALESCE_BELOW` sockets were ready. Clients on separate machines
/// cost a server nothing to wake; a generator sharing the server's two cores
/// must not make each of the server's sends wake one of its threads (a
/// cross-CPU wake-up on a VM costs more than the send itself), nor spend a core
/// being woken per line. Latencies are measured from the data, so they include
/// the nap: pessimistic by at most that much.
const COALESCE: Duration = Duration::from_micros(500);
const COALESCE_BELOW: usize = 64;

fn read_loop(
    poller: &Poller,
    inbox: &Receiver<TcpStream>,
    stop: &AtomicBool,
    senders: usize,
    clock: Clock,
) -> ReaderResult {
    // Bound here: the tokens are `Client` indexes, so this can't move.
    let mut clients: Vec<Client> = Vec::new();
    let mut events = vec![EpollEvent::default(); 256];
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        while let Ok(stream) = inbox.try_recv() {
            let token = clients.len() as u64;
            if stream.set_nonblocking(true).is_err()
                || poller.add(stream.as_raw_fd(), token).is_err()
            {
                continue; // never heard from: it will count as lost
            }
            clients.push(Client {
                stream,
                partial: Vec::new(),
                got: Received::new(senders),
                open: true,
            });
        }
        let Ok(ready) = poller.wait(&mut events, 0) else {
            continue; // interrupted by a signal: wait again
        };
        let woke_for = ready.len();
        for token in ready {
            let Some(client) = usize::try_from(token).ok().and_then(|i| clients.get_mut(i)) else {
                continue;
            };
            match (&client.stream).read(&mut buf) {
                Ok(0) => client.open = false,
                Ok(n) => client.feed(&buf[..n], &clock),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => client.open = false,
            }
            if !client.open {
                let _ = poller.remove(client.stream.as_raw_fd());
            }
        }
        if woke_for < COALESCE_BELOW {
            thread::sleep(COALESCE);
        }
    }
    ReaderResult {
        clients,
        latencies: clock.latencies.into_inner(),
    }
}

/// Samples the server's VmRSS once a second from its own thread.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<u64>>,
}

impl RssSampler {
    fn start(pid: u32, deadline: Instant) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
                if Instant::now() >= next {
                    samples.extend(procfs::status_field(pid, "VmRSS"));
                    next += Duration::from_secs(1);
                }
                thread::sleep(Duration::from_millis(20));
            }
            samples
        });
        RssSampler { stop, handle }
    }

    fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// `write_all` on a socket that is non-blocking (it shares its file
/// description with a reader's clone), giving up at `deadline`.
fn send_all(stream: &TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    while !data.is_empty() {
        match (&*stream).write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(ErrorKind::TimedOut.into());
                }
                thread::sleep(Duration::from_micros(50));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Appends one message line of `size` bytes (at least its header) to `out`.
fn message(seq: u64, sent_us: u64, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = write!(out, "MSG {seq}:{sent_us}:");
    let header = out.len() - start;
    out.resize(start + size.max(header + 2) - 1, b'x');
    out.push(b'\n');
}

/// Waits until `done()` or the deadline; returns whether it was done.
fn wait_until(deadline: Instant, done: impl Fn() -> bool) -> bool {
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Connects within `patience` and sends `LOGIN name` (the readers read the answer).
fn connect(addr: SocketAddr, name: &str, patience: Duration) -> Result<TcpStream, String> {
    let patience = patience.max(Duration::from_millis(1));
    let mut stream = TcpStream::connect_timeout(&addr, patience)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(patience));
    stream
        .write_all(format!("LOGIN {name}\n").as_bytes())
        .map_err(|e| format!("login {name}: {e}"))?;
    Ok(stream)
}

/// The client that logs in and then never reads (`slow`).
fn stalled_client(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut stream = connect(addr, STALLED_NAME, STARTUP_PATIENCE)?;
    let _ = stream.set_read_timeout(Some(STARTUP_PATIENCE));
    let mut ok = [0u8; 3];
    stream
        .read_exact(&mut ok)
        .map_err(|e| format!("stalled client: {e}"))?;
    if &ok != b"OK\n" {
        return Err("the stalled client was not let in".into());
    }
    Ok(stream)
}

/// How many messages each sender got out, and why sending stopped early
/// (e.g. the server dropped a sender), if it did.
struct Sent {
    per_sender: Vec<u64>,
    problem: Option<String>,
}

/// Sends `messages` lines from every sender as fast as the server takes them.
fn blast(senders: Vec<TcpStream>, options: &Options, epoch: Instant, deadline: Instant) -> Sent {
    const BATCH: usize = 256;
    let (messages, size) = (options.messages, options.size);
    let threads: Vec<_> = senders
        .into_iter()
        .map(|stream| {
            thread::spawn(move || {
                let mut batch = Vec::with_capacity(BATCH * size);
                for first in (0..messages).step_by(BATCH) {
                    batch.clear();
                    let now = epoch.elapsed().as_micros() as u64;
                    for seq in first..(first + BATCH).min(messages) {
                        message(seq as u64, now, size, &mut batch);
                    }
                    if let Err(e) = send_all(&stream, &batch, deadline) {
                        return (first as u64, Some(format!("sending: {e}")));
                    }
                }
                (messages as u64, None)
            })
        })
        .collect();
    let mut sent = Sent {
        per_sender: Vec::new(),
        problem: None,
    };
    for thread in threads {
        let (count, problem) = thread
            .join()
            .unwrap_or((0, Some("a sender panicked".into())));
        sent.per_sender.push(count);
        sent.problem = sent.problem.or(problem);
    }
    sent
}

/// Sends at `options.rate` for `options.duration`, on schedule (a late
/// message does not push back the ones after it).
fn pace(stream: &TcpStream, options: &Options, epoch: Instant, deadline: Instant) -> Sent {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let mut sent = 0u64;
    let mut line = Vec::new();
    let mut problem = None;
    while start.elapsed() < options.duration && Instant::now() < deadline {
        let due = start + interval.mul_f64(sent as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        line.clear();
        let now = epoch.elapsed().as_micros() as u64;
        message(sent, now, options.size, &mut line);
        if let Err(e) = send_all(stream, &line, deadline) {
            problem = Some(format!("sending: {e} after {sent} messages"));
            break;
        }
        sent += 1;
    }
    Sent {
        per_sender: vec![sent],
        problem,
    }
}

/// Logins sent but not yet answered, at most. The server's listen queue holds
/// 128 connections (std's backlog); overflowing it costs a client a one-second
/// SYN retransmit, which would measure the queue rather than the server.
const LOGIN_WINDOW: u64 = 64;

/// After the last message, how long receivers get to catch up.
const GRACE: Duration = Duration::from_secs(10);

/// Runs one workload and reports what it measured.
pub fn run(options: &Options) -> Result<Report, String> {
    let deadline = Instant::now() + options.timeout;
    let load_average = procfs::load_average();
    let server = ServerProcess::start(&options.target, options.clients)?;
    let epoch = Instant::now();
    let totals = Arc::new(Totals::default());
    let senders = match options.workload {
        Workload::Connect => 0,
        Workload::Fanout => options.senders,
        Workload::Latency | Workload::Slow => 1,
    };
    let mut readers = Readers::start(senders, epoch, &totals)?;
    let mut report = Report {
        workload: options.workload.name(),
        clients: options.clients,
        rss_kb_start: server.status("VmRSS"),
        load_average,
        ..Report::default()
    };

    let stalled = match options.workload {
        Workload::Slow => Some(stalled_client(server.addr)?), // and never read again
        _ => None,
    };

    // Log everybody in; the `connect` workload measures exactly this.
    let started = Instant::now();
    let server_cpu_at_login = server.pid.and_then(procfs::cpu_seconds);
    let bench_cpu_at_login = procfs::cpu_seconds(std::process::id());
    let mut writers = Vec::new();
    let mut connected = 0u64;
    let answered = || totals.oks.load(Ordering::Relaxed) + totals.refused.load(Ordering::Relaxed);
    while connected < options.clients as u64 {
        let waited = wait_until(deadline, || answered() + LOGIN_WINDOW >= connected);
        let left = deadline.saturating_duration_since(Instant::now());
        if !waited || left.is_zero() {
            report.problem = Some(format!("out of time after {connected} connections"));
            break;
        }
        let stream = match connect(
            server.addr,
            &format!("b{connected}"),
            left.min(STARTUP_PATIENCE),
        ) {
            Ok(stream) => stream,
            Err(e) => {
                report.problem = Some(format!("{e} (after {connected} connections)"));
                break;
            }
        };
        if writers.len() < senders {
            writers.push(stream.try_clone().map_err(|e| e.to_string())?);
        }
        readers.add(stream);
        connected += 1;
    }
    let settled = report.problem.is_none()
        && wait_until(deadline, || {
            let oks = totals.oks.load(Ordering::Relaxed);
            answered() == connected
                && totals.joins.load(Ordering::Relaxed) == oks * oks.saturating_sub(1) / 2
        });

    // Memory over time only means something while messages flow steadily.
    let sampler = match options.workload {
        Workload::Latency | Workload::Slow => {
            server.pid.map(|pid| RssSampler::start(pid, deadline))
        }
        Workload::Connect | Workload::Fanout => None,
    };
    let start = Instant::now();
    let (server_cpu_at_start, bench_cpu_at_start) = match options.workload {
        Workload::Connect => (server_cpu_at_login, bench_cpu_at_login),
        _ => (
            server.pid.and_then(procfs::cpu_seconds),
            procfs::cpu_seconds(std::process::id()),
        ),
    };
    let sent = match options.workload {
        Workload::Connect => Sent {
            per_sender: Vec::new(),
            problem: None,
        },
        _ if !settled => Sent {
            per_sender: vec![0; senders],
            problem: None,
        },
        Workload::Fanout => blast(writers, options, epoch, deadline),
        Workload::Latency | Workload::Slow => {
            let stream = writers.first().ok_or("no sender")?;
            pace(stream, options, epoch, deadline)
        }
    };
    if report.problem.is_none() {
        report.problem = sent.problem;
    }
    let sent_per_sender = sent.per_sender;
    report.sent = sent_per_sender.iter().sum();
    let expected = options.clients as u64 * report.sent;
    let grace = match options.workload {
        Workload::Fanout => deadline,
        _ => (Instant::now() + GRACE).min(deadline),
    };
    // Waiting for the stalled client's departure too, if it is coming.
    wait_until(grace, || {
        totals.msgs.load(Ordering::Relaxed) >= expected
            && (stalled.is_none()
                || totals.stalled_leaves.load(Ordering::Relaxed) >= options.clients as u64)
    });
    report.seconds = match options.workload {
        Workload::Connect => started.elapsed().as_secs_f64(),
        _ => start.elapsed().as_secs_f64(),
    };
    if !settled && report.problem.is_none() {
        report.problem = Some("not every login settled before the timeout".into());
    }
    report.complete = report.problem.is_none()
        && totals.refused.load(Ordering::Relaxed) == 0
        && totals.msgs.load(Ordering::Relaxed) >= expected;
    let used = |at_start: Option<f64>, now: Option<f64>| Some(now? - at_start?);
    report.server_cpu = used(
        server_cpu_at_start,
        server.pid.and_then(procfs::cpu_seconds),
    );
    report.bench_cpu = used(bench_cpu_at_start, procfs::cpu_seconds(std::process::id()));
    report.rss_kb_timeline = sampler.map(RssSampler::finish).unwrap_or_default();

    let received = readers.finish();
    report.refused = totals.refused.load(Ordering::Relaxed) as usize;
    report.dropped = totals.dropped.load(Ordering::Relaxed);
    report.rss_kb_end = server.status("VmRSS");
    report.rss_kb_peak = server.status("VmHWM");
    report.threads = server.status("Threads");
    let got = || received.clients.iter().map(|c| &c.got);
    match options.workload {
        Workload::Connect => {
            report.deliveries = totals.joins.load(Ordering::Relaxed);
            report.same_order = true;
        }
        _ => {
            report.deliveries = got().map(|g| g.msgs).sum();
            report.duplicates = got().map(|g| g.duplicates).sum();
            report.lost = got().map(|g| g.lost_given(&sent_per_sender)).sum();
            // Clients that never made it to a reader lost everything.
            let unread = connected.saturating_sub(received.clients.len() as u64);
            report.lost += unread * report.sent;
            let first = got().next().map(|g| g.order);
            report.same_order = got().all(|g| Some(g.order) == first);
            report.latency = received.latencies.percentiles();
        }
    }
    if stalled.is_some() {
        let left_at = totals.stalled_left_at.load(Ordering::Relaxed);
        report.stalled_dropped = Some(left_at > 0);
        let send_start = start.duration_since(epoch).as_micros() as u64;
        report.stalled_dropped_after =
            (left_at > 0).then(|| left_at.saturating_sub(send_start) as f64 / 1e6);
    }
    // Stop the server before the clients go, so it does not spend the end of
    // the run announcing thousands of departures.
    drop(server);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_exact_below_a_millisecond() {
        let mut h = Histogram::new();
        for v in (1..=1000).rev() {
            h.record(v);
        }
        let p = h.percentiles().unwrap();
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500, 990, 999, 1000));
        assert_eq!(Histogram::new().percentiles(), None);
    }

    #[test]
    fn histogram_is_within_a_fifth_of_a_percent_above() {
        for v in [1024, 1500, 2047, 2048, 99_999, 12_345_678, 1 << 39] {
            let low = Histogram::lowest(Histogram::bucket(v));
            assert!(low <= v && v - low <= v / 500, "{v} -> {low}");
        }
        for b in 0..Histogram::bucket(Histogram::CEILING) {
            assert_eq!(Histogram::bucket(Histogram::lowest(b)), b);
        }
        let mut h = Histogram::new();
        h.record(5_000_000);
        h.record(u64::MAX);
        assert_eq!(h.percentiles().unwrap().max, Histogram::CEILING);
    }

    #[test]
    fn histograms_merge() {
        let (mut a, mut b) = (Histogram::new(), Histogram::new());
        (0..99).for_each(|_| a.record(10));
        b.record(20_000);
        a.merge(&b);
        let p = a.percentiles().unwrap();
        assert_eq!((p.p50, p.p99, p.max), (10, 10, 20_000));
        assert!(p.p999 > 19_950 && p.p999 <= 20_000);
    }

    #[test]
    fn the_server_log_says_where_it_listens() {
        let line = "2026-11-23T00:00:00Z listening on 127.0.0.1:4321 (line protocol)\n";
        assert_eq!(
            listening_addr(line),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        assert_eq!(
            listening_addr("listening on [::1]:80\n"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            listening_addr("... listening on 127.0.0.1:8080 (web page)\n"),
            None
        );
        assert_eq!(listening_addr("note: something else\n"), None);
    }

    #[test]
    fn messages_have_the_requested_size_and_parse_back() {
        let mut out = Vec::new();
        message(42, 123_456, 64, &mut out);
        assert_eq!(out.len(), 64);
        assert!(out.starts_with(b"MSG 42:123456:x") && out.ends_with(b"x\n"));
        message(7, 1, 1, &mut out);
        assert_eq!(&out[64..], b"MSG 7:1:x\n", "never shorter than the header");

        let mut got = Received::new(3);
        let line = [b"MSG b2 ", &out[4..63]].concat();
        assert_eq!(
            got.take_line(&line, 123_500),
            Heard::Message { latency: 44 }
        );
        assert_eq!(got.next_seq, [0, 0, 43]);
    }

    #[test]
    fn loss_duplicates_and_order() {
        let mut got = Received::new(2);
        for (sender, seq) in [(0, 0), (1, 0), (0, 1), (0, 1), (0, 3), (1, 1)] {
            got.take_line(format!("MSG b{sender} {seq}:0:xx").as_bytes(), 5);
        }
        assert_eq!((got.msgs, got.duplicates, got.lost), (6, 1, 1));
        assert_eq!(
            got.lost_given(&[6, 2]),
            1 + 2,
            "seq 4 and 5 of b0 never came"
        );
        for _ in 0..2 {
            got.take_line(b"MSG b1 9999999999999999999:0:x", 5);
        }
        assert_eq!(got.lost_given(&[u64::MAX, u64::MAX]), u64::MAX, "saturates");

        let order = |pairs: &[(u8, u8)]| {
            let mut got = Received::new(2);
            for (sender, seq) in pairs {
                got.take_line(format!("MSG b{sender} {seq}:0:x").as_bytes(), 0);
            }
            got.order
        };
        assert_eq!(order(&[(0, 0), (1, 0)]), order(&[(0, 0), (1, 0)]));
        assert_ne!(order(&[(0, 0), (1, 0)]), order(&[(1, 0), (0, 0)]));
    }

    #[test]
    fn other_lines() {
        let mut got = Received::new(1);
        assert_eq!(got.take_line(b"BYE server-full", 0), Heard::Refused);
        assert_eq!(got.take_line(b"OK\r", 0), Heard::LoggedIn);
        assert_eq!(
            got.take_line(b"BYE too-slow", 0),
            Heard::Dropped,
            "after OK: not refused"
        );
        assert_eq!(got.take_line(b"INFO b7 connected", 0), Heard::Joined);
        assert_eq!(
            got.take_line(b"INFO stalled disconnected", 0),
            Heard::StalledLeft
        );
        assert_eq!(got.take_line(b"INFO b7 disconnected", 0), Heard::Other);
        // Not ours, or garbled: ignored, never a panic.
        for line in [
            &b"MSG b9 1:2:x"[..],
            b"MSG b0 1:x",
            b"MSG b0 99999999999999999999:1:x",
            b"MSG bob hello",
            b"MSG b",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(got.take_line(line, 0), Heard::Other, "{line:?}");
        }
        assert_eq!(got.msgs, 0);
    }

    #[test]
    fn lines_split_across_reads() {
        let totals = Arc::new(Totals::default());
        let clock = Clock {
            epoch: Instant::now(),
            totals: Arc::clone(&totals),
            latencies: Default::default(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = Client {
            stream: TcpStream::connect(listener.local_addr().unwrap()).unwrap(),
            partial: Vec::new(),
            got: Received::new(1),
            open: true,
        };
        for chunk in [
            &b"O"[..],
            b"K\nMSG b0 0:0:x",
            b"x\nMSG b0 1:0:xx\nINFO b3 conn",
            b"ected\n",
        ] {
            client.feed(chunk, &clock);
        }
        assert_eq!(client.got.msgs, 2);
        assert_eq!(totals.oks.load(Ordering::Relaxed), 1);
        assert_eq!(totals.joins.load(Ordering::Relaxed), 1);
        assert_eq!(clock.latencies.borrow().samples, 2);
        client.feed(&vec![b'x'; MAX_LINE + 1], &clock);
        assert!(client.partial.is_empty(), "an endless line is not kept");
    }

    #[test]
    fn rss_flat_or_growing() {
        let report = |timeline: &[u64]| Report {
            rss_kb_timeline: timeline.to_vec(),
            ..Report::default()
        };
        assert_eq!(report(&[1, 2, 3]).rss_flat(), None);
        assert_eq!(
            report(&[10_000, 12_000, 11_500, 11_900]).rss_flat(),
            Some(true)
        );
        assert_eq!(
            report(&[10_000, 20_000, 30_000, 40_000]).rss_flat(),
            Some(false)
        );
    }

    #[test]
    fn targets_apply_to_the_standard_workloads_and_say_whether_they_were_met() {
        let standard = Options::defaults(Workload::Latency);
        assert!(standard.is_standard());
        let elsewhere = Options {
            target: Target::Attach {
                addr: "127.0.0.1:4000".parse().unwrap(),
                pid: None,
            },
            timeout: Duration::from_secs(5),
            json: true,
            ..standard.clone()
        };
        assert!(elsewhere.is_standard());
        let smaller = Options {
            clients: 10,
            ..standard
        };
        assert!(!smaller.is_standard());

        let latency = |p99_ms: u64, lost: u64| Report {
            workload: "latency",
            complete: true,
            lost,
            latency: Some(Percentiles {
                p50: 1,
                p99: p99_ms * 1000,
                p999: p99_ms * 1000,
                max: p99_ms * 1000,
            }),
            ..Report::default()
        };
        assert!(latency(10, 0).target().1);
        assert!(!latency(11, 0).target().1);
        assert!(!latency(5, 1).target().1);
        assert!(latency(11, 0)
            .target_row()
            .ends_with("p99 <= 10 ms, nothing lost: MISSED\n"));
        let connect = |seconds: f64, kib_per_client: u64| Report {
            workload: "connect",
            clients: 100,
            complete: true,
            seconds,
            rss_kb_start: Some(0),
            rss_kb_end: Some(100 * kib_per_client),
            ..Report::default()
        };
        assert!(connect(29.0, 20).target().1);
        assert!(!connect(31.0, 20).target().1);
        assert!(!connect(29.0, 21).target().1);
    }

    #[test]
    fn json_is_one_line() {
        let report = Report {
            workload: "slow",
            clients: 4,
            latency: Some(Percentiles {
                p50: 1,
                p99: 2,
                p999: 3,
                max: 4,
            }),
            rss_kb_start: Some(1000),
            rss_kb_end: Some(1400),
            rss_kb_timeline: vec![1, 2],
            stalled_dropped: Some(true),
            stalled_dropped_after: Some(1.5),
            ..Report::default()
        };
        let json = report.json();
        assert!(!json.contains('\n'));
        assert!(json.starts_with("{\"workload\":\"slow\",\"clients\":4,"));
        assert!(json.contains("\"latency\":{\"p50_us\":1,\"p99_us\":2,\"p999_us\":3,\"max_us\":4}"));
        assert!(json.contains("\"rss_kb_timeline\":[1,2],\"rss_flat\":null,"));
        assert!(json.contains("\"rss_kib_per_client\":100.0,"));
        assert!(json
            .ends_with("\"stalled_dropped_after\":1.500,\"problem\":null,\"load_average\":null}"));
        assert_eq!(json.matches('{').count(), json.matches('}').count());
        let table = report.table();
        assert!(
            table.contains("stalled dropped      yes after 1.50 s"),
            "{table}"
        );
    }
}
