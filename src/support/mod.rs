//! Small adaptors the rest of the crate stands on, one concern per file, none
//! of them knowing about chat: system calls ([`sys`], the only FFI), the thread
//! budget, the log, command-line parsing, hashing and encoding for the WebSocket
//! handshake, and the socket helpers below.

pub mod base64;
pub mod cli;
pub mod crypto;
pub mod deadline;
pub mod json;
pub mod log;
pub mod procfs;
pub mod rng;
pub mod sha1;
pub mod sync;
pub mod sys;
pub mod threads;
pub mod time;
