//! What one client received, line by line: a pure account of its login and
//! joins, join notices and benchmark messages (loss, duplicates, order per
//! room, latency) given the run's [`Plan`], and what it must answer (IRC's
//! `JOIN` after `001`, `PONG`); no I/O.

use std::sync::Arc;

use crate::dialect::{Dialect, Line};
use crate::irc;
use crate::plan::{self, Plan};

/// The client in `slow` that never reads; the others are `b<index>`.
pub const STALLED_NAME: &str = "stalled";

/// One line from the server, as far as the run's totals care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Logged in and in all its rooms: ready for the run.
    LoggedIn,
    Refused,
    /// `BYE` after `OK`: the server dropped one of our reading clients.
    Dropped,
    /// Somebody else's login announced in the lobby.
    Joined,
    StalledLeft,
    /// A benchmark message, `latency` microseconds after it was sent.
    Message {
        latency: u64,
    },
    Other,
}

/// What one client has received so far.
#[derive(Debug)]
pub struct Received {
    plan: Arc<Plan>,
    /// This client's index in the plan.
    me: usize,
    welcomed: bool,
    /// Whether the server said goodbye (or the connection ended).
    gone: bool,
    /// Own joins done (the line protocol: `JOIN <room> <me>`; IRC: `366`).
    joins_done: usize,
    ready: bool,
    /// Next expected sequence number, per stream of the plan.
    next_seq: Vec<u64>,
    pub msgs: u64,
    lost: u64,
    pub duplicates: u64,
    /// Per room of this client (as in `plan.rooms_of`), a running hash of
    /// (stream, seq) in arrival order.
    orders: Vec<u64>,
    /// Bytes to send back to the server (IRC: the `JOIN`, `PONG`s).
    pub answer: Vec<u8>,
}

impl Received {
    pub fn new(plan: &Arc<Plan>, me: usize) -> Received {
        Received {
            plan: Arc::clone(plan),
            me,
            welcomed: false,
            gone: false,
            joins_done: 0,
            ready: false,
            next_seq: vec![0; plan.streams.len()],
            msgs: 0,
            lost: 0,
            duplicates: 0,
            orders: vec![0; plan.rooms_of.get(me).map_or(0, Vec::len)],
            answer: Vec::new(),
        }
    }

    /// This client's index in the plan.
    pub fn client(&self) -> usize {
        self.me
    }

    /// Accounts for one line (without its `\n`) received `now_us` after the epoch.
    pub fn take_line(&mut self, line: &[u8], now_us: u64) -> Heard {
        let dialect = self.plan.dialect;
        match dialect.parse(line) {
            Line::Welcome => {
                self.welcomed = true;
                let rooms = self.plan.rooms_to_join(self.me);
                if dialect == Dialect::Irc {
                    self.answer
                        .extend(dialect.join(rooms.iter().map(String::as_str)));
                }
                self.check_ready()
            }
            Line::Bye => self.ended(),
            Line::Joined { room, nick } if self.is_me(nick) => match (dialect, room) {
                (Dialect::Chat, Some(_)) => {
                    self.joins_done += 1;
                    self.check_ready()
                }
                _ => Heard::Other,
            },
            Line::Joined { room, .. } => {
                let announced = match dialect {
                    Dialect::Chat => room.is_none() && self.welcomed,
                    Dialect::Irc => self.ready && self.plan.lobby,
                };
                if announced {
                    Heard::Joined
                } else {
                    Heard::Other
                }
            }
            Line::JoinDone { .. } if dialect == Dialect::Irc => {
                self.joins_done += 1;
                self.check_ready()
            }
            Line::Left { nick } if nick == STALLED_NAME.as_bytes() => Heard::StalledLeft,
            Line::Msg { room, from, text } => self.take_msg(room, from, text, now_us),
            Line::Ping { token } => {
                self.answer.extend(irc::pong(token));
                Heard::Other
            }
            _ => Heard::Other,
        }
    }

    /// The connection ended (the server closed it, with or without a last
    /// line first: a server that drops a client for its full send queue may
    /// have no room left to say so). Counted once.
    pub fn ended(&mut self) -> Heard {
        match std::mem::replace(&mut self.gone, true) {
            true => Heard::Other,
            false if !self.welcomed => Heard::Refused,
            false => Heard::Dropped,
        }
    }

