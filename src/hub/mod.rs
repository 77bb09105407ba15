//! The hub: the logged-in users, their rooms and the rooms' history, and the
//! registered names, behind one lock shared by every connection, and every
//! operation on them.
//!
//! Three rules make this safe and fair:
//! - **Nothing under the lock blocks on a client.** Delivering a line only
//!   appends it to the recipient's [`Outbox`] (a bounded in-memory backlog);
//!   the socket writes happen after the lock is released, by the caller's
//!   [`Claims`], and never wait. One user who stops reading can therefore
//!   never stall a room. The one system call made under the lock is the
//!   history log's `write` (see [`crate::store`]): a message is on its way to
//!   disk before anybody can receive it. Account changes write and fsync
//!   their file under a lock of their own, never this one (see [`accounts`]).
//! - **One order per room.** A room's message is numbered, written to the log
//!   and enqueued to every member in one critical section, so every member
//!   receives a room's messages, joins and parts in the same order, and a
//!   history block (`HISTORY`, the replay after `JOIN`) is one append that no
//!   live line can interrupt.
//! - **Departures are announced once.** A push that overflows a recipient's
//!   backlog removes that recipient right there, from the lobby and every room,
//!   and tells everybody else it left (`INFO <name> disconnected`, no `PART`
//!   lines); the notice is itself a broadcast, so the ordering rule holds.
//!
//! A panic while the lock is held (there should be none) must not take the
//! whole server down with it, so a poisoned lock is recovered, not unwrapped.
//!
//! With `--redis` the hub is one node of a cluster ([`cluster`]): each
//! operation below checks its session, then hands the change to the
//! cluster (outside the lock), and the cluster's order comes back through
//! [`cluster`]'s delivery methods.

mod accounts;
mod cluster;
mod rooms;

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::delivery::{Claims, Gate, Outbox};
use crate::protocol::{ErrorCode, RoomName, ServerLine, Username};
use crate::store::{self, AccountLog, Accounts, History};
use crate::support::{sync, time};
use rooms::{Member, Room};

pub use accounts::{AccountError, Change};
pub use cluster::Cluster;

/// How many rooms there may be, and what a joiner is shown.
#[derive(Debug, Clone, Copy)]
pub struct RoomLimits {
    /// Rooms one user may be in at once, the lobby not counted.
    pub max_rooms_per_user: usize,
    /// Rooms with members on the server, the lobby not counted.
    pub max_rooms: usize,
    /// How many of a room's last messages a joiner is shown (0: no block).
    pub replay: usize,
}

/// What became of the history log, for the caller to log once the lock is
/// released: a failing disk is logged once per burst, not once per line.
#[derive(Debug)]
pub enum StorageNews {
    /// The first write that failed after a good one.
    Failed(io::Error),
    /// A write worked again after a failure.
    Recovered,
}

/// A logged-in session as the hub knows it: its name, and the outbox that
/// proves the name is still this session's. A session dropped as too slow
/// may still have a line in hand when its name is freed and taken by
/// somebody else: checked under the lock, that line is refused, never said
/// in the new holder's name.
#[derive(Clone, Copy)]
pub struct Me<'a> {
    pub name: &'a Username,
    pub outbox: &'a Arc<Outbox>,
}

/// The shared state of the chat. Cloning it is cheap and shares it.
#[derive(Clone)]
pub struct Hub {
    state: Arc<Mutex<State>>,
    /// Taken to change an account, before `state` and never while holding it.
    account_log: Arc<Mutex<AccountLog>>,
    limits: RoomLimits,
    /// Whether `state.cluster` is set, read without the lock.
    clustered: Arc<AtomicBool>,
}

struct State {
    users: HashMap<Username, Member>,
    /// The rooms with members, the lobby not among them: every user is in it.
    rooms: HashMap<RoomName, Room>,
    history: History,
    /// Whether the last history write failed.
    storage_failing: bool,
    accounts: Accounts,
    /// Names whose registration is being written: reserved already.
    registering: HashSet<Username>,
    /// The cluster this hub is a node of, if any (`--redis`).
    cluster: Option<Arc<dyn Cluster>>,
}

