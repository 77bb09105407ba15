//! The rooms the user is in, the one plain lines go to, and which history
//! lines they have already seen.
//!
//! The rule kept for history: a message is shown once. Every room message has
//! a sequence number, +1 per message in its room, but live lines do not carry
//! it; history lines (`HIST`) do. So the numbers of live lines are inferred:
//! once a history block has told the room's last number, each live message
//! that follows is the next one (the server delivers every message of a room
//! to every member, in order, and numbers only what it delivers). A block
//! that answers a request is a snapshot taken after every live line received
//! before it, so the live lines that arrived while it was awaited are its
//! last lines. After a reconnect the gap is fetched, and only what is newer
//! than the last number shown is shown; a server that lost its history (its
//! numbers went back) has everything shown, since none of it was seen.

use std::collections::HashMap;

use chat::protocol::LOBBY;

/// Where a room's numbering stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbering {
    /// No block yet on this connection; `unnumbered` live messages since.
    Unknown { unnumbered: usize },
    /// The last message received has this number.
    Known(u64),
    /// Reconnected: up to `shown` was seen before; `unnumbered` live since.
    Resync { shown: u64, unnumbered: usize },
    /// Reconnected without ever knowing a number: the gap cannot be told
    /// from what was seen, so none of it is shown (nothing twice).
    Blind,
}

/// The user's rooms, as the server spelled them. The lobby is always one.
#[derive(Debug, Default)]
pub struct Rooms {
    /// Joined rooms other than the lobby, in the order joined.
    joined: Vec<String>,
    /// Where plain lines go; `None` is the lobby.
    current: Option<String>,
    /// Keyed by the case-folded name.
    numbering: HashMap<String, Numbering>,
}

fn fold(room: &str) -> String {
    room.to_ascii_lowercase()
}

pub fn is_lobby(room: &str) -> bool {
    room.eq_ignore_ascii_case(LOBBY)
}

impl Rooms {
    /// Where plain lines go.
    pub fn current(&self) -> &str {
        self.current.as_deref().unwrap_or(LOBBY)
    }

    /// The joined rooms, the lobby first.
    pub fn all(&self) -> Vec<String> {
        std::iter::once(LOBBY.to_string())
            .chain(self.joined.iter().cloned())
            .collect()
    }

    /// The joined room spelled as the server does, if `room` is one.
    pub fn find(&self, room: &str) -> Option<String> {
        if is_lobby(room) {
            return Some(LOBBY.to_string());
        }
        self.joined
            .iter()
            .find(|joined| joined.eq_ignore_ascii_case(room))
            .cloned()
    }

    /// Plain lines go to `room` from now on; false if it is not joined.
    pub fn switch(&mut self, room: &str) -> bool {
        match self.find(room) {
            Some(found) => {
                self.current = (!is_lobby(&found)).then_some(found);
                true
            }
            None => false,
        }
    }

    /// The user joined `room` (the server's echo), which becomes current.
    pub fn joined(&mut self, room: &str) {
        if self.find(room).is_none() {
            self.joined.push(room.to_string());
        }
        self.switch(room);
    }

    /// The user left `room`; the lobby is current again if it was.
    pub fn parted(&mut self, room: &str) {
        self.joined
            .retain(|joined| !joined.eq_ignore_ascii_case(room));
        if self.current().eq_ignore_ascii_case(room) {
            self.current = None;
        }
        self.numbering.remove(&fold(room));
    }

    /// The rooms to join again after a reconnect.
    pub fn to_rejoin(&self) -> &[String] {
        &self.joined
    }

    /// A live message arrived in `room`.
    pub fn live(&mut self, room: &str) {
        let numbering = self
            .numbering
            .entry(fold(room))
            .or_insert(Numbering::Unknown { unnumbered: 0 });
        *numbering = match *numbering {
            Numbering::Known(n) => Numbering::Known(n.saturating_add(1)),
            Numbering::Unknown { unnumbered } => Numbering::Unknown {
                unnumbered: unnumbered.saturating_add(1),
            },
            Numbering::Resync { shown, unnumbered } => Numbering::Resync {
                shown,
                unnumbered: unnumbered.saturating_add(1),
            },
            Numbering::Blind => Numbering::Blind,
        };
    }

