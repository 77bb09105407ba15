//! A socket reader with a deadline for a whole line, not for each `read`,
//! and optionally a fixed deadline that no line moves (the login deadline).

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reader that fails with `TimedOut` once no line has arrived for the idle
/// timeout, however the bytes trickle in.
///
/// The socket's read timeout applies to each `read` call, not to a line, so it
/// is re-armed to the time left whenever it would overshoot the deadline by
/// more than a little slack. A busy connection (lines arriving within the
/// slack) therefore costs no extra system calls.
///
/// A cap ([`IdleDeadline::cap`]) is a deadline that activity does not move:
/// reads time out at the cap even if lines keep coming.
pub struct IdleDeadline {
    stream: Arc<TcpStream>,
    timeout: Duration,
    deadline: Instant,
    cap: Option<Instant>,
    /// The read timeout currently set on the socket.
    armed: Duration,
}

impl IdleDeadline {
    pub fn new(stream: Arc<TcpStream>, timeout: Duration) -> IdleDeadline {
        let _ = stream.set_read_timeout(Some(timeout));
        IdleDeadline {
            stream,
            timeout,
            deadline: Instant::now() + timeout,
            cap: None,
            armed: timeout,
        }
    }

    /// A line arrived: the client has another full timeout (up to the cap).
    pub fn reset(&mut self) {
        let idle = Instant::now() + self.timeout;
        self.deadline = self.cap.map_or(idle, |cap| cap.min(idle));
    }

    /// Sets (or with `None`, lifts) a deadline that no activity moves; it
    /// takes effect at the next [`IdleDeadline::reset`] or sooner if it is
    /// earlier than the idle deadline.
    pub fn cap(&mut self, cap: Option<Instant>) {
        self.cap = cap;
        if let Some(cap) = cap {
            self.deadline = self.deadline.min(cap);
        }
    }

    /// From now on the client has `timeout` (counted from now) instead:
    /// a front whose silence policy changes as the connection goes on (IRC
    /// pings a quiet client, then waits a shorter while for any answer).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.reset();
    }

    fn slack(&self) -> Duration {
        (self.timeout / 10).min(Duration::from_secs(1))
    }

    fn arm(&mut self, left: Duration) {
        let left = left.max(Duration::from_millis(1));
        if self.stream.set_read_timeout(Some(left)).is_ok() {
            self.armed = left;
        }
    }
}

impl std::os::fd::AsRawFd for IdleDeadline {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }
}

impl Read for IdleDeadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            if self.armed > left + self.slack() {
                self.arm(left);
            }
            match (&*self.stream).read(buf) {
                // A signal (the server stopped with Ctrl-Z and continued, say)
                // cut the wait short: nothing happened to the connection.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Armed for less than the time left (the deadline moved on):
                // re-arm and read again.
                Err(err) if is_timeout(&err) => {
                    let left = self.deadline.saturating_duration_since(Instant::now());
                    if !left.is_zero() {
                        self.arm(left);
                    }
                }
                result => return result,
            }
        }
    }
}

/// Whether a read or write failed only because its socket timeout passed.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
