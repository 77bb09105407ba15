//! `chat-bench`: load generator and measuring instrument for the chat server.
//!
//! Four workloads, each bounded in count and time and aimed at loopback only:
//! - `connect`: N clients log in; every login is announced to everybody already
//!   there, so N clients cause N(N-1)/2 join notices. Measures the time until
//!   all of them have arrived, and the server's memory per client.
//! - `fanout`: C clients, S of them each sending M messages as fast as they can;
//!   every message goes to all C clients (the sender's echo included).
//! - `latency`: C clients, one sender at a steady rate: delivery latency.
//! - `slow`: like `latency` with bigger messages, plus one logged-in client that
//!   never reads: it must be dropped, and nobody else may lose or wait.
//!
//! Payloads are `MSG <seq>:<micros since start>:<padding>`, so every receiver
//! can check loss, duplicates and order, and measure latency with one clock.
//! The generator shares the machine with the server, so it stays cheap: a few
//! reader threads each own many non-blocking sockets and sleep in `poll(2)`
//! until one of them has data (std has no multiplexer; `poll` is declared here
//! against the C library std already links, no crate needed).

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

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

/// One run's parameters. [`Options::defaults`] gives the workloads.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub workload: Workload,
    pub target: Target,
    pub clients: usize,
    pub senders: usize,
    pub messages: usize,
    /// Messages per second (latency, slow).
    pub rate: f64,
    /// Bytes per message line.
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

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u32,
    pub p99: u32,
    pub p999: u32,
    pub max: u32,
}

impl Percentiles {
    /// Percentiles of `samples` (sorted in place); `None` when empty.
    pub fn of(samples: &mut [u32]) -> Option<Percentiles> {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        (!samples.is_empty()).then(|| Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        })
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub workload: &'static str,
    pub clients: usize,
    /// Clients the server refused (`BYE …` instead of `OK`).
    pub refused: usize,
    /// Whether everything expected arrived before the timeout.
    pub complete: bool,
    pub seconds: f64,
    pub deliveries: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Whether every receiver saw the messages in one and the same order.
    pub same_order: bool,
    pub latency: Option<Percentiles>,
    pub rss_kb_start: Option<u64>,
    pub rss_kb_peak: Option<u64>,
    pub rss_kb_end: Option<u64>,
    pub threads: Option<u64>,
    /// `slow` only: whether the stalled client was dropped.
    pub stalled_dropped: Option<bool>,
}

impl Report {
    pub fn deliveries_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.deliveries as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// RSS growth per client from start to end, in KiB.
    pub fn rss_kib_per_client(&self) -> Option<f64> {
        let (start, end) = (self.rss_kb_start?, self.rss_kb_end?);
        let served = self.clients.saturating_sub(self.refused).max(1);
        Some(end.saturating_sub(start) as f64 / served as f64)
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<22} {v}");
        };
        row("workload", self.workload.to_string());
        row(
            "clients",
            format!("{} ({} refused)", self.clients, self.refused),
        );
        row("complete", yes_no(self.complete).into());
        row("time", format!("{:.2} s", self.seconds));
        row("deliveries", self.deliveries.to_string());
        row(
            "deliveries/s",
            format!("{:.2} M", self.deliveries_per_sec() / 1e6),
        );
        row("lost", self.lost.to_string());
        row("duplicates", self.duplicates.to_string());
        row("same order", yes_no(self.same_order).into());
        if let Some(l) = self.latency {
            let ms = |us: u32| format!("{:.2}", f64::from(us) / 1000.0);
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
                format!(
                    "start {:.1}  peak {:.1}  end {:.1}",
                    s as f64 / 1024.0,
                    p as f64 / 1024.0,
                    e as f64 / 1024.0
                ),
            );
        }
        if let Some(per) = self.rss_kib_per_client() {
            row("RSS per client", format!("{per:.1} KiB"));
        }
        if let Some(t) = self.threads {
            row("server threads", t.to_string());
        }
        if let Some(dropped) = self.stalled_dropped {
            row("stalled dropped", yes_no(dropped).into());
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
        format!(
            "{{\"workload\":\"{}\",\"clients\":{},\"refused\":{},\"complete\":{},\"seconds\":{:.3},\
             \"deliveries\":{},\"deliveries_per_sec\":{:.0},\"lost\":{},\"duplicates\":{},\
             \"same_order\":{},\"latency\":{},\"rss_kb_start\":{},\"rss_kb_peak\":{},\
             \"rss_kb_end\":{},\"threads\":{},\"stalled_dropped\":{}}}",
            self.workload,
            self.clients,
            self.refused,
            self.complete,
            self.seconds,
            self.deliveries,
            self.deliveries_per_sec(),
            self.lost,
            self.duplicates,
            self.same_order,
            latency,
            opt(self.rss_kb_start),
            opt(self.rss_kb_peak),
            opt(self.rss_kb_end),
            opt(self.threads),
            self.stalled_dropped
                .map_or("null".to_string(), |d| d.to_string()),
        )
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A field of `/proc/PID/status` (e.g. `VmRSS` in kB, `Threads`).
pub fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_field(&status, field)
}

