//! The hub: the logged-in users, one `Arc<Mutex<HashMap<Username, Arc<Outbox>>>>`
//! shared by every connection, and every operation on them.
//!
//! Two rules make this safe and fair:
//! - **Nothing under the lock blocks.** Delivering a line only appends it to the
//!   recipient's [`Outbox`] (a bounded in-memory backlog); the socket writes
//!   happen after the lock is released, by the caller's [`Claims`], and never
//!   wait. One user who stops reading can therefore never stall a broadcast.
//! - **One order for everybody.** Every broadcast is enqueued to all recipients
//!   while the lock is held, so all users receive broadcasts in the same order,
//!   and a joining user's `OK` comes before every broadcast it will see.
//!
//! A push that overflows a recipient's backlog removes that recipient right
//! there, in the same critical section, and tells everybody else it left; the
//! departure notice is itself a broadcast, so the ordering rule still holds.
//! A panic while the lock is held (there should be none) must not take the
//! whole server down with it, so a poisoned lock is recovered, not unwrapped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::delivery::{Claims, Outbox};
use crate::protocol::{ErrorCode, ServerLine, Username};
use crate::support::sync;

/// Each logged-in user's outbox: where their lines go, and (through it) their
/// socket, so the server can hang up on them.
type Users = HashMap<Username, Arc<Outbox>>;

/// The shared state of the chat: the logged-in users (later their rooms).
/// Cloning it is cheap and shares it.
#[derive(Clone, Default)]
pub struct Hub {
    users: Arc<Mutex<Users>>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    fn lock(&self) -> MutexGuard<'_, Users> {
        // Every operation leaves the map consistent at each step.
        sync::lock(&self.users)
    }

    /// Registers `name`: queues `OK` to the new user and `INFO <name> connected`
    /// to everybody else, or refuses with `ERR username-taken`.
    pub fn login(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        claims: &Claims,
    ) -> Result<(), ErrorCode> {
        let notice = ServerLine::Info(&format!("{name} connected")).to_bytes();
        let mut users = self.lock();
        if users.contains_key(name) {
            return Err(ErrorCode::UsernameTaken);
        }
        claims.push_line(outbox, ServerLine::Ok);
        // Everybody already here hears of the newcomer; then it is one of them.
        broadcast_locked(&mut users, &notice, claims);
        users.insert(name.clone(), Arc::clone(outbox));
        Ok(())
    }

    /// Sends `MSG <from> <text>` to every logged-in user, the sender included.
    pub fn broadcast_msg(&self, from: &Username, text: &str, claims: &Claims) {
        let message = ServerLine::Msg(from.as_str(), text).to_bytes();
        broadcast_locked(&mut self.lock(), &message, claims);
    }

    /// Sends `DM <from> <text>` to `to` alone (matched case-insensitively).
    pub fn direct_message(
        &self,
        from: &Username,
        to: &str,
        text: &str,
        claims: &Claims,
    ) -> Result<(), ErrorCode> {
        let to = Username::parse(to).map_err(|_| ErrorCode::UserNotFound)?;
        let message = ServerLine::Dm(from.as_str(), text).to_bytes();
        let mut users = self.lock();
        let recipient = users.get(&to).ok_or(ErrorCode::UserNotFound)?;
        if claims.push(recipient, &message).is_err() {
            drop_members_locked(&mut users, vec![to], claims);
        }
        Ok(())
    }

    /// The `WHO` answer: one `USER <name>` line per logged-in user, sorted by
    /// name the way people read (case-insensitively), as one block of bytes.
    pub fn who(&self) -> Vec<u8> {
        let mut names: Vec<Username> = self.lock().keys().cloned().collect();
        names.sort_by_cached_key(Username::folded);
        let mut out = Vec::with_capacity(names.len() * 16);
        for name in &names {
            ServerLine::User(name.as_str()).encode(&mut out);
        }
        out
    }

    /// Removes `name` if it is still this connection's (the name may have been
    /// freed and taken by somebody else meanwhile) and tells everybody else it
    /// left. Returns whether it was removed here.
    pub fn leave(&self, name: &Username, outbox: &Arc<Outbox>, claims: &Claims) -> bool {
        let mut users = self.lock();
        let ours = users
            .get(name)
            .is_some_and(|member| Arc::ptr_eq(member, outbox));
        if ours {
            drop_members_locked(&mut users, vec![name.clone()], claims);
        }
        ours
    }
}

/// Queues `bytes` to every user; drops whoever overflows.
fn broadcast_locked(users: &mut Users, bytes: &[u8], claims: &Claims) {
    let mut overflowed = Vec::new();
    for (name, outbox) in users.iter() {
        if claims.push(outbox, bytes).is_err() {
            overflowed.push(name.clone());
        }
    }
    drop_members_locked(users, overflowed, claims);
}

/// Removes the given users and tells everybody else, once per user, that they
/// left. A departure notice can overflow somebody else in turn; the work list
/// handles that without recursion.
fn drop_members_locked(users: &mut Users, mut leaving: Vec<Username>, claims: &Claims) {
    while let Some(name) = leaving.pop() {
        let Some((name, outbox)) = users.remove_entry(&name) else {
            continue;
        };
        // Harmless for a user leaving on its own: its session is the caller.
        outbox.stop_reading();
        let notice = ServerLine::Info(&format!("{name} disconnected")).to_bytes();
        for (other, outbox) in users.iter() {
            if claims.push(outbox, &notice).is_err() && !leaving.contains(other) {
                leaving.push(other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outbox_and_peer;
    use crate::support::threads::ThreadBudget;
    use std::io::Read;
    use std::net::TcpStream;

    fn connected_member() -> (Arc<Outbox>, TcpStream) {
        outbox_and_peer(1 << 20, &ThreadBudget::new(4))
    }

    #[test]
    fn a_panic_while_holding_the_lock_does_not_take_the_hub_down() {
        let hub = Hub::new();
        let claims = Claims::default();
        let alice = Username::parse("alice").unwrap();
        let (member, mut alice_peer) = connected_member();
        hub.login(&alice, &member, &claims).unwrap();
        let poisoner = hub.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = poisoner.users.lock().unwrap();
            panic!("a bug in some connection thread");
        })
        .join();
        assert!(panicked.is_err());
        assert!(hub.users.is_poisoned());
        // Everything still works for everybody else.
        let bob = Username::parse("bob").unwrap();
        let (bob_member, _bob_peer) = connected_member();
        hub.login(&bob, &bob_member, &claims).unwrap();
        assert_eq!(&*hub.who(), b"USER alice\nUSER bob\n");
        hub.broadcast_msg(&bob, "still here", &claims);
        assert_eq!(hub.direct_message(&bob, "ALICE", "hi", &claims), Ok(()));
        assert!(hub.leave(&alice, &member, &claims));
        assert_eq!(&*hub.who(), b"USER bob\n");
        // Nothing reached alice's socket before this thread flushed; then all of it, in order.
        alice_peer.set_nonblocking(true).unwrap();
        let early = alice_peer.read(&mut [0; 64]).unwrap_err();
        assert_eq!(early.kind(), std::io::ErrorKind::WouldBlock);
        alice_peer.set_nonblocking(false).unwrap();
        claims.flush();
        let expected = "OK\nINFO bob connected\nMSG bob still here\nDM bob hi\n";
        let mut got = vec![0; expected.len()];
        alice_peer.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), expected);
    }
}
