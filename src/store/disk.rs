//! The log file as shared by [`History`](super::History) (appends, under the
//! caller's lock) and the "store syncer" thread (fsyncs and compaction).
//!
//! Rules kept:
//! - An append is one `pwrite(2)` at the tracked end of the log. If it fails
//!   or is short, the file is truncated back to that end (and, should that
//!   fail too, before the next append), so the log is always a sequence of
//!   whole records followed by nothing, and nothing of a failed append is
//!   ever read back.
//! - Only the syncer thread acknowledges durability (advances `synced`), and
//!   every record it has acknowledged is durable in whichever file is the log
//!   on disk, including across a compaction's rename (see [`Syncer::advance`]).
//! - Waiters are never left blocked: a failed fsync still releases them (and
//!   is reported once to the error hook), and when the syncer ends, `synced`
//!   becomes `u64::MAX`.

use super::payload::{self, Parsed};
use super::ring::Run;
use crate::support::metrics::METRICS;
use crate::support::sync::{self, lock};
use crate::support::time::{now_ms, rfc3339};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The log's file name in the data directory.
pub const LOG: &str = "log";
/// Where a compaction writes the new log before renaming it over [`LOG`].
pub const LOG_NEW: &str = "log.new";

/// How often, at least, written records are fsynced in either mode.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes a compaction writes (and fsyncs) per step, between group commits.
const PIECE: usize = 256 * 1024;
/// A catch-up round that copied no more than this goes on to the switch.
const SMALL_TAIL: u64 = 64 * 1024;
/// Catch-up rounds before switching whatever the tail.
const MAX_ROUNDS: u32 = 8;

/// A failure on the syncer thread, handed to the error hook (see
/// [`History::set_error_hook`](super::History::set_error_hook)). Failing
/// fsyncs are reported once until one succeeds again.
#[derive(Debug)]
pub struct BackgroundError {
    /// `"fsync"`, `"directory fsync"` or `"compaction"`.
    pub action: &'static str,
    pub path: PathBuf,
    pub err: io::Error,
}

impl fmt::Display for BackgroundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "store: {} of {} failed: {}",
            self.action,
            self.path.display(),
            self.err
        )
    }
}

impl std::error::Error for BackgroundError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.err)
    }
}

/// Receives the syncer thread's failures.
pub type ErrorHook = Arc<dyn Fn(&BackgroundError) + Send + Sync>;

/// The default hook: one line on stderr (a broken stderr is ignored, never a
/// panic on the syncer thread).
fn print_error(e: &BackgroundError) {
    let _ = writeln!(io::stderr().lock(), "{} {e}", rfc3339(now_ms()));
}

/// Test-only failure injection.
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Inject {
    /// Appends write at most this many bytes (0: the write fails).
    pub short_write: Option<usize>,
    /// Truncating back after a failed append fails.
    pub fail_truncate: bool,
    /// fsyncs of the log fail.
    pub fail_sync: bool,
}

struct LogState {
    file: Arc<File>,
    /// End of the last whole record.
    len: u64,
    /// Bytes of a failed append may lie beyond `len`.
    dirty: bool,
    #[cfg(test)]
    inject: Inject,
}

impl LogState {
    fn write(&mut self, rec: &[u8]) -> io::Result<()> {
        if self.dirty {
            self.truncate()?;
            self.dirty = false;
        }
        match self.pwrite(rec) {
            Ok(n) if n == rec.len() => {
                self.len += n as u64;
                Ok(())
            }
            result => {
                self.dirty = true;
                if self.truncate().is_ok() {
                    self.dirty = false;
                }
                Err(match result {
                    Err(err) => err,
                    Ok(n) => io::Error::new(
                        io::ErrorKind::StorageFull,
                        format!("short write to the log ({n} of {} bytes)", rec.len()),
                    ),
                })
            }
        }
    }

