//! The server: its configuration, the listening sockets, the accept loops
//! with their connection limits (`accept.rs`), the metrics listener, and the
//! handle that stops it, at once or gracefully (`shutdown.rs`).
//!
//! The accept loop does as little as possible and never blocks on a client: it
//! checks the limits (`admission.rs`), refuses in the front's own words when one
//! is reached, and otherwise hands the socket to a new named thread with a
//! small stack, started within the kernel's thread budget ([`ThreadBudget`]).
//! When the system runs out of file descriptors or threads, accepting or
//! spawning fails: the loop logs it, refuses that client where it can, backs
//! off briefly (never a busy loop) and keeps serving everybody else.

mod accept;
mod admission;
mod config;
mod metrics;
mod proxy;
mod refusals;
mod shutdown;
mod throttle;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use crate::session::RateLimit;
pub use config::{Config, Fsync, RedisUrl, MAX_ITERATIONS};

use crate::backplane::{Backplane, NodeConfig};
use crate::delivery::{Helpers, OutputBudget};
use crate::front::irc::Irc;
use crate::front::Front;
use crate::hub::Hub;
use crate::session::{Context, Throttle};
use crate::store::{AccountLog, Accounts, BackgroundError, History, OpenError};
use crate::support::log::Log;
use crate::support::netaddr::Network;
use crate::support::sys;
use crate::support::threads::ThreadBudget;
use admission::{AddressLimits, Admission};
use refusals::Refusals;

/// State shared by the accept loops and every connection thread.
struct Shared {
    context: Context,
    admission: Arc<Admission>,
    refusals: Refusals,
    /// Who may send a PROXY header or `X-Forwarded-For`.
    trusted_proxies: Vec<Network>,
    /// Whether history is on disk (its metrics are only shown then).
    history_on_disk: bool,
    /// Set when the server stops accepting (the accept loops end).
    stopping: AtomicBool,
    /// Set last, when the metrics listener ends too.
    stopping_metrics: AtomicBool,
}

impl Shared {
    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last connection (or a failed `bind`) is gone: so are the helpers.
        self.context.helpers.stop();
    }
}

