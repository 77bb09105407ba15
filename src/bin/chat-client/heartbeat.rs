//! The heartbeat: a client that has sent or heard nothing for a moment pings
//! the server, so that the server never drops it as idle and the client
//! notices a server that stopped answering.
//!
//! The rule kept: the client pings once it has been quiet (nothing sent, or
//! nothing received) for one interval, 2 s unless told otherwise, which is
//! short enough for any server idle timeout of 5 s or more whatever the
//! server's setting; and the connection is lost only when, after a ping,
//! nothing at all has come back for [`LOST_AFTER`] intervals.

use std::time::{Duration, Instant};

/// A ping is given this many intervals to be answered (by any line at all).
pub const LOST_AFTER: u32 = 5;

/// When to ping and when to give up, kept apart from the socket so that it is
/// tested with plain instants.
#[derive(Debug)]
pub struct Heartbeat {
    interval: Duration,
    last_sent: Instant,
    last_heard: Instant,
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
    /// Nothing came back for [`LOST_AFTER`] intervals after a ping.
    Lost,
}

impl Heartbeat {
    pub fn new(interval: Duration, now: Instant) -> Heartbeat {
        Heartbeat {
            interval,
            last_sent: now,
            last_heard: now,
            waiting_since: None,
            sent: 0,
        }
    }

    /// How long the server has to answer before the connection counts as lost.
    pub fn patience(&self) -> Duration {
        self.interval * LOST_AFTER
    }

    /// The client sent a line.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// A line came from the server.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// The server answered a heartbeat ping.
    pub fn answered(&mut self) {
        self.waiting_since = None;
    }

    /// What to do at `now`. One ping is in flight at a time.
    pub fn beat(&mut self, now: Instant) -> Beat {
        match self.waiting_since {
            Some(since) if self.last_heard < since && now >= since + self.patience() => Beat::Lost,
            Some(_) => Beat::Nothing,
            None if now >= self.quiet_since() + self.interval => {
                self.waiting_since = Some(now);
                self.last_sent = now;
                self.sent += 1;
                Beat::Ping(self.sent)
            }
            None => Beat::Nothing,
        }
    }

    fn quiet_since(&self) -> Instant {
        self.last_sent.min(self.last_heard)
    }

    /// When [`Heartbeat::beat`] next has something to do.
    pub fn next_due(&self) -> Instant {
        match self.waiting_since {
            Some(since) => since + self.patience(),
            None => self.quiet_since() + self.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_quiet_client_pings_every_interval() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(2 * SECOND, start);
        assert_eq!(beat.next_due(), start + 2 * SECOND);
        assert_eq!(beat.beat(start + SECOND), Beat::Nothing);
        assert_eq!(beat.beat(start + 2 * SECOND), Beat::Ping(1));
        beat.heard(start + 2 * SECOND);
        beat.answered();
        assert_eq!(beat.beat(start + 3 * SECOND), Beat::Nothing);
        assert_eq!(beat.beat(start + 4 * SECOND), Beat::Ping(2));
    }

    #[test]
    fn hearing_without_sending_still_pings_so_the_server_hears_us() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(2 * SECOND, start);
        // A busy room: lines keep arriving, the user types nothing.
        for s in 1..=3 {
            beat.heard(start + s * SECOND);
        }
        assert_eq!(beat.beat(start + 2 * SECOND), Beat::Ping(1));
        // And typing without hearing anything also pings, to hear the server.
        let mut beat = Heartbeat::new(2 * SECOND, start);
        beat.sent(start + SECOND);
        beat.sent(start + 2 * SECOND);
        assert_eq!(beat.beat(start + 2 * SECOND), Beat::Ping(1));
    }

    #[test]
    fn a_silent_server_is_lost_after_five_intervals_any_line_is_an_answer() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(2 * SECOND, start);
        assert_eq!(beat.beat(start + 2 * SECOND), Beat::Ping(1));
        assert_eq!(beat.next_due(), start + 12 * SECOND);
        assert_eq!(beat.beat(start + 11 * SECOND), Beat::Nothing);
        assert_eq!(beat.beat(start + 12 * SECOND), Beat::Lost);
        let mut beat = Heartbeat::new(2 * SECOND, start);
        assert_eq!(beat.beat(start + 2 * SECOND), Beat::Ping(1));
        beat.heard(start + 3 * SECOND);
        assert_eq!(
            beat.beat(start + 20 * SECOND),
            Beat::Nothing,
            "slow pong, live server"
        );
        assert_eq!(beat.patience(), 10 * SECOND);
    }
}
