//! An IRC client for the tests, line by line over a real socket, and a
//! server with its IRC listener on a free loopback port.
//!
//! Every read has the generous [`PATIENCE`], and every loop a bound, so a
//! missing line fails with what came instead.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

use chat::server::{Config, Server};

use super::PATIENCE;

/// The server name the IRC tests run with.
pub const SERVER: &str = "irc.test";

/// `:irc.test <rest>`: a line from the server.
pub fn from_server(rest: &str) -> String {
    format!(":{SERVER} {rest}")
}

/// The test configuration with the IRC listener on.
pub fn config() -> Config {
    Config {
        irc_addr: Some("127.0.0.1:0".parse().unwrap()),
        irc_name: SERVER.to_string(),
        ..super::config()
    }
}

/// A server with the test defaults changed by `tweak`, IRC on.
pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = config();
    tweak(&mut config);
    Server::bind(config).expect("server starts")
}

/// The IRC listener's address.
pub fn addr(server: &Server) -> SocketAddr {
    server.irc_addr().expect("the IRC listener is on")
}

/// One IRC connection.
pub struct Irc {
    reader: BufReader<TcpStream>,
    pub stream: TcpStream,
    pub nick: String,
}

impl Irc {
    pub fn connect(addr: SocketAddr) -> Irc {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        Irc {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
            nick: "*".into(),
        }
    }

    /// Connects and registers as `nick` (user `u<nick>`), reading the whole
    /// welcome up to the lobby's end of names; returns the client and what
    /// it read.
    pub fn register(addr: SocketAddr, nick: &str) -> (Irc, Vec<String>) {
        let mut irc = Irc::connect(addr);
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER u{nick} 0 * :Real {nick}"));
        irc.nick = nick.to_string();
        let welcome = irc.until(&format!(" 366 {nick} #lobby "));
        (irc, welcome)
    }

    /// [`Irc::register`], without the welcome.
    pub fn join_server(addr: SocketAddr, nick: &str) -> Irc {
        Irc::register(addr, nick).0
    }

    /// Sends one line (`CR LF` added).
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next line without its `CR LF`, or `None` at end of stream.
    pub fn try_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                assert!(buf.ends_with(b"\r\n"), "line without CR LF: {buf:?}");
                buf.truncate(buf.len() - 2);
                assert!(
                    buf.len() + 2 <= 512 || buf.starts_with(b"@"),
                    "line over 512 bytes"
                );
                Some(String::from_utf8(buf).expect("server sent UTF-8"))
            }
            Err(err) if err.kind() == ErrorKind::ConnectionReset => None,
            Err(err) => panic!("no line in time: {err}"),
        }
    }

    /// The next line; panics at end of stream.
    pub fn line(&mut self) -> String {
        self.try_line().expect("a line, not end of stream")
    }

    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Lines up to and including the first containing `marker` (at most
    /// 10,000).
    pub fn until(&mut self, marker: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for _ in 0..10_000 {
            let line = self
                .try_line()
                .unwrap_or_else(|| panic!("closed before {marker:?}; got {lines:#?}"));
            let done = line.contains(marker);
            lines.push(line);
            if done {
                return lines;
            }
        }
        panic!("no {marker:?} in 10,000 lines");
    }

    /// Everything the server sent before the answer to a `PING` sent now.
    pub fn sync(&mut self) -> Vec<String> {
        self.send("PING :sync-point");
        let mut lines = self.until(" :sync-point");
        let pong = lines.pop().unwrap();
        assert_eq!(pong, format!(":{SERVER} PONG {SERVER} :sync-point"));
        lines
    }

    /// Asserts that nothing arrived beyond what the test read.
    pub fn expect_nothing_pending(&mut self) {
        let pending = self.sync();
        assert!(pending.is_empty(), "unexpected: {pending:#?}");
    }

    /// Everything until the server closes the connection.
    pub fn read_to_close(&mut self) -> String {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
            Err(err) => panic!("connection not closed within {PATIENCE:?}: {err}"),
        }
        String::from_utf8_lossy(&rest).into_owned()
    }
}

/// The numeric (or command) of a line, after its prefix and tags.
pub fn command(line: &str) -> &str {
    let mut words = line.split(' ');
    let mut word = words.next().unwrap_or("");
    while word.starts_with('@') || word.starts_with(':') {
        word = words.next().unwrap_or("");
    }
    word
}
