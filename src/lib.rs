//! A chat server, its terminal client and a benchmark tool, built on nothing but `std`.
//!
//! The server is thread-per-connection: each client gets a thread (its
//! [`session`]) and a bounded [`outbox`], written out without blocking by
//! whichever thread queued to it, or by a writer thread of its own while its
//! socket is full. Logged-in users live in one shared [`registry`]. The wire
//! format lives in [`protocol`].

pub mod base64;
pub mod bench;
pub mod cli;
pub mod client;
pub mod flush;
pub mod http;
pub mod lines;
pub mod log;
pub mod outbox;
pub mod protocol;
pub mod ratelimit;
pub mod registry;
pub mod server;
pub mod session;
pub mod sha1;
pub mod store;
pub mod sys;
pub mod threads;
pub mod websocket;