/// Why a server could not start.
#[derive(Debug)]
pub enum StartError {
    /// A listener could not be bound (the port is taken, say).
    Listen {
        addr: SocketAddr,
        what: &'static str,
        err: io::Error,
    },
    /// The history could not be opened (the data directory is another
    /// server's, or cannot be read or written).
    History(OpenError),
    /// A thread could not be started.
    Thread(io::Error),
    /// The cluster could not be joined (`--redis`: Redis unreachable).
    Cluster(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Listen { addr, what, err } => {
                write!(f, "cannot listen on {addr} ({what}): {err}")
            }
            StartError::History(err) => write!(f, "{err}"),
            StartError::Thread(err) => write!(f, "cannot start a thread: {err}"),
            StartError::Cluster(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A listener and the thread accepting on it.
struct Acceptor {
    addr: SocketAddr,
    thread: JoinHandle<()>,
}

impl Acceptor {
    /// Wakes the accept loop (blocked in `accept`) with one last connection,
    /// once `stopping` is set, and waits for it to end.
    fn stop(self) {
        let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_secs(1));
        let _ = self.thread.join();
    }
}

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    web_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    irc_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    acceptors: Vec<Acceptor>,
    /// The metrics listener, stopped last: `/healthz` says "stopping" while
    /// the others close.
    metrics: Option<Acceptor>,
    stopped: bool,
    /// This server as a node of a cluster (`--redis`).
    node: Option<Arc<Backplane>>,
}

impl Server {
    /// Binds the listeners and starts accepting on background threads. Port 0
    /// picks a free port: [`Server::addr`] says which.
    pub fn bind(config: Config) -> Result<Server, StartError> {
        let mut listeners = vec![(
            Front::Lines,
            bind(config.addr, Front::Lines.describe())?,
            config.lines_proxy_protocol,
        )];
        if let Some(web_addr) = config.web_addr {
            let listener = bind(web_addr, Front::Web.describe())?;
            listeners.push((Front::Web, listener, config.web_proxy_protocol));
        }
        if let Some(irc_addr) = config.irc_addr {
            let front = Front::Irc(Arc::new(Irc::new(config.irc_settings())));
            let listener = bind(irc_addr, front.describe())?;
            listeners.push((front, listener, false));
        }
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(bind(addr, "metrics")?),
            None => None,
        };
        let log = Log {
            client_events: config.log,
        };
        let (history, history_found) = open_history(&config, &log)?;
        // After the history: its lock on the data directory covers the file.
        let (account_log, accounts, accounts_found) = open_accounts(&config)?;
        let hub = Hub::new(history, account_log, accounts, config.room_limits());
        let gate =
            (config.data_dir.is_some() && config.fsync == Fsync::Always && config.redis.is_none())
                .then(|| hub.durability_gate());
        let limit = ThreadBudget::kernel_limit();
        // Every client needs its session thread; a client whose socket is full
        // needs a writer too, from the same budget: keep a quarter for those.
        let for_clients = limit - limit / 4;
        let max_clients = if for_clients < config.max_clients {
            log.event(
                None,
                format_args!(
                    "note: the kernel's limits (vm.max_map_count, kernel.pid_max) allow about \
                     {} connection threads; serving at most {for_clients} clients instead of {} \
                     (see README, Limits)",
                    limit, config.max_clients
                ),
            );
            for_clients
        } else {
            config.max_clients
        };
        // Sessions never take the writers' quarter, and writers and helpers
        // never take a place a client may still need: stuck writers cannot
        // refuse clients below `max_clients`.
        let threads = ThreadBudget::with_shares(limit, for_clients, limit - max_clients);
        let address_limits = AddressLimits {
            max_per_ip: config.max_per_ip,
            per_ip_loopback: config.limit_loopback,
            connect_rate: config.max_connect_rate,
            connect_rate_loopback: config.connect_rate_loopback,
        };
        let shared = Arc::new(Shared {
            context: Context {
                hub,
                log,
                helpers: Helpers::start(&threads),
                threads,
                limits: config.limits(),
                gate,
                budget: OutputBudget::new(config.max_output),
                throttle: Throttle::default(),
            },
            admission: Admission::new(max_clients, address_limits),
            refusals: Refusals::new(log),
            trusted_proxies: config.trusted_proxies.clone(),
            history_on_disk: config.data_dir.is_some(),
            stopping: AtomicBool::new(false),
            stopping_metrics: AtomicBool::new(false),
        });
        let node = match &config.redis {
            Some(url) => Some(join_cluster(&config, url, &listeners, &shared.context)?),
            None => None,
        };
        let mut acceptors = Vec::new();
        for (front, listener, proxied) in listeners {
            let addr = local_addr(&listener, config.addr, front.describe())?;
            let what = front.describe();
            let via = if proxied {
                " behind a proxy: PROXY header required"
            } else {
                ""
            };
            match front {
                Front::Web => log.event(
                    None,
                    format_args!("listening on {addr} ({what}: http://{addr}/){via}"),
                ),
                Front::Lines | Front::Irc(_) => {
                    log.event(None, format_args!("listening on {addr} ({what}){via}"))
                }
            }
            let for_thread = Arc::clone(&shared);
            let for_loop = front.clone();
            let thread = thread::Builder::new()
                .name(front.thread_name().into())
                .spawn(move || accept::accept_loop(&listener, &for_thread, &for_loop, proxied))
                .map_err(StartError::Thread)?;
            acceptors.push((front, Acceptor { addr, thread }));
        }
        let metrics = match metrics_listener {
            Some(listener) => {
                let addr = local_addr(&listener, config.addr, "metrics")?;
                log.event(
                    None,
                    format_args!("metrics on http://{addr}/metrics and http://{addr}/healthz"),
                );
                let for_thread = Arc::clone(&shared);
                let thread = thread::Builder::new()
                    .name("chat-metrics".into())
                    .spawn(move || metrics::serve(&listener, &for_thread))
                    .map_err(StartError::Thread)?;
                Some(Acceptor { addr, thread })
            }
            None => None,
        };
        for found in history_found.iter().chain(&accounts_found) {
            log.event(None, format_args!("{found}"));
        }
        let addr_of = |wanted: fn(&Front) -> bool| {
            acceptors
                .iter()
                .find(|(front, _)| wanted(front))
                .map(|(_, acceptor)| acceptor.addr)
        };
        Ok(Server {
            addr: addr_of(|front| matches!(front, Front::Lines)).unwrap_or(config.addr),
            web_addr: addr_of(|front| matches!(front, Front::Web)),
            irc_addr: addr_of(|front| matches!(front, Front::Irc(_))),
            metrics_addr: metrics.as_ref().map(|acceptor| acceptor.addr),
            shared,
            acceptors: acceptors
                .into_iter()
                .map(|(_, acceptor)| acceptor)
                .collect(),
            metrics,
            stopped: false,
            node,
        })
    }