impl Hub {
    pub fn new(
        history: History,
        account_log: AccountLog,
        accounts: Accounts,
        limits: RoomLimits,
    ) -> Hub {
        Hub {
            state: Arc::new(Mutex::new(State {
                users: HashMap::new(),
                rooms: HashMap::new(),
                history,
                storage_failing: false,
                accounts,
                registering: HashSet::new(),
                cluster: None,
            })),
            account_log: Arc::new(Mutex::new(account_log)),
            limits,
            clustered: Arc::new(AtomicBool::new(false)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state consistent at each step.
        sync::lock(&self.state)
    }

    /// Logs `name` in (`LOGIN`): queues `OK` to the new user and `INFO <name>
    /// connected` to everybody else, or refuses with `ERR name-reserved` (a
    /// registered name: `AUTH` takes it) or `ERR username-taken`.
    pub fn login(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        claims: &Claims,
    ) -> Result<(), ErrorCode> {
        let notice = connected_notice(name);
        let mut state = self.lock();
        if state.is_reserved(name) {
            return Err(ErrorCode::NameReserved);
        }
        if state.users.contains_key(name) {
            return Err(ErrorCode::UsernameTaken);
        }
        if let Some(cluster) = state.cluster() {
            drop(state);
            return cluster.login(name, outbox);
        }
        state.admit(name, outbox, &notice, claims);
        Ok(())
    }

    /// Says `text` in `room` (the lobby when `None`): numbers it, writes it to
    /// the history log, and sends it to every member, the sender included.
    pub fn say(
        &self,
        me: Me<'_>,
        room: Option<&RoomName>,
        text: &str,
        claims: &Claims,
    ) -> (Result<(), ErrorCode>, Option<StorageNews>) {
        let from = me.name;
        let room = room.filter(|room| !room.is_lobby());
        let mut state = self.lock();
        if !state.holds(me) {
            return (Err(ErrorCode::NotLoggedIn), None);
        }
        if let Some(cluster) = state.cluster() {
            drop(state);
            return (cluster.say(me, room, text), None);
        }
        let display = match room {
            None => RoomName::lobby(),
            Some(room) => match state.rooms.get(room) {
                Some(live) if live.has(from) => live.name.clone(),
                _ => return (Err(ErrorCode::NotInRoom), None),
            },
        };
        let written = state
            .history
            .append(
                &display.folded(),
                display.as_str(),
                from.as_str(),
                text,
                time::now_ms(),
            )
            .map(|_| ());
        let news = state.storage_news(written.as_ref().err());
        if written.is_err() {
            return (Err(ErrorCode::StorageFailed), news);
        }
        match room {
            None => {
                let line = ServerLine::Msg(from.as_str(), text).to_bytes();
                state.broadcast_lobby(&line, claims);
            }
            Some(room) => {
                let line = ServerLine::RoomMsg(display.as_str(), from.as_str(), text).to_bytes();
                state.broadcast_room(room, &line, claims);
            }
        }
        (Ok(()), news)
    }

    /// Sends `DM <from> <text>` to `to` alone (matched case-insensitively).
    pub fn direct_message(
        &self,
        me: Me<'_>,
        to: &str,
        text: &str,
        claims: &Claims,
    ) -> Result<(), ErrorCode> {
        let to = Username::parse(to).map_err(|_| ErrorCode::UserNotFound)?;
        let message = ServerLine::Dm(me.name.as_str(), text).to_bytes();
        let mut state = self.lock();
        if !state.holds(me) {
            return Err(ErrorCode::NotLoggedIn);
        }
        if let Some(cluster) = state.cluster() {
            drop(state);
            return cluster.direct_message(me, &to, text);
        }
        let recipient = state.users.get(&to).ok_or(ErrorCode::UserNotFound)?;
        if claims.push(&recipient.outbox, &message).is_err() {
            state.drop_users(vec![to], claims);
        }
        Ok(())
    }

    /// The `WHO` answer for the lobby (`None`) or a room: one `USER <name>`
    /// line per member (see [`Hub::members`]), as one block of bytes.
    pub fn who(&self, room: Option<&RoomName>) -> Result<Vec<u8>, ErrorCode> {
        let (_, names) = self.members(room)?;
        let mut out = Vec::with_capacity(names.len() * 16);
        for name in &names {
            ServerLine::User(name.as_str()).encode(&mut out);
        }
        Ok(out)
    }

    /// The members of the lobby (`None`) or a room, sorted by name the way
    /// people read (case-insensitively), and the room as it is shown;
    /// `ERR no-such-room` for a room nobody is in.
    pub fn members(&self, room: Option<&RoomName>) -> Result<(RoomName, Vec<Username>), ErrorCode> {
        let (display, mut names) = {
            let state = self.lock();
            if let Some(cluster) = state.cluster() {
                drop(state);
                let display = room.cloned().unwrap_or_else(RoomName::lobby);
                let names = cluster.who(room)?;
                if names.is_empty() && !display.is_lobby() {
                    return Err(ErrorCode::NoSuchRoom);
                }
                (display, names)
            } else {
                match room.filter(|room| !room.is_lobby()) {
                    None => (RoomName::lobby(), state.users.keys().cloned().collect()),
                    Some(room) => {
                        let live = state.rooms.get(room).ok_or(ErrorCode::NoSuchRoom)?;
                        let names: Vec<Username> = live.members.keys().cloned().collect();
                        (live.name.clone(), names)
                    }
                }
            }
        };
        names.sort_by_cached_key(Username::folded);
        Ok((display, names))
    }

    /// A logged-in user as registered, and the rooms they are in as shown
    /// (the lobby not among them); `None` for nobody by that name.
    pub fn user(&self, name: &str) -> Option<(Username, Vec<RoomName>)> {
        let name = Username::parse(name).ok()?;
        let state = self.lock();
        let (name, member) = state.users.get_key_value(&name)?;
        let rooms = member
            .rooms
            .iter()
            .filter_map(|room| state.rooms.get(room).map(|live| live.name.clone()))
            .collect();
        Some((name.clone(), rooms))
    }

    /// Puts `name` in `room`: every member (the joiner included) gets
    /// `JOIN <room> <name>`, then the joiner gets the room's last messages.
    pub fn join(&self, me: Me<'_>, room: &RoomName, claims: &Claims) -> Result<(), ErrorCode> {
        let name = me.name;
        if room.is_lobby() {
            return Err(ErrorCode::AlreadyInRoom);
        }
        let mut state = self.lock();
        if !state.holds(me) {
            return Err(ErrorCode::NotLoggedIn);
        }
        if let Some(cluster) = state.cluster() {
            drop(state);
            return cluster.join(me, room);
        }
        let state = &mut *state;
        let member = state.users.get_mut(name).ok_or(ErrorCode::NotLoggedIn)?;
        if member.rooms.contains(room) {
            return Err(ErrorCode::AlreadyInRoom);
        }
        if member.rooms.len() >= self.limits.max_rooms_per_user
            || (!state.rooms.contains_key(room) && state.rooms.len() >= self.limits.max_rooms)
        {
            return Err(ErrorCode::TooManyRooms);
        }
        member.rooms.push(room.clone());
        let outbox = Arc::clone(&member.outbox);
        let history = &state.history;
        let live = state.rooms.entry(room.clone()).or_insert_with(|| {
            // A room shows as it was first spelled, also when it comes back.
            let first_spelling = history
                .display_name(&room.folded())
                .and_then(|name| RoomName::parse(name).ok());
            Room::new(first_spelling.unwrap_or_else(|| room.clone()))
        });
        live.members.insert(name.clone(), Arc::clone(&outbox));
        let display = live.name.clone();
        let line = ServerLine::Join(display.as_str(), name.as_str()).to_bytes();
        let mut block = Vec::new();
        if self.limits.replay > 0 {
            history_block(&state.history, &display, self.limits.replay, &mut block);
        }
        state.broadcast_room(room, &line, claims);
        // Under the same lock: no line of the room can come between.
        if !block.is_empty() && claims.push(&outbox, &block).is_err() {
            state.drop_users(vec![name.clone()], claims);
        }
        Ok(())
    }

    /// Takes `name` out of `room`: `PART <room> <name>` to every member, the
    /// leaver included.
    pub fn part(&self, me: Me<'_>, room: &RoomName, claims: &Claims) -> Result<(), ErrorCode> {
        let name = me.name;
        if room.is_lobby() {
            return Err(ErrorCode::CannotLeaveLobby);
        }
        let mut state = self.lock();
        if !state.holds(me) {
            return Err(ErrorCode::NotLoggedIn);
        }
        if let Some(cluster) = state.cluster() {
            drop(state);
            return cluster.part(me, room);
        }
        let member = state.users.get_mut(name).ok_or(ErrorCode::NotLoggedIn)?;
        let Some(at) = member.rooms.iter().position(|joined| joined == room) else {
            return Err(ErrorCode::NotInRoom);
        };
        member.rooms.swap_remove(at);
        let Some(display) = state.rooms.get(room).map(|live| live.name.clone()) else {
            return Err(ErrorCode::NotInRoom);
        };
        // The leaver is still a member here, so it hears its own PART.
        let line = ServerLine::Part(display.as_str(), name.as_str()).to_bytes();
        state.broadcast_room(room, &line, claims);
        state.remove_from_room(name, room);
        Ok(())
    }

    /// The `ROOMS` answer: `ROOM <room> <members>` for each of
    /// [`Hub::room_list`].
    pub fn rooms(&self) -> Result<Vec<u8>, ErrorCode> {
        let rooms = self.room_list()?;
        let mut out = Vec::with_capacity(rooms.len() * 24);
        for (name, members) in &rooms {
            ServerLine::Room(name.as_str(), *members).encode(&mut out);
        }
        Ok(out)
    }

    /// The lobby and every room with members, with how many, sorted by name
    /// case-insensitively.
    pub fn room_list(&self) -> Result<Vec<(RoomName, usize)>, ErrorCode> {
        let mut rooms: Vec<(String, RoomName, usize)> =
            {
                let state = self.lock();
                if let Some(cluster) = state.cluster() {
                    drop(state);
                    cluster
                        .rooms()?
                        .into_iter()
                        .map(|(name, members)| (name.folded(), name, members))
                        .collect()
                } else {
                    let lobby = RoomName::lobby();
                    std::iter::once((lobby.folded(), lobby, state.users.len()))
                        .chain(state.rooms.values().map(|room| {
                            (room.name.folded(), room.name.clone(), room.members.len())
                        }))
                        .collect()
                }
            };
        rooms.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rooms
            .into_iter()
            .map(|(_, name, members)| (name, members))
            .collect())
    }

    /// Answers `HISTORY`: queues the room's (the lobby's when `None`) last
    /// `count` messages to `name` as one block, under the lock, like the
    /// replay after `JOIN`: a member then has every message up to the block's
    /// newest before it, and none after, so live lines and history merge by
    /// sequence number without a gap or a duplicate.
    pub fn history(
        &self,
        me: Me<'_>,
        room: Option<&RoomName>,
        count: usize,
        claims: &Claims,
    ) -> Result<(), ErrorCode> {
        let room = room.cloned().unwrap_or_else(RoomName::lobby);
        let mut out = Vec::new();
        let mut state = self.lock();
        if !state.holds(me) {
            return Err(ErrorCode::NotLoggedIn);
        }
        if let Some(cluster) = state.cluster() {
            drop(state);
            let (display, messages) = cluster.history(&room, count)?;
            history_lines(&display, messages.iter(), &mut out);
            // An overflow needs no answer: that client is being dropped already.
            let _ = claims.push(me.outbox, &out);
            return Ok(());
        }
        let display = match state.rooms.get(&room) {
            Some(live) => live.name.clone(),
            None => state
                .history
                .display_name(&room.folded())
                .and_then(|name| RoomName::parse(name).ok())
                .unwrap_or(room),
        };
        history_block(&state.history, &display, count, &mut out);
        if claims.push(me.outbox, &out).is_err() {
            state.drop_users(vec![me.name.clone()], claims);
        }
        Ok(())
    }

    /// Removes `name` if it is still this connection's (the name may have been
    /// freed and taken by somebody else meanwhile) and tells everybody else it
    /// left. Returns whether it was removed here.
    pub fn leave(&self, me: Me<'_>, claims: &Claims) -> bool {
        // Its last echoes first: they come before its farewell.
        self.catch_up(me);
        let mut state = self.lock();
        let ours = state.holds(me);
        if ours {
            state.drop_users(vec![me.name.clone()], claims);
        }
        if let Some(cluster) = state.cluster() {
            drop(state);
            cluster.settle();
        }
        ours
    }

    /// How many users are logged in, and how many rooms have members (the
    /// lobby not counted), for the metrics.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.users.len(), state.rooms.len())
    }

