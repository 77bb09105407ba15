//! Room history: the newest `keep` messages of every room in memory, and
//! (unless in memory only) every message in the log in the data directory.
//!
//! Rules kept:
//! - Per room, sequence numbers go 1, 2, 3… and are never reused, across
//!   restarts too: a room goes on from the highest seq in its log records.
//! - [`History::append`] has written its record with one `pwrite(2)` before it
//!   returns, so a `kill -9` after that loses nothing; a failed write adds
//!   nothing and consumes no seq, and the next append can succeed.
//! - [`History::open`] never panics or refuses to start over file contents:
//!   it keeps every intact record, cuts a torn or corrupt tail, and skips
//!   records it cannot use (unknown kind, unparsable, a seq not above the
//!   room's highest so far).
//! - Only one server uses a data directory at a time (`DIR/lock`).

use super::disk::{self, BackgroundError, Durable, RoomSnap, Shared, LOG, LOG_NEW};
use super::payload::{self, Parsed};
use super::record;
use super::ring::Ring;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Messages kept per room unless configured otherwise.
pub const DEFAULT_KEEP: usize = 10_000;

/// The log is rewritten once it is larger than this and twice the records
/// still retained (see [`History::set_compaction_floor`]).
pub const DEFAULT_COMPACTION_FLOOR: u64 = 1 << 20;

/// A room message as stored and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Per room, from 1, never reused.
    pub seq: u64,
    /// When the server received it, in unix milliseconds.
    pub time_ms: u64,
    pub from: String,
    pub text: String,
}

/// When appended records are fsynced (`--fsync always | 1s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Group commit: `Durable::wait` returns once the messages appended
    /// before it are fsynced; the delivery code waits before sending.
    Always,
    /// At least once a second, when something was written; a power loss
    /// can cost the last second, a `kill -9` nothing.
    EverySecond,
}

/// Why [`History::open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// Another process (or another `History` in this one) has the directory.
    Locked {
        dir: PathBuf,
    },
    Io {
        path: PathBuf,
        err: io::Error,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Locked { dir } => write!(
                f,
                "data directory {} is in use by another chat-server",
                dir.display()
            ),
            OpenError::Io { path, err } => write!(
                f,
                "cannot use the data directory (--data-dir): {}: {err}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Locked { .. } => None,
            OpenError::Io { err, .. } => Some(err),
        }
    }
}

/// What [`History::open`] found in the log; its `Display` is one log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    pub path: PathBuf,
    /// Intact records read (used or skipped).
    pub records: u64,
    /// Messages now in memory (the newest `keep` per room).
    pub messages: usize,
    pub rooms: usize,
    /// Intact records not used: unknown kind, unparsable, or a seq not above
    /// the room's highest before it.
    pub skipped: u64,
    /// Bytes of torn or corrupt tail cut off the log.
    pub dropped_bytes: u64,
    /// The log's size after that.
    pub log_bytes: u64,
}

impl fmt::Display for Recovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "history: {} messages in {} rooms from {} ({} records, {} bytes)",
            self.messages,
            self.rooms,
            self.path.display(),
            self.records,
            self.log_bytes
        )?;
        record::write_repairs(f, self.skipped, self.dropped_bytes)
    }
}

#[derive(Debug)]
struct Room {
    display: String,
    last_seq: u64,
    /// On-disk bytes of one of its records besides `from` and `text`.
    overhead: u64,
    ring: Ring,
}

impl Room {
    fn new(key: &str, display: &str) -> Room {
        Room {
            display: display.to_owned(),
            last_seq: 0,
            overhead: payload::record_overhead(key.len() + display.len()) as u64,
            ring: Ring::new(),
        }
    }
}

/// The persistent side of a [`History`].
struct Disk {
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
    compaction_floor: u64,
    /// After a failed compaction, no retry before the log reaches this.
    compact_not_before: u64,
    /// Held (locked) for as long as the History lives.
    _lock: File,
}

impl Drop for Disk {
    fn drop(&mut self) {
        disk::stop(&self.shared);
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
    }
}

