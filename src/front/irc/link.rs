//! What one IRC connection's reader side and its codec share: the codec
//! turns the server's lines into IRC for this client (on whichever thread
//! queues them), the reader side decides what the client's lines mean.
//!
//! Rules kept: the codec learns from the reader what the command in flight
//! is ([`Pending`]) and what to greet the client with; the reader learns from
//! the codec what the hub decided (the login's `OK`, the client's own `JOIN`s),
//! since those lines are the hub's answer. The lock is held only to copy or
//! swap a field; the registry's lock may be taken inside it, never the
//! other way round.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use super::translate::Pending;
use crate::protocol::{ErrorCode, Username};
use crate::support::sync;

/// Who the client is registering as, for the codec to put in the registry
/// when the hub says `OK`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub nick: Username,
    pub user: String,
    pub realname: String,
}

/// The shared state (see the module documentation).
#[derive(Debug, Default)]
pub struct State {
    /// Set before the login is tried.
    pub identity: Option<Identity>,
    /// The hub said `OK`: `identity` is the client's for good.
    pub registered: bool,
    /// What the hub refused the login with, for the reader to act on.
    pub refused: Option<ErrorCode>,
    /// What the codec sends in place of `OK` (001 … the auto-join).
    pub welcome: Vec<u8>,
    pub server_time: bool,
    /// What an `ERR` now answers.
    pub pending: Pending,
    /// Rooms the client joined (as shown) whose names list it still needs.
    pub joined: Vec<String>,
    /// Why the connection ends, for its last `ERROR` line.
    pub closing: Option<String>,
}

/// One connection's shared state.
#[derive(Debug)]
pub struct Link {
    /// Unique among the server's IRC connections: the registry's owner id.
    pub id: u64,
    pub peer: IpAddr,
    state: Mutex<State>,
}

impl Link {
    pub fn new(id: u64, peer: IpAddr) -> Link {
        Link {
            id,
            peer,
            state: Mutex::new(State::default()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }
}
