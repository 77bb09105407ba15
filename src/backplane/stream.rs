//! Redis stream entries as the cluster writes them, pure: entry ids, the
//! fields of an entry, and the events and DMs they carry.
//!
//! Everything read here comes from a peer: a field missing, a name that is
//! not a name, text with a line break in it, is refused (the entry is
//! skipped) or made safe (text is sanitized again), never a panic and never
//! a broken line for a client.

use std::fmt;

use super::resp::Value;
use crate::protocol::{self, RoomName, Username};
use crate::store::Message;

/// A stream entry's id, `<ms>-<seq>`: ordered, unique in its stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn parse(text: &str) -> Option<StreamId> {
        let (ms, seq) = text.split_once('-')?;
        let digits = |part: &str| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        Some(StreamId {
            ms: digits(ms)?,
            seq: digits(seq)?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry: its id and its field/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: StreamId,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// An entry as `XRANGE`/`XREAD` give it: `[id, [field, value, …]]`.
    pub fn from_value(value: &Value) -> Option<Entry> {
        let [id, fields] = value.elements()? else {
            return None;
        };
        let id = StreamId::parse(id.text()?)?;
        let fields = fields
            .elements()?
            .chunks(2)
            .filter_map(|pair| match pair {
                [name, value] => Some((name.bytes()?.to_vec(), value.bytes()?.to_vec())),
                _ => None,
            })
            .collect();
        Some(Entry { id, fields })
    }

    /// The value of a field, as UTF-8 text.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name.as_bytes())
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    fn name(&self, field: &str) -> Option<Username> {
        Username::parse(self.field(field)?).ok()
    }

    fn room(&self) -> Option<RoomName> {
        RoomName::parse(self.field("r")?).ok()
    }

    fn text(&self) -> Option<String> {
        Some(protocol::sanitize(self.field("x")?).into_owned())
    }

    fn sid(&self) -> Option<String> {
        self.field("s").map(str::to_owned)
    }
}

/// The entries of an `XREAD` reply, stream by stream: `[[key, [entry…]]…]`,
/// or nil when the block ran out. Entries that cannot be read are left out.
pub fn read_reply(reply: &Value) -> Option<Vec<(String, Vec<Entry>)>> {
    let mut streams = Vec::new();
    for stream in reply.elements()? {
        let [key, entries] = stream.elements()? else {
            return None;
        };
        let entries = entries
            .elements()?
            .iter()
            .filter_map(Entry::from_value)
            .collect();
        streams.push((key.text()?.to_owned(), entries));
    }
    Some(streams)
}

/// What happened in the cluster, as one entry of the events stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A login: the session `sid` holds `name` now.
    Connected { name: Username, sid: String },
    /// A departure (quit, dropped, its node died, or `taken_over` by an
    /// `AUTH` on some node): every room left too.
    Disconnected {
        name: Username,
        sid: String,
        taken_over: bool,
    },
    /// A message in a room (the lobby's spelled `#lobby`).
    Msg {
        room: RoomName,
        from: Username,
        text: String,
    },
    /// A join; the joiner's replay ends at `upto` (none: the room had no
    /// messages yet).
    Join {
        room: RoomName,
        name: Username,
        sid: String,
        upto: Option<StreamId>,
    },
    Part {
        room: RoomName,
        name: Username,
        sid: String,
    },
}

impl Event {
    /// The event in an entry of the events stream, and its number (`n`, one
    /// more than the event before); `None` for an entry that is not one.
    pub fn parse(entry: &Entry) -> Option<(u64, Event)> {
        let number = entry.field("n")?.parse().ok()?;
        let event = match entry.field("t")? {
            "c" => Event::Connected {
                name: entry.name("u")?,
                sid: entry.sid()?,
            },
            "d" => Event::Disconnected {
                name: entry.name("u")?,
                sid: entry.sid()?,
                taken_over: entry.field("w") == Some("k"),
            },
            "m" => Event::Msg {
                room: entry.room()?,
                from: entry.name("u")?,
                text: entry.text()?,
            },
            "j" => Event::Join {
                room: entry.room()?,
                name: entry.name("u")?,
                sid: entry.sid()?,
                upto: StreamId::parse(entry.field("h")?),
            },
            "p" => Event::Part {
                room: entry.room()?,
                name: entry.name("u")?,
                sid: entry.sid()?,
            },
            _ => return None,
        };
        Some((number, event))
    }
}

/// A DM for a user of this node, as its DM stream holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dm {
    pub to: Username,
    pub from: Username,
    pub text: String,
}

impl Dm {
    pub fn parse(entry: &Entry) -> Option<Dm> {
        Some(Dm {
            to: entry.name("t")?,
            from: entry.name("u")?,
            text: entry.text()?,
        })
    }
}

