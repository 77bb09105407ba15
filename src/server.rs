//! The server: its configuration, the listening socket, the accept loop with its
//! connection limits, and the handle that stops it.
//!
//! The accept loop does as little as possible and never blocks on a client: it
//! checks the limits (`--max-clients`, `--max-per-ip`), refuses with a one-line
//! `BYE` when one is reached, and otherwise hands the socket to a new named
//! thread with a small stack, started within the kernel's thread budget
//! ([`ThreadBudget`]). When the system runs out of file descriptors or threads,
//! accepting or spawning fails: the loop logs it, refuses that client where it
//! can, backs off briefly (never a busy loop) and keeps serving everybody else.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::flush::Helpers;
use crate::http::{self, Handshake};
use crate::log::Log;
use crate::outbox::WRITE_STALL_LIMIT;
use crate::ratelimit::RateLimit;
use crate::registry::Registry;
use crate::session;
use crate::sys;
use crate::threads::ThreadBudget;

/// Everything an operator can set. `Config::default()` is what `chat-server`
/// runs with when given no flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address and port of the line protocol (`--bind`, `--port`).
    pub addr: SocketAddr,
    /// Address and port of the web page and WebSocket gateway (`--web-port`);
    /// `None` turns it off.
    pub web_addr: Option<SocketAddr>,
    /// No line for this long (login or not) and the client is dropped.
    pub idle_timeout: Duration,
    /// Connections at once, logged in or not; one more gets `BYE server-full`.
    pub max_clients: usize,
    /// Longest accepted line in bytes, without its `\n`.
    pub max_line: usize,
    /// Bytes waiting to be sent to one client before it is dropped as too slow.
    pub max_backlog: usize,
    /// How long one write to a client may make no progress before it is
    /// dropped as too slow, even with room left in its backlog.
    pub write_stall_limit: Duration,
    /// Connections at once from one IP address.
    pub max_per_ip: usize,
    /// Whether `max_per_ip` applies to loopback too (only when set explicitly,
    /// so local tools and a local proxy are not capped by default).
    pub limit_loopback: bool,
    /// Per-client flood limit; `None` (the default) means unlimited.
    pub max_rate: Option<RateLimit>,
    /// Log per-client events on stderr (the server's own lines always are).
    pub log: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4000),
            web_addr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080)),
            idle_timeout: Duration::from_secs(60),
            max_clients: 10_000,
            max_line: 4096,
            max_backlog: 1024 * 1024,
            write_stall_limit: WRITE_STALL_LIMIT,
            max_per_ip: 100,
            limit_loopback: false,
            max_rate: None,
            log: true,
        }
    }
}

/// State shared by the accept loop and every connection thread.
pub struct Shared {
    pub config: Config,
    /// `config.max_clients`, lowered to what the kernel's limits allow.
    max_clients: usize,
    pub registry: Registry,
    pub log: Log,
    /// Every connection thread (sessions, writers for full sockets, fan-out
    /// helpers) starts within this budget.
    pub threads: Arc<ThreadBudget>,
    /// Threads that share the writing out of big broadcasts.
    pub helpers: Arc<Helpers>,
    connections: Mutex<Connections>,
    stopping: AtomicBool,
}

/// Open connections, for the limits and for hanging up on everybody at stop.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, Arc<TcpStream>>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Shared {
    fn connections(&self) -> MutexGuard<'_, Connections> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a connection slot, or says which limit refuses it.
    fn admit(self: &Arc<Self>, stream: &Arc<TcpStream>, ip: IpAddr) -> Result<Slot, &'static str> {
        let mut connections = self.connections();
        if connections.open.len() >= self.max_clients {
            return Err("server-full");
        }
        let per_ip_applies = self.config.limit_loopback || !ip.is_loopback();
        let from_ip = connections.per_ip.get(&ip).copied().unwrap_or(0);
        if per_ip_applies && from_ip >= self.config.max_per_ip {
            return Err("too-many-connections");
        }
        connections.per_ip.insert(ip, from_ip + 1);
        let id = connections.next_id;
        connections.next_id += 1;
        connections.open.insert(id, Arc::clone(stream));
        Ok(Slot {
            shared: Arc::clone(self),
            id,
            ip,
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last connection (or a failed `bind`) is gone: so are the helpers.
        self.helpers.stop();
    }
}

/// A connection's place in the limits, given back when the connection ends
/// (the slot is dropped by its thread, or right away if the thread never starts).
struct Slot {
    shared: Arc<Shared>,
    id: u64,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut connections = self.shared.connections();
        connections.open.remove(&self.id);
        if let Some(count) = connections.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                connections.per_ip.remove(&self.ip);
            }
        }
    }
}

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    web_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    web_acceptor: Option<JoinHandle<()>>,
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Lines,
    Web,
}

