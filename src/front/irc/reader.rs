//! Reading an IRC client's socket: bounded lines ([`Framer`]) within the
//! silence policy.
//!
//! Rules kept: before registration a client has the idle timeout like any
//! other; after it, a client silent for the ping interval (2 minutes) is sent
//! `PING :<server>`, and one silent for the ping deadline after that (20 s)
//! times out. Any line answers, not only `PONG`.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::numerics::put;
use super::parse::{Frame, Framer};
use crate::support::deadline::{is_timeout, IdleDeadline};

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// What the socket has for the connection next.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Frame(Frame),
    /// The client has been quiet for the ping interval: send it this.
    Ping(Vec<u8>),
    Closed,
}

/// A client's socket as lines, with the silence policy.
pub struct Lines {
    idle: IdleDeadline,
    chunk: Box<[u8]>,
    framer: Framer,
    interval: Duration,
    deadline: Duration,
    server: String,
    /// A `PING` is out and unanswered.
    pinged: bool,
}

impl Lines {
    /// Lines from `idle` (which applies the idle timeout until registration),
    /// pinging as `server` after `interval` of silence and giving up
    /// `deadline` later.
    pub fn new(idle: IdleDeadline, interval: Duration, deadline: Duration, server: &str) -> Lines {
        Lines {
            idle,
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            framer: Framer::default(),
            interval,
            deadline,
            server: server.to_string(),
            pinged: false,
        }
    }

    /// The next input; `before_wait` runs before each read from the socket.
    /// A timeout is passed through as the error it is.
    pub fn next(&mut self, before_wait: &mut dyn FnMut(), registered: bool) -> io::Result<Input> {
        loop {
            if let Some(frame) = self.framer.next() {
                return Ok(Input::Frame(frame));
            }
            before_wait();
            match self.idle.read(&mut self.chunk) {
                Ok(0) => return Ok(Input::Closed),
                Ok(n) => self.framer.feed(&self.chunk[..n]),
                Err(err) if is_timeout(&err) && registered && !self.pinged => {
                    self.pinged = true;
                    self.idle.set_timeout(self.deadline);
                    let mut ping = Vec::new();
                    put(&mut ping, None, "PING", &[], Some(&self.server));
                    return Ok(Input::Ping(ping));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The client showed it is there: it has another full interval.
    pub fn active(&mut self, registered: bool) {
        self.pinged = false;
        if registered {
            self.idle.set_timeout(self.interval);
        } else {
            self.idle.reset();
        }
    }

    /// Sets (or lifts) a deadline that activity does not move: the login
    /// deadline, which pings do not extend.
    pub fn cap(&mut self, at: Option<Instant>) {
        self.idle.cap(at);
    }

    /// How long a pinged client has to answer.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}