    /// One `pwrite(2)`.
    fn pwrite(&self, rec: &[u8]) -> io::Result<usize> {
        #[cfg(test)]
        if let Some(n) = self.inject.short_write {
            let part = rec.get(..n).unwrap_or(rec);
            if part.is_empty() {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "injected"));
            }
            return self.file.write_at(part, self.len);
        }
        self.file.write_at(rec, self.len)
    }

    fn truncate(&self) -> io::Result<()> {
        #[cfg(test)]
        if self.inject.fail_truncate {
            return Err(io::Error::other("injected"));
        }
        self.file.set_len(self.len)
    }

    /// Whether a test made fsyncs fail.
    #[cfg(test)]
    fn fail_sync(&self) -> bool {
        self.inject.fail_sync
    }

    #[cfg(not(test))]
    fn fail_sync(&self) -> bool {
        false
    }
}

/// What the caller's lock side and the syncer share.
pub struct Shared {
    dir: PathBuf,
    log_path: PathBuf,
    always: bool,
    state: Mutex<LogState>,
    /// `state.len`, readable without the lock.
    log_len: AtomicU64,
    /// Records written since open (the tickets [`Durable::wait`] waits for).
    appended: AtomicU64,
    /// Records known durable; `u64::MAX` once the syncer has ended.
    synced: AtomicU64,
    ctl: Mutex<Ctl>,
    syncer_cv: Condvar,
    waiters_cv: Condvar,
    compacting: AtomicBool,
    compaction_failed: AtomicBool,
    compactions: AtomicU64,
    sync_failing: AtomicBool,
    closed: AtomicBool,
    hook: Mutex<ErrorHook>,
}

#[derive(Default)]
struct Ctl {
    stop: bool,
    /// The highest ticket someone is waiting for.
    wanted: u64,
    job: Option<Job>,
    failures: u64,
    last_failure: Option<(io::ErrorKind, String)>,
}

/// One room's retained messages, as of a compaction snapshot.
pub struct RoomSnap {
    pub key: String,
    pub display: String,
    pub runs: Vec<Run>,
}

struct Job {
    rooms: Vec<RoomSnap>,
    /// The log the snapshot was taken of, and its length then.
    old: Arc<File>,
    snap_end: u64,
}

impl Shared {
    pub fn new(dir: &Path, file: File, len: u64, always: bool) -> Arc<Shared> {
        Arc::new(Shared {
            dir: dir.to_owned(),
            log_path: dir.join(LOG),
            always,
            state: Mutex::new(LogState {
                file: Arc::new(file),
                len,
                dirty: false,
                #[cfg(test)]
                inject: Inject::default(),
            }),
            log_len: AtomicU64::new(len),
            appended: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            ctl: Mutex::new(Ctl::default()),
            syncer_cv: Condvar::new(),
            waiters_cv: Condvar::new(),
            compacting: AtomicBool::new(false),
            compaction_failed: AtomicBool::new(false),
            compactions: AtomicU64::new(0),
            sync_failing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            hook: Mutex::new(Arc::new(print_error)),
        })
    }

    /// Appends one encoded record (one `pwrite(2)`, no fsync).
    pub fn write(&self, rec: &[u8]) -> io::Result<()> {
        let mut state = lock(&self.state);
        state.write(rec)?;
        self.log_len.store(state.len, Ordering::Release);
        self.appended.fetch_add(1, Ordering::Release);
        METRICS.history_appends.inc();
        Ok(())
    }

    pub fn log_len(&self) -> u64 {
        self.log_len.load(Ordering::Acquire)
    }

    pub fn compacting(&self) -> bool {
        self.compacting.load(Ordering::Acquire)
    }

    /// True once after a compaction failed.
    pub fn take_compaction_failure(&self) -> bool {
        self.compaction_failed.load(Ordering::Acquire)
            && self.compaction_failed.swap(false, Ordering::AcqRel)
    }

    /// Compactions completed since open.
    #[cfg(test)]
    pub fn compactions(&self) -> u64 {
        self.compactions.load(Ordering::Acquire)
    }

    /// Hands a snapshot to the syncer to write out. The caller holds the lock
    /// every append is made under, so the log ends exactly after the records
    /// of the messages in the snapshot (and some no longer retained).
    pub fn start_compaction(&self, rooms: Vec<RoomSnap>) {
        let (old, snap_end) = {
            let state = lock(&self.state);
            (Arc::clone(&state.file), state.len)
        };
        self.compacting.store(true, Ordering::Release);
        let mut ctl = lock(&self.ctl);
        ctl.job = Some(Job {
            rooms,
            old,
            snap_end,
        });
        self.syncer_cv.notify_one();
    }

