//! What the hub keeps per user and per room.

use std::collections::HashMap;
use std::sync::Arc;

use crate::delivery::Outbox;
use crate::protocol::{RoomName, Username};

/// A logged-in user: where their lines go (and, through the outbox, their
/// socket, so the server can hang up on them), and the rooms they joined.
pub(super) struct Member {
    pub outbox: Arc<Outbox>,
    /// The lobby not among them: everybody is in it.
    pub rooms: Vec<RoomName>,
}

impl Member {
    pub fn new(outbox: &Arc<Outbox>) -> Member {
        Member {
            outbox: Arc::clone(outbox),
            rooms: Vec::new(),
        }
    }
}

/// A room with members. A room exists while it has members; its history
/// outlives it.
pub(super) struct Room {
    /// As first spelled.
    pub name: RoomName,
    pub members: HashMap<Username, Arc<Outbox>>,
}

impl Room {
    pub fn new(name: RoomName) -> Room {
        Room {
            name,
            members: HashMap::new(),
        }
    }

    pub fn has(&self, name: &Username) -> bool {
        self.members.contains_key(name)
    }
}
