//! A socket reader with a deadline for a whole line, not for each `read`.

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
pub struct IdleDeadline {
    stream: Arc<TcpStream>,
    timeout: Duration,
    deadline: Instant,
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
            armed: timeout,
        }
    }

    /// A line arrived: the client has another full timeout.
    pub fn reset(&mut self) {
        self.deadline = Instant::now() + self.timeout;
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
