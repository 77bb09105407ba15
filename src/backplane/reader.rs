//! The node's reader thread: `XREAD BLOCK` on the events stream and the
//! node's DM stream, and each entry applied to the hub in stream order.
//!
//! Rules kept:
//! - **In order, once.** The reader's place is the id of the last entry it
//!   applied, nothing else: after any failure (Redis away, a dropped
//!   connection, a replay that could not be read) it reads again from
//!   there, so nothing is skipped and nothing applied twice.
//! - **Never blocked by a client**: applying an entry only appends to
//!   outboxes (see [`crate::hub`]); a client that cannot keep up is dropped.
//!   Writing out what was appended is shared with the fan-out helpers.
//! - **Keeps trying**: with a backoff from 50 ms to 1 s, and it tells the
//!   pool that Redis is back once it is, so commands work again.

use std::thread;
use std::time::Duration;

use super::redis::{Client, Error};
use super::resp::Cmd;
use super::script;
use super::sessions::Departure;
use super::stream::{self, Dm, Entry, Event, StreamId};
use super::Backplane;
use crate::delivery::{Claims, Farewell};
use crate::protocol::{RoomName, ServerLine};
use crate::store::Message;

/// How long one `XREAD` blocks in Redis (and so how long stopping waits).
const BLOCK: Duration = Duration::from_millis(500);

/// Entries per `XREAD`, per stream.
const BATCH: usize = 1000;

const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Where the reader is in its two streams.
struct Place {
    events: StreamId,
    /// The number of the last event applied (0: none yet).
    number: u64,
    dms: StreamId,
}

