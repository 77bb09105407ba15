//! What one run is asked to do: the workload, where the server is, how many
//! clients send how much, and the time limit. [`Options::defaults`] are the
//! issue's workloads, which the performance targets are about.

use std::net::SocketAddr;
use std::time::Duration;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Connect,
    Fanout,
    Latency,
    Slow,
    /// `latency` over several nodes sharing one Redis.
    Cluster,
}

impl Workload {
    pub fn parse(name: &str) -> Option<Workload> {
        match name {
            "connect" => Some(Workload::Connect),
            "fanout" => Some(Workload::Fanout),
            "latency" => Some(Workload::Latency),
            "slow" => Some(Workload::Slow),
            "cluster" => Some(Workload::Cluster),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::Connect => "connect",
            Workload::Fanout => "fanout",
            Workload::Latency => "latency",
            Workload::Slow => "slow",
            Workload::Cluster => "cluster",
        }
    }

    /// Whether one sender sends at a steady rate (rather than at full speed,
    /// or not at all).
    pub fn paced(self) -> bool {
        matches!(self, Workload::Latency | Workload::Slow | Workload::Cluster)
    }
}

/// Where the server is: one we start ourselves, or one already running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Start `chat-server` (found next to this executable) on a free loopback
    /// port, with history in a fresh temporary directory (the server's
    /// default, on disk) unless `history` says otherwise.
    Spawn {
        max_backlog: Option<usize>,
        history: SpawnHistory,
    },
    /// A running server; `pid` (if known) lets us read its memory and threads.
    Attach { addr: SocketAddr, pid: Option<u32> },
}

/// Where a spawned server keeps its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnHistory {
    /// On disk, `fsync`ed at least once a second (the server's default).
    Disk,
    /// On disk, `fsync`ed before every delivery (`--fsync always`).
    DiskAlways,
    /// In memory only (`--no-persist`).
    Memory,
}

/// One run's parameters. [`Options::defaults`] gives the workloads.
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
    /// Servers to spawn: more than one are the nodes of a cluster through a
    /// `redis-server` spawned with them, and the clients are spread over them.
    pub nodes: usize,
}

impl Options {
    pub fn defaults(workload: Workload) -> Options {
        let base = Options {
            workload,
            target: Target::Spawn {
                max_backlog: None,
                history: SpawnHistory::Disk,
            },
            clients: 100,
            senders: 1,
            messages: 0,
            rate: 0.0,
            size: 64,
            duration: Duration::ZERO,
            timeout: Duration::from_secs(120),
            json: false,
            nodes: 1,
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
            Workload::Cluster => Options {
                workload,
                nodes: 3,
                ..Options::defaults(Workload::Latency)
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
    /// Whether this run is the workload as specified (only where the
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
