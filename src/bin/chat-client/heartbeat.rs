//! The heartbeat: an otherwise quiet client pings the server now and then, so
//! that the server does not drop it as idle and the client notices a server
//! that stopped answering.

use std::time::{Duration, Instant};

/// When to ping and when to give up, kept apart from the socket so that it is
/// tested with plain instants.
#[derive(Debug)]
pub struct Heartbeat {
    interval: Duration,
    next_ping: Instant,
    /// When the ping that is still unanswered was sent.
    waiting_since: Option<Instant>,
    sent: u64,
}

/// What the heartbeat wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Nothing,
    /// Send `PING hb-<n>`.
    Ping(u64),
    /// A ping went unanswered for twice the interval.
    Lost,
}

impl Heartbeat {
    pub fn new(interval: Duration, now: Instant) -> Heartbeat {
        Heartbeat {
            interval,
            next_ping: now + interval,
            waiting_since: None,
            sent: 0,
        }
    }

    /// What to do at `now`. One ping is in flight at a time.
    pub fn beat(&mut self, now: Instant) -> Beat {
        match self.waiting_since {
            Some(since) if now >= since + 2 * self.interval => Beat::Lost,
            Some(_) => Beat::Nothing,
            None if now >= self.next_ping => {
                self.waiting_since = Some(now);
                self.next_ping = now + self.interval;
                self.sent += 1;
                Beat::Ping(self.sent)
            }
            None => Beat::Nothing,
        }
    }

    /// The server answered a heartbeat ping.
    pub fn answered(&mut self) {
        self.waiting_since = None;
    }

    /// When [`Heartbeat::beat`] next has something to do.
    pub fn next_due(&self) -> Instant {
        match self.waiting_since {
            Some(since) => since + 2 * self.interval,
            None => self.next_ping,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_pings_then_gives_up() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut beat = Heartbeat::new(15 * second, start);
        assert_eq!(beat.beat(start + 14 * second), Beat::Nothing);
        assert_eq!(beat.next_due(), start + 15 * second);
        assert_eq!(beat.beat(start + 15 * second), Beat::Ping(1));
        // One ping in flight at a time, however long the answer takes...
        assert_eq!(beat.beat(start + 31 * second), Beat::Nothing);
        beat.answered();
        assert_eq!(beat.beat(start + 31 * second), Beat::Ping(2));
        // ...but no answer for twice the interval means the server is gone.
        assert_eq!(beat.next_due(), start + 61 * second);
        assert_eq!(beat.beat(start + 60 * second), Beat::Nothing);
        assert_eq!(beat.beat(start + 61 * second), Beat::Lost);
    }
}
