//! The server: its configuration, the listening sockets, the accept loop with
//! its connection limits, and the handle that stops it.
//!
//! The accept loop does as little as possible and never blocks on a client: it
//! checks the limits (`admission.rs`), refuses in the front's own words when one
//! is reached, and otherwise hands the socket to a new named thread with a
//! small stack, started within the kernel's thread budget ([`ThreadBudget`]).
//! When the system runs out of file descriptors or threads, accepting or
//! spawning fails: the loop logs it, refuses that client where it can, backs
//! off briefly (never a busy loop) and keeps serving everybody else.

mod admission;
mod config;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use crate::session::RateLimit;
pub use config::{Config, Fsync, MAX_ITERATIONS};

use crate::delivery::Helpers;
use crate::front::irc::Irc;
use crate::front::Front;
use crate::hub::Hub;
use crate::session::{Context, Throttle};
use crate::store::{AccountLog, Accounts, BackgroundError, History, OpenError};
use crate::support::log::Log;
use crate::support::sys;
use crate::support::threads::ThreadBudget;
use admission::{Admission, Refusal};

/// State shared by the accept loops and every connection thread.
struct Shared {
    context: Context,
    admission: Arc<Admission>,
    stopping: AtomicBool,
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
        front: Front,
        err: io::Error,
    },
    /// The history or the accounts could not be opened (the data directory
    /// is another server's, or cannot be read or written).
    History(OpenError),
    /// A thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Listen { addr, front, err } => {
                write!(f, "cannot listen on {addr} ({}): {err}", front.describe())
            }
            StartError::History(err) => write!(f, "{err}"),
            StartError::Thread(err) => write!(f, "cannot start a thread: {err}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A listener and the thread accepting on it.
struct Acceptor {
    addr: SocketAddr,
    thread: JoinHandle<()>,
}

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    web_addr: Option<SocketAddr>,
    irc_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    acceptors: Vec<Acceptor>,
}

