//! What one client received, line by line: a pure account of logins, join
//! notices and benchmark messages (loss, duplicates, order, latency), no I/O.

/// Client `i` logs in as `b<i>`; the one in `slow` that never reads as this.
pub const STALLED_NAME: &str = "stalled";
/// What the others hear when the server drops it.
const STALLED_LEFT: &[u8] = b"INFO stalled disconnected";

/// One line from the server, as far as the bench cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    LoggedIn,
    Refused,
    /// `BYE` after `OK`: the server dropped one of our reading clients.
    Dropped,
    Joined,
    StalledLeft,
    /// A benchmark message, `latency` microseconds after it was sent.
    Message {
        latency: u64,
    },
    Other,
}

/// What one client has received so far: a pure account of lines, no I/O.
#[derive(Debug, Default)]
pub struct Received {
    ok: bool,
    /// Next expected sequence number, per sender.
    next_seq: Vec<u64>,
    pub msgs: u64,
    lost: u64,
    pub duplicates: u64,
    /// A running hash of (sender, seq) in arrival order.
    pub order: u64,
}

impl Received {
    pub fn new(senders: usize) -> Received {
        Received {
            next_seq: vec![0; senders],
            ..Received::default()
        }
    }

    /// Accounts for one line (without its `\n`) received `now_us` after the epoch.
    pub fn take_line(&mut self, line: &[u8], now_us: u64) -> Heard {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"MSG b") {
            return self.take_msg(rest, now_us);
        }
        match line {
            b"OK" => {
                self.ok = true;
                Heard::LoggedIn
            }
            _ if line.starts_with(b"BYE") && !self.ok => Heard::Refused,
            _ if line.starts_with(b"BYE") => Heard::Dropped,
            _ if line.starts_with(b"INFO ") && line.ends_with(b" connected") => Heard::Joined,
            _ if line == STALLED_LEFT => Heard::StalledLeft,
            _ => Heard::Other,
        }
    }

    /// `<sender> <seq>:<micros>:<padding>` after `MSG b`.
    fn take_msg(&mut self, rest: &[u8], now_us: u64) -> Heard {
        let mut fields = rest.splitn(4, |&b| b == b' ' || b == b':');
        let (Some(sender), Some(seq), Some(sent_us)) = (
            fields.next().and_then(parse_number),
            fields.next().and_then(parse_number),
            fields.next().and_then(parse_number),
        ) else {
            return Heard::Other;
        };
        let Some(expected) = usize::try_from(sender)
            .ok()
            .and_then(|s| self.next_seq.get_mut(s))
        else {
            return Heard::Other;
        };
        self.msgs += 1;
        if seq < *expected {
            self.duplicates += 1;
        } else {
            // Saturating: a garbled sequence number must not overflow the count.
            self.lost = self.lost.saturating_add(seq - *expected);
            *expected = seq + 1;
        }
        self.order = self
            .order
            .wrapping_mul(0x100_0000_01b3)
            .wrapping_add((sender << 40) ^ seq);
        Heard::Message {
            latency: now_us.saturating_sub(sent_us),
        }
    }

    /// Messages lost so far, counting whatever is still missing given how
    /// many each sender sent.
    pub fn lost_given(&self, sent: &[u64]) -> u64 {
        sent.iter()
            .zip(&self.next_seq)
            .map(|(sent, next)| sent.saturating_sub(*next))
            .fold(self.lost, u64::saturating_add)
    }
}

/// A decimal number of at most 19 digits.
fn parse_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::senders::message;

    #[test]
    fn loss_duplicates_and_order() {
        let mut got = Received::new(2);
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
            let mut got = Received::new(2);
            for (sender, seq) in pairs {
                got.take_line(format!("MSG b{sender} {seq}:0:x").as_bytes(), 0);
            }
            got.order
        };
        assert_eq!(order(&[(0, 0), (1, 0)]), order(&[(0, 0), (1, 0)]));
        assert_ne!(order(&[(0, 0), (1, 0)]), order(&[(1, 0), (0, 0)]));
    }

    #[test]
    fn other_lines() {
        let mut got = Received::new(1);
        assert_eq!(got.take_line(b"BYE server-full", 0), Heard::Refused);
        assert_eq!(got.take_line(b"OK\r", 0), Heard::LoggedIn);
        assert_eq!(
            got.take_line(b"BYE too-slow", 0),
            Heard::Dropped,
            "after OK: not refused"
        );
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
            b"MSG b",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(got.take_line(line, 0), Heard::Other, "{line:?}");
        }
        assert_eq!(got.msgs, 0);
    }

    #[test]
    fn messages_have_the_requested_size_and_parse_back() {
        let mut out = Vec::new();
        message(42, 123_456, 64, &mut out);
        assert_eq!(out.len(), 64);
        assert!(out.starts_with(b"MSG 42:123456:x") && out.ends_with(b"x\n"));
        message(7, 1, 1, &mut out);
        assert_eq!(&out[64..], b"MSG 7:1:x\n", "never shorter than the header");

        let mut got = Received::new(3);
        let line = [b"MSG b2 ", &out[4..63]].concat();
        assert_eq!(
            got.take_line(&line, 123_500),
            Heard::Message { latency: 44 }
        );
        assert_eq!(got.next_seq, [0, 0, 43]);
    }
}
