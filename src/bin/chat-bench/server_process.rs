//! The server under test: started next to this program (or already running),
//! killed when the run ends however it ends, and watched through `/proc`;
//! or several, the nodes of one cluster, with the `redis-server` they share
//! (a [`Deployment`]).

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat::support::redis_server::RedisServer;
use chat::support::{procfs, sys};

use crate::options::{SpawnHistory, Target};

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
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    child: Option<Child>,
    /// The spawned server's data directory, removed when it is gone.
    data_dir: Option<PathBuf>,
}

/// How long a spawned server may take to say where it listens.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(10);

impl ServerProcess {
    /// Starts (or attaches to) one server; `redis`: as a node of the cluster there.
    fn start(
        target: &Target,
        clients: usize,
        redis: Option<&str>,
    ) -> Result<ServerProcess, String> {
        let (max_backlog, history) = match target {
            Target::Attach { addr, pid } => {
                return Ok(ServerProcess {
                    addr: *addr,
                    pid: *pid,
                    child: None,
                    data_dir: None,
                })
            }
            Target::Spawn {
                max_backlog,
                history,
            } => (*max_backlog, *history),
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
            "--irc-port",
            "0",
            "--quiet",
        ]);
        // Long enough that no client idles out during a run.
        command.args(["--idle-timeout", "600"]);
        command.args(["--max-clients", &(clients + 16).to_string()]);
        if let Some(bytes) = max_backlog {
            command.args(["--max-backlog", &bytes.to_string()]);
        }
        if let Some(url) = redis {
            command.args(["--redis", url]);
        }
        let data_dir = match history {
            SpawnHistory::Memory => {
                command.arg("--no-persist");
                None
            }
            SpawnHistory::Disk | SpawnHistory::DiskAlways => {
                static NEXT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let dir =
                    std::env::temp_dir().join(format!("chat-bench-{}-{n}", std::process::id()));
                // A fresh directory: what an earlier run left is not this run's.
                let _ = std::fs::remove_dir_all(&dir);
                command.arg("--data-dir").arg(&dir);
                if history == SpawnHistory::DiskAlways {
                    command.args(["--fsync", "always"]);
                }
                Some(dir)
            }
        };
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
            data_dir,
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
}

/// What a run measures: one server, or the nodes of a cluster and their Redis.
pub struct Deployment {
    /// Dropped (killed) before the Redis they use.
    nodes: Vec<ServerProcess>,
    redis: Option<RedisServer>,
}

impl Deployment {
    /// One server, or with `nodes > 1` a `redis-server` and that many nodes.
    pub fn start(target: &Target, clients: usize, nodes: usize) -> Result<Deployment, String> {
        if nodes <= 1 {
            let server = ServerProcess::start(target, clients, None)?;
            return Ok(Deployment {
                nodes: vec![server],
                redis: None,
            });
        }
        if !RedisServer::installed() {
            return Err("--nodes needs redis-server (apt-get install redis-server)".into());
        }
        let redis = RedisServer::start(&[]).map_err(|e| format!("redis-server: {e}"))?;
        let url = redis.url();
        let nodes = (0..nodes)
            .map(|_| ServerProcess::start(target, clients, Some(&url)))
            .collect::<Result<_, _>>()?;
        Ok(Deployment {
            nodes,
            redis: Some(redis),
        })
    }

    /// Where client number `i` connects: the nodes in turn.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i % self.nodes.len()].addr
    }

    /// The processes that serve: the nodes, then Redis.
    pub fn pids(&self) -> Option<Vec<u32>> {
        let mut pids: Vec<u32> = self
            .nodes
            .iter()
            .map(|node| node.pid)
            .collect::<Option<_>>()?;
        pids.extend(self.redis.as_ref().and_then(RedisServer::pid));
        Some(pids)
    }

    /// A field of `/proc/PID/status` summed over every serving process, when
    /// they are known.
    pub fn status(&self, field: &str) -> Option<u64> {
        self.pids()?
            .into_iter()
            .map(|pid| procfs::status_field(pid, field))
            .sum()
    }

    /// CPU seconds every serving process has used so far, when known.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.pids()?.into_iter().map(procfs::cpu_seconds).sum()
    }

    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Samples the serving processes' VmRSS (summed) once a second from its own
/// thread.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<u64>>,
}

impl RssSampler {
    pub fn start(pids: Vec<u32>, deadline: Instant) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
                if Instant::now() >= next {
                    let rss: Option<u64> = pids
                        .iter()
                        .map(|&pid| procfs::status_field(pid, "VmRSS"))
                        .sum();
                    samples.extend(rss);
                    next += Duration::from_secs(1);
                }
                thread::sleep(Duration::from_millis(20));
            }
            samples
        });
        RssSampler { stop, handle }
    }

    pub fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
