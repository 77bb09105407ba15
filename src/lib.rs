//! A chat server, its terminal client and a benchmark tool, built on nothing but `std`.
//!
//! The server is thread-per-connection: each client gets a thread running its
//! session, and a bounded outbox that whichever thread queued to it writes out
//! without blocking (or a writer thread of its own, while its socket is full).
//! Logged-in users live in one shared hub.
//!
//! # Layout
//!
//! Imports run one way, from the top of this list to the bottom:
//!
//! | folder | concern |
//! |---|---|
//! | [`server`] | configuration, listeners, the accept loop and its limits (per address, PROXY protocol), metrics, stopping (gracefully too) |
//! | `front/` | one folder per way in (`lines/`, `web/`, `irc/`): bytes ↔ events and server lines, refusals |
//! | `session/` | one connection's life: read, dispatch commands to the hub, flood limit, password throttle and hashing, departure |
//! | `backplane/` | several servers as one chat through Redis: RESP, the client, leases, the events stream |
//! | `hub/` | the shared state behind one lock and one order: users, rooms, their history, accounts |
//! | `delivery/` | outboxes, claims, fan-out helpers: bytes to sockets, never blocking |
//! | `store/` | history and accounts on disk: checksummed records, recovery, compaction, `fsync` |
//! | [`protocol`] | the wire format, pure: commands, server lines, names, error codes |
//! | [`support`] | small adaptors: system calls, threads, log, CLI, hashing, locks, addresses, counters |
//!
//! The binaries (`src/bin/`) are thin: `chat-server` parses flags into a
//! [`server::Config`]; `chat-client` and `chat-bench` use [`protocol`] and
//! [`support`].

mod backplane;
mod delivery;
mod front;
mod hub;
mod session;
mod store;

pub mod protocol;
pub mod server;
pub mod support;

pub use front::lines::{LineReader, Next};