/// Reads and applies until the node stops, from just after event `from`
/// (number `number`).
pub fn run(node: &Backplane, mut client: Client, from: StreamId, number: u64) {
    let mut place = Place {
        events: from,
        number,
        dms: StreamId::default(),
    };
    let events_key = "chat:events".to_string();
    let dm_key = format!("chat:dm:{}", node.token);
    let claims = Claims::shared_with(std::sync::Arc::clone(&node.helpers));
    let mut backoff = Duration::ZERO;
    while !node.stopping() {
        let read = Cmd::new("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&events_key)
            .arg(&dm_key)
            .arg(&place.events.to_string())
            .arg(&place.dms.to_string());
        let applied = client.call_blocking(&read, BLOCK).and_then(|reply| {
            if !backoff.is_zero() {
                // Back: renew the lease now, before it runs out.
                node.renew_now
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                node.departures.wake();
            }
            node.health.works();
            let streams = stream::read_reply(&reply).unwrap_or_default();
            let mut result = Ok(());
            for (key, entries) in streams {
                if key == events_key {
                    result = apply_events(node, &mut client, &entries, &mut place, &claims);
                } else if key == dm_key {
                    deliver_dms(node, &entries, &mut place, &claims);
                }
                if result.is_err() {
                    break;
                }
            }
            claims.flush();
            node.progress.advance(place.events);
            result
        });
        match applied {
            Ok(()) => backoff = Duration::ZERO,
            Err(err) => {
                node.health.failed(&err);
                client.disconnect();
                thread::sleep(backoff);
                backoff = (backoff * 2).clamp(Duration::from_millis(50), MAX_BACKOFF);
            }
        }
    }
}

/// Applies events in order; stops at the first that needs Redis and cannot
/// have it (it is read again next time).
fn apply_events(
    node: &Backplane,
    client: &mut Client,
    entries: &[Entry],
    place: &mut Place,
    claims: &Claims,
) -> Result<(), Error> {
    for entry in entries {
        match Event::parse(entry) {
            Some((number, event)) => {
                if place.number != 0 && number > place.number + 1 {
                    node.log.event(
                        None,
                        format_args!(
                            "cluster: {} events were trimmed from the stream before this node \
                             read them; it steps down (its users are disconnected)",
                            number - place.number - 1
                        ),
                    );
                    node.step_down(true, claims);
                }
                apply(node, client, event, claims)?;
                place.number = number;
            }
            None => node.log.event(
                None,
                format_args!(
                    "cluster: skipped event {} that this node cannot read",
                    entry.id
                ),
            ),
        }
        place.events = entry.id;
    }
    Ok(())
}

fn apply(
    node: &Backplane,
    client: &mut Client,
    event: Event,
    claims: &Claims,
) -> Result<(), Error> {
    let hub = &node.hub;
    match event {
        Event::Connected { name, sid } => {
            let activated = node.sessions.activate(&name, &sid, |outbox, replaced| {
                if let Some(old) = replaced {
                    // A session of ours the cluster no longer counted.
                    hub.drop_session(&name, old, Farewell::TakenOver, claims);
                }
                hub.activate(&name, outbox, claims);
            });
            if !activated {
                let notice = ServerLine::Info(&format!("{name} connected")).to_bytes();
                hub.to_lobby(&notice, claims);
                if node.is_mine(&sid) {
                    // A login whose session gave up waiting: let it go.
                    node.departures.push(Departure::Login(name, sid));
                }
            }
        }
        Event::Disconnected {
            name,
            sid,
            taken_over,
        } => {
            // One of ours the cluster let go of: its name was taken over by
            // an AUTH (on any node), or its node was declared dead.
            if let Some(outbox) = node.sessions.remove_sid(&name, &sid) {
                let farewell = match taken_over {
                    true => Farewell::TakenOver,
                    false => Farewell::Bye(Some("unavailable")),
                };
                hub.drop_session(&name, &outbox, farewell, claims);
            }
            let notice = ServerLine::Info(&format!("{name} disconnected")).to_bytes();
            hub.to_lobby(&notice, claims);
        }
        Event::Msg { room, from, text } => {
            if room.is_lobby() {
                hub.to_lobby(&ServerLine::Msg(from.as_str(), &text).to_bytes(), claims);
            } else {
                let line = ServerLine::RoomMsg(room.as_str(), from.as_str(), &text).to_bytes();
                hub.to_room(&room, &line, claims);
            }
        }
        Event::Join {
            room,
            name,
            sid,
            upto,
        } => match node.sessions.outbox(&name, &sid) {
            Some(outbox) => {
                let replay = node.limits.replay;
                let block = match upto {
                    _ if replay == 0 => None,
                    None => Some(Vec::new()),
                    Some(upto) => Some(replay_upto(client, &room, upto, replay)?),
                };
                hub.joined(&room, &name, &outbox, block.as_deref(), claims);
            }
            None => {
                let line = ServerLine::Join(room.as_str(), name.as_str()).to_bytes();
                hub.to_room(&room, &line, claims);
            }
        },
        Event::Part { room, name, sid } => {
            let outbox = node.sessions.outbox(&name, &sid);
            hub.parted(&room, &name, outbox.as_ref(), claims);
        }
    }
    Ok(())
}

/// The room's last `count` messages up to `upto`, oldest first.
fn replay_upto(
    client: &mut Client,
    room: &RoomName,
    upto: StreamId,
    count: usize,
) -> Result<Vec<Message>, Error> {
    let range = Cmd::new("XREVRANGE")
        .arg(&format!("chat:hist:{}", room.folded()))
        .arg(&upto.to_string())
        .arg("-")
        .arg("COUNT")
        .arg(count);
    let reply = client.call(&range)?;
    let mut messages: Vec<Message> = script::entries(&reply)
        .iter()
        .filter_map(stream::history_message)
        .collect();
    messages.reverse();
    Ok(messages)
}

fn deliver_dms(node: &Backplane, entries: &[Entry], place: &mut Place, claims: &Claims) {
    for entry in entries {
        if let Some(Dm { to, from, text }) = Dm::parse(entry) {
            let line = ServerLine::Dm(from.as_str(), &text).to_bytes();
            node.hub.deliver_dm(&to, &line, claims);
        }
        place.dms = entry.id;
    }
}

impl Backplane {
    /// Drops every session of this node (`BYE unavailable`): the cluster no
    /// longer counts them, or this node can no longer follow its order. With
    /// `release`, their names are let go of (they are still theirs).
    pub(super) fn step_down(&self, release: bool, claims: &Claims) {
        for (name, sid, outbox) in self.sessions.take_all() {
            let farewell = Farewell::Bye(Some("unavailable"));
            self.hub.drop_session(&name, &outbox, farewell, claims);
            if release {
                self.departures.push(Departure::Login(name, sid));
            }
        }
    }
}
