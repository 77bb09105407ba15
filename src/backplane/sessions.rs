//! What a node knows of its own sessions in the cluster: each one's session
//! id, whether its login is in the cluster's order yet, the departures still
//! to announce, and how far the node has applied the order.
//!
//! Rules kept:
//! - **A session id names one login** (`<node token>.<number>`): the
//!   cluster's events say which login they concern, so an event of an
//!   earlier login of a name never touches the session that holds it now.
//! - **Lock order**: the session registry may be held while calling into the
//!   hub (activation, under one lock so a login cannot time out halfway);
//!   the hub calls [`Departures::push`] under its own lock, which takes only
//!   the departures' lock, a leaf. So no two threads ever wait on each other.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::stream::StreamId;
use crate::delivery::Outbox;
use crate::protocol::Username;
use crate::support::sync;

/// A login of this node's.
struct Local {
    sid: String,
    outbox: Arc<Outbox>,
    /// Its `connected` event has been applied: it is in the hub.
    active: bool,
    /// The last event its commands caused: its next reply waits for it.
    caused: StreamId,
}

impl Local {
    /// A login or takeover about to be asked of the cluster.
    fn waiting(sid: &str, outbox: &Arc<Outbox>) -> Local {
        Local {
            sid: sid.to_owned(),
            outbox: Arc::clone(outbox),
            active: false,
            caused: StreamId::default(),
        }
    }
}

/// This node's sessions with a name, by name.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<Username, Local>>,
    /// Takeovers (`AUTH`) waiting for their event, by name: one may wait
    /// while the name's old session here still holds it in `map`. Taken
    /// after `map`'s lock when both are, never before.
    incoming: Mutex<HashMap<Username, Local>>,
}

impl Sessions {
    /// Notes a login about to be asked of the cluster; `false` if the name
    /// is this node's already (logged in, or logging in).
    pub fn begin(&self, name: &Username, sid: &str, outbox: &Arc<Outbox>) -> bool {
        let mut map = sync::lock(&self.map);
        if map.contains_key(name) {
            return false;
        }
        map.insert(name.clone(), Local::waiting(sid, outbox));
        true
    }

    /// Notes a takeover (`AUTH`) about to be asked of the cluster; `false`
    /// if another one of the name is already waiting here.
    pub fn begin_takeover(&self, name: &Username, sid: &str, outbox: &Arc<Outbox>) -> bool {
        let mut incoming = sync::lock(&self.incoming);
        if incoming.contains_key(name) {
            return false;
        }
        incoming.insert(name.clone(), Local::waiting(sid, outbox));
        true
    }

    /// Applies the `connected` event of login `sid`: if it is still waiting,
    /// it is active now and `activate` runs (under this lock), given also
    /// the session of this node's that a takeover replaces, if one was still
    /// here. `false` for a login nobody waits for any more.
    pub fn activate(
        &self,
        name: &Username,
        sid: &str,
        activate: impl FnOnce(&Arc<Outbox>, Option<&Arc<Outbox>>),
    ) -> bool {
        let mut map = sync::lock(&self.map);
        if let Some(local) = map.get_mut(name) {
            if local.sid == sid && !local.active {
                local.active = true;
                activate(&local.outbox, None);
                return true;
            }
        }
        let mut incoming = sync::lock(&self.incoming);
        if incoming.get(name).is_none_or(|local| local.sid != sid) {
            return false;
        }
        let Some(mut local) = incoming.remove(name) else {
            return false;
        };
        drop(incoming);
        local.active = true;
        let outbox = Arc::clone(&local.outbox);
        let replaced = map.insert(name.clone(), local).map(|old| old.outbox);
        activate(&outbox, replaced.as_ref());
        true
    }

    /// Ends the login or takeover of `name` by `outbox` if it is still
    /// waiting for its event (it gave up); `None` if it became active
    /// meanwhile.
    pub fn give_up(&self, name: &Username, outbox: &Arc<Outbox>) -> Option<String> {
        let mut map = sync::lock(&self.map);
        match map.get(name) {
            Some(local) if Arc::ptr_eq(&local.outbox, outbox) && !local.active => {
                return map.remove(name).map(|local| local.sid);
            }
            _ => {}
        }
        let mut incoming = sync::lock(&self.incoming);
        match incoming.get(name) {
            Some(local) if Arc::ptr_eq(&local.outbox, outbox) => {
                incoming.remove(name).map(|local| local.sid)
            }
            _ => None,
        }
    }

