//! What the IRC front knows of its own users that the hub does not: the
//! `USER` line's user name and real name, the away message, and what the
//! user's current command says beyond the line protocol (a `NOTICE` rather
//! than a message, a part or quit reason).
//!
//! Rules kept: an entry exists from the moment the hub accepted the nick
//! (the codec adds it on `OK`, under the hub's lock, before anybody hears
//! of the newcomer) until its connection ends, and only that connection
//! changes or removes it (each entry names its owner). Users of the other
//! fronts have no entry: they show as `name!name@chat`. The lock here is
//! taken last, after the hub's and any outbox's, and nothing is called
//! while it is held.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::protocol::Username;
use crate::support::sync;

/// The host shown for IRC users, in place of their address.
pub const IRC_HOST: &str = "irc";
/// The host shown for users of the other fronts.
pub const OTHER_HOST: &str = "chat";

/// What a user's command in flight says beyond its line-protocol line. The
/// lines it causes are encoded (by every recipient's codec) on the user's own
/// thread while it is dispatched, so they all see it, and nothing else does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saying {
    /// The message is a `NOTICE`, and goes out to IRC users as one.
    pub notice: bool,
    /// The reason of a `PART` or `QUIT`.
    pub reason: Option<String>,
}

/// One IRC user.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The connection that owns the entry.
    pub owner: u64,
    /// From `USER`, checked: shown as `~user`.
    pub user: String,
    pub realname: String,
    pub away: Option<String>,
    pub saying: Saying,
}

/// How a user appears to IRC clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `nick!user@host`.
    pub mask: String,
    pub saying: Saying,
}

/// The IRC users, by nick.
#[derive(Debug, Default)]
pub struct Registry {
    users: Mutex<HashMap<Username, Entry>>,
}

impl Registry {
    /// Adds (or takes over, from a connection that has left the hub) `nick`.
    pub fn insert(&self, nick: Username, entry: Entry) {
        sync::lock(&self.users).insert(nick, entry);
    }

    /// Removes `nick` if `owner` still owns it.
    pub fn remove(&self, nick: &Username, owner: u64) {
        let mut users = sync::lock(&self.users);
        if users.get(nick).is_some_and(|entry| entry.owner == owner) {
            users.remove(nick);
        }
    }

    /// Changes `owner`'s entry, if it still has one.
    pub fn update(&self, nick: &Username, owner: u64, change: impl FnOnce(&mut Entry)) {
        if let Some(entry) = sync::lock(&self.users).get_mut(nick) {
            if entry.owner == owner {
                change(entry);
            }
        }
    }

    /// A copy of `name`'s entry, if it is an IRC user.
    pub fn get(&self, name: &str) -> Option<Entry> {
        let name = Username::parse(name).ok()?;
        sync::lock(&self.users).get(&name).cloned()
    }

    /// How `name` appears to IRC clients, and what it is saying.
    pub fn seen(&self, name: &str) -> Seen {
        let users = sync::lock(&self.users);
        let entry = Username::parse(name).ok().and_then(|key| users.get(&key));
        match entry {
            Some(entry) => Seen {
                mask: format!("{name}!~{}@{IRC_HOST}", entry.user),
                saying: entry.saying.clone(),
            },
            None => Seen {
                mask: format!("{name}!{name}@{OTHER_HOST}"),
                saying: Saying::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(owner: u64) -> Entry {
        Entry {
            owner,
            user: "al".into(),
            realname: "Alice".into(),
            away: None,
            saying: Saying::default(),
        }
    }

    #[test]
    fn only_the_owner_changes_or_removes_an_entry() {
        let registry = Registry::default();
        let alice = Username::parse("Alice").unwrap();
        registry.insert(alice.clone(), entry(1));
        assert_eq!(registry.seen("Alice").mask, "Alice!~al@irc");
        assert_eq!(registry.seen("bob").mask, "bob!bob@chat");
        // The nick was freed and taken by a new connection: the old one's
        // late removal and changes miss.
        registry.insert(alice.clone(), entry(2));
        registry.update(&alice, 1, |e| e.away = Some("gone".into()));
        registry.remove(&alice, 1);
        let now = registry.get("alice").expect("still there");
        assert_eq!((now.owner, now.away), (2, None));
        registry.update(&alice, 2, |e| e.saying.notice = true);
        assert!(registry.seen("ALICE").saying.notice);
        registry.remove(&alice, 2);
        assert!(registry.get("alice").is_none());
    }
}