    /// Makes everything written to the history log durable now.
    pub fn sync_history(&self) -> io::Result<()> {
        self.lock().history.sync()
    }

    /// What outboxes wait on before sending: the history log's group commit
    /// (see [`store::Durable`]).
    pub fn durability_gate(&self) -> Arc<dyn Gate> {
        Arc::new(self.lock().history.durable())
    }
}

impl State {
    /// Whether `me`'s name is still its session's.
    fn holds(&self, me: Me<'_>) -> bool {
        self.users
            .get(me.name)
            .is_some_and(|member| Arc::ptr_eq(&member.outbox, me.outbox))
    }

    /// Queues `OK` to a new user and its `notice` ([`connected_notice`]) to
    /// everybody else, then makes it one of them.
    fn admit(&mut self, name: &Username, outbox: &Arc<Outbox>, notice: &[u8], claims: &Claims) {
        claims.push_line(outbox, ServerLine::Ok);
        // Everybody already here hears of the newcomer; then it is one of them.
        self.announce(notice, claims);
        self.users.insert(name.clone(), Member::new(outbox));
    }

    /// Whether `name` is registered, or its registration is being written:
    /// only `AUTH` may take it.
    fn is_reserved(&self, name: &Username) -> bool {
        self.accounts.is_registered(&name.folded()) || self.registering.contains(name)
    }

