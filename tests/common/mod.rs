//! Shared helpers for the integration tests: start a server in-process on a
//! free loopback port, and talk to it line by line over a real `TcpStream`.
//!
//! Every read has a generous timeout, so a missing line fails the test with a
//! clear message instead of hanging, even on a busy 2-core machine.
#![allow(dead_code)] // each test file uses its own subset

pub mod irc;
pub mod ws;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use chat::server::{Config, Server};
use chat::support::procfs;

/// How long a test waits for a line it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The configuration tests start from: loopback, a free port, no log noise,
/// history in memory only, cheap password hashing, no web or IRC listener.
pub fn config() -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        web_addr: None,
        irc_addr: None,
        log: false,
        data_dir: None,
        pbkdf2_iterations: 1_000,
        ..Config::default()
    }
}

/// The test configuration with the web listener on, on a free loopback port too.
pub fn web_config() -> Config {
    Config {
        web_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..config()
    }
}

/// A server with the test defaults.
pub fn start() -> Server {
    Server::bind(config()).expect("server starts")
}

/// A server with the test defaults and its web listener on.
pub fn start_web() -> Server {
    Server::bind(web_config()).expect("server starts")
}

/// A server with the test defaults changed by `tweak`.
pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = config();
    tweak(&mut config);
    Server::bind(config).expect("server starts")
}

/// A server keeping its history on disk in `data`.
pub fn start_in(data: &TempDir) -> Server {
    start_with(|config| config.data_dir = Some(data.path().to_path_buf()))
}

