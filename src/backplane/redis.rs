//! A blocking Redis client over one `TcpStream`: one connection
//! ([`Connection`]: command → reply, pipelining, timeouts), and a [`Client`]
//! that reconnects, to Redis where a [`Url`] says.
//!
//! Rules kept:
//! - **Nothing waits forever.** Connecting has a timeout per address; every
//!   reply has a deadline (the I/O timeout, plus the block time for a
//!   blocking command), however slowly its bytes trickle in; writes have the
//!   I/O timeout.
//! - **A broken connection is never reused.** After an I/O or protocol error
//!   the stream may be out of step with its replies: the [`Client`] drops
//!   it, and the next call connects anew (AUTH and SELECT again). An error
//!   reply (`-ERR …`) is only the command's failure: the connection stays.
//! - **A reply lost with its connection is retried once**, on a new
//!   connection, when the connection had served before (Redis may have
//!   dropped an idle connection: `CLIENT KILL`, a restart, a timeout). So
//!   every command sent through a [`Client`] must be safe to run twice; the
//!   cluster's scripts are (they carry operation numbers).
//! - **Never a password in a log or an error**: [`Url`] never shows it, and
//!   errors name the command, not its arguments.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::resp::{Cmd, Decoder, Limits, RespError, Value};
pub use super::url::Url;

/// How a connection is made and how long anything may take.
#[derive(Debug, Clone)]
pub struct Options {
    pub connect_timeout: Duration,
    /// For each write, and for each reply beyond any block time.
    pub io_timeout: Duration,
    pub limits: Limits,
    /// `CLIENT SETNAME`; empty for none.
    pub name: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(2),
            limits: Limits::default(),
            name: String::new(),
        }
    }
}

/// Why a call failed.
#[derive(Debug)]
pub enum Error {
    /// Redis could not be reached, or the connection failed or timed out:
    /// it is closed.
    Io(io::Error),
    /// Redis sent what is not RESP2, or a reply over a limit: closed too.
    Protocol(RespError),
    /// Redis refused the command (`-ERR …`); the connection is still good.
    Reply(String),
}

