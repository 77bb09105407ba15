//! Answers the client waits for, and how it knows where they end.
//!
//! `WHO` and `ROOMS` have no end marker on the wire, and a `DM` that worked
//! gets no answer at all, so the client sends `PING <kind>-<n>` right after
//! them: the server answers in order, so the `PONG` closes the list (or
//! confirms the DM, if no error came before it). `/ping` times its own
//! `PING rtt-<n>` the same way, and `REGISTER` and `PASSWORD` are followed by
//! one too: the `OK` or `ERR` before it is their answer. The rule kept: the
//! queue is bounded, and an answer that matches nothing waiting is shown as
//! it came.

use std::collections::VecDeque;
use std::time::Instant;

use chat::protocol::ErrorCode;

use crate::secret::Secret;

/// At most this many answers are awaited at once.
pub const MAX_AWAITED: usize = 64;

/// At most this many entries of one list are kept; the rest are counted.
const MAX_LISTED: usize = 1000;

/// One awaited answer.
#[derive(Debug)]
pub enum Awaited {
    Who {
        room: Option<String>,
        listed: Vec<String>,
        unlisted: usize,
    },
    Rooms {
        listed: Vec<String>,
        unlisted: usize,
    },
    Dm {
        to: String,
        text: String,
        failed: bool,
    },
    Rtt {
        sent: Instant,
    },
    /// `REGISTER` or `PASSWORD` with this password: kept once the server
    /// said `OK`, forgotten if it refused.
    Password {
        change: Change,
        password: Secret,
        taken: bool,
        refused: Option<ErrorCode>,
    },
}

/// What a new password is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `/register`: the name becomes ours.
    Register,
    /// `/password`: the registered name's password changes.
    Password,
}

impl Awaited {
    pub fn who(room: Option<String>) -> Awaited {
        Awaited::Who {
            room,
            listed: Vec::new(),
            unlisted: 0,
        }
    }

    pub fn rooms() -> Awaited {
        Awaited::Rooms {
            listed: Vec::new(),
            unlisted: 0,
        }
    }

    fn prefix(&self) -> &'static str {
        match self {
            Awaited::Who { .. } => "who",
            Awaited::Rooms { .. } => "rooms",
            Awaited::Dm { .. } => "dm",
            Awaited::Rtt { .. } => "rtt",
            Awaited::Password { .. } => "pw",
        }
    }
}

/// The awaited answers, oldest first, each with its token number.
#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<(u64, Awaited)>,
    last_token: u64,
}

impl Pending {
    /// Queues `awaited` and returns the `PING` line that ends its answer;
    /// `None` when too many are awaited already.
    pub fn push(&mut self, awaited: Awaited) -> Option<String> {
        if self.queue.len() >= MAX_AWAITED {
            return None;
        }
        self.last_token += 1;
        let line = format!("PING {}-{}", awaited.prefix(), self.last_token);
        self.queue.push_back((self.last_token, awaited));
        Some(line)
    }

    /// A `USER` line: true if it belongs to an awaited `WHO`.
    pub fn user(&mut self, name: &str) -> bool {
        match self.queue.front_mut() {
            Some((
                _,
                Awaited::Who {
                    listed, unlisted, ..
                },
            )) => {
                add(listed, unlisted, name.to_string());
                true
            }
            _ => false,
        }
    }

    /// A `ROOM` line: true if it belongs to an awaited `ROOMS`.
    pub fn room(&mut self, room: &str, members: usize) -> bool {
        match self.queue.front_mut() {
            Some((_, Awaited::Rooms { listed, unlisted })) => {
                add(listed, unlisted, format!("{room} ({members})"));
                true
            }
            _ => false,
        }
    }

    /// An error arrived: if the oldest awaited answer is a DM's, that DM failed.
    pub fn dm_failed(&mut self) {
        if let Some((_, Awaited::Dm { failed, .. })) = self.queue.front_mut() {
            *failed = true;
        }
    }

    /// An `OK`: true if it answers an awaited `REGISTER` or `PASSWORD`.
    pub fn ok(&mut self) -> bool {
        match self.queue.front_mut() {
            Some((_, Awaited::Password { taken, .. })) => {
                *taken = true;
                true
            }
            _ => false,
        }
    }