/// A server started again on `addr` and `data` where one just stopped: the
/// old one's threads may hold the directory's lock a moment after `stop`.
pub fn restart_in(data: &TempDir, addr: SocketAddr) -> Server {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let config = Config {
            addr,
            data_dir: Some(data.path().to_path_buf()),
            ..config()
        };
        match Server::bind(config) {
            Ok(server) => return server,
            Err(err) => {
                assert!(Instant::now() < deadline, "no restart: {err:?}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One client connection, read line by line.
pub struct Client {
    reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    /// Connects and logs in as `name`, expecting `OK`.
    pub fn login(addr: SocketAddr, name: &str) -> Client {
        let mut client = Client::connect(addr);
        client.send(&format!("LOGIN {name}"));
        client.expect("OK");
        client
    }

    /// Logs in as `name`, registers it with `password`, and leaves: the name
    /// is free, and reserved.
    pub fn register(addr: SocketAddr, name: &str, password: &str) {
        let mut owner = Client::login(addr, name);
        owner.send(&format!("REGISTER {password}"));
        owner.expect("OK");
        owner.send("QUIT");
        owner.expect("BYE");
    }

    /// Sends one line (a `\n` is added).
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next line, without its `\n`; panics if none comes in time.
    pub fn line(&mut self) -> String {
        self.try_line()
            .unwrap_or_else(|| panic!("expected a line, got end of stream"))
    }

    /// The next line, or `None` at end of stream; panics on timeout.
    pub fn try_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                assert_eq!(buf.pop(), Some(b'\n'), "line without end: {buf:?}");
                Some(String::from_utf8(buf).expect("server sent UTF-8"))
            }
            Err(err) if err.kind() == ErrorKind::ConnectionReset => None,
            Err(err) => panic!("no line in time: {err}"),
        }
    }

    /// Asserts that the next line is exactly `want`.
    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Reads lines until `want` arrives, skipping any others, for as long as
    /// `deadline` allows: for what may take longer than [`PATIENCE`], such as
    /// a browser starting.
    pub fn skip_until(&mut self, want: &str, deadline: Instant) {
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {want:?} in time; got {skipped:?}");
            assert!(
                skipped.len() < 1000,
                "no {want:?} in 1000 lines: {skipped:?}"
            );
            self.stream.set_read_timeout(Some(left)).unwrap();
            let line = self
                .try_line()
                .unwrap_or_else(|| panic!("connection closed before {want:?}; got {skipped:?}"));
            if line == want {
                break;
            }
            skipped.push(line);
        }
        self.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    }

    /// Asserts that nothing else has arrived: a `PING` round trip comes back
    /// with nothing before its `PONG`.
    pub fn expect_nothing_pending(&mut self) {
        self.send("PING sync");
        self.expect("PONG sync");
    }

    /// Everything until the server closes the connection, raw.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest,
            Err(err) if err.kind() == ErrorKind::ConnectionReset => rest,
            Err(err) => panic!("connection not closed within {PATIENCE:?}: {err}"),
        }
    }

    /// Asserts that the server closes the connection (after any lines given).
    pub fn expect_closed(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        let mut rest = Vec::new();
        loop {
            assert!(Instant::now() < deadline, "connection not closed");
            let mut buf = [0u8; 4096];
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
                Err(err) => panic!("connection not closed: {err}"),
            }
            assert!(rest.len() < 1 << 20, "server keeps sending");
        }
        assert!(
            rest.is_empty(),
            "unexpected data before close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

/// The PROXY protocol v1 header a proxy sends for `client` connecting to
/// `server`.
pub fn proxy_v1(client: SocketAddr, server: SocketAddr) -> String {
    let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
    let server_ip = match (client.is_ipv4(), server.ip()) {
        (true, std::net::IpAddr::V4(ip)) => ip.to_string(),
        (true, _) => "127.0.0.1".into(),
        (false, std::net::IpAddr::V6(ip)) => ip.to_string(),
        (false, _) => "::1".into(),
    };
    format!(
        "PROXY {family} {} {server_ip} {} {}\r\n",
        client.ip(),
        client.port(),
        server.port()
    )
}

impl Client {
    /// Connects to a listener that requires a PROXY header, as a trusted
    /// proxy on loopback would, relaying `client`.
    pub fn connect_as(addr: SocketAddr, client: &str) -> Client {
        let mut connection = Client::connect(addr);
        connection.send_raw(proxy_v1(client.parse().unwrap(), addr).as_bytes());
        connection
    }
}

/// The `chat-server` binary built for these tests.
pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_chat-server");

/// The `chat-server` binary on loopback, every listener on a free port (the
/// IRC one off) and history in memory: what a test starts it with before its
/// own flags, so no test ever takes a fixed port.
pub fn server_command() -> Command {
    let mut command = Command::new(SERVER_BIN);
    command
        .args(["--bind", "127.0.0.1", "--port", "0", "--web-port", "0"])
        .args(["--irc-port", "0", "--no-persist"]);
    command
}

/// A running `chat-server` process on a free loopback port, killed when dropped.
pub struct Running {
    pub child: Child,
    /// The server's log lines, read on a thread so that a full pipe can never
    /// stall the server.
    log: Receiver<String>,
    /// Lines logged before `listening on` (what recovery found), still to
    /// be read by [`Running::next_log`].
    startup: VecDeque<String>,
    pub addr: SocketAddr,
}

impl Running {
    /// Runs the binary with `args` after [`server_command`]'s (a
    /// `--data-dir` in `args` turns history on disk back on).
    pub fn start(args: &[&str]) -> Running {
        let mut command = server_command();
        command.args(args);
        Running::spawn(command)
    }

    /// Runs `command` (which must start the server) and waits for its address.
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-server");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (sender, log) = mpsc::channel();
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        // Killed on drop from here on, whatever happens next.
        let mut running = Running {
            child,
            log,
            startup: VecDeque::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let mut startup = running.log_until("listening on");
        let listening = startup.pop().unwrap_or_default();
        running.startup = startup.into();
        running.addr = listening
            .split_whitespace()
            .skip_while(|w| *w != "on")
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {listening:?}"));
        running
    }

    /// The next line of the server's log; panics if none comes in time.
    pub fn next_log(&mut self) -> String {
        if let Some(line) = self.startup.pop_front() {
            return line;
        }
        self.log
            .recv_timeout(PATIENCE)
            .expect("the server logs a line in time")
    }

    /// The next line of the server's log that contains `text`, skipping the
    /// others; panics if none comes within [`PATIENCE`].
    pub fn log_containing(&mut self, text: &str) -> String {
        self.log_until(text).pop().unwrap_or_default()
    }

    /// Every line of the server's log up to and including the next one that
    /// contains `text`; panics if none comes within [`PATIENCE`].
    pub fn log_until(&mut self, text: &str) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        loop {
            let line = self.next_log();
            let found = line.contains(text);
            lines.push(line);
            if found {
                return lines;
            }
            assert!(Instant::now() < deadline, "no log line with {text:?}");
        }
    }

    /// A field of `/proc/PID/status` in kB (e.g. `VmRSS`).
    pub fn status_kb(&self, field: &str) -> u64 {
        procfs::status_field(self.child.id(), field)
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    /// User plus system CPU time used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        procfs::cpu_ticks(self.child.id()).expect("utime and stime in /proc/PID/stat")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system's temp dir, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("chat-test-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The path as a string, for command lines.
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One line of a history block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hist {
    pub seq: u64,
    pub time: String,
    pub from: String,
    pub text: String,
}

impl Client {
    /// Reads a history block of `room`: its `HISTORY <room> <k>` header and
    /// exactly `k` `HIST` lines after it, each checked for shape.
    pub fn read_history(&mut self, room: &str) -> Vec<Hist> {
        let header = self.line();
        let count: usize = header
            .strip_prefix(&format!("HISTORY {room} "))
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("not a history header for {room}: {header}"));
        (0..count)
            .map(|_| {
                let line = self.line();
                let rest = line
                    .strip_prefix(&format!("HIST {room} "))
                    .unwrap_or_else(|| panic!("not a history line of {room}: {line}"));
                let mut parts = rest.splitn(4, ' ').map(str::to_string);
                let mut next = || parts.next().unwrap_or_default();
                let hist = Hist {
                    seq: next().parse().expect("a sequence number"),
                    time: next(),
                    from: next(),
                    text: next(),
                };
                assert!(is_rfc3339_millis(&hist.time), "{line}");
                hist
            })
            .collect()
    }
}

/// `2026-12-01T18:04:05.123Z`.
pub fn is_rfc3339_millis(time: &str) -> bool {
    let b = time.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}
