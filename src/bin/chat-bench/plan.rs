//! Who is where and who sends what: the rooms of a run, their members, and
//! its *streams* (one sender's messages to one room, numbered from 0), from
//! which every receiver can tell what it should have got.
//!
//! The lobby workloads have one room, the lobby, with everybody in it and the
//! first `senders` clients sending. The `rooms` workload spreads the clients
//! over `rooms` rooms of different sizes (in the proportions 1 : 2 : 3 : 4 : 5,
//! so 10 to 50 members for 1,000 clients in 100 rooms of 3 each), each client
//! in `per_client` of them, and the first `senders` members of every room send
//! in it.

use crate::dialect::{Dialect, LOBBY};

/// One sender's messages to one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    pub room: u32,
    /// The sending client (`b<index>`).
    pub sender: u32,
}

/// The rooms, members and streams of one run; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub dialect: Dialect,
    /// Whether the one room is the lobby (which the line protocol's clients
    /// are in without joining).
    pub lobby: bool,
    /// Clients of each room, in joining order.
    pub members: Vec<Vec<u32>>,
    /// Rooms of each client.
    pub rooms_of: Vec<Vec<u32>>,
    pub streams: Vec<Stream>,
    /// Indexes into `streams`, per room.
    room_streams: Vec<Vec<u32>>,
}

/// Room sizes step through these proportions.
const SIZE_WEIGHTS: [usize; 5] = [1, 2, 3, 4, 5];

impl Plan {
    /// Everybody in the lobby; the first `senders` clients send.
    pub fn lobby(dialect: Dialect, clients: usize, senders: usize) -> Plan {
        let everybody: Vec<u32> = (0..clients as u32).collect();
        let streams = (0..senders.min(clients) as u32)
            .map(|sender| Stream { room: 0, sender })
            .collect();
        Plan::new(dialect, true, vec![everybody], clients, streams)
    }

    /// `clients` in `rooms` rooms, `per_client` each, `senders` per room.
    pub fn rooms(
        dialect: Dialect,
        clients: usize,
        rooms: usize,
        per_client: usize,
        senders: usize,
    ) -> Plan {
        let rooms = rooms.max(1);
        let slots = clients * per_client;
        let weights: Vec<usize> = (0..rooms)
            .map(|r| SIZE_WEIGHTS[r % SIZE_WEIGHTS.len()])
            .collect();
        let total: usize = weights.iter().sum();
        let mut sizes: Vec<usize> = weights.iter().map(|w| slots * w / total).collect();
        // What rounding left over goes to the rooms one by one.
        let short = slots - sizes.iter().sum::<usize>();
        for size in sizes.iter_mut().take(short) {
            *size += 1;
        }
        // Slot `s` (counting through the rooms in order) is client `s % clients`:
        // every client gets `per_client` slots, `clients` apart, so in
        // different rooms unless a room is bigger than everybody.
        let mut members = Vec::with_capacity(rooms);
        let mut slot = 0;
        for size in sizes {
            let mut room: Vec<u32> = (slot..slot + size)
                .map(|s| (s % clients.max(1)) as u32)
                .collect();
            room.sort_unstable();
            room.dedup();
            members.push(room);
            slot += size;
        }
        let streams = members
            .iter()
            .enumerate()
            .flat_map(|(r, room)| {
                room.iter().take(senders).map(move |&sender| Stream {
                    room: r as u32,
                    sender,
                })
            })
            .collect();
        Plan::new(dialect, false, members, clients, streams)
    }

    fn new(
        dialect: Dialect,
        lobby: bool,
        members: Vec<Vec<u32>>,
        clients: usize,
        streams: Vec<Stream>,
    ) -> Plan {
        let mut rooms_of = vec![Vec::new(); clients];
        for (r, room) in members.iter().enumerate() {
            for &c in room {
                rooms_of[c as usize].push(r as u32);
            }
        }
        let mut room_streams = vec![Vec::new(); members.len()];
        for (i, stream) in streams.iter().enumerate() {
            room_streams[stream.room as usize].push(i as u32);
        }
        Plan {
            dialect,
            lobby,
            members,
            rooms_of,
            streams,
            room_streams,
        }
    }