    /// An error `REGISTER` or `PASSWORD` can get: true if it answers the
    /// oldest awaited answer, one of theirs (it is said when the `PONG` comes).
    pub fn password_refused(&mut self, code: ErrorCode) -> bool {
        let theirs = matches!(
            code,
            ErrorCode::AlreadyRegistered
                | ErrorCode::WeakPassword
                | ErrorCode::NotLoggedIn
                | ErrorCode::NotRegistered
                | ErrorCode::RateLimited
                | ErrorCode::StorageFailed
        );
        match self.queue.front_mut() {
            Some((_, Awaited::Password { refused, .. })) if theirs && refused.is_none() => {
                *refused = Some(code);
                true
            }
            _ => false,
        }
    }

    /// A `PONG <token>`: the awaited answer it ends, if it ends one.
    pub fn pong(&mut self, token: &str) -> Option<Awaited> {
        let (prefix, number) = token.split_once('-')?;
        let number: u64 = number.parse().ok()?;
        let index = self
            .queue
            .iter()
            .position(|(n, awaited)| *n == number && awaited.prefix() == prefix)?;
        // Anything older was answered out of order, which the server never
        // does; it is dropped rather than left to grow.
        self.queue.drain(..index);
        self.queue.pop_front().map(|(_, awaited)| awaited)
    }

    /// A new connection: nothing from the old one will be answered.
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

fn add(listed: &mut Vec<String>, unlisted: &mut usize, entry: String) {
    if listed.len() < MAX_LISTED {
        listed.push(entry);
    } else {
        *unlisted += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_gathered_until_their_pong() {
        let mut pending = Pending::default();
        assert_eq!(
            pending.push(Awaited::who(None)).as_deref(),
            Some("PING who-1")
        );
        assert_eq!(
            pending.push(Awaited::rooms()).as_deref(),
            Some("PING rooms-2")
        );
        assert!(pending.user("alice"));
        assert!(pending.user("bob"));
        assert!(!pending.room("#lobby", 2), "the WHO is answered first");
        match pending.pong("who-1") {
            Some(Awaited::Who { listed, .. }) => assert_eq!(listed, ["alice", "bob"]),
            other => panic!("{other:?}"),
        }
        assert!(pending.room("#lobby", 2));
        assert!(matches!(
            pending.pong("rooms-2"),
            Some(Awaited::Rooms { .. })
        ));
        assert!(!pending.user("carol"), "nothing awaited");
        assert!(pending.pong("rooms-2").is_none());
        assert!(pending.pong("typed-by-hand").is_none());
    }

    #[test]
    fn a_dm_fails_when_an_error_comes_before_its_pong() {
        let mut pending = Pending::default();
        let dm = |to: &str| Awaited::Dm {
            to: to.into(),
            text: "hi".into(),
            failed: false,
        };
        pending.push(dm("nobody"));
        pending.push(dm("bob"));
        pending.dm_failed();
        assert!(matches!(
            pending.pong("dm-1"),
            Some(Awaited::Dm { failed: true, .. })
        ));
        assert!(matches!(
            pending.pong("dm-2"),
            Some(Awaited::Dm { failed: false, .. })
        ));
    }

    #[test]
    fn a_new_password_is_taken_by_ok_or_refused_by_its_error() {
        let mut pending = Pending::default();
        let password = |change| Awaited::Password {
            change,
            password: Secret::typed("long enough"),
            taken: false,
            refused: None,
        };
        assert!(!pending.ok(), "nothing awaited: an OK is shown");
        assert_eq!(
            pending.push(password(Change::Register)).as_deref(),
            Some("PING pw-1")
        );
        pending.push(password(Change::Password));
        assert!(!pending.password_refused(ErrorCode::UserNotFound));
        assert!(pending.password_refused(ErrorCode::AlreadyRegistered));
        assert!(
            !pending.password_refused(ErrorCode::RateLimited),
            "one answer each"
        );
        assert!(matches!(
            pending.pong("pw-1"),
            Some(Awaited::Password {
                taken: false,
                refused: Some(ErrorCode::AlreadyRegistered),
                ..
            })
        ));
        assert!(pending.ok());
        assert!(matches!(
            pending.pong("pw-2"),
            Some(Awaited::Password {
                change: Change::Password,
                taken: true,
                refused: None,
                ..
            })
        ));
    }

    #[test]
    fn bounded() {
        let mut pending = Pending::default();
        for _ in 0..MAX_AWAITED {
            assert!(pending
                .push(Awaited::Rtt {
                    sent: Instant::now()
                })
                .is_some());
        }
        assert!(pending.push(Awaited::rooms()).is_none());
        pending.clear();
        assert!(pending.push(Awaited::rooms()).is_some());
    }
}