    fn is_me(&self, nick: &[u8]) -> bool {
        nick.strip_prefix(b"b")
            .and_then(plan::number)
            .is_some_and(|n| n == self.me as u64)
    }

    /// `LoggedIn` the moment the client is welcomed and in all its rooms.
    fn check_ready(&mut self) -> Heard {
        let rooms = self.plan.rooms_to_join(self.me).len();
        if !self.ready && self.welcomed && self.joins_done >= rooms {
            self.ready = true;
            Heard::LoggedIn
        } else {
            Heard::Other
        }
    }

    /// `<seq>:<micros>:<padding>` from `from` in `room`.
    fn take_msg(&mut self, room: Option<&[u8]>, from: &[u8], text: &[u8], now_us: u64) -> Heard {
        let mut fields = text.splitn(3, |&b| b == b':');
        let (Some(seq), Some(sent_us)) = (
            fields.next().and_then(plan::number),
            fields.next().and_then(plan::number),
        ) else {
            return Heard::Other;
        };
        let Some((room, stream)) = self.plan.room_index(room).and_then(|room| {
            let sender = u32::try_from(plan::number(from.strip_prefix(b"b")?)?).ok()?;
            Some((room, self.plan.stream_of(room, sender)?))
        }) else {
            return Heard::Other;
        };
        // Not for this client (an IRC server echoing a line to its sender:
        // ngIRCd does once, as it drops another client): not counted.
        if !self.plan.expects(self.me, stream) {
            return Heard::Other;
        }
        self.msgs += 1;
        let expected = &mut self.next_seq[stream];
        if seq < *expected {
            self.duplicates += 1;
        } else {
            // Saturating: a garbled sequence number must not overflow the count.
            self.lost = self.lost.saturating_add(seq - *expected);
            *expected = seq + 1;
        }
        let mine = self.plan.rooms_of[self.me].iter().position(|&r| r == room);
        if let Some(order) = mine.and_then(|at| self.orders.get_mut(at)) {
            *order = order
                .wrapping_mul(0x100_0000_01b3)
                .wrapping_add(((stream as u64) << 40) ^ seq);
        }
        Heard::Message {
            latency: now_us.saturating_sub(sent_us),
        }
    }

    /// Messages lost so far, counting whatever is still missing given how
    /// many each stream sent.
    pub fn lost_given(&self, sent: &[u64]) -> u64 {
        sent.iter()
            .zip(&self.next_seq)
            .enumerate()
            .filter(|(stream, _)| self.plan.expects(self.me, *stream))
            .map(|(_, (sent, next))| sent.saturating_sub(*next))
            .fold(self.lost, u64::saturating_add)
    }

