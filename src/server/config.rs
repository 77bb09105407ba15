//! What an operator can set, and what `chat-server` runs with by default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::backplane::redis::Url as RedisUrl;
use crate::delivery::WRITE_STALL_LIMIT;
use crate::front::irc;
use crate::hub::RoomLimits;
use crate::session::{Limits, RateLimit};
pub use crate::store::Fsync;
use crate::store::DEFAULT_KEEP;
pub use crate::support::crypto::MAX_ITERATIONS;

/// PBKDF2 rounds per password by default: one `AUTH` or `REGISTER` then
/// costs about 55 ms of one core on the reference machine (README, Accounts).
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 100_000;

use crate::support::netaddr::Network;

/// The default connection rate from one address (or IPv6 /64): 30 a
/// minute, 30 at once. Like Ergo's throttle (32 per 10 minutes), it stops one
/// host opening thousands, yet a household or an office behind one address
/// reconnecting after a restart mostly gets through, and the rest within a
/// minute.
const DEFAULT_CONNECT_RATE: RateLimit = RateLimit {
    per_sec: 0.5,
    burst: 30,
};

/// Everything an operator can set. `Config::default()` is what `chat-server`
/// runs with when given no flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address and port of the line protocol (`--bind`, `--port`).
    pub addr: SocketAddr,
    /// Address and port of the web page and WebSocket gateway (`--web-port`);
    /// `None` turns it off.
    pub web_addr: Option<SocketAddr>,
    /// Address and port of the IRC front (`--irc-port`); `None` turns it off.
    pub irc_addr: Option<SocketAddr>,
    /// The IRC server's name (`--irc-name`), in prefixes, `004` and `PONG`:
    /// 1–63 characters of `A-Z a-z 0-9 . - _` (see [`Config::is_valid_irc_name`]).
    pub irc_name: String,
    /// Silence after which a registered IRC client is sent a `PING`.
    pub irc_ping_interval: Duration,
    /// How long a pinged IRC client has to send anything before it is dropped.
    pub irc_ping_timeout: Duration,
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
    /// No login this long after connecting and the client is dropped,
    /// whatever else it sends (`--login-timeout`).
    pub login_timeout: Duration,
    /// Per-client flood limit (`--max-rate`, `--burst`); `None` means unlimited.
    pub max_rate: Option<RateLimit>,
    /// Whether `max_rate` applies to loopback peers too (only when set
    /// explicitly, like `limit_loopback`).
    pub rate_loopback: bool,
    /// New connections from one address (IPv6: one /64) per second, with
    /// bursts (`--max-connect-rate`); `None` means unlimited.
    pub max_connect_rate: Option<RateLimit>,
    /// Whether `max_connect_rate` applies to loopback peers too.
    pub connect_rate_loopback: bool,
    /// Bytes queued for all clients together before the biggest backlogs
    /// are dropped (`--max-output`).
    pub max_output: usize,
    /// Whether the line listener requires a PROXY protocol header
    /// (`--proxy-protocol lines`).
    pub lines_proxy_protocol: bool,
    /// Whether the web listener requires a PROXY protocol header
    /// (`--proxy-protocol web`).
    pub web_proxy_protocol: bool,
    /// Who may send a PROXY header or `X-Forwarded-For` (`--trusted-proxy`).
    pub trusted_proxies: Vec<Network>,
    /// How long a graceful stop may take before the process exits anyway
    /// (`--shutdown-timeout`).
    pub shutdown_timeout: Duration,
    /// Where `GET /metrics` and `GET /healthz` are served (`--metrics`).
    pub metrics_addr: Option<SocketAddr>,
    /// Log per-client events on stderr (the server's own lines always are).
    pub log: bool,
    /// Where history is kept (`--data-dir`); `None` keeps it in memory only
    /// (`--no-persist`).
    pub data_dir: Option<PathBuf>,
    /// When the history log is `fsync`ed (`--fsync always|1s`).
    pub fsync: Fsync,
    /// Messages kept per room (`--history-keep`).
    pub history_keep: usize,
    /// Messages a joiner is shown (`--replay`; 0: none).
    pub replay: usize,
    /// Rooms one user may be in, the lobby not counted (`--max-rooms-per-user`).
    pub max_rooms_per_user: usize,
    /// Rooms with members on the server, the lobby not counted (`--max-rooms`).
    pub max_rooms: usize,
    /// PBKDF2-HMAC-SHA-256 rounds of each new password record
    /// (`--pbkdf2-iterations`, 1 to [`MAX_ITERATIONS`]); existing records
    /// keep the count they were made with.
    pub pbkdf2_iterations: u32,
    /// `--redis redis://[:PASS@]HOST:PORT[/DB]`: this server is a node of the
    /// cluster of every server given the same Redis; names, rooms and
    /// history live there (and `data_dir` is not used). `None`: on its own.
    pub redis: Option<RedisUrl>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4000),
            web_addr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080)),
            irc_addr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 6667)),
            irc_name: host_name(),
            irc_ping_interval: Duration::from_secs(120),
            irc_ping_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_clients: 10_000,
            max_line: 4096,
            max_backlog: 1024 * 1024,
            write_stall_limit: WRITE_STALL_LIMIT,
            max_per_ip: 100,
            limit_loopback: false,
            login_timeout: Duration::from_secs(60),
            max_rate: Some(RateLimit::DEFAULT),
            rate_loopback: false,
            max_connect_rate: Some(DEFAULT_CONNECT_RATE),
            connect_rate_loopback: false,
            max_output: 256 * 1024 * 1024,
            lines_proxy_protocol: false,
            web_proxy_protocol: false,
            trusted_proxies: Network::loopback(),
            shutdown_timeout: Duration::from_secs(5),
            metrics_addr: None,
            log: true,
            data_dir: Some(PathBuf::from("chat-data")),
            fsync: Fsync::EverySecond,
            history_keep: DEFAULT_KEEP,
            replay: 20,
            max_rooms_per_user: 100,
            max_rooms: 10_000,
            pbkdf2_iterations: DEFAULT_PBKDF2_ITERATIONS,
            redis: None,
        }
    }
}

impl Config {
    /// The limits every client's session and outbox apply.
    pub(super) fn limits(&self) -> Limits {
        Limits {
            idle_timeout: self.idle_timeout,
            max_line: self.max_line,
            max_backlog: self.max_backlog,
            write_stall_limit: self.write_stall_limit,
            login_timeout: self.login_timeout,
            max_rate: self.max_rate,
            pbkdf2_iterations: self.pbkdf2_iterations,
            rate_loopback: self.rate_loopback,
        }
    }

    /// What the IRC front runs with.
    pub(super) fn irc_settings(&self) -> irc::Settings {
        irc::Settings {
            name: self.irc_name.clone(),
            ping_interval: self.irc_ping_interval,
            ping_timeout: self.irc_ping_timeout,
            max_rooms_per_user: self.max_rooms_per_user,
        }
    }

    /// Whether `name` can be the IRC server's name.
    pub fn is_valid_irc_name(name: &str) -> bool {
        irc::is_valid_server_name(name)
    }

    /// How many rooms there may be, and what a joiner is shown.
    pub(super) fn room_limits(&self) -> RoomLimits {
        RoomLimits {
            max_rooms_per_user: self.max_rooms_per_user,
            max_rooms: self.max_rooms,
            replay: self.replay,
        }
    }
}

/// The machine's host name (`/etc/hostname`), or `chat` if it has none that
/// can be an IRC server name.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| irc::is_valid_server_name(name))
        .unwrap_or_else(|| "chat".to_string())
}