    pub fn clients(&self) -> usize {
        self.rooms_of.len()
    }

    pub fn room_name(&self, room: u32) -> String {
        if self.lobby {
            LOBBY.to_string()
        } else {
            format!("#r{room}")
        }
    }

    /// The room `stream`'s messages are said in, as its sender names it
    /// (`None`: the line protocol's lobby, where `MSG` names no room).
    pub fn said_in(&self, stream: usize) -> Option<String> {
        let lobby = self.lobby && self.dialect == Dialect::Chat;
        (!lobby).then(|| self.room_name(self.streams[stream].room))
    }

    /// The room a server line names (`None`: the line protocol's lobby).
    pub fn room_index(&self, name: Option<&[u8]>) -> Option<u32> {
        match name {
            None => self.lobby.then_some(0),
            Some(name) if self.lobby => (name == LOBBY.as_bytes()).then_some(0),
            Some(name) => number(name.strip_prefix(b"#r")?)
                .filter(|&r| usize::try_from(r).is_ok_and(|r| r < self.members.len())),
        }
        .and_then(|r| u32::try_from(r).ok())
    }

    /// The stream of `sender`'s messages in `room`, if it is one.
    pub fn stream_of(&self, room: u32, sender: u32) -> Option<usize> {
        // In the lobby, stream `i` is client `i`'s.
        let direct = self.streams.get(sender as usize);
        if direct == Some(&Stream { room, sender }) {
            return Some(sender as usize);
        }
        self.room_streams
            .get(room as usize)?
            .iter()
            .map(|&s| s as usize)
            .find(|&s| self.streams[s].sender == sender)
    }

    /// What client `c` sends on connecting: its login, and (in the line
    /// protocol, which needs no wait for it) the joins of its rooms.
    pub fn login(&self, c: usize) -> Vec<u8> {
        let mut bytes = self.dialect.login(&name(c));
        if self.dialect == Dialect::Chat {
            bytes.extend(
                self.dialect
                    .join(self.rooms_to_join(c).iter().map(String::as_str)),
            );
        }
        bytes
    }

    /// The channels client `c` joins: its rooms, and in IRC the lobby too.
    pub fn rooms_to_join(&self, c: usize) -> Vec<String> {
        if self.lobby && self.dialect == Dialect::Chat {
            return Vec::new();
        }
        self.rooms_of[c]
            .iter()
            .map(|&r| self.room_name(r))
            .collect()
    }

    /// Whether client `c` should receive `stream`: a member of its room, and
    /// in IRC not its sender.
    pub fn expects(&self, c: usize, stream: usize) -> bool {
        let Stream { room, sender } = self.streams[stream];
        let echoed = self.dialect == Dialect::Chat || sender as usize != c;
        echoed && self.rooms_of[c].contains(&room)
    }

    /// Whether client `c`'s order of `room`'s messages is one to compare: in
    /// IRC the room's senders miss their own messages, so only the others'.
    pub fn witnesses(&self, c: usize, room: u32) -> bool {
        self.dialect == Dialect::Chat
            || self.room_streams[room as usize]
                .iter()
                .all(|&s| self.streams[s as usize].sender as usize != c)
    }

    /// Deliveries due when each stream sent `sent[stream]` messages.
    pub fn expected_deliveries(&self, sent: &[u64]) -> u64 {
        sent.iter()
            .enumerate()
            .map(|(stream, sent)| sent * self.recipients(stream))
            .sum()
    }

    /// How many clients get each message of `stream`.
    pub fn recipients(&self, stream: usize) -> u64 {
        let not_echoed = u64::from(self.dialect == Dialect::Irc);
        let members = self.members[self.streams[stream].room as usize].len() as u64;
        members.saturating_sub(not_echoed)
    }