fn parse_status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// The server under test; a spawned one is killed when this is dropped.
struct Server {
    addr: SocketAddr,
    pid: Option<u32>,
    child: Option<Child>,
}

impl Server {
    fn start(target: &Target, clients: usize) -> Result<Server, String> {
        let max_backlog = match target {
            Target::Attach { addr, pid } => {
                return Ok(Server {
                    addr: *addr,
                    pid: *pid,
                    child: None,
                })
            }
            Target::Spawn { max_backlog } => *max_backlog,
        };
        let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        let server: PathBuf = exe.with_file_name("chat-server");
        let mut command = Command::new(&server);
        command.args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--web-port",
            "0",
            "--quiet",
        ]);
        command.args(["--idle-timeout", "600"]);
        command.args(["--max-clients", &(clients + 16).to_string()]);
        if let Some(bytes) = max_backlog {
            command.args(["--max-backlog", &bytes.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr from the server")?;
        let mut log = BufReader::new(stderr);
        let mut server = Server {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid: Some(child.id()),
            child: Some(child),
        };
        let mut line = String::new();
        for _ in 0..10 {
            line.clear();
            if log.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                break;
            }
            if let Some(addr) = line
                .split_whitespace()
                .skip_while(|w| *w != "on")
                .nth(1)
                .and_then(|a| a.parse().ok())
            {
                server.addr = addr;
                // Keep draining the log so the server never blocks on it.
                thread::spawn(move || io::copy(&mut log, &mut io::sink()));
                return Ok(server);
            }
        }
        Err(format!("the server did not say where it listens: {line}"))
    }

    fn status(&self, field: &str) -> Option<u64> {
        proc_status(self.pid?, field)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one client has received so far.
#[derive(Default)]
struct Received {
    ok: bool,
    refused: bool,
    joins: u64,
    msgs: u64,
    /// Next expected sequence number, per sender.
    next_seq: Vec<u64>,
    lost: u64,
    duplicates: u64,
    /// A running hash of (sender, seq) in arrival order.
    order: u64,
    latencies: Vec<u32>,
    saw_stalled_leave: bool,
}

/// Counters shared by the reader threads, to know when everything has arrived.
#[derive(Default)]
struct Totals {
    oks: AtomicU64,
    refused: AtomicU64,
    joins: AtomicU64,
    msgs: AtomicU64,
    stalled_leaves: AtomicU64,
}

struct Client {
    stream: TcpStream,
    partial: Vec<u8>,
    got: Received,
}

impl Client {
    /// Handles one complete line from the server.
    fn take_line(&mut self, line: &[u8], epoch: Instant, totals: &Totals) {
        let text = std::str::from_utf8(line).unwrap_or("");
        if let Some(rest) = text.strip_prefix("MSG b") {
            self.take_msg(rest, epoch);
            totals.msgs.fetch_add(1, Ordering::Relaxed);
        } else if text == "OK" {
            self.got.ok = true;
            totals.oks.fetch_add(1, Ordering::Relaxed);
        } else if text.starts_with("BYE") {
            self.got.refused = !self.got.ok;
            if self.got.refused {
                totals.refused.fetch_add(1, Ordering::Relaxed);
            }
        } else if text.starts_with("INFO ") && text.ends_with(" connected") {
            self.got.joins += 1;
            totals.joins.fetch_add(1, Ordering::Relaxed);
        } else if text == "INFO stalled disconnected" {
            self.got.saw_stalled_leave = true;
            totals.stalled_leaves.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `<sender> <seq>:<micros>:<padding>` after `MSG b`.
    fn take_msg(&mut self, rest: &str, epoch: Instant) {
        let mut fields = rest.splitn(2, ' ');
        let sender: usize = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut payload = fields.next().unwrap_or("").split(':');
        let seq: u64 = payload.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let sent_us: u64 = payload.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let now_us = epoch.elapsed().as_micros() as u64;
        let got = &mut self.got;
        got.msgs += 1;
        got.latencies
            .push(now_us.saturating_sub(sent_us).min(u64::from(u32::MAX)) as u32);
        if got.next_seq.len() <= sender {
            got.next_seq.resize(sender + 1, 0);
        }
        let expected = got.next_seq[sender];
        if seq < expected {
            got.duplicates += 1;
        } else {
            got.lost += seq - expected;
            got.next_seq[sender] = seq + 1;
        }
        got.order = got
            .order
            .wrapping_mul(0x100_0000_01b3)
            .wrapping_add(((sender as u64) << 40) ^ seq);
    }
}

/// A few threads reading many non-blocking sockets, taking turns.
struct Readers {
    inboxes: Vec<Sender<Client>>,
    handles: Vec<JoinHandle<Vec<Client>>>,
    stop: Arc<AtomicBool>,
    next: usize,
}

impl Readers {
    fn start(threads: usize, epoch: Instant, totals: &Arc<Totals>) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let (inboxes, handles) = (0..threads)
            .map(|_| {
                let (sender, inbox) = mpsc::channel();
                let (stop, totals) = (Arc::clone(&stop), Arc::clone(totals));
                let handle = thread::spawn(move || read_loop(&inbox, &stop, epoch, &totals));
                (sender, handle)
            })
            .unzip();
        Readers {
            inboxes,
            handles,
            stop,
            next: 0,
        }
    }

    fn add(&mut self, client: Client) {
        let _ = self.inboxes[self.next % self.inboxes.len()].send(client);
        self.next += 1;
    }

    /// Stops the threads and hands back every client with what it received.
    fn finish(self) -> Vec<Client> {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.inboxes);
        self.handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    }
}

/// `struct pollfd` from `<poll.h>`.
#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

const POLLIN: i16 = 0x1;

extern "C" {
    fn poll(
        fds: *mut PollFd,
        nfds: std::ffi::c_ulong,
        timeout_ms: std::ffi::c_int,
    ) -> std::ffi::c_int;
}

/// Waits up to `timeout_ms` for any of `fds` to be readable (or closed).
fn wait_readable(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()`
    // `pollfd` structs for the whole call, exactly what poll(2) reads and writes.
    let ready = unsafe { poll(fds.as_mut_ptr(), fds.len() as std::ffi::c_ulong, timeout_ms) };
    match ready {
        -1 => Err(io::Error::last_os_error()),
        n => Ok(n as usize),
    }
}

fn read_loop(
    inbox: &Receiver<Client>,
    stop: &AtomicBool,
    epoch: Instant,
    totals: &Totals,
) -> Vec<Client> {
    let mut mine: Vec<Client> = Vec::new();
    let mut fds: Vec<PollFd> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        while let Ok(client) = inbox.try_recv() {
            let _ = client.stream.set_nonblocking(true);
            fds.push(PollFd {
                fd: client.stream.as_raw_fd(),
                events: POLLIN,
                revents: 0,
            });
            mine.push(client);
        }
        if mine.is_empty() {
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        if wait_readable(&mut fds, 10).is_err() {
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        for (pollfd, client) in fds.iter_mut().zip(mine.iter_mut()) {
            if pollfd.revents == 0 {
                continue;
            }
            match (&client.stream).read(&mut buf) {
                // Closed: stop polling it (a negative fd is ignored by poll).
                Ok(0) => pollfd.fd = -1,
                Err(e) if e.kind() != ErrorKind::WouldBlock => pollfd.fd = -1,
                Err(_) => {}
                Ok(n) => {
                    let mut data = &buf[..n];
                    while let Some(i) = data.iter().position(|&b| b == b'\n') {
                        if client.partial.is_empty() {
                            client.take_line(&data[..i], epoch, totals);
                        } else {
                            let mut line = std::mem::take(&mut client.partial);
                            line.extend_from_slice(&data[..i]);
                            client.take_line(&line, epoch, totals);
                        }
                        data = &data[i + 1..];
                    }
                    client.partial.extend_from_slice(data);
                }
            }
        }
    }
    mine
}

/// `write_all` on a socket that may be non-blocking (it shares its file
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

/// One message line of `size` bytes (at least its header).
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

/// Runs one workload and reports what it measured.
pub fn run(options: &Options) -> Result<Report, String> {
    let deadline = Instant::now() + options.timeout;
    let server = Server::start(&options.target, options.clients)?;
    let epoch = Instant::now();
    let totals = Arc::new(Totals::default());
    let threads = if options.clients >= 1000 { 4 } else { 2 };
    let mut readers = Readers::start(threads, epoch, &totals);
    let mut report = Report {
        workload: options.workload.name(),
        clients: options.clients,
        rss_kb_start: server.status("VmRSS"),
        ..Report::default()
    };

    let stalled = if options.workload == Workload::Slow {
        let mut stalled = connect(server.addr, "stalled")?;
        let mut ok = [0u8; 3];
        stalled
            .read_exact(&mut ok)
            .map_err(|e| format!("stalled client: {e}"))?;
        Some(stalled) // and never read again
    } else {
        None
    };

    // Log everybody in; the `connect` workload measures exactly this.
    let started = Instant::now();
    let mut writers = Vec::new();
    for i in 0..options.clients {
        let stream = connect(server.addr, &format!("b{i}"))?;
        if i < options.senders.max(1) {
            writers.push(stream.try_clone().map_err(|e| e.to_string())?);
        }
        readers.add(Client {
            stream,
            partial: Vec::new(),
            got: Received::default(),
        });
    }
    let settled = wait_until(deadline, || {
        let answered = totals.oks.load(Ordering::Relaxed) + totals.refused.load(Ordering::Relaxed);
        let served = totals.oks.load(Ordering::Relaxed);
        answered == options.clients as u64
            && totals.joins.load(Ordering::Relaxed) == served * served.saturating_sub(1) / 2
    });
    let mut peak = server.status("VmRSS");

    let complete = match options.workload {
        Workload::Connect => {
            report.seconds = started.elapsed().as_secs_f64();
            report.deliveries = totals.joins.load(Ordering::Relaxed);
            settled
        }
        Workload::Fanout => {
            let expected = (options.clients * options.senders * options.messages) as u64;
            let start = Instant::now();
            let senders: Vec<_> = writers
                .into_iter()
                .take(options.senders)
                .map(|stream| {
                    let (messages, size) = (options.messages, options.size);
                    thread::spawn(move || {
                        let mut batch = Vec::with_capacity(256 * size);
                        for chunk_start in (0..messages).step_by(256) {
                            batch.clear();
                            let now = epoch.elapsed().as_micros() as u64;
                            for seq in chunk_start..(chunk_start + 256).min(messages) {
                                message(seq as u64, now, size, &mut batch);
                            }
                            send_all(&stream, &batch, deadline)?;
                        }
                        Ok::<(), io::Error>(())
                    })
                })
                .collect();
            let done =
                settled && wait_until(deadline, || totals.msgs.load(Ordering::Relaxed) >= expected);
            report.seconds = start.elapsed().as_secs_f64();
            for sender in senders {
                sender
                    .join()
                    .map_err(|_| "a sender panicked".to_string())?
                    .map_err(|e| format!("sending: {e}"))?;
            }
            peak = peak.max(server.status("VmRSS"));
            done
        }
        Workload::Latency | Workload::Slow => {
            let stream = writers.swap_remove(0);
            let start = Instant::now();
            let interval = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
            let mut sent = 0u64;
            let mut line = Vec::new();
            let mut next_sample = Instant::now();
            while start.elapsed() < options.duration && Instant::now() < deadline {
                let due = start + interval.mul_f64(sent as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                line.clear();
                message(
                    sent,
                    epoch.elapsed().as_micros() as u64,
                    options.size,
                    &mut line,
                );
                send_all(&stream, &line, deadline).map_err(|e| format!("sending: {e}"))?;
                sent += 1;
                if Instant::now() >= next_sample {
                    peak = peak.max(server.status("VmRSS"));
                    next_sample += Duration::from_millis(100);
                }
            }
            let expected = options.clients as u64 * sent;
            let grace = (Instant::now() + Duration::from_secs(10)).min(deadline);
            let done = settled
                && wait_until(grace, || {
                    totals.msgs.load(Ordering::Relaxed) >= expected
                        && (stalled.is_none()
                            || totals.stalled_leaves.load(Ordering::Relaxed)
                                >= options.clients as u64)
                });
            report.seconds = start.elapsed().as_secs_f64();
            done
        }
    };
    drop(stalled);

    let clients = readers.finish();
    report.complete = complete;
    report.refused = totals.refused.load(Ordering::Relaxed) as usize;
    report.rss_kb_end = server.status("VmRSS");
    report.rss_kb_peak = peak.max(report.rss_kb_end);
    report.threads = server.status("Threads");
    if options.workload != Workload::Connect {
        report.deliveries = clients.iter().map(|c| c.got.msgs).sum();
        report.duplicates = clients.iter().map(|c| c.got.duplicates).sum();
        // Whatever a receiver is still missing at the end is lost too.
        let sent_per_sender: Vec<u64> =
            clients
                .iter()
                .map(|c| c.got.next_seq.clone())
                .fold(Vec::new(), |mut most, seqs| {
                    most.resize(most.len().max(seqs.len()), 0);
                    for (m, s) in most.iter_mut().zip(seqs) {
                        *m = (*m).max(s);
                    }
                    most
                });
        report.lost = clients
            .iter()
            .map(|c| {
                let behind: u64 = sent_per_sender
                    .iter()
                    .enumerate()
                    .map(|(i, most)| most - c.got.next_seq.get(i).copied().unwrap_or(0))
                    .sum();
                c.got.lost + behind
            })
            .sum();
        let first_order = clients.first().map(|c| c.got.order);
        report.same_order = clients.iter().all(|c| Some(c.got.order) == first_order);
        let mut samples: Vec<u32> = clients.into_iter().flat_map(|c| c.got.latencies).collect();
        report.latency = Percentiles::of(&mut samples);
    } else {
        report.same_order = true;
    }
    if options.workload == Workload::Slow {
        report.stalled_dropped = Some(totals.stalled_leaves.load(Ordering::Relaxed) > 0);
    }
    Ok(report)
}

/// Connects and sends `LOGIN name` (the answer is read by the readers).
fn connect(addr: SocketAddr, name: &str) -> Result<TcpStream, String> {
    let mut stream =
        TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .write_all(format!("LOGIN {name}\n").as_bytes())
        .map_err(|e| format!("login {name}: {e}"))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut samples: Vec<u32> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut samples).unwrap();
        assert_eq!((p.p50, p.p99, p.p999, p.max), (501, 990, 999, 1000));
        assert_eq!(Percentiles::of(&mut []), None);
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tchat-server\nVmRSS:\t   45228 kB\nThreads:\t4002\n";
        assert_eq!(parse_status_field(status, "VmRSS"), Some(45228));
        assert_eq!(parse_status_field(status, "Threads"), Some(4002));
        assert_eq!(parse_status_field(status, "VmHWM"), None);
    }

    #[test]
    fn messages_have_the_requested_size_and_parse_back() {
        let mut out = Vec::new();
        message(42, 123_456, 64, &mut out);
        assert_eq!(out.len(), 64);
        assert!(out.starts_with(b"MSG 42:123456:x"));
        let mut client = Client {
            stream: TcpStream::connect(
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap(),
            )
            .unwrap(),
            partial: Vec::new(),
            got: Received::default(),
        };
        let totals = Totals::default();
        let epoch = Instant::now();
        for seq in [0, 1, 1, 3] {
            let line = format!("MSG b2 {seq}:0:xx");
            client.take_line(line.as_bytes(), epoch, &totals);
        }
        assert_eq!(client.got.msgs, 4);
        assert_eq!(client.got.duplicates, 1);
        assert_eq!(client.got.lost, 1);
        assert_eq!(totals.msgs.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn json_is_one_line() {
        let report = Report {
            workload: "fanout",
            latency: Some(Percentiles {
                p50: 1,
                p99: 2,
                p999: 3,
                max: 4,
            }),
            ..Report::default()
        };
        let json = report.json();
        assert!(!json.contains('\n'));
        assert!(json.starts_with("{\"workload\":\"fanout\""));
        assert!(json.contains("\"latency\":{\"p50_us\":1,\"p99_us\":2,\"p999_us\":3,\"max_us\":4}"));
        assert!(json.ends_with("\"stalled_dropped\":null}"));
    }
}