    pub fn set_hook(&self, hook: ErrorHook) {
        *lock(&self.hook) = hook;
    }

    fn report(&self, e: BackgroundError) {
        let hook = Arc::clone(&lock(&self.hook));
        hook(&e);
    }

    /// Blocks until every record written before the call is fsynced (or the
    /// fsync failed, or the syncer has ended).
    fn wait_synced<'a>(&'a self, mut ctl: MutexGuard<'a, Ctl>, target: u64) -> MutexGuard<'a, Ctl> {
        while self.synced.load(Ordering::Acquire) < target {
            if ctl.wanted < target {
                ctl.wanted = target;
                self.syncer_cv.notify_one();
            }
            ctl = sync::wait(&self.waiters_cv, ctl);
        }
        ctl
    }

    /// fsyncs everything written so far, in either mode.
    pub fn sync(&self) -> io::Result<()> {
        let target = self.appended.load(Ordering::Acquire);
        let ctl = lock(&self.ctl);
        let failures = ctl.failures;
        let ctl = self.wait_synced(ctl, target);
        if ctl.failures != failures {
            let (kind, text) = ctl
                .last_failure
                .clone()
                .unwrap_or((io::ErrorKind::Other, "fsync failed".into()));
            return Err(io::Error::new(kind, text));
        }
        drop(ctl);
        if self.closed.load(Ordering::Acquire) {
            // No syncer (it ended early): do it here.
            let state = lock(&self.state);
            return state.file.sync_data();
        }
        Ok(())
    }

    /// Publishes the outcome of an fsync that covered `count` records: a
    /// failure is reported (if it starts a run of failures) before waiters
    /// are released.
    fn finish_sync(&self, count: u64, result: io::Result<()>) {
        let failure = match result {
            Ok(()) => {
                self.sync_failing.store(false, Ordering::Release);
                None
            }
            Err(err) => {
                let failure = (err.kind(), err.to_string());
                if !self.sync_failing.swap(true, Ordering::AcqRel) {
                    self.report(BackgroundError {
                        action: "fsync",
                        path: self.log_path.clone(),
                        err,
                    });
                }
                Some(failure)
            }
        };
        let mut ctl = lock(&self.ctl);
        if let Some(failure) = failure {
            ctl.failures += 1;
            ctl.last_failure = Some(failure);
        }
        // Also after a failure: the data may be lost, but waiting longer
        // would not bring it back, and must not stop the chat.
        self.synced.fetch_max(count, Ordering::Release);
        self.waiters_cv.notify_all();
    }

    #[cfg(test)]
    pub fn inject(&self, inject: Inject) {
        lock(&self.state).inject = inject;
    }

    #[cfg(test)]
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }
}

/// A cheap handle for waiting until appended messages are on disk.
///
/// With `--fsync always`, [`wait`](Durable::wait) blocks until every message
/// appended before the call is fsynced; many waiters share one fsync (group
/// commit). Otherwise (`1s`, or in memory) it returns at once.
#[derive(Clone)]
pub struct Durable {
    shared: Option<Arc<Shared>>,
}

impl Durable {
    pub(super) fn new(shared: Option<Arc<Shared>>) -> Durable {
        Durable {
            shared: shared.filter(|s| s.always),
        }
    }

    /// Blocks until every record appended before this call is fsynced. Returns
    /// at once when nothing is pending (two atomic loads), and never blocks
    /// forever: a failed fsync releases waiters, as does the store closing.
    pub fn wait(&self) {
        let Some(s) = &self.shared else {
            return;
        };
        let target = s.appended.load(Ordering::Acquire);
        if s.synced.load(Ordering::Acquire) >= target {
            return;
        }
        drop(s.wait_synced(lock(&s.ctl), target));
    }
}

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable")
            .field("always", &self.shared.is_some())
            .finish()
    }
}

/// Starts the "store syncer" thread. It ends when [`stop`] is called.
pub fn spawn(shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("store syncer".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _closer = Closer(Arc::clone(&shared));
            Syncer {
                s: shared,
                work: None,
                last_sync: Instant::now(),
            }
            .run();
        })
}

/// Asks the syncer to do a last fsync and end (the caller then joins it).
pub fn stop(shared: &Shared) {
    lock(&shared.ctl).stop = true;
    shared.syncer_cv.notify_one();
}

