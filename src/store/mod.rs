//! Room history on disk: sequence numbers, retention, the log file, its
//! recovery, durability and compaction; and the accounts file beside it
//! ([`AccountLog`]). No networking or protocol here.
//!
//! # On disk
//!
//! A data directory holds:
//!
//! - `lock`: empty; a server holds an exclusive `flock` on it while it runs,
//!   so a second server on the same directory fails to start
//!   ([`OpenError::Locked`]).
//! - `log`: every room's messages, a sequence of [`record`]s
//!   (`u32 LE length`, `u32 LE CRC-32 of the payload`, payload; lengths
//!   `1..=1 MiB`). Each payload is one message, versioned by its first byte:
//!
//!   ```text
//!   u8 kind = 1 | u64 LE seq | u64 LE time_ms | str room_key | str room_display | str from | str text
//!   ```
//!
//!   with `str` = `u32 LE` byte length + UTF-8. Records of one room appear in
//!   increasing seq order; rooms are interleaved.
//! - `log.new`: only while a compaction runs; removed at open if present.
//! - `accounts`: registered names and their password records, the same
//!   framing, appended and fsynced one by one (see [`AccountLog`]).
//!
//! # Guarantees
//!
//! - An append returns after its record was written with one `pwrite(2)`:
//!   a `kill -9` loses nothing already appended. fsync is separate
//!   ([`Fsync`]): at least once a second, or group commit with
//!   [`Durable::wait`], so a power loss loses nothing acknowledged with
//!   `--fsync always`, and at most about a second otherwise.
//! - Open keeps the longest intact prefix of the log and truncates the rest
//!   (a torn last write, garbage), reporting the bytes cut; it never panics
//!   or refuses to start over what the files contain.
//! - Per room, seqs are 1, 2, 3…, never reused, across restarts too.
//! - The log stays within about twice the bytes of the retained messages
//!   (above a 1 MiB floor): it is rewritten in the background, and the new
//!   file replaces it by an atomic rename, so a crash at any point leaves
//!   either the old or the new log, each complete.
//!
//! # Threads, durability, compaction
//!
//! [`History::open`] starts one thread, "store syncer", which ends when the
//! [`History`] is dropped (after a last fsync). It fsyncs the log at least
//! once a second when something was written, and at once when a
//! [`Durable::wait`] (`--fsync always`) or [`History::sync`] asks; one fsync
//! covers every record written before it (group commit), after which the
//! synced count is published and waiters are woken.
//!
//! Compaction, Redis-AOF style: when an append finds the log larger than
//! twice the retained records, it snapshots the rooms (one `Arc` clone per
//! block of 64 messages, so the caller's lock is held briefly) and notes the
//! log's length. The syncer writes the snapshot to `log.new` in fsynced
//! pieces of 256 KiB, serving fsync requests between pieces, while appends
//! go on to the old log; it then copies the records appended since (old log
//! from the noted length) in rounds, fsyncing `log.new` each time, and last,
//! under the store's own short append lock, copies the final few records,
//! renames `log.new` over `log` and switches appends to it, then fsyncs the
//! directory and the new log. Every record acknowledged as durable is in
//! `log.new`, fsynced, before the rename.

mod accounts;
pub mod crc32;
mod disk;
mod history;
mod payload;
pub mod record;
mod ring;
#[cfg(test)]
mod temp_dir;

pub use accounts::{AccountLog, Accounts};
pub use disk::{BackgroundError, Durable};
pub use history::{Fsync, History, Message, OpenError, DEFAULT_KEEP};