    /// Queues `bytes` to every user; drops whoever overflows.
    fn broadcast_lobby(&mut self, bytes: &[u8], claims: &Claims) {
        let overflowed = claims.push_all(self.everybody(), bytes, false);
        self.drop_users(overflowed, claims);
    }

    /// Queues `bytes` to every member of `room`; drops whoever overflows.
    fn broadcast_room(&mut self, room: &RoomName, bytes: &[u8], claims: &Claims) {
        let members = self
            .rooms
            .get(room)
            .into_iter()
            .flat_map(|room| &room.members);
        let overflowed = claims.push_all(members, bytes, false);
        self.drop_users(overflowed, claims);
    }

    /// Queues a notice of somebody coming to every user, to go out a little
    /// later with whatever joins it (see [`Claims::push_later`]): in a storm
    /// of logins these are most of the lines. Drops whoever overflows.
    fn announce(&mut self, notice: &[u8], claims: &Claims) {
        let overflowed = claims.push_all(self.everybody(), notice, true);
        self.drop_users(overflowed, claims);
    }

    /// Every user here, by name, with its outbox.
    fn everybody(&self) -> impl Iterator<Item = (&Username, &Arc<Outbox>)> {
        self.users
            .iter()
            .map(|(name, member)| (name, &member.outbox))
    }