impl Error {
    /// Whether the connection is unusable after this error.
    pub fn broke_connection(&self) -> bool {
        !matches!(self, Error::Reply(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(err) => write!(f, "{err}"),
            Error::Protocol(err) => write!(f, "{err}"),
            Error::Reply(text) => write!(f, "redis refused: {text}"),
        }
    }
}

impl std::error::Error for Error {}

/// One connection to Redis. After an [`Error`] that
/// [broke](Error::broke_connection) it, drop it.
pub struct Connection {
    stream: TcpStream,
    decoder: Decoder,
    out: Vec<u8>,
    chunk: Vec<u8>,
    io_timeout: Duration,
    /// Whether a call has succeeded on it.
    served: bool,
}

impl Connection {
    /// Connects (trying each address the host resolves to), then
    /// authenticates, selects the database and names the connection.
    pub fn open(url: &Url, options: &Options) -> Result<Connection, Error> {
        let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(Error::Io)?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, options.connect_timeout) {
                Ok(stream) => return Connection::handshake(stream, url, options),
                Err(err) => last = err,
            }
        }
        Err(Error::Io(io::Error::new(
            last.kind(),
            format!("cannot connect to {url}: {last}"),
        )))
    }

    fn handshake(stream: TcpStream, url: &Url, options: &Options) -> Result<Connection, Error> {
        stream.set_nodelay(true).map_err(Error::Io)?;
        stream
            .set_write_timeout(Some(options.io_timeout))
            .map_err(Error::Io)?;
        let mut conn = Connection {
            stream,
            decoder: Decoder::new(options.limits),
            out: Vec::new(),
            chunk: vec![0; 64 << 10],
            io_timeout: options.io_timeout,
            served: false,
        };
        let cmds = url.handshake(&options.name);
        for (cmd, reply) in cmds.iter().zip(conn.pipeline(&cmds)?) {
            if let Value::Error(text) = reply {
                return Err(Error::Reply(format!("{}: {text}", cmd.name())));
            }
        }
        Ok(conn)
    }

    /// Sends `cmd` and returns its reply; an error reply is [`Error::Reply`].
    pub fn call(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        self.call_blocking(cmd, Duration::ZERO)
    }

    /// [`Connection::call`] for a command that may block Redis-side for up
    /// to `block` (`XREAD BLOCK`, `BLPOP`): its reply may take that long more.
    pub fn call_blocking(&mut self, cmd: &Cmd, block: Duration) -> Result<Value, Error> {
        self.out.clear();
        cmd.encode(&mut self.out);
        self.send()?;
        match self.reply(self.io_timeout + block)? {
            Value::Error(text) => Err(Error::Reply(text)),
            value => Ok(value),
        }
    }

    /// Sends every command in one write and reads their replies, in order;
    /// an error reply is a [`Value::Error`] in its place.
    pub fn pipeline(&mut self, cmds: &[Cmd]) -> Result<Vec<Value>, Error> {
        self.out.clear();
        for cmd in cmds {
            cmd.encode(&mut self.out);
        }
        self.send()?;
        let mut replies = Vec::with_capacity(cmds.len());
        for _ in cmds {
            replies.push(self.reply(self.io_timeout)?);
        }
        Ok(replies)
    }

    fn send(&mut self) -> Result<(), Error> {
        self.stream.write_all(&self.out).map_err(Error::Io)
    }

    /// The next reply, within `timeout` however its bytes arrive.
    fn reply(&mut self, timeout: Duration) -> Result<Value, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = self.decoder.next().map_err(Error::Protocol)? {
                self.served = true;
                return Ok(value);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis did not answer in time",
                )));
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(Error::Io)?;
            let n = match self.stream.read(&mut self.chunk) {
                Ok(0) => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "redis closed the connection",
                    )))
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if is_timeout(&err) => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "redis did not answer in time",
                    )))
                }
                Err(err) => return Err(Error::Io(err)),
            };
            self.decoder
                .feed(&self.chunk[..n])
                .map_err(Error::Protocol)?;
        }
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A connection made when needed and made again after it broke.
pub struct Client {
    url: Url,
    options: Options,
    conn: Option<Connection>,
}

impl Client {
    /// A client that connects at its first call.
    pub fn new(url: Url, options: Options) -> Client {
        Client {
            url,
            options,
            conn: None,
        }
    }

    /// [`Connection::call`], reconnecting as needed; see the module's rule
    /// on retries.
    pub fn call(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        self.with_retry(|conn| conn.call(cmd))
    }

    /// [`Connection::call_blocking`], reconnecting as needed.
    pub fn call_blocking(&mut self, cmd: &Cmd, block: Duration) -> Result<Value, Error> {
        self.with_retry(|conn| conn.call_blocking(cmd, block))
    }

    /// Closes the connection (the next call opens a new one).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    fn with_retry<T>(
        &mut self,
        mut call: impl FnMut(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let reused = self.conn.as_ref().is_some_and(|conn| conn.served);
        match self.attempt(&mut call) {
            Err(err) if err.broke_connection() && reused => self.attempt(&mut call),
            result => result,
        }
    }

