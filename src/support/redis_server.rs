//! A `redis-server` of one's own, for the tests and the benchmark: a child
//! process on a free loopback port with its own temporary directory
//! (`--dir`, append-only file on, no RDB snapshots), killed and its directory
//! removed when dropped, however the caller ends.
//!
//! It can be stopped gracefully (`SIGTERM`: Redis writes its append-only
//! file out), killed (`SIGKILL`), paused and restarted on the same port and
//! directory, so the data survives a restart the way it would in production.
//! Commands for the test itself (`CLIENT KILL`, `DEBUG SLEEP`) go through
//! `redis-cli`, which the same Debian package brings.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a start (or restart, which replays the append-only file) may take.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A running (or stopped) `redis-server` child.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl RedisServer {
    /// Whether `redis-server` can be run on this machine.
    pub fn installed() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Starts one on a free loopback port, with `extra` arguments (such as
    /// `--requirepass`), and waits until it answers.
    pub fn start(extra: &[&str]) -> io::Result<RedisServer> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("chat-redis-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir,
            extra: extra.iter().map(|arg| arg.to_string()).collect(),
        };
        // A port found free can be taken before redis-server binds it: try another.
        let mut last_err = io::Error::other("no attempt");
        for _ in 0..5 {
            server.port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            match server.run() {
                Ok(()) => return Ok(server),
                Err(err) => last_err = err,
            }
        }
        Err(last_err)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it gracefully (`SIGTERM`: the append-only file is written out)
    /// and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Kills it (`SIGKILL`) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again (after [`RedisServer::stop`] or
    /// [`RedisServer::kill`]) on the same port and directory, and waits until
    /// it has loaded its data and answers.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let deadline = Instant::now() + READY_WITHIN;
        // The old socket may linger a moment; Redis binds with SO_REUSEADDR.
        loop {
            match self.run() {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() >= deadline => return Err(err),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs `redis-cli` against it with `args`; its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> io::Result<String> {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(at) = self.extra.iter().position(|arg| arg == "--requirepass") {
            if let Some(password) = self.extra.get(at + 1) {
                command.arg("--no-auth-warning").args(["-a", password]);
            }
        }
        let output = command.args(args).stderr(Stdio::inherit()).output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!("redis-cli {args:?} failed")));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Starts the process on `self.port` and waits until it answers.
    fn run(&mut self) -> io::Result<()> {
        let dir = self.dir.to_str().ok_or_else(|| io::Error::other("path"))?;
        let log = self.dir.join("redis.log");
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir, "--save", "", "--appendonly", "yes"])
            .args(["--logfile", log.to_str().unwrap_or("")])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = child.try_wait()? {
                let tail = fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(3).collect();
                return Err(io::Error::other(format!(
                    "redis-server on port {} exited ({status}): {}",
                    self.port,
                    tail.join(" / ")
                )));
            }
            if answers(self.addr()) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis-server on port {} did not answer", self.port),
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether a Redis at `addr` answers `PING` (an authentication error counts:
/// it is up; `-LOADING` does not: it is still reading its data).
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 64];
    match stream.read(&mut reply) {
        Ok(n) if n > 0 => !reply[..n].starts_with(b"-LOADING"),
        _ => false,
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