    /// Takes `name` out of the members of `room`; a room left empty is gone
    /// (its history stays).
    fn remove_from_room(&mut self, name: &Username, room: &RoomName) {
        if let Some(live) = self.rooms.get_mut(room) {
            live.members.remove(name);
            if live.members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Removes the given users from the lobby and their rooms, and tells
    /// everybody else, once per user, that they left. A departure notice can
    /// overflow somebody else in turn; the work list handles that without
    /// recursion.
    fn drop_users(&mut self, mut leaving: Vec<Username>, claims: &Claims) {
        while let Some(name) = leaving.pop() {
            let Some((name, member)) = self.users.remove_entry(&name) else {
                continue;
            };
            // Harmless for a user leaving on its own: its session is the caller.
            member.outbox.stop_reading();
            for room in &member.rooms {
                self.remove_from_room(&name, room);
            }
            if let Some(cluster) = &self.cluster {
                // The cluster announces it, in its order, on every node.
                cluster.leave(&name, &member.outbox);
                continue;
            }
            // A notice that may wait, like a login's (see `announce`).
            let notice = ServerLine::Info(&format!("{name} disconnected")).to_bytes();
            for other in claims.push_all(self.everybody(), &notice, true) {
                if !leaving.contains(&other) {
                    leaving.push(other);
                }
            }
        }
    }

    /// What a history write's outcome means for the log (see [`StorageNews`]).
    fn storage_news(&mut self, failure: Option<&io::Error>) -> Option<StorageNews> {
        let was_failing = std::mem::replace(&mut self.storage_failing, failure.is_some());
        match (was_failing, failure) {
            (false, Some(err)) => Some(StorageNews::Failed(io::Error::new(
                err.kind(),
                err.to_string(),
            ))),
            (true, None) => Some(StorageNews::Recovered),
            _ => None,
        }
    }
}

impl Gate for store::Durable {
    fn wait(&self) {
        store::Durable::wait(self);
    }
}

/// `INFO <name> connected`, made before taking the lock.
fn connected_notice(name: &Username) -> Vec<u8> {
    ServerLine::Info(&format!("{name} connected")).to_bytes()
}

/// Appends the history block of `room`'s last `count` messages to `out`:
/// `HISTORY <room> <k>` and `k` lines `HIST …`, oldest first.
fn history_block(history: &History, room: &RoomName, count: usize, out: &mut Vec<u8>) {
    history_lines(room, history.recent(&room.folded(), count), out);
}

/// Appends a history block of `messages` (oldest first) to `out`.
fn history_lines<'m>(
    room: &RoomName,
    messages: impl Iterator<Item = &'m store::Message>,
    out: &mut Vec<u8>,
) {
    let messages: Vec<&store::Message> = messages.collect();
    ServerLine::History(room.as_str(), messages.len()).encode(out);
    for message in messages {
        ServerLine::Hist {
            room: room.as_str(),
            seq: message.seq,
            time: &time::rfc3339(message.time_ms),
            from: &message.from,
            text: &message.text,
        }
        .encode(out);
    }
}

#[cfg(test)]
mod tests;
