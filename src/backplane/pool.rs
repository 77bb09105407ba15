//! Redis connections shared by the session threads, and whether Redis is
//! reachable at all.
//!
//! Rules kept:
//! - **`ERR unavailable` at once.** Once a call has failed (both tries, see
//!   [`Client`]), Redis is taken for unavailable and every call fails at
//!   once, without a connect or a timeout, until the node's reader thread
//!   (which keeps trying) or its lease thread gets through again.
//! - **Logged once**: one line when Redis becomes unavailable, one when it
//!   is back, however many calls failed in between.
//! - **Bounded**: at most `max` connections; a caller finding them all busy
//!   waits at most the I/O timeout, then fails as unavailable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

use super::redis::{Client, Error, Options, Url};
use crate::support::log::Log;
use crate::support::sync;

/// Whether Redis is reachable, as the last calls found it.
pub struct Health {
    down: AtomicBool,
    url: Url,
    log: Log,
}

impl Health {
    pub fn new(url: Url, log: Log) -> Health {
        Health {
            down: AtomicBool::new(false),
            url,
            log,
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A call failed: Redis is unavailable (logged the first time).
    pub fn failed(&self, why: &dyn std::fmt::Display) {
        if !self.down.swap(true, Ordering::AcqRel) {
            self.log.event(
                None,
                format_args!(
                    "redis: {} is unavailable ({why}); commands that need it answer ERR \
                     unavailable until it is back",
                    self.url
                ),
            );
        }
    }

    /// A call worked: Redis is available (logged if it was not).
    pub fn works(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            self.log
                .event(None, format_args!("redis: {} is available again", self.url));
        }
    }
}

/// Connections for the session threads.
pub struct Pool {
    url: Url,
    options: Options,
    max: usize,
    state: Mutex<Slots>,
    freed: Condvar,
}

struct Slots {
    idle: Vec<Client>,
    /// Connections made (idle or in use).
    made: usize,
}

impl Pool {
    pub fn new(url: Url, options: Options, max: usize) -> Pool {
        Pool {
            url,
            options,
            max: max.max(1),
            state: Mutex::new(Slots {
                idle: Vec::new(),
                made: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Runs `call` with a connection of the pool.
    pub fn with<T>(&self, call: impl FnOnce(&mut Client) -> Result<T, Error>) -> Result<T, Error> {
        let mut client = self.take()?;
        let result = call(&mut client);
        let mut slots = sync::lock(&self.state);
        slots.idle.push(client);
        drop(slots);
        self.freed.notify_one();
        result
    }

    fn take(&self) -> Result<Client, Error> {
        let slots = sync::lock(&self.state);
        let wait = self.options.io_timeout;
        let (mut slots, _) = sync::wait_timeout_while(&self.freed, slots, wait, |slots| {
            slots.idle.is_empty() && slots.made >= self.max
        });
        if let Some(client) = slots.idle.pop() {
            return Ok(client);
        }
        if slots.made >= self.max {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("all {} redis connections stayed busy", self.max),
            )));
        }
        slots.made += 1;
        Ok(Client::new(self.url.clone(), self.options.clone()))
    }
}
