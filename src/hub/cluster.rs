//! The hub as one node of several (`--redis`): what it asks of the cluster
//! ([`Cluster`]), and what the cluster hands back in its one order, which
//! the hub delivers to this node's users.
//!
//! On one node, the hub's lock is the order: a command changes the state
//! and delivers in one critical section. In a cluster the order is the
//! cluster's (see `crate::backplane`): a command asks the cluster, outside
//! the lock, and the change reaches every node, this one included, as an
//! event applied here by the node's one reader, in order. The hub then only
//! keeps this node's users, their rooms, and their outboxes, and delivers.
//!
//! Rules kept:
//! - **No blocking call under the lock**: every [`Cluster`] method but
//!   [`Cluster::leave`] talks to Redis and is called with the lock released;
//!   `leave` only queues.
//! - **Departures are the cluster's to announce**: a user dropped here
//!   (too slow, gone) is taken out of the hub at once, and the one
//!   `INFO <name> disconnected` comes back from the cluster to everybody.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{connected_notice, history_lines, Change, Hub, Me, State};
use crate::delivery::{Claims, Farewell, Outbox};
use crate::protocol::{ErrorCode, RoomName, ServerLine, Username};
use crate::store::Message;

/// What the hub asks of the cluster. A method returns once the change is
/// in the cluster's order, or says why not: `ERR unavailable` when Redis is
/// away. What the change means for this node's users comes back in order;
/// [`Cluster::catch_up`] waits for it.
pub trait Cluster: Send + Sync {
    /// Claims `name` cluster-wide for the session with `outbox`; on `Ok` the
    /// session is in the hub and has its `OK`.
    fn login(&self, name: &Username, outbox: &Arc<Outbox>) -> Result<(), ErrorCode>;
    /// The password record of `name` if it is registered (accounts live in
    /// the cluster: one set for every node).
    fn password_record(&self, name: &Username) -> Result<Option<String>, ErrorCode>;
    /// As [`Cluster::login`], for `AUTH` after the caller verified the
    /// password against `record`: whoever holds the name, on any node, is
    /// closed with `BYE logged-in-elsewhere` and departs first. Refused with
    /// `ERR wrong-password` if the record changed meanwhile.
    fn take_over(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        record: &str,
    ) -> Result<(), ErrorCode>;
    /// Stores `record` (made by the caller) for `me`'s name: [`Change::Register`]
    /// only where there is none, [`Change::Password`] only where there is one.
    fn set_password(&self, me: Me<'_>, record: &str, change: Change) -> Result<(), ErrorCode>;
    /// Waits until what `me`'s earlier commands caused (its echo, its JOIN
    /// line and replay) is queued for it here: its next reply comes after.
    fn catch_up(&self, me: Me<'_>);
    fn say(&self, me: Me<'_>, room: Option<&RoomName>, text: &str) -> Result<(), ErrorCode>;
    fn direct_message(&self, me: Me<'_>, to: &Username, text: &str) -> Result<(), ErrorCode>;
    fn join(&self, me: Me<'_>, room: &RoomName) -> Result<(), ErrorCode>;
    fn part(&self, me: Me<'_>, room: &RoomName) -> Result<(), ErrorCode>;
    /// The session left the hub (it quit, or was dropped): its name is to be
    /// let go of cluster-wide. Called under the hub's lock: only queues.
    fn leave(&self, name: &Username, outbox: &Arc<Outbox>);
    /// Lets go of the names [`Cluster::leave`] queued, now (a leaving
    /// session's thread calls it, so its name is free when it says `BYE`).
    fn settle(&self);
    /// Everybody in the lobby (`None`) or a room, in no order.
    fn who(&self, room: Option<&RoomName>) -> Result<Vec<Username>, ErrorCode>;
    /// Every room with members and how many, the lobby first.
    fn rooms(&self) -> Result<Vec<(RoomName, usize)>, ErrorCode>;
    /// The room as spelled and its last `count` messages, oldest first.
    fn history(&self, room: &RoomName, count: usize)
        -> Result<(RoomName, Vec<Message>), ErrorCode>;
}

impl Hub {
    /// Makes this hub a node of `cluster` (`None`: on its own again, which
    /// also lets the cluster's handle on the hub go).
    pub fn set_cluster(&self, cluster: Option<Arc<dyn Cluster>>) {
        self.clustered.store(cluster.is_some(), Ordering::Release);
        self.lock().cluster = cluster;
    }

    /// Before a reply to `me`: on a node of a cluster, waits until what its
    /// earlier commands caused is queued for it (see [`Cluster::catch_up`]).
    pub fn catch_up(&self, me: Me<'_>) {
        // One atomic load on a server on its own.
        if !self.clustered.load(Ordering::Acquire) {
            return;
        }
        let cluster = self.lock().cluster();
        if let Some(cluster) = cluster {
            cluster.catch_up(me);
        }
    }

    /// A login of this node's has its place in the order: `OK` to the
    /// user, `INFO <name> connected` to every other user here, and from now
    /// on it is one of them.
    pub fn activate(&self, name: &Username, outbox: &Arc<Outbox>, claims: &Claims) {
        self.lock()
            .admit(name, outbox, &connected_notice(name), claims);
    }

    /// A line for every user of this node: a lobby message, somebody
    /// coming or going.
    pub fn to_lobby(&self, line: &[u8], claims: &Claims) {
        self.lock().broadcast_lobby(line, claims);
    }

    /// A line for every member of `room` on this node.
    pub fn to_room(&self, room: &RoomName, line: &[u8], claims: &Claims) {
        self.lock().broadcast_room(room, line, claims);
    }

    /// `name` (a session of this node's, on `outbox`) joins `room` (as
    /// spelled): every member here gets `JOIN`, the joiner included, then
    /// the joiner its replay block (`None`: none), with nothing between.
    pub fn joined(
        &self,
        room: &RoomName,
        name: &Username,
        outbox: &Arc<Outbox>,
        replay: Option<&[Message]>,
        claims: &Claims,
    ) {
        let line = ServerLine::Join(room.as_str(), name.as_str()).to_bytes();
        let mut state = self.lock();
        let me = Me { name, outbox };
        if !state.holds(me) {
            // Gone meanwhile: the others still see the join (its departure
            // follows in the order).
            state.broadcast_room(room, &line, claims);
            return;
        }
        if let Some(member) = state.users.get_mut(name) {
            if !member.rooms.contains(room) {
                member.rooms.push(room.clone());
            }
        }
        state
            .rooms
            .entry(room.clone())
            .or_insert_with(|| super::rooms::Room::new(room.clone()))
            .members
            .insert(name.clone(), Arc::clone(outbox));
        state.broadcast_room(room, &line, claims);
        if let Some(messages) = replay {
            let mut block = Vec::new();
            history_lines(room, messages.iter(), &mut block);
            if claims.push(outbox, &block).is_err() {
                state.drop_users(vec![name.clone()], claims);
            }
        }
    }

    /// `name` leaves `room`: `PART` to every member here, the leaver
    /// included; then, if the leaver is the session on `outbox` here, it is
    /// out of the room.
    pub fn parted(
        &self,
        room: &RoomName,
        name: &Username,
        outbox: Option<&Arc<Outbox>>,
        claims: &Claims,
    ) {
        let line = ServerLine::Part(room.as_str(), name.as_str()).to_bytes();
        let mut state = self.lock();
        state.broadcast_room(room, &line, claims);
        let Some(outbox) = outbox else { return };
        if state.holds(Me { name, outbox }) {
            if let Some(member) = state.users.get_mut(name) {
                member.rooms.retain(|joined| joined != room);
            }
            state.remove_from_room(name, room);
        }
    }

    /// A DM for `to`, if it is a user of this node.
    pub fn deliver_dm(&self, to: &Username, line: &[u8], claims: &Claims) {
        let mut state = self.lock();
        let overflowed = match state.users.get(to) {
            Some(member) => claims.push(&member.outbox, line).is_err(),
            None => false,
        };
        if overflowed {
            state.drop_users(vec![to.clone()], claims);
        }
    }

    /// Ends session `name` on `outbox` because the cluster no longer counts
    /// it (its node lost its lease and was reaped, or stepped down:
    /// `BYE unavailable`; its name was taken over: `BYE logged-in-elsewhere`):
    /// it is out of the hub, told `farewell`, and hung up on. Nobody here is
    /// told: the cluster announces the departure.
    pub fn drop_session(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        farewell: Farewell,
        claims: &Claims,
    ) {
        let mut state = self.lock();
        if state.holds(Me { name, outbox }) {
            if let Some(member) = state.users.remove(name) {
                for room in &member.rooms {
                    state.remove_from_room(name, room);
                }
            }
        }
        claims.close(outbox, farewell);
        outbox.stop_reading();
    }
}

impl State {
    /// The cluster, if this hub is a node of one.
    pub(super) fn cluster(&self) -> Option<Arc<dyn Cluster>> {
        self.cluster.clone()
    }
}