    /// A block the client asked for itself (after login or a reconnect, or
    /// the replay after a join) arrived for `room` with these sequence
    /// numbers, oldest first: which of its lines to show.
    pub fn block(&mut self, room: &str, seqs: &[u64]) -> Vec<bool> {
        let last = seqs.last().copied().unwrap_or(0);
        let state = self
            .numbering
            .get(&fold(room))
            .copied()
            .unwrap_or(Numbering::Unknown { unnumbered: 0 });
        let (seen_up_to, unnumbered) = match state {
            Numbering::Unknown { unnumbered } => (0, unnumbered),
            Numbering::Known(n) => (n, 0),
            // The numbers went back: the server lost its history, and all
            // of this is new.
            Numbering::Resync { shown, unnumbered } if last < shown => (0, unnumbered),
            Numbering::Resync { shown, unnumbered } => (shown, unnumbered),
            Numbering::Blind => (u64::MAX, 0),
        };
        let already_live = seqs.len() - unnumbered.min(seqs.len());
        let known = match state {
            Numbering::Known(n) => n.max(last),
            _ => last,
        };
        self.numbering.insert(fold(room), Numbering::Known(known));
        seqs.iter()
            .enumerate()
            .map(|(i, &seq)| seq > seen_up_to && i < already_live)
            .collect()
    }

    /// The connection was replaced: what was counted on the old one is what
    /// was shown, and the new one starts without numbers.
    pub fn reconnected(&mut self) {
        for numbering in self.numbering.values_mut() {
            *numbering = match *numbering {
                Numbering::Known(shown) | Numbering::Resync { shown, .. } => Numbering::Resync {
                    shown,
                    unnumbered: 0,
                },
                Numbering::Unknown { .. } | Numbering::Blind => Numbering::Blind,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_switching_and_parting() {
        let mut rooms = Rooms::default();
        assert_eq!(rooms.current(), "#lobby");
        rooms.joined("#Rust");
        assert_eq!(rooms.current(), "#Rust");
        rooms.joined("#go");
        assert_eq!(rooms.all(), ["#lobby", "#Rust", "#go"]);
        assert!(rooms.switch("#rust"));
        assert_eq!(rooms.current(), "#Rust");
        assert!(!rooms.switch("#nope"));
        assert!(rooms.switch("#LOBBY"));
        assert_eq!(rooms.current(), "#lobby");
        rooms.switch("#go");
        rooms.parted("#GO");
        assert_eq!(rooms.current(), "#lobby");
        assert_eq!(rooms.to_rejoin(), ["#Rust"]);
        assert_eq!(rooms.find("#rust").as_deref(), Some("#Rust"));
    }

    #[test]
    fn the_login_block_skips_what_arrived_live_while_it_was_awaited() {
        let mut rooms = Rooms::default();
        // Two live messages came between the login and the block's answer:
        // they are the block's last two.
        rooms.live(LOBBY);
        rooms.live(LOBBY);
        assert_eq!(
            rooms.block(LOBBY, &[7, 8, 9, 10]),
            [true, true, false, false]
        );
        // From here on live messages are numbered 11, 12...
        rooms.live(LOBBY);
        rooms.live(LOBBY);
        assert_eq!(rooms.block(LOBBY, &[11, 12]), [false, false]);
    }

    #[test]
    fn after_a_reconnect_only_the_gap_is_shown_once() {
        let mut rooms = Rooms::default();
        rooms.block(LOBBY, &[1, 2, 3]);
        rooms.live(LOBBY); // 4
        rooms.reconnected();
        // 5 and 6 were said while we were away, 7 arrived live before the block.
        rooms.live(LOBBY);
        assert_eq!(
            rooms.block(LOBBY, &[2, 3, 4, 5, 6, 7]),
            [false, false, false, true, true, false]
        );
        // A second block (the one after a rejoin, say) shows nothing again.
        assert_eq!(rooms.block(LOBBY, &[6, 7]), [false, false]);
    }

    #[test]
    fn a_server_that_lost_its_history_has_all_of_it_shown() {
        let mut rooms = Rooms::default();
        rooms.block("#rust", &[40, 41]);
        rooms.reconnected();
        assert_eq!(rooms.block("#rust", &[1, 2]), [true, true]);
        rooms.reconnected();
        assert_eq!(rooms.block("#rust", &[]), Vec::<bool>::new());
    }

    #[test]
    fn without_any_number_the_gap_is_not_guessed() {
        let mut rooms = Rooms::default();
        rooms.live("#quiet");
        rooms.reconnected();
        assert_eq!(rooms.block("#quiet", &[1, 2]), [false, false]);
        rooms.live("#quiet");
        assert_eq!(rooms.block("#quiet", &[3]), [false]);
        // A room newly joined shows its whole replay.
        assert_eq!(rooms.block("#new", &[5, 6]), [true, true]);
        // Parting forgets, so a later join replays again.
        rooms.parted("#new");
        assert_eq!(rooms.block("#new", &[5, 6]), [true, true]);
    }
}