/// Releases every waiter for good when the syncer ends, even by a panic.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        let s = &self.0;
        s.closed.store(true, Ordering::Release);
        s.compacting.store(false, Ordering::Release);
        let _ctl = lock(&s.ctl);
        s.synced.store(u64::MAX, Ordering::Release);
        s.waiters_cv.notify_all();
    }
}

enum Next {
    Stop,
    Sync,
    Begin(Job),
    Work,
}

struct Syncer {
    s: Arc<Shared>,
    work: Option<Compaction>,
    last_sync: Instant,
}

/// A compaction in progress: the snapshot goes to `log.new`, then the
/// records appended to the old log since (`old[copied..]`).
struct Compaction {
    rooms: Vec<RoomSnap>,
    /// Next message to write: room, run, index in run.
    cursor: (usize, usize, usize),
    old: Arc<File>,
    /// How far the old log has been copied; `None` while writing the snapshot.
    copied: Option<u64>,
    snap_end: u64,
    rounds: u32,
    new: File,
    new_len: u64,
    buf: Vec<u8>,
}

enum Progress {
    More,
    Switch,
}

impl Syncer {
    fn run(mut self) {
        loop {
            match self.next() {
                Next::Stop => {
                    if let Some(c) = self.work.take() {
                        self.abandon(c, None);
                    }
                    self.sync();
                    return;
                }
                Next::Sync => self.sync(),
                Next::Begin(job) => self.begin(job),
                Next::Work => self.step(),
            }
        }
    }

