//! The logged-in users: one `Arc<Mutex<HashMap<Username, Arc<Outbox>>>>` shared by
//! every connection, and every operation on it.
//!
//! Two rules make this safe and fair:
//! - **Nothing under the lock blocks.** Delivering a line only appends it to the
//!   recipient's [`Outbox`] (a bounded in-memory backlog); the socket writes
//!   happen after the lock is released, by the caller's [`Flushes`], and never
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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::flush::Flushes;
use crate::outbox::Outbox;
use crate::protocol::{ErrorCode, ServerLine, Username};

/// Each logged-in user's outbox: where their lines go, and (through it) their
/// socket, so the server can hang up on them.
type Users = HashMap<Username, Arc<Outbox>>;

/// The shared registry of logged-in users. Cloning it is cheap and shares it.
#[derive(Clone, Default)]
pub struct Registry {
    users: Arc<Mutex<Users>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn lock(&self) -> MutexGuard<'_, Users> {
        // Every operation leaves the map consistent at each step, so the data
        // behind a poisoned lock is still good.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `name`: queues `OK` to the new user and `INFO <name> connected`
    /// to everybody else, or refuses with `ERR username-taken`.
    pub fn login(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        flushes: &Flushes,
    ) -> Result<(), ErrorCode> {
        let notice = ServerLine::Info(&format!("{name} connected")).to_bytes();
        let mut users = self.lock();
        if users.contains_key(name) {
            return Err(ErrorCode::UsernameTaken);
        }
        outbox.push_line(ServerLine::Ok, flushes);
        // Everybody already here hears of the newcomer; then it is one of them.
        broadcast_locked(&mut users, &notice, flushes);
        users.insert(name.clone(), Arc::clone(outbox));
        Ok(())
    }

    /// Sends `MSG <from> <text>` to every logged-in user, the sender included.
    pub fn broadcast_msg(&self, from: &Username, text: &str, flushes: &Flushes) {
        let message = ServerLine::Msg(from.as_str(), text).to_bytes();
        broadcast_locked(&mut self.lock(), &message, flushes);
    }

    /// Sends `DM <from> <text>` to `to` alone (matched case-insensitively).
    pub fn direct_message(
        &self,
        from: &Username,
        to: &str,
        text: &str,
        flushes: &Flushes,
    ) -> Result<(), ErrorCode> {
        let to = Username::parse(to).map_err(|_| ErrorCode::UserNotFound)?;
        let message = ServerLine::Dm(from.as_str(), text).to_bytes();
        let mut users = self.lock();
        let recipient = users.get(&to).ok_or(ErrorCode::UserNotFound)?;
        if recipient.push(&message, flushes).is_err() {
            drop_members_locked(&mut users, vec![to], flushes);
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
    pub fn leave(&self, name: &Username, outbox: &Arc<Outbox>, flushes: &Flushes) -> bool {
        let mut users = self.lock();
        let ours = users
            .get(name)
            .is_some_and(|member| Arc::ptr_eq(member, outbox));
        if ours {
            drop_members_locked(&mut users, vec![name.clone()], flushes);
        }
        ours
    }

    /// How many users are logged in.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nobody is logged in.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Queues `bytes` to every user; drops whoever overflows.
fn broadcast_locked(users: &mut Users, bytes: &[u8], flushes: &Flushes) {
    let mut overflowed = Vec::new();
    for (name, outbox) in users.iter() {
        if outbox.push(bytes, flushes).is_err() {
            overflowed.push(name.clone());
        }
    }
    drop_members_locked(users, overflowed, flushes);
}

/// Removes the given users and tells everybody else, once per user, that they
/// left. A departure notice can overflow somebody else in turn; the work list
/// handles that without recursion.
fn drop_members_locked(users: &mut Users, mut leaving: Vec<Username>, flushes: &Flushes) {
    while let Some(name) = leaving.pop() {
        let Some((name, outbox)) = users.remove_entry(&name) else {
            continue;
        };
        // Harmless for a user leaving on its own: its session is the caller.
        outbox.stop_reading();
        let notice = ServerLine::Info(&format!("{name} disconnected")).to_bytes();
        for (other, outbox) in users.iter() {
            if outbox.push(&notice, flushes).is_err() && !leaving.contains(other) {
                leaving.push(other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::tests::outbox_and_peer;
    use crate::threads::ThreadBudget;
    use std::io::Read;
    use std::net::TcpStream;

    fn connected_member() -> (Arc<Outbox>, TcpStream) {
        outbox_and_peer(1 << 20, &ThreadBudget::new(4))
    }

    #[test]
    fn a_panic_while_holding_the_lock_does_not_take_the_registry_down() {
        let registry = Registry::new();
        let flushes = Flushes::new();
        let alice = Username::parse("alice").unwrap();
        let (member, mut alice_peer) = connected_member();
        registry.login(&alice, &member, &flushes).unwrap();
        let poisoner = registry.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = poisoner.users.lock().unwrap();
            panic!("a bug in some connection thread");
        })
        .join();
        assert!(panicked.is_err());
        assert!(registry.users.is_poisoned());
        // Everything still works for everybody else.
        let bob = Username::parse("bob").unwrap();
        let (bob_member, _bob_peer) = connected_member();
        registry.login(&bob, &bob_member, &flushes).unwrap();
        assert_eq!(&*registry.who(), b"USER alice\nUSER bob\n");
        registry.broadcast_msg(&bob, "still here", &flushes);
        assert_eq!(
            registry.direct_message(&bob, "ALICE", "hi", &flushes),
            Ok(())
        );
        assert!(registry.leave(&alice, &member, &flushes));
        assert_eq!(registry.len(), 1);
        // Nothing reached alice's socket before this thread flushed; then all of it, in order.
        alice_peer.set_nonblocking(true).unwrap();
        let early = alice_peer.read(&mut [0; 64]).unwrap_err();
        assert_eq!(early.kind(), std::io::ErrorKind::WouldBlock);
        alice_peer.set_nonblocking(false).unwrap();
        flushes.flush();
        let expected = "OK\nINFO bob connected\nMSG bob still here\nDM bob hi\n";
        let mut got = vec![0; expected.len()];
        alice_peer.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), expected);
    }
}
