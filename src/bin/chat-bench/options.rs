//! What one run is asked to do: the workload, where the server is, how many
//! clients send how much, and the time limit. [`Options::defaults`] are the
//! issue's workloads, which the performance targets are about.

use std::net::SocketAddr;
use std::time::Duration;

use crate::dialect::Dialect;
use crate::plan::Plan;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Connect,
    Fanout,
    Latency,
    Slow,
    /// `latency` over several nodes sharing one Redis.
    Cluster,
    Rooms,
}

impl Workload {
    pub fn parse(name: &str) -> Option<Workload> {
        match name {
            "connect" => Some(Workload::Connect),
            "fanout" => Some(Workload::Fanout),
            "latency" => Some(Workload::Latency),
            "slow" => Some(Workload::Slow),
            "cluster" => Some(Workload::Cluster),
            "rooms" => Some(Workload::Rooms),
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
            Workload::Rooms => "rooms",
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

/// Another server measured in the same run (`--peer NAME=HOST:PORT[/PID]`),
/// speaking IRC, after ours in every round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub addr: SocketAddr,
    pub pid: Option<u32>,
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
    /// What the target speaks (`--irc`: IRC).
    pub dialect: Dialect,
    pub clients: usize,
    /// Clients that send (fanout), or senders per room (rooms); the paced
    /// lobby workloads always have one.
    pub senders: usize,
    /// Messages per sender (fanout, rooms).
    pub messages: usize,
    /// Messages per second (latency, slow; rooms: all rooms together, and
    /// 0 for full speed).
    pub rate: f64,
    /// Rooms (rooms), and how many of them each client is in.
    pub rooms: usize,
    pub rooms_per_client: usize,
    /// Logins sent but not yet answered, at most. Overflowing the server's
    /// listen queue costs a client a one-second SYN retransmit, which would
    /// measure the queue rather than the server: ours holds 4,096 waiting
    /// connections, std's default is 128, ngIRCd's 10.
    pub login_window: u64,
    /// Lines sent at full speed but not yet read, at most this many per
    /// client (0: no limit); see [`crate::senders::blast`].
    pub window: u64,
    /// Servers measured after ours in every round, and how many rounds.
    pub peers: Vec<Peer>,
    pub rounds: usize,
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
            dialect: Dialect::Chat,
            clients: 100,
            senders: 1,
            messages: 0,
            rate: 0.0,
            rooms: 0,
            rooms_per_client: 0,
            login_window: 64,
            window: 2048,
            peers: Vec::new(),
            rounds: 1,
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
            Workload::Rooms => Options {
                clients: 1_000,
                senders: 2,
                messages: 300,
                rooms: 100,
                rooms_per_client: 3,
                duration: Duration::from_secs(10),
                ..base
            },
        }
    }

    /// Who is where and who sends what in this run.
    pub fn plan(&self) -> Plan {
        let lobby = |senders| Plan::lobby(self.dialect, self.clients, senders);
        match self.workload {
            Workload::Connect => lobby(0),
            Workload::Fanout => lobby(self.senders),
            Workload::Latency | Workload::Slow | Workload::Cluster => lobby(1),
            Workload::Rooms => Plan::rooms(
                self.dialect,
                self.clients,
                self.rooms,
                self.rooms_per_client,
                self.senders,
            ),
        }
    }

    /// Whether messages go out at a steady rate rather than at full speed.
    pub fn paced(&self) -> bool {
        match self.workload {
            Workload::Latency | Workload::Slow | Workload::Cluster => true,
            Workload::Rooms => self.rate > 0.0,
            Workload::Connect | Workload::Fanout => false,
        }
    }
}

impl Options {
    /// Whether this run is the workload as specified (only where the
    /// server is and what it speaks, peers, rounds, the login and send windows, the
    /// time limit and the output format may differ): the one the performance
    /// targets are about.
    pub fn is_standard(&self) -> bool {
        let standard = Options::defaults(self.workload);
        Options {
            target: standard.target.clone(),
            dialect: standard.dialect,
            login_window: standard.login_window,
            window: standard.window,
            peers: Vec::new(),
            rounds: standard.rounds,
            timeout: standard.timeout,
            json: standard.json,
            ..self.clone()
        } == standard
    }
}