    /// The session id of the active session `name` on `outbox`.
    pub fn sid(&self, name: &Username, outbox: &Arc<Outbox>) -> Option<String> {
        let map = sync::lock(&self.map);
        map.get(name)
            .filter(|local| local.active && Arc::ptr_eq(&local.outbox, outbox))
            .map(|local| local.sid.clone())
    }

    /// Notes that a command of session `name` on `outbox` caused event `id`.
    pub fn caused(&self, name: &Username, outbox: &Arc<Outbox>, id: StreamId) {
        let mut map = sync::lock(&self.map);
        if let Some(local) = map.get_mut(name) {
            if Arc::ptr_eq(&local.outbox, outbox) {
                local.caused = local.caused.max(id);
            }
        }
    }

    /// The last event the commands of session `name` on `outbox` caused.
    pub fn last_caused(&self, name: &Username, outbox: &Arc<Outbox>) -> Option<StreamId> {
        let map = sync::lock(&self.map);
        map.get(name)
            .filter(|local| Arc::ptr_eq(&local.outbox, outbox))
            .map(|local| local.caused)
    }

    /// The outbox of the active session `sid`, if it is this node's.
    pub fn outbox(&self, name: &Username, sid: &str) -> Option<Arc<Outbox>> {
        let map = sync::lock(&self.map);
        map.get(name)
            .filter(|local| local.active && local.sid == sid)
            .map(|local| Arc::clone(&local.outbox))
    }

    /// Forgets session `name` on `outbox` (it left); its session id.
    pub fn remove(&self, name: &Username, outbox: &Arc<Outbox>) -> Option<String> {
        let mut map = sync::lock(&self.map);
        match map.get(name) {
            Some(local) if Arc::ptr_eq(&local.outbox, outbox) => {
                map.remove(name).map(|local| local.sid)
            }
            _ => None,
        }
    }

    /// Forgets session `sid` of `name` (the cluster let it go); its outbox.
    pub fn remove_sid(&self, name: &Username, sid: &str) -> Option<Arc<Outbox>> {
        let mut map = sync::lock(&self.map);
        match map.get(name) {
            Some(local) if local.sid == sid => map.remove(name).map(|local| local.outbox),
            _ => None,
        }
    }

    /// Forgets every session (the node steps down): name, session id, outbox.
    pub fn take_all(&self) -> Vec<(Username, String, Arc<Outbox>)> {
        let mut map = sync::lock(&self.map);
        map.drain()
            .map(|(name, local)| (name, local.sid, local.outbox))
            .collect()
    }
}

/// Names to let go of in the cluster, in the order they left.
#[derive(Default)]
pub struct Departures {
    queue: Mutex<Vec<Departure>>,
    arrived: Condvar,
}

/// One name to let go of.
pub enum Departure {
    /// A session of this node that left or was dropped.
    Session(Username, Arc<Outbox>),
    /// A login whose session is gone, by its session id.
    Login(Username, String),
}

impl Departures {
    /// Queues a departure; never blocks on anything but the queue's lock.
    pub fn push(&self, departure: Departure) {
        sync::lock(&self.queue).push(departure);
        self.arrived.notify_all();
    }

    /// Everything queued, oldest first.
    pub fn take(&self) -> Vec<Departure> {
        std::mem::take(&mut *sync::lock(&self.queue))
    }

    /// Waits until something is queued or `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let queue = sync::lock(&self.queue);
        let _ = sync::wait_timeout_while(&self.arrived, queue, timeout, |queue| queue.is_empty());
    }

    /// Wakes [`Departures::wait`] (to stop, or to act at once).
    pub fn wake(&self) {
        self.arrived.notify_all();
    }
}

/// How far this node has applied the events stream.
#[derive(Default)]
pub struct Progress {
    applied: Mutex<StreamId>,
    advanced: Condvar,
}

impl Progress {
    pub fn advance(&self, id: StreamId) {
        let mut applied = sync::lock(&self.applied);
        if id > *applied {
            *applied = id;
            drop(applied);
            self.advanced.notify_all();
        }
    }

    /// Waits until event `id` has been applied here; `false` if it has not
    /// within `timeout`.
    pub fn wait_for(&self, id: StreamId, timeout: Duration) -> bool {
        let applied = sync::lock(&self.applied);
        let (applied, _) =
            sync::wait_timeout_while(&self.advanced, applied, timeout, |applied| *applied < id);
        *applied >= id
    }
}