/// A message of a room's history stream: its seq, its sender and text; its
/// time is when Redis added it (the id's milliseconds).
pub fn history_message(entry: &Entry) -> Option<Message> {
    Some(Message {
        seq: entry.field("s")?.parse().ok()?,
        time_ms: entry.id.ms,
        from: entry.name("u")?.as_str().to_owned(),
        text: entry.text()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    fn entry_value(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    fn entry(id: &str, fields: &[&str]) -> Entry {
        Entry::from_value(&entry_value(id, fields)).unwrap()
    }

    #[test]
    fn stream_ids_parse_and_order() {
        let id = StreamId::parse("1700000000000-3").unwrap();
        assert_eq!((id.ms, id.seq), (1_700_000_000_000, 3));
        assert_eq!(id.to_string(), "1700000000000-3");
        assert!(StreamId::parse("5-0").unwrap() < StreamId::parse("5-1").unwrap());
        assert!(StreamId::parse("5-9").unwrap() < StreamId::parse("6-0").unwrap());
        assert_eq!(StreamId::parse("0-0"), Some(StreamId::default()));
        for bad in [
            "",
            "5",
            "-1",
            "5-",
            "a-1",
            "1-+2",
            "99999999999999999999-0",
            "1-2-3",
        ] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn events_of_every_kind() {
        let parse = |fields: &[&str]| Event::parse(&entry("1-0", fields));
        let alice = Username::parse("Alice").unwrap();
        assert_eq!(
            parse(&["n", "7", "t", "c", "u", "Alice", "s", "ab.1"]),
            Some((
                7,
                Event::Connected {
                    name: alice.clone(),
                    sid: "ab.1".into()
                }
            ))
        );
        assert!(matches!(
            parse(&["n", "8", "t", "d", "u", "Alice", "s", "ab.1"]),
            Some((
                8,
                Event::Disconnected {
                    taken_over: false,
                    ..
                }
            ))
        ));
        assert!(matches!(
            parse(&["n", "8", "t", "d", "u", "Alice", "s", "ab.1", "w", "k"]),
            Some((
                8,
                Event::Disconnected {
                    taken_over: true,
                    ..
                }
            ))
        ));
        assert_eq!(
            parse(&["n", "9", "t", "m", "r", "#Rust", "u", "Alice", "x", "hi there"]),
            Some((
                9,
                Event::Msg {
                    room: RoomName::parse("#rust").unwrap(),
                    from: alice.clone(),
                    text: "hi there".into()
                }
            ))
        );
        let Some((_, Event::Msg { room, .. })) =
            parse(&["n", "9", "t", "m", "r", "#Rust", "u", "Alice", "x", "x"])
        else {
            panic!()
        };
        assert_eq!(room.as_str(), "#Rust", "the spelling is kept");
        assert_eq!(
            parse(&["n", "10", "t", "j", "r", "#a", "u", "Alice", "s", "ab.1", "h", "5-1"]),
            Some((
                10,
                Event::Join {
                    room: RoomName::parse("#a").unwrap(),
                    name: alice.clone(),
                    sid: "ab.1".into(),
                    upto: StreamId::parse("5-1"),
                }
            ))
        );
        assert!(matches!(
            parse(&["n", "11", "t", "j", "r", "#a", "u", "Alice", "s", "ab.1", "h", ""]),
            Some((11, Event::Join { upto: None, .. }))
        ));
        assert!(matches!(
            parse(&["n", "12", "t", "p", "r", "#a", "u", "Alice", "s", "ab.1"]),
            Some((12, Event::Part { .. }))
        ));
    }

    #[test]
    fn entries_that_are_not_events_are_refused() {
        let parse = |fields: &[&str]| Event::parse(&entry("1-0", fields));
        for fields in [
            &["t", "c", "u", "Alice", "s", "ab.1"][..],
            &["n", "x", "t", "c", "u", "Alice", "s", "ab.1"],
            &["n", "1", "t", "?", "u", "Alice"],
            &["n", "1", "t", "c", "u", "not a name", "s", "ab.1"],
            &["n", "1", "t", "c", "u", "Alice"],
            &["n", "1", "t", "m", "r", "lobby", "u", "Alice", "x", "x"],
            &["n", "1", "t", "m", "r", "#a", "u", "Alice"],
            &["n", "1", "t", "j", "r", "#a", "u", "Alice", "s", "ab.1"],
            &["n", "1"],
            &[],
        ] {
            assert_eq!(parse(fields), None, "{fields:?}");
        }
        assert_eq!(Entry::from_value(&bulk("1-0")), None);
        assert_eq!(
            Entry::from_value(&Value::Array(vec![bulk("x"), Value::Nil])),
            None
        );
        // An odd field out is ignored, the rest is read.
        let odd = entry(
            "1-0",
            &["n", "1", "t", "c", "u", "bob", "s", "ab.2", "extra"],
        );
        assert!(Event::parse(&odd).is_some());
    }

    #[test]
    fn text_from_a_peer_cannot_break_a_line() {
        let event = Event::parse(&entry(
            "1-0",
            &[
                "n",
                "1",
                "t",
                "m",
                "r",
                "#a",
                "u",
                "bob",
                "x",
                "one\ntwo\r\u{202e}",
            ],
        ));
        let Some((_, Event::Msg { text, .. })) = event else {
            panic!("{event:?}")
        };
        assert!(!text.contains(['\n', '\r', '\u{202e}']), "{text:?}");
        let dm = Dm::parse(&entry("1-0", &["t", "alice", "u", "bob", "x", "a\nb"])).unwrap();
        assert_eq!(dm.to, Username::parse("ALICE").unwrap());
        assert!(!dm.text.contains('\n'));
    }

    #[test]
    fn xread_replies_and_history_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("chat:events"),
            Value::Array(vec![
                entry_value("5-0", &["n", "1"]),
                bulk("garbage"),
                entry_value("6-0", &["n", "2"]),
            ]),
        ])]);
        let streams = read_reply(&reply).unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].0, "chat:events");
        let ids: Vec<String> = streams[0].1.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["5-0", "6-0"]);
        assert_eq!(read_reply(&Value::Nil), Some(vec![]));
        assert_eq!(read_reply(&Value::Integer(1)), None);
        let message = history_message(&entry(
            "1700000000123-0",
            &["s", "42", "u", "bob", "x", "hi"],
        ))
        .unwrap();
        assert_eq!(
            message,
            Message {
                seq: 42,
                time_ms: 1_700_000_000_123,
                from: "bob".into(),
                text: "hi".into()
            }
        );
        assert_eq!(
            history_message(&entry("1-0", &["s", "x", "u", "bob", "x", "hi"])),
            None
        );
    }
}