    fn attempt<T>(
        &mut self,
        call: &mut impl FnMut(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self
                .conn
                .insert(Connection::open(&self.url, &self.options)?),
        };
        let result = call(conn);
        if result.as_ref().is_err_and(Error::broke_connection) {
            self.conn = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::redis_server::RedisServer;
    use std::thread;

    /// A real redis-server, or `None` (having said so) where none is installed.
    fn redis(extra: &[&str]) -> Option<RedisServer> {
        if !RedisServer::installed() {
            eprintln!("skipped: redis-server not installed");
            return None;
        }
        Some(RedisServer::start(extra).expect("redis-server starts"))
    }

    fn connect(server: &RedisServer) -> Connection {
        let url = Url::parse(&server.url()).unwrap();
        Connection::open(&url, &Options::default()).expect("connects")
    }

    fn bulk(bytes: &[u8]) -> Value {
        Value::Bulk(bytes.to_vec())
    }

    #[test]
    fn commands_replies_and_binary_values() {
        let Some(server) = redis(&[]) else { return };
        let mut conn = connect(&server);
        assert_eq!(
            conn.call(&Cmd::new("PING")).unwrap(),
            Value::Simple("PONG".into())
        );
        let binary: Vec<u8> = (0..=255u8).chain(*b"\r\n$3\r\n").collect();
        let set = Cmd::new("SET").arg("k").arg(&binary[..]);
        assert_eq!(conn.call(&set).unwrap(), Value::Simple("OK".into()));
        assert_eq!(conn.call(&Cmd::new("GET").arg("k")).unwrap(), bulk(&binary));
        assert_eq!(conn.call(&Cmd::new("GET").arg("none")).unwrap(), Value::Nil);
        // A refused command is only that command's failure.
        match conn.call(&Cmd::new("NOSUCHCOMMAND")) {
            Err(Error::Reply(text)) => assert!(text.starts_with("ERR unknown command"), "{text}"),
            other => panic!("{other:?}"),
        }
        match conn.call(&Cmd::new("INCR").arg("k")) {
            Err(err @ Error::Reply(_)) => assert!(!err.broke_connection()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            conn.call(&Cmd::new("ECHO").arg("still")).unwrap(),
            bulk(b"still")
        );
        let pushed = Cmd::new("RPUSH").arg("list").arg("a").arg("b");
        assert_eq!(conn.call(&pushed).unwrap(), Value::Integer(2));
        assert_eq!(
            conn.call(&Cmd::new("LRANGE").arg("list").arg("0").arg("-1"))
                .unwrap(),
            Value::Array(vec![bulk(b"a"), bulk(b"b")])
        );
    }

    #[test]
    fn pipelined_replies_come_back_in_order_errors_in_place() {
        let Some(server) = redis(&[]) else { return };
        let mut conn = connect(&server);
        let cmds: Vec<Cmd> = (0..2000).map(|_| Cmd::new("INCR").arg("n")).collect();
        let replies = conn.pipeline(&cmds).unwrap();
        let want: Vec<Value> = (1..=2000).map(Value::Integer).collect();
        assert_eq!(replies, want);
        let mixed = [
            Cmd::new("SET").arg("s").arg("x"),
            Cmd::new("INCR").arg("s"),
            Cmd::new("GET").arg("s"),
        ];
        let replies = conn.pipeline(&mixed).unwrap();
        assert_eq!(replies[0], Value::Simple("OK".into()));
        assert!(matches!(&replies[1], Value::Error(text) if text.contains("not an integer")));
        assert_eq!(replies[2], bulk(b"x"));
    }

    #[test]
    fn password_user_and_database_from_the_url() {
        let Some(server) = redis(&["--requirepass", "s3cret"]) else {
            return;
        };
        let port = server.port();
        let open = |url: &str| Connection::open(&Url::parse(url).unwrap(), &Options::default());
        let mut db0 = open(&format!("redis://:s3cret@127.0.0.1:{port}")).unwrap();
        let mut db3 = open(&format!("redis://:s3cret@127.0.0.1:{port}/3")).unwrap();
        db3.call(&Cmd::new("SET").arg("where").arg("db3")).unwrap();
        assert_eq!(db0.call(&Cmd::new("GET").arg("where")).unwrap(), Value::Nil);
        assert_eq!(
            db3.call(&Cmd::new("GET").arg("where")).unwrap(),
            bulk(b"db3")
        );
        let acl = Cmd::new("ACL")
            .arg("SETUSER")
            .arg("alice")
            .arg("on")
            .arg(">pw")
            .arg("~*")
            .arg("+@all");
        db0.call(&acl).unwrap();
        let mut alice = open(&format!("redis://alice:pw@127.0.0.1:{port}/3")).unwrap();
        assert_eq!(
            alice.call(&Cmd::new("GET").arg("where")).unwrap(),
            bulk(b"db3")
        );
        for refused in [
            format!("redis://:wrong@127.0.0.1:{port}"),
            format!("redis://127.0.0.1:{port}"),
        ] {
            match open(&refused).map(|mut conn| conn.call(&Cmd::new("GET").arg("x"))) {
                Err(Error::Reply(text)) | Ok(Err(Error::Reply(text))) => {
                    assert!(
                        !text.contains("wrong"),
                        "the password is not repeated: {text}"
                    );
                }
                Ok(other) => panic!("{other:?}"),
                Err(other) => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_reply_slower_than_the_timeout_is_an_error_a_blocking_call_waits_its_block() {
        let Some(server) = redis(&[]) else { return };
        let url = Url::parse(&server.url()).unwrap();
        let options = Options {
            io_timeout: Duration::from_millis(200),
            ..Options::default()
        };
        let mut conn = Connection::open(&url, &options).unwrap();
        let blpop = |secs: &str| Cmd::new("BLPOP").arg("empty").arg(secs);
        match conn.call(&blpop("3")) {
            Err(Error::Io(err)) => assert_eq!(err.kind(), io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
        let mut conn = Connection::open(&url, &options).unwrap();
        let waited = conn.call_blocking(&blpop("1"), Duration::from_secs(1));
        assert_eq!(waited.unwrap(), Value::Nil);
    }

    #[test]
    fn a_client_reconnects_after_its_connection_is_killed_or_redis_restarts() {
        let Some(mut server) = redis(&[]) else { return };
        let url = Url::parse(&server.url()).unwrap();
        let options = Options {
            name: "under-test".into(),
            ..Options::default()
        };
        let mut client = Client::new(url.clone(), options);
        client.call(&Cmd::new("SET").arg("k").arg("v")).unwrap();
        let killed = server.cli(&["CLIENT", "KILL", "TYPE", "normal"]).unwrap();
        assert_eq!(killed, "1");
        // The killed connection's loss is not the caller's: retried once.
        assert_eq!(client.call(&Cmd::new("GET").arg("k")).unwrap(), bulk(b"v"));
        let names = server.cli(&["CLIENT", "LIST"]).unwrap();
        assert!(names.contains("name=under-test"), "{names}");
        server.stop();
        match client.call(&Cmd::new("GET").arg("k")) {
            Err(err @ Error::Io(_)) => assert!(err.broke_connection()),
            other => panic!("{other:?}"),
        }
        server.restart().unwrap();
        // The append-only file brought the data back.
        assert_eq!(client.call(&Cmd::new("GET").arg("k")).unwrap(), bulk(b"v"));
    }

    #[test]
    fn nothing_listening_is_an_error_at_once() {
        let Some(mut server) = redis(&[]) else { return };
        let url = Url::parse(&server.url()).unwrap();
        server.kill();
        match Connection::open(&url, &Options::default()) {
            Err(Error::Io(err)) => {
                assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
                assert!(err.to_string().contains(&url.to_string()), "{err}");
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("connected to nothing"),
        }
    }

    #[test]
    fn a_reply_over_the_limits_closes_the_connection_not_the_process() {
        let Some(server) = redis(&[]) else { return };
        let url = Url::parse(&server.url()).unwrap();
        let options = Options {
            limits: Limits {
                max_bulk: 1 << 20,
                ..Limits::default()
            },
            ..Options::default()
        };
        let mut client = Client::new(url, options);
        let big = vec![b'x'; 2 << 20];
        client
            .call(&Cmd::new("SET").arg("big").arg(&big[..]))
            .unwrap();
        match client.call(&Cmd::new("GET").arg("big")) {
            Err(err @ Error::Protocol(_)) => {
                assert!(err.broke_connection());
                assert!(err.to_string().contains("over the limit"), "{err}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            client.call(&Cmd::new("STRLEN").arg("big")).unwrap(),
            Value::Integer(2 << 20)
        );
    }

    #[test]
    fn connections_work_side_by_side() {
        let Some(server) = redis(&[]) else { return };
        let url = Url::parse(&server.url()).unwrap();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                thread::spawn(move || {
                    let mut client = Client::new(url, Options::default());
                    for _ in 0..500 {
                        client.call(&Cmd::new("INCR").arg("shared")).unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let mut client = Client::new(url, Options::default());
        assert_eq!(
            client.call(&Cmd::new("GET").arg("shared")).unwrap(),
            bulk(b"2000")
        );
    }
}