    /// The address the line protocol listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the web page and WebSocket gateway, if it is on.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_addr
    }

    /// The address of `GET /metrics` and `GET /healthz`, if they are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The address of the IRC front, if it is on.
    pub fn irc_addr(&self) -> Option<SocketAddr> {
        self.irc_addr
    }

    /// Stops accepting and hangs up on every connection at once.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if self.stopped {
            return;
        }
        self.stop_accepting();
        self.finish();
    }

    /// Stops accepting new connections (the metrics listener stays).
    fn stop_accepting(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for acceptor in std::mem::take(&mut self.acceptors) {
            acceptor.stop();
        }
    }

    /// Hangs up on whoever is still connected, leaves the cluster, makes the
    /// history durable, and stops the metrics listener and the helpers.
    fn finish(&mut self) {
        self.stopped = true;
        let shared = &self.shared;
        shared.admission.hang_up_all(std::net::Shutdown::Both);
        if let Some(node) = self.node.take() {
            node.stop();
            shared.context.hub.set_cluster(None);
        }
        shutdown::sync_history(shared);
        if let Some(metrics) = self.metrics.take() {
            shared.stopping_metrics.store(true, Ordering::SeqCst);
            metrics.stop();
        }
        shared.context.helpers.stop();
        // Hung up on, every connection thread ends soon; once they all have,
        // this handle holds the last reference, so dropping it closes the
        // history and frees the data directory for the next server.
        let deadline = Instant::now() + STOP_PATIENCE;
        while Arc::strong_count(shared) > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        shared.context.log.event(None, format_args!("stopped"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Binds a listener with a long accept queue; `what` names it in the error.
fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, StartError> {
    let listener = TcpListener::bind(addr).map_err(|err| StartError::Listen { addr, what, err })?;
    // Best effort: with std's backlog of 128 the kernel still works, only a
    // burst of connections waits longer.
    let _ = sys::raise_listen_backlog(&listener);
    Ok(listener)
}

fn local_addr(
    listener: &TcpListener,
    addr: SocketAddr,
    what: &'static str,
) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|err| StartError::Listen { addr, what, err })
}

/// Makes the hub a node of the cluster at `url`; its connections are named
/// after the line listener's port.
fn join_cluster(
    config: &Config,
    url: &RedisUrl,
    listeners: &[(Front, TcpListener, bool)],
    context: &Context,
) -> Result<Arc<Backplane>, StartError> {
    let port = listeners
        .first()
        .and_then(|(_, listener, _)| listener.local_addr().ok())
        .map_or(0, |addr| addr.port());
    let node = Backplane::start(
        NodeConfig {
            url: url.clone(),
            label: port.to_string(),
            limits: config.room_limits(),
            keep: config.history_keep,
            log: context.log,
        },
        &context.hub,
        &context.helpers,
    )
    .map_err(StartError::Cluster)?;
    context.hub.set_cluster(Some(node.clone()));
    Ok(node)
}

/// The history, on disk in `config.data_dir` or in memory only, and what
/// recovery found there (to log once the server listens). A node of a
/// cluster keeps its history in Redis, and opens no data directory.
fn open_history(config: &Config, log: &Log) -> Result<(History, Option<String>), StartError> {
    let Some(dir) = config.data_dir.as_ref().filter(|_| config.redis.is_none()) else {
        return Ok((History::in_memory(config.history_keep), None));
    };
    let (history, recovered) =
        History::open(dir, config.history_keep, config.fsync).map_err(StartError::History)?;
    let log = *log;
    history.set_error_hook(move |failure: &BackgroundError| {
        log.event(None, format_args!("history: {failure}"));
    });
    Ok((history, Some(recovered.to_string())))
}

/// The accounts, from `config.data_dir` or in memory only, and what recovery
/// found there (to log once the server listens). A node of a cluster opens
/// no data directory: its accounts are the cluster's, in Redis, and these
/// stay empty.
fn open_accounts(config: &Config) -> Result<(AccountLog, Accounts, Option<String>), StartError> {
    let Some(dir) = config.data_dir.as_ref().filter(|_| config.redis.is_none()) else {
        let (account_log, accounts) = AccountLog::in_memory();
        return Ok((account_log, accounts, None));
    };
    let (account_log, accounts, recovered) = AccountLog::open(dir).map_err(StartError::History)?;
    Ok((account_log, accounts, Some(recovered.to_string())))
}

/// How long stopping waits for connection threads to end.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// An address to connect to for reaching a listener bound to `addr` (a
/// wildcard address is reached through loopback).
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}