    fn next(&mut self) -> Next {
        let mut ctl = lock(&self.s.ctl);
        loop {
            if ctl.stop {
                return Next::Stop;
            }
            if let Some(job) = ctl.job.take() {
                return Next::Begin(job);
            }
            let synced = self.s.synced.load(Ordering::Acquire);
            let pending = self.s.appended.load(Ordering::Acquire) > synced;
            let due = self.last_sync + SYNC_INTERVAL;
            let now = Instant::now();
            if ctl.wanted > synced || (pending && now >= due) {
                return Next::Sync;
            }
            if self.work.is_some() {
                return Next::Work;
            }
            let timeout = if pending { due - now } else { SYNC_INTERVAL };
            ctl = match self.s.syncer_cv.wait_timeout(ctl, timeout) {
                Ok((ctl, _)) => ctl,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// fsyncs the log as it is now and acknowledges what that covered.
    fn sync(&mut self) {
        self.last_sync = Instant::now();
        let (file, count, fail) = {
            let state = lock(&self.s.state);
            let count = self.s.appended.load(Ordering::Acquire);
            (Arc::clone(&state.file), count, state.fail_sync())
        };
        if count <= self.s.synced.load(Ordering::Acquire) {
            return;
        }
        let result = if fail {
            Err(io::Error::other("injected fsync failure"))
        } else {
            let start = Instant::now();
            let synced = file.sync_data();
            METRICS.history_fsync.observe(start.elapsed());
            synced
        };
        self.s.finish_sync(count, result);
    }

    fn begin(&mut self, job: Job) {
        if let Some(c) = self.work.take() {
            self.abandon(c, None);
        }
        let path = self.s.dir.join(LOG_NEW);
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path);
        match opened {
            Ok(new) => {
                self.work = Some(Compaction {
                    rooms: job.rooms,
                    cursor: (0, 0, 0),
                    old: job.old,
                    copied: None,
                    snap_end: job.snap_end,
                    rounds: 0,
                    new,
                    new_len: 0,
                    buf: Vec::new(),
                });
            }
            Err(err) => self.failed(err),
        }
    }

    fn step(&mut self) {
        let Some(mut c) = self.work.take() else {
            return;
        };
        match self.advance(&mut c) {
            Ok(Progress::More) => self.work = Some(c),
            Ok(Progress::Switch) => {
                if let Err(err) = self.switch(c) {
                    self.cleanup();
                    self.failed(err);
                }
            }
            Err(err) => self.abandon(c, Some(err)),
        }
    }

    /// One bounded piece of compaction work.
    ///
    /// Durability across the switch: before the rename, `log.new` is fsynced
    /// with every record the syncer has acknowledged so far. A catch-up round
    /// copies the old log up to its current end, which covers every earlier
    /// acknowledgement, and fsyncs `log.new`; the switch follows in the same
    /// step, with no acknowledgement between. The few records the switch
    /// copies under the lock are unacknowledged until the fsync after it.
    fn advance(&mut self, c: &mut Compaction) -> io::Result<Progress> {
        let Some(from) = c.copied else {
            c.buf.clear();
            while c.buf.len() < PIECE {
                let (r, run, i) = c.cursor;
                let Some(room) = c.rooms.get(r) else {
                    break;
                };
                let Some(messages) = room.runs.get(run).map(Run::messages) else {
                    c.cursor = (r + 1, 0, 0);
                    continue;
                };
                let Some(m) = messages.get(i) else {
                    c.cursor = (r, run + 1, 0);
                    continue;
                };
                let fields = Parsed {
                    seq: m.seq,
                    time_ms: m.time_ms,
                    room_key: &room.key,
                    room_display: &room.display,
                    from: &m.from,
                    text: &m.text,
                };
                payload::encode_record(&fields, &mut c.buf)?;
                c.cursor = (r, run, i + 1);
            }
            if c.buf.is_empty() {
                c.rooms = Vec::new();
                c.copied = Some(c.snap_end);
            } else {
                c.new.write_all_at(&c.buf, c.new_len)?;
                c.new_len += c.buf.len() as u64;
                c.new.sync_data()?;
            }
            return Ok(Progress::More);
        };
        let end = lock(&self.s.state).len;
        copy(&c.old, from, end, &c.new, &mut c.new_len, &mut c.buf)?;
        c.new.sync_data()?;
        c.copied = Some(end);
        c.rounds += 1;
        if end.saturating_sub(from) > SMALL_TAIL && c.rounds < MAX_ROUNDS {
            return Ok(Progress::More);
        }
        Ok(Progress::Switch)
    }

    /// Under the append lock: copies the last records, renames `log.new`
    /// over the log and appends go to it from then on.
    fn switch(&mut self, mut c: Compaction) -> io::Result<()> {
        {
            let mut state = lock(&self.s.state);
            if !Arc::ptr_eq(&state.file, &c.old) {
                return Err(io::Error::other("the log changed during compaction"));
            }
            let from = c.copied.unwrap_or(state.len);
            copy(&c.old, from, state.len, &c.new, &mut c.new_len, &mut c.buf)?;
            fs::rename(self.s.dir.join(LOG_NEW), &self.s.log_path)?;
            state.file = Arc::new(c.new);
            state.len = c.new_len;
            state.dirty = false;
            self.s.log_len.store(state.len, Ordering::Release);
        }
        if let Err(err) = File::open(&self.s.dir).and_then(|d| d.sync_all()) {
            self.s.report(BackgroundError {
                action: "directory fsync",
                path: self.s.dir.clone(),
                err,
            });
        }
        self.s.compactions.fetch_add(1, Ordering::AcqRel);
        self.s.compacting.store(false, Ordering::Release);
        // The records copied under the lock, and any appended since.
        self.sync();
        Ok(())
    }

    fn abandon(&mut self, c: Compaction, err: Option<io::Error>) {
        drop(c);
        self.cleanup();
        match err {
            Some(err) => self.failed(err),
            None => self.s.compacting.store(false, Ordering::Release),
        }
    }

    fn cleanup(&self) {
        let _ = fs::remove_file(self.s.dir.join(LOG_NEW));
    }

    fn failed(&self, err: io::Error) {
        self.s.compaction_failed.store(true, Ordering::Release);
        self.s.compacting.store(false, Ordering::Release);
        self.s.report(BackgroundError {
            action: "compaction",
            path: self.s.log_path.clone(),
            err,
        });
    }
}

/// Copies `old[from..end]` to the end of `new`.
fn copy(
    old: &File,
    mut from: u64,
    end: u64,
    new: &File,
    new_len: &mut u64,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    while from < end {
        let n = usize::try_from(end - from).map_or(PIECE, |n| n.min(PIECE));
        buf.resize(n, 0);
        old.read_exact_at(buf, from)?;
        new.write_all_at(buf, *new_len)?;
        from += n as u64;
        *new_len += n as u64;
    }
    Ok(())
}