impl Server {
    /// Binds the listener and starts accepting on a background thread. Port 0
    /// picks a free port: [`Server::addr`] says which.
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(config.addr)?;
        let addr = listener.local_addr()?;
        let web_listener = config.web_addr.map(TcpListener::bind).transpose()?;
        // Best effort: with std's backlog of 128 the kernel still works, only
        // a burst of connections waits longer.
        for listener in std::iter::once(&listener).chain(&web_listener) {
            let _ = sys::raise_listen_backlog(listener);
        }
        let web_addr = web_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let log = Log {
            client_events: config.log,
        };
        let threads = ThreadBudget::from_kernel();
        // Every client needs its session thread; a client whose socket is full
        // needs a writer too, from the same budget: keep a quarter for those.
        let for_clients = threads.limit() - threads.limit() / 4;
        let max_clients = if for_clients < config.max_clients {
            log.event(
                None,
                format_args!(
                    "note: the kernel's limits (vm.max_map_count, kernel.pid_max) allow about \
                     {} connection threads; serving at most {for_clients} clients instead of {} \
                     (see README, Limits)",
                    threads.limit(),
                    config.max_clients
                ),
            );
            for_clients
        } else {
            config.max_clients
        };
        let shared = Arc::new(Shared {
            log,
            max_clients,
            config,
            helpers: Helpers::start(&threads),
            threads,
            registry: Registry::new(),
            connections: Mutex::new(Connections::default()),
            stopping: AtomicBool::new(false),
        });
        shared
            .log
            .event(None, format_args!("listening on {addr} (line protocol)"));
        if let Some(web_addr) = web_addr {
            shared.log.event(
                None,
                format_args!(
                    "listening on {web_addr} (web page and WebSocket: http://{web_addr}/)"
                ),
            );
        }
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("chat-accept".into())
                .spawn(move || accept_loop(&listener, &shared, Transport::Lines))?
        };
        let web_acceptor = match web_listener {
            Some(listener) => {
                let shared = Arc::clone(&shared);
                Some(
                    thread::Builder::new()
                        .name("chat-accept-web".into())
                        .spawn(move || accept_loop(&listener, &shared, Transport::Web))?,
                )
            }
            None => None,
        };
        Ok(Server {
            addr,
            web_addr,
            shared,
            acceptor: Some(acceptor),
            web_acceptor,
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

    /// Blocks until the server stops (it runs until [`Server::stop`]).
    pub fn wait(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }

    /// Stops accepting and hangs up on every connection.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // The accept loop is blocked in accept(): one last connection wakes it.
        let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_secs(1));
        let _ = acceptor.join();
        if let (Some(web_acceptor), Some(web_addr)) = (self.web_acceptor.take(), self.web_addr) {
            let _ = TcpStream::connect_timeout(&reachable(web_addr), Duration::from_secs(1));
            let _ = web_acceptor.join();
        }
        for stream in self.shared.connections().open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.shared.helpers.stop();
        self.shared.log.event(None, format_args!("stopped"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
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

/// Longest pause after failed accepts (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, transport: Transport) {
    let mut backoff = Duration::from_millis(10);
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                if shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                start_connection(stream, peer, shared, transport);
            }
            Err(err) => {
                shared.log.event(
                    None,
                    format_args!("accept failed: {err}; pausing {} ms", backoff.as_millis()),
                );
                thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

fn start_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    transport: Transport,
) {
    // Lines are small and latency matters more than packet count; the writer
    // already batches everything queued into one write.
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let slot = match shared.admit(&stream, peer.ip()) {
        Ok(slot) => slot,
        Err(reason) => {
            shared
                .log
                .event(Some(peer), format_args!("refused: {reason}"));
            refuse(&stream, reason, transport);
            return;
        }
    };
    shared.log.event(Some(peer), format_args!("connect"));
    let spawned = {
        let for_thread = Arc::clone(shared);
        let stream = Arc::clone(&stream);
        shared.threads.spawn("chat-conn", move || {
            match transport {
                Transport::Lines => session::serve_lines(stream, peer, &for_thread),
                Transport::Web => serve_web(stream, peer, &for_thread),
            }
            drop(slot);
        })
    };
    if let Err(err) = spawned {
        // The closure (and with it the slot) was dropped: the slot is free again.
        shared.log.event(
            Some(peer),
            format_args!("refused: cannot start a thread: {err}"),
        );
        refuse(&stream, "server-full", transport);
        thread::sleep(Duration::from_millis(10));
    }
}

/// Refuses a connection in its own protocol's words, without blocking.
fn refuse(stream: &TcpStream, reason: &'static str, transport: Transport) {
    match transport {
        Transport::Lines => session::refuse(stream, reason),
        Transport::Web => {
            let _ = stream.set_nonblocking(true);
            let _ = (&*stream).write_all(&http::refusal(reason));
            let _ = stream.shutdown(Shutdown::Write);
        }
    }
}

/// The longest a web client may take to send its request head.
const WEB_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn serve_web(stream: Arc<TcpStream>, peer: SocketAddr, shared: &Shared) {
    let timeout = shared.config.idle_timeout.min(WEB_HANDSHAKE_TIMEOUT);
    match http::handshake(&stream, timeout) {
        Ok(Handshake::WebSocket) => session::serve_websocket(stream, peer, shared),
        Ok(Handshake::Answered(status)) => shared
            .log
            .event(Some(peer), format_args!("web: answered {status}")),
        Ok(Handshake::Abandoned) => {}
        Err(err) => shared
            .log
            .event(Some(peer), format_args!("web: handshake failed: {err}")),
    }
}
