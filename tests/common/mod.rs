//! Shared helpers for the integration tests: start a server in-process on a
//! free loopback port, and talk to it line by line over a real `TcpStream`.
//!
//! Every read has a generous timeout, so a missing line fails the test with a
//! clear message instead of hanging, even on a busy 2-core machine.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use chat::server::{Config, Server};

/// How long a test waits for a line it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The configuration tests start from: loopback, a free port, no log noise.
pub fn config() -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        log: false,
        ..Config::default()
    }
}

/// A server with the test defaults.
pub fn start() -> Server {
    Server::bind(config()).expect("server starts")
}

/// A server with the test defaults changed by `tweak`.
pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = config();
    tweak(&mut config);
    Server::bind(config).expect("server starts")
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
            Err(err) => panic!("no line within {PATIENCE:?}: {err}"),
        }
    }

    /// Asserts that the next line is exactly `want`.
    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Asserts that nothing else has arrived: a `PING` round trip comes back
    /// with nothing before its `PONG`.
    pub fn expect_nothing_pending(&mut self) {
        self.send("PING sync");
        self.expect("PONG sync");
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