    /// The order in which this client got `room`'s messages, if it is in it
    /// and its order is one to compare ([`Plan::witnesses`]).
    pub fn order_in(&self, room: u32) -> Option<u64> {
        let at = self.plan.rooms_of[self.me]
            .iter()
            .position(|&r| r == room)?;
        self.plan.witnesses(self.me, room).then(|| self.orders[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lobby(senders: usize) -> Arc<Plan> {
        Arc::new(Plan::lobby(Dialect::Chat, 10, senders))
    }

    #[test]
    fn loss_duplicates_and_order() {
        let plan = lobby(2);
        let mut got = Received::new(&plan, 5);
        for (sender, seq) in [(0, 0), (1, 0), (0, 1), (0, 1), (0, 3), (1, 1)] {
            got.take_line(format!("MSG b{sender} {seq}:0:xx").as_bytes(), 5);
        }
        assert_eq!((got.msgs, got.duplicates, got.lost), (6, 1, 1));
        assert_eq!(
            got.lost_given(&[6, 2]),
            1 + 2,
            "seq 4 and 5 of b0 never came"
        );
        for _ in 0..2 {
            got.take_line(b"MSG b1 9999999999999999999:0:x", 5);
        }
        assert_eq!(got.lost_given(&[u64::MAX, u64::MAX]), u64::MAX, "saturates");

        let order = |pairs: &[(u8, u8)]| {
            let mut got = Received::new(&plan, 5);
            for (sender, seq) in pairs {
                got.take_line(format!("MSG b{sender} {seq}:0:x").as_bytes(), 0);
            }
            got.order_in(0)
        };
        assert_eq!(order(&[(0, 0), (1, 0)]), order(&[(0, 0), (1, 0)]));
        assert_ne!(order(&[(0, 0), (1, 0)]), order(&[(1, 0), (0, 0)]));
    }

    #[test]
    fn other_lines() {
        let mut refused = Received::new(&lobby(1), 3);
        assert_eq!(refused.take_line(b"BYE server-full", 0), Heard::Refused);
        let mut got = Received::new(&lobby(1), 3);
        assert_eq!(got.take_line(b"OK\r", 0), Heard::LoggedIn);
        assert_eq!(
            got.take_line(b"BYE too-slow", 0),
            Heard::Dropped,
            "after OK: not refused"
        );
        assert_eq!(got.ended(), Heard::Other, "counted once");
        assert_eq!(got.take_line(b"INFO b7 connected", 0), Heard::Joined);
        assert_eq!(
            got.take_line(b"INFO stalled disconnected", 0),
            Heard::StalledLeft
        );
        assert_eq!(got.take_line(b"INFO b7 disconnected", 0), Heard::Other);
        // Not ours, or garbled: ignored, never a panic.
        for line in [
            &b"MSG b9 1:2:x"[..],
            b"MSG b0 1:x",
            b"MSG b0 99999999999999999999:1:x",
            b"MSG bob hello",
            b"MSG #r1 b0 1:2:x",
            b"MSG b",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(got.take_line(line, 0), Heard::Other, "{line:?}");
        }
        assert_eq!(got.msgs, 0);
    }

    #[test]
    fn a_message_parses_back() {
        let mut out = Vec::new();
        Dialect::Chat.message(None, 42, 123_456, 64, &mut out);
        let mut got = Received::new(&lobby(3), 0);
        let line = [b"MSG b2 ", &out[4..63]].concat();
        assert_eq!(
            got.take_line(&line, 123_500),
            Heard::Message { latency: 44 }
        );
        assert_eq!(got.next_seq, [0, 0, 43]);
    }

    #[test]
    fn ready_once_in_every_room() {
        let plan = Arc::new(Plan::rooms(Dialect::Chat, 10, 4, 2, 1));
        let mut got = Received::new(&plan, 0);
        let rooms: Vec<String> = plan.rooms_to_join(0);
        assert_eq!(rooms.len(), 2);
        assert_eq!(got.take_line(b"OK", 0), Heard::Other);
        let join = |room: &str, who: &str| format!("JOIN {room} {who}").into_bytes();
        assert_eq!(got.take_line(&join(&rooms[0], "b3"), 0), Heard::Other);
        assert_eq!(got.take_line(&join(&rooms[0], "b0"), 0), Heard::Other);
        assert_eq!(got.take_line(b"INFO b4 connected", 0), Heard::Joined);
        assert_eq!(got.take_line(&join(&rooms[1], "b0"), 0), Heard::LoggedIn);

        // In IRC the JOIN is the reader's to send, after 001; 366 ends each join.
        let plan = Arc::new(Plan::lobby(Dialect::Irc, 10, 1));
        let mut got = Received::new(&plan, 4);
        assert_eq!(got.take_line(b":s 001 b4 :Welcome", 0), Heard::Other);
        assert_eq!(got.answer, b"JOIN #lobby\r\n");
        assert_eq!(got.take_line(b":b4!u@h JOIN :#lobby", 0), Heard::Other);
        assert_eq!(got.take_line(b":s 366 b4 #lobby :End", 0), Heard::LoggedIn);
        assert_eq!(got.take_line(b":b5!u@h JOIN :#lobby", 0), Heard::Joined);
        assert_eq!(
            got.take_line(b":b0!u@h PRIVMSG #lobby :0:10:xx", 15),
            Heard::Message { latency: 5 }
        );
        got.answer.clear();
        got.take_line(b"PING :s", 0);
        assert_eq!(got.answer, b"PONG :s\r\n");
        assert_eq!(got.lost_given(&[3]), 2);
    }
}