    /// The clients that send, each with its streams, in client order.
    pub fn senders(&self) -> Vec<(usize, Vec<usize>)> {
        let mut senders: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut by_client: Vec<(usize, usize)> = self
            .streams
            .iter()
            .enumerate()
            .map(|(s, stream)| (stream.sender as usize, s))
            .collect();
        by_client.sort_unstable();
        for (client, stream) in by_client {
            match senders.last_mut() {
                Some((last, streams)) if *last == client => streams.push(stream),
                _ => senders.push((client, vec![stream])),
            }
        }
        senders
    }
}

/// Client `c`'s name.
pub fn name(c: usize) -> String {
    format!("b{c}")
}

/// A decimal number of at most 19 digits.
pub fn number(digits: &[u8]) -> Option<u64> {
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

    #[test]
    fn a_thousand_clients_in_a_hundred_rooms_of_ten_to_fifty() {
        let plan = Plan::rooms(Dialect::Chat, 1000, 100, 3, 2);
        let sizes: Vec<usize> = plan.members.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 3000);
        assert_eq!(
            (sizes.iter().min(), sizes.iter().max()),
            (Some(&10), Some(&50))
        );
        assert!(plan.rooms_of.iter().all(|rooms| rooms.len() == 3));
        assert_eq!(plan.streams.len(), 200);
        assert_eq!(plan.expected_deliveries(&[1; 200]), 2 * 3000);
        // A sender's messages reach its room's members, itself included.
        let first = plan.streams[0];
        assert_eq!(plan.stream_of(first.room, first.sender), Some(0));
        assert!(plan.expects(first.sender as usize, 0));
        let outsider = (0..1000)
            .find(|c| !plan.rooms_of[*c].contains(&first.room))
            .unwrap();
        assert!(!plan.expects(outsider, 0));
        assert_eq!(plan.room_index(Some(b"#r99")), Some(99));
        assert_eq!(plan.room_index(Some(b"#r100")), None);
        assert_eq!(plan.room_index(None), None);
        let login = String::from_utf8(plan.login(0)).unwrap();
        assert!(login.starts_with("LOGIN b0\nJOIN #r"), "{login}");
        assert_eq!(login.matches("JOIN").count(), 3);
        let senders = plan.senders();
        assert_eq!(senders.iter().map(|(_, s)| s.len()).sum::<usize>(), 200);
    }

    #[test]
    fn small_runs_still_give_everybody_distinct_rooms() {
        let plan = Plan::rooms(Dialect::Irc, 5, 4, 3, 1);
        for (c, rooms) in plan.rooms_of.iter().enumerate() {
            let mut distinct = rooms.clone();
            distinct.dedup();
            assert_eq!(&distinct, rooms, "client {c}");
        }
        assert_eq!(
            String::from_utf8(plan.login(0)).unwrap(),
            "NICK b0\r\nUSER b0 0 * :b0\r\n"
        );
    }

    #[test]
    fn the_lobby_in_both_dialects() {
        let chat = Plan::lobby(Dialect::Chat, 100, 10);
        assert_eq!(chat.expected_deliveries(&[2; 10]), 2000);
        assert_eq!(chat.login(3), b"LOGIN b3\n");
        assert_eq!(chat.room_index(None), Some(0));
        let irc = Plan::lobby(Dialect::Irc, 100, 10);
        assert_eq!(irc.expected_deliveries(&[2; 10]), 1980, "no echo");
        assert!(!irc.expects(3, 3) && irc.expects(3, 4));
        assert!(!irc.witnesses(3, 0) && irc.witnesses(10, 0));
        assert_eq!(irc.rooms_to_join(3), ["#lobby"]);
        assert_eq!(irc.room_index(Some(b"#lobby")), Some(0));
    }
}