/// Every room's history. The caller keeps it behind one mutex.
pub struct History {
    keep: usize,
    rooms: HashMap<String, Room>,
    /// On-disk bytes of the retained messages' records.
    retained: u64,
    scratch: Vec<u8>,
    disk: Option<Disk>,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("keep", &self.keep)
            .field("rooms", &self.rooms.len())
            .field("retained", &self.retained)
            .field("persistent", &self.disk.is_some())
            .finish()
    }
}

impl History {
    /// In memory only (`--no-persist`). `keep` is at least 1.
    pub fn in_memory(keep: usize) -> History {
        History {
            keep: keep.max(1),
            rooms: HashMap::new(),
            retained: 0,
            scratch: Vec::new(),
            disk: None,
        }
    }

    /// Opens (creating if missing) the data directory `dir`: locks
    /// `dir/lock`, reads `dir/log`, cuts a torn or corrupt tail, rebuilds the
    /// rooms, and starts the "store syncer" thread (ended by dropping the
    /// History).
    pub fn open(dir: &Path, keep: usize, fsync: Fsync) -> Result<(History, Recovered), OpenError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |err| OpenError::Io { path, err }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    dir: dir.to_owned(),
                })
            }
            Err(TryLockError::Error(err)) => return Err(io_err(&lock_path)(err)),
        }
        // A compaction that did not finish: the log is still the old file.
        let _ = fs::remove_file(dir.join(LOG_NEW));

        let log_path = dir.join(LOG);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        let mut history = History::in_memory(keep);
        let mut found = Recovered {
            path: log_path.clone(),
            ..Recovered::default()
        };
        let recovery = record::recover_file(&file, |payload| history.recover(payload, &mut found))
            .map_err(io_err(&log_path))?;
        found.dropped_bytes = recovery.cut;
        found.log_bytes = recovery.intact;
        // Make the directory entries (a new directory, a new log) durable
        // too, so that fsyncs of the log mean something. Best effort: some
        // file systems cannot fsync a directory.
        let _ = File::open(dir).and_then(|d| d.sync_all());
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = File::open(parent).and_then(|d| d.sync_all());
        }
        found.rooms = history.rooms.len();
        found.messages = history.rooms.values().map(|r| r.ring.len()).sum();

        let shared = Shared::new(dir, file, recovery.intact, fsync == Fsync::Always);
        let syncer = disk::spawn(Arc::clone(&shared)).map_err(io_err(dir))?;
        history.disk = Some(Disk {
            shared,
            syncer: Some(syncer),
            compaction_floor: DEFAULT_COMPACTION_FLOOR,
            compact_not_before: 0,
            _lock: lock,
        });
        history.maybe_compact();
        Ok((history, found))
    }

    /// Takes one record read from the log at open.
    fn recover(&mut self, payload: &[u8], found: &mut Recovered) {
        found.records += 1;
        let Some(p) = payload::parse(payload) else {
            found.skipped += 1;
            return;
        };
        let last_seq = self.rooms.get(p.room_key).map_or(0, |r| r.last_seq);
        if p.seq <= last_seq {
            found.skipped += 1;
            return;
        }
        let room = self
            .rooms
            .entry(p.room_key.to_owned())
            .or_insert_with(|| Room::new(p.room_key, p.room_display));
        room.last_seq = p.seq;
        let msg = Message {
            seq: p.seq,
            time_ms: p.time_ms,
            from: p.from.to_owned(),
            text: p.text.to_owned(),
        };
        room.ring
            .push(msg, self.keep, room.overhead, &mut self.retained);
    }

    /// Stores a message in the room `room_key` (case-folded; `room_display`
    /// is its spelling, used if the room has no history yet) and returns it
    /// with its seq. The record is written (one `pwrite(2)`, no fsync) before
    /// this returns. On a write error nothing is stored and the seq is not
    /// used; the caller answers `ERR storage-failed` and later appends may
    /// succeed again. Messages too long for a record (1 MiB) are refused
    /// with `InvalidInput`.
    pub fn append(
        &mut self,
        room_key: &str,
        room_display: &str,
        from: &str,
        text: &str,
        time_ms: u64,
    ) -> io::Result<&Message> {
        self.maybe_compact();
        let (last_seq, display) = match self.rooms.get(room_key) {
            Some(room) => (room.last_seq, room.display.as_str()),
            None => (0, room_display),
        };
        let seq = last_seq.checked_add(1).ok_or_else(|| {
            io::Error::other(format!("room {room_key}: sequence numbers exhausted"))
        })?;
        self.scratch.clear();
        let fields = Parsed {
            seq,
            time_ms,
            room_key,
            room_display: display,
            from,
            text,
        };
        payload::encode_record(&fields, &mut self.scratch)?;
        if let Some(disk) = &self.disk {
            disk.shared.write(&self.scratch)?;
        }
        let room = self
            .rooms
            .entry(room_key.to_owned())
            .or_insert_with(|| Room::new(room_key, room_display));
        room.last_seq = seq;
        let msg = Message {
            seq,
            time_ms,
            from: from.to_owned(),
            text: text.to_owned(),
        };
        Ok(room
            .ring
            .push(msg, self.keep, room.overhead, &mut self.retained))
    }

    /// Starts a compaction if the log has grown past twice the retained
    /// records (and the floor). Cost under the caller's lock: one `Arc` clone
    /// per block of 64 messages, and the room names.
    fn maybe_compact(&mut self) {
        let Some(disk) = &mut self.disk else {
            return;
        };
        let shared = &disk.shared;
        if shared.compacting() {
            return;
        }
        let len = shared.log_len();
        if shared.take_compaction_failure() {
            // Retry once the log has grown by as much again.
            disk.compact_not_before = len + disk.compaction_floor.max(self.retained);
        }
        let limit = disk
            .compaction_floor
            .max(self.retained.saturating_mul(2))
            .max(disk.compact_not_before);
        if len <= limit {
            return;
        }
        let rooms = self
            .rooms
            .iter()
            .map(|(key, room)| RoomSnap {
                key: key.clone(),
                display: room.display.clone(),
                runs: room.ring.runs(),
            })
            .collect();
        shared.start_compaction(rooms);
    }

    /// The newest `n` messages of a room, oldest first (none for a room
    /// never used).
    pub fn recent(&self, room_key: &str, n: usize) -> impl Iterator<Item = &Message> + '_ {
        self.rooms
            .get(room_key)
            .into_iter()
            .flat_map(move |room| room.ring.recent(n))
    }

    /// The room's name as first spelled, if it has history.
    pub fn display_name(&self, room_key: &str) -> Option<&str> {
        self.rooms.get(room_key).map(|room| room.display.as_str())
    }

    /// The room's highest seq so far (0 if it has none).
    pub fn last_seq(&self, room_key: &str) -> u64 {
        self.rooms.get(room_key).map_or(0, |room| room.last_seq)
    }

    /// Every room with history: (key, display name), in no order.
    pub fn rooms(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.rooms
            .iter()
            .map(|(key, room)| (key.as_str(), room.display.as_str()))
    }

    /// Messages kept per room.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// A handle for waiting until appended messages are durable; with
    /// [`Fsync::Always`] call [`Durable::wait`] before sending them (without
    /// holding the lock around the History).
    pub fn durable(&self) -> Durable {
        Durable::new(self.disk.as_ref().map(|d| Arc::clone(&d.shared)))
    }

    /// fsyncs every record appended so far, whatever the mode (for a graceful
    /// shutdown). In memory only, does nothing.
    pub fn sync(&self) -> io::Result<()> {
        match &self.disk {
            Some(disk) => disk.shared.sync(),
            None => Ok(()),
        }
    }

    /// Where failures on the syncer thread (fsync, compaction) are reported;
    /// by default one line on stderr.
    pub fn set_error_hook(&self, hook: impl Fn(&BackgroundError) + Send + Sync + 'static) {
        if let Some(disk) = &self.disk {
            disk.shared.set_hook(Arc::new(hook));
        }
    }

    /// Sets the size below which the log is never compacted (default 1 MiB).
    pub fn set_compaction_floor(&mut self, bytes: u64) {
        if let Some(disk) = &mut self.disk {
            disk.compaction_floor = bytes;
        }
    }

    #[cfg(test)]
    fn shared(&self) -> &Arc<Shared> {
        &self.disk.as_ref().unwrap().shared
    }
}

#[cfg(test)]
mod tests;