impl Server {
    /// Binds the listeners and starts accepting on background threads. Port 0
    /// picks a free port: [`Server::addr`] says which.
    pub fn bind(config: Config) -> Result<Server, StartError> {
        let mut listeners = vec![(Front::Lines, bind(config.addr, &Front::Lines)?)];
        if let Some(web_addr) = config.web_addr {
            listeners.push((Front::Web, bind(web_addr, &Front::Web)?));
        }
        if let Some(irc_addr) = config.irc_addr {
            let front = Front::Irc(Arc::new(Irc::new(config.irc_settings())));
            let listener = bind(irc_addr, &front)?;
            listeners.push((front, listener));
        }
        let log = Log {
            client_events: config.log,
        };
        let (history, history_found) = open_history(&config, &log)?;
        // After the history: its lock on the data directory covers the file.
        let (account_log, accounts, accounts_found) = open_accounts(&config)?;
        let hub = Hub::new(history, account_log, accounts, config.room_limits());
        let gate = (config.data_dir.is_some() && config.fsync == Fsync::Always)
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
        let shared = Arc::new(Shared {
            context: Context {
                hub,
                log,
                helpers: Helpers::start(&threads),
                threads,
                limits: config.limits(),
                gate,
                throttle: Throttle::default(),
            },
            admission: Admission::new(max_clients, config.max_per_ip, config.limit_loopback),
            stopping: AtomicBool::new(false),
        });
        let mut acceptors = Vec::new();
        for (front, listener) in listeners {
            let addr = listener.local_addr().map_err(|err| StartError::Listen {
                addr: config.addr,
                front: front.clone(),
                err,
            })?;
            let what = front.describe();
            match front {
                Front::Web => log.event(
                    None,
                    format_args!("listening on {addr} ({what}: http://{addr}/)"),
                ),
                Front::Lines | Front::Irc(_) => {
                    log.event(None, format_args!("listening on {addr} ({what})"))
                }
            }
            let for_thread = Arc::clone(&shared);
            let for_loop = front.clone();
            let thread = thread::Builder::new()
                .name(front.thread_name().into())
                .spawn(move || accept_loop(&listener, &for_thread, &for_loop))
                .map_err(StartError::Thread)?;
            acceptors.push((front, Acceptor { addr, thread }));
        }
        let addr_of = |wanted: fn(&Front) -> bool| {
            acceptors
                .iter()
                .find(|(front, _)| wanted(front))
                .map(|(_, acceptor)| acceptor.addr)
        };
        for found in history_found.iter().chain(&accounts_found) {
            log.event(None, format_args!("{found}"));
        }
        Ok(Server {
            addr: addr_of(|front| matches!(front, Front::Lines)).unwrap_or(config.addr),
            web_addr: addr_of(|front| matches!(front, Front::Web)),
            irc_addr: addr_of(|front| matches!(front, Front::Irc(_))),
            shared,
            acceptors: acceptors
                .into_iter()
                .map(|(_, acceptor)| acceptor)
                .collect(),
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

    /// The address of the IRC front, if it is on.
    pub fn irc_addr(&self) -> Option<SocketAddr> {
        self.irc_addr
    }

    /// Blocks until the server stops (it runs until [`Server::stop`]).
    pub fn wait(mut self) {
        for acceptor in std::mem::take(&mut self.acceptors) {
            let _ = acceptor.thread.join();
        }
    }

    /// Stops accepting and hangs up on every connection.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.acceptors.is_empty() {
            return;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        for acceptor in std::mem::take(&mut self.acceptors) {
            // The accept loop is blocked in accept(): one last connection wakes it.
            let _ = TcpStream::connect_timeout(&reachable(acceptor.addr), Duration::from_secs(1));
            let _ = acceptor.thread.join();
        }
        self.shared.admission.hang_up_all();
        // Hung up on, every connection thread ends soon; once they all have,
        // this handle holds the last reference, so dropping it closes the
        // history and frees the data directory for the next server.
        let deadline = Instant::now() + STOP_PATIENCE;
        while Arc::strong_count(&self.shared) > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        if let Err(err) = self.shared.context.hub.sync_history() {
            let log = &self.shared.context.log;
            log.event(None, format_args!("history: cannot fsync the log: {err}"));
        }
        self.shared.context.helpers.stop();
        self.shared.context.log.event(None, format_args!("stopped"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds a listener with a long accept queue.
fn bind(addr: SocketAddr, front: &Front) -> Result<TcpListener, StartError> {
    let listener = TcpListener::bind(addr).map_err(|err| StartError::Listen {
        addr,
        front: front.clone(),
        err,
    })?;
    // Best effort: with std's backlog of 128 the kernel still works, only a
    // burst of connections waits longer.
    let _ = sys::raise_listen_backlog(&listener);
    Ok(listener)
}

/// The history, on disk in `config.data_dir` or in memory only, and what
/// recovery found there (to log once the server listens).
fn open_history(config: &Config, log: &Log) -> Result<(History, Option<String>), StartError> {
    let Some(dir) = &config.data_dir else {
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
/// found there (to log once the server listens).
fn open_accounts(config: &Config) -> Result<(AccountLog, Accounts, Option<String>), StartError> {
    let Some(dir) = &config.data_dir else {
        let (account_log, accounts) = AccountLog::in_memory();
        return Ok((account_log, accounts, None));
    };
    let (account_log, accounts, recovered) = AccountLog::open(dir).map_err(StartError::History)?;
    Ok((account_log, accounts, Some(recovered.to_string())))
}

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

/// How long stopping waits for connection threads to end.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// Longest pause after failed accepts (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, front: &Front) {
    let mut backoff = Duration::from_millis(10);
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                if shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                start_connection(stream, peer, shared, front);
            }
            Err(err) => {
                shared.context.log.event(
                    None,
                    format_args!("accept failed: {err}; pausing {} ms", backoff.as_millis()),
                );
                thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

fn start_connection(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>, front: &Front) {
    // Lines are small and latency matters more than packet count; the writer
    // already batches everything queued into one write.
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let log = &shared.context.log;
    let slot = match shared.admission.admit(&stream, peer.ip()) {
        Ok(slot) => slot,
        Err(refusal) => {
            log.event(Some(peer), format_args!("refused: {}", refusal.as_str()));
            front.refuse(&stream, refusal.as_str());
            return;
        }
    };
    log.event(Some(peer), format_args!("connect"));
    let spawned = {
        let for_thread = Arc::clone(shared);
        let stream = Arc::clone(&stream);
        let front = front.clone();
        shared.context.threads.spawn("chat-conn", move || {
            front.serve(stream, peer, &for_thread.context);
            drop(slot);
        })
    };
    if let Err(err) = spawned {
        // The closure (and with it the slot) was dropped: the slot is free again.
        log.event(
            Some(peer),
            format_args!("refused: cannot start a thread: {err}"),
        );
        front.refuse(&stream, Refusal::ServerFull.as_str());
        thread::sleep(Duration::from_millis(10));
    }
}
