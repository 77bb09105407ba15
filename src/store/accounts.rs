//! Accounts: the registered names and their password records, in memory
//! ([`Accounts`]) and, unless in memory only, in the data directory's
//! `accounts` file ([`AccountLog`]).
//!
//! # On disk
//!
//! `DIR/accounts` is a sequence of [`record`]s (the framing and checksums of
//! the message log), each payload
//!
//! ```text
//! u8 kind = 1 | str name_key | str password_record
//! ```
//!
//! with `str` = `u32 LE` byte length + UTF-8, `name_key` the case-folded name
//! and `password_record` a `pbkdf2-sha256$…` record (see
//! [`crate::support::crypto`]), never a password. A name's latest record wins:
//! `PASSWORD` appends one more.
//!
//! Rules kept:
//! - [`AccountLog::append`] returns after one `pwrite(2)` of the whole record
//!   and an `fdatasync`, whatever `--fsync` says: registrations are rare, and
//!   an `OK` for one then survives a `kill -9` and a power loss. A failed
//!   write or sync is cut off again (best effort) and the caller stores
//!   nothing.
//! - [`AccountLog::open`] never panics or refuses to start over the file's
//!   contents: it keeps the longest intact prefix, cuts a torn or corrupt tail
//!   (reporting the bytes cut), and skips intact records it cannot use
//!   (unknown kind, malformed, not a well-formed password record).
//! - The file lives in a data directory whose `lock` the
//!   [`History`](super::History) holds: open it after `History::open` on the
//!   same directory, so that one server at a time writes it.
//! - Nothing here shows a password record: the `Debug` of [`Accounts`] is a
//!   count.

use super::history::OpenError;
use super::payload::{put_str, Reader};
use super::record;
use crate::support::crypto;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The accounts file in a data directory.
pub const ACCOUNTS: &str = "accounts";

/// The first byte of a version-1 account payload.
const KIND_ACCOUNT_V1: u8 = 1;

/// Registered names (case-folded) and their password records. The caller
/// keeps it behind its lock; reading it costs no system call.
#[derive(Default)]
pub struct Accounts {
    records: HashMap<String, String>,
}

impl Accounts {
    /// The password record of `name_key`, if it is registered.
    pub fn password_record(&self, name_key: &str) -> Option<&str> {
        self.records.get(name_key).map(String::as_str)
    }

    /// Whether `name_key` is registered.
    pub fn is_registered(&self, name_key: &str) -> bool {
        self.records.contains_key(name_key)
    }

    /// Registers `name_key`, or changes its record: after
    /// [`AccountLog::append`] of the same, so memory never runs ahead of disk.
    pub fn set(&mut self, name_key: String, password_record: String) {
        self.records.insert(name_key, password_record);
    }
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Accounts({} registered)", self.records.len())
    }
}

/// What [`AccountLog::open`] found; its `Display` is one log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    pub path: PathBuf,
    /// Intact records read (used or skipped).
    pub records: u64,
    /// Registered names now in memory.
    pub accounts: usize,
    /// Intact records not used: unknown kind, malformed, or a password
    /// record that does not parse.
    pub skipped: u64,
    /// Bytes of torn or corrupt tail cut off the file.
    pub dropped_bytes: u64,
    /// The file's size after that.
    pub file_bytes: u64,
}

impl fmt::Display for Recovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "accounts: {} registered names from {} ({} records, {} bytes)",
            self.accounts,
            self.path.display(),
            self.records,
            self.file_bytes
        )?;
        record::write_repairs(f, self.skipped, self.dropped_bytes)
    }
}

/// Where account records are appended: the `accounts` file, or nowhere
/// (in memory only). The caller keeps it behind a lock of its own, taken
/// only to change an account, never one that chat messages need.
#[derive(Debug)]
pub struct AccountLog {
    file: Option<File>,
    /// End of the last whole record.
    len: u64,
    /// Bytes of a failed append may lie beyond `len`.
    dirty: bool,
}

impl AccountLog {
    /// In memory only (`--no-persist`): appends store nothing.
    pub fn in_memory() -> (AccountLog, Accounts) {
        let log = AccountLog {
            file: None,
            len: 0,
            dirty: false,
        };
        (log, Accounts::default())
    }

    /// Opens (creating if missing) `dir/accounts`, reads every intact
    /// record, cuts a torn or corrupt tail, and returns the accounts found.
    /// `dir` exists and is locked already (see the module's rules).
    pub fn open(dir: &Path) -> Result<(AccountLog, Accounts, Recovered), OpenError> {
        let path = dir.join(ACCOUNTS);
        let io_err = |err| OpenError::Io {
            path: path.clone(),
            err,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let mut accounts = Accounts::default();
        let mut found = Recovered {
            path: path.clone(),
            ..Recovered::default()
        };
        let recovery = record::recover_file(&file, |payload| {
            found.records += 1;
            match parse(payload) {
                Some((key, password_record)) => {
                    accounts.set(key.to_owned(), password_record.to_owned());
                }
                None => found.skipped += 1,
            }
        })
        .map_err(io_err)?;
        // A new file's directory entry must be durable for its fsyncs to
        // mean anything (best effort, as for the message log).
        let _ = File::open(dir).and_then(|d| d.sync_all());
        found.dropped_bytes = recovery.cut;
        found.file_bytes = recovery.intact;
        found.accounts = accounts.records.len();
        let log = AccountLog {
            file: Some(file),
            len: recovery.intact,
            dirty: false,
        };
        Ok((log, accounts, found))
    }

    /// Appends the record `name_key → password_record` and makes it durable
    /// (one `pwrite`, then `fdatasync`). On an error the file is cut back to
    /// its last whole record (now, or before the next append) and the caller
    /// must not store the change.
    pub fn append(&mut self, name_key: &str, password_record: &str) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut rec = Vec::new();
        record::encode_with(&mut rec, |out| {
            out.push(KIND_ACCOUNT_V1);
            put_str(out, name_key);
            put_str(out, password_record);
        })?;
        if self.dirty {
            file.set_len(self.len)?;
            self.dirty = false;
        }
        let written = match file.write_at(&rec, self.len) {
            Ok(n) if n == rec.len() => file.sync_data(),
            Ok(n) => Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "short write to the accounts file ({n} of {} bytes)",
                    rec.len()
                ),
            )),
            Err(err) => Err(err),
        };
        match written {
            Ok(()) => {
                self.len += rec.len() as u64;
                Ok(())
            }
            Err(err) => {
                self.dirty = file
                    .set_len(self.len)
                    .and_then(|()| file.sync_data())
                    .is_err();
                Err(err)
            }
        }
    }
}

/// An account payload's name key and password record, or `None` if it is
/// not a well-formed version-1 account with a record that parses.
fn parse(payload: &[u8]) -> Option<(&str, &str)> {
    let mut r = Reader(payload);
    if r.u8()? != KIND_ACCOUNT_V1 {
        return None;
    }
    let key = r.str()?;
    let password_record = r.str()?;
    let usable = r.0.is_empty() && !key.is_empty() && crypto::check_record(password_record).is_ok();
    usable.then_some((key, password_record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::temp_dir::TempDir;

    /// A real record of one round, so tests stay fast.
    fn record_for(password: &str) -> String {
        crypto::hash_password(password.as_bytes(), 1).unwrap()
    }

    #[test]
    fn appends_survive_a_reopen_and_the_latest_record_wins() {
        let dir = TempDir::new("accounts-reopen");
        let (first, second, other) = (record_for("one"), record_for("two"), record_for("x"));
        {
            let (mut log, accounts, found) = AccountLog::open(&dir.0).unwrap();
            assert_eq!((found.records, found.accounts), (0, 0));
            assert!(!accounts.is_registered("alice"));
            log.append("alice", &first).unwrap();
            log.append("bob", &other).unwrap();
            log.append("alice", &second).unwrap();
        }
        let (_log, accounts, found) = AccountLog::open(&dir.0).unwrap();
        assert_eq!((found.records, found.accounts, found.skipped), (3, 2, 0));
        assert_eq!(accounts.password_record("alice"), Some(second.as_str()));
        assert_eq!(accounts.password_record("bob"), Some(other.as_str()));
        assert_eq!(accounts.password_record("carol"), None);
        assert_eq!(found.dropped_bytes, 0);
        assert_eq!(
            found.file_bytes,
            fs::metadata(dir.join(ACCOUNTS)).unwrap().len()
        );
        assert!(found
            .to_string()
            .starts_with("accounts: 2 registered names from "));
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_at_every_offset() {
        let dir = TempDir::new("torn");
        let (a, b) = (record_for("aaaaaaaa"), record_for("bbbbbbbb"));
        {
            let (mut log, _, _) = AccountLog::open(&dir.0).unwrap();
            log.append("alice", &a).unwrap();
            log.append("bob", &b).unwrap();
        }
        let whole = fs::read(dir.join(ACCOUNTS)).unwrap();
        let first_end = record::encoded_len(1 + 4 + 5 + 4 + a.len());
        for cut in first_end..whole.len() {
            fs::write(dir.join(ACCOUNTS), &whole[..cut]).unwrap();
            let (mut log, accounts, found) = AccountLog::open(&dir.0).unwrap();
            assert_eq!(found.dropped_bytes, (cut - first_end) as u64, "cut {cut}");
            assert!(accounts.is_registered("alice") && !accounts.is_registered("bob"));
            // The file is whole again, and appends go on after alice.
            log.append("carol", &b).unwrap();
            let (_, accounts, found) = AccountLog::open(&dir.0).unwrap();
            assert_eq!((found.accounts, found.dropped_bytes), (2, 0), "cut {cut}");
            assert!(accounts.is_registered("carol"));
        }
        // A flipped bit in bob's record: bob is cut, alice kept.
        let mut bad = whole.clone();
        bad[first_end + 12] ^= 0x10;
        fs::write(dir.join(ACCOUNTS), &bad).unwrap();
        let (_, accounts, found) = AccountLog::open(&dir.0).unwrap();
        assert!(accounts.is_registered("alice") && !accounts.is_registered("bob"));
        assert_eq!(found.dropped_bytes, (whole.len() - first_end) as u64);
        assert!(found.to_string().contains("cut "), "{found}");
    }

    #[test]
    fn unusable_records_are_skipped_and_garbage_never_panics() {
        let dir = TempDir::new("skipped");
        fs::create_dir_all(&dir.0).unwrap();
        let good = record_for("good-one");
        let mut bytes = Vec::new();
        let mut put = |kind: u8, key: &str, rec: &str| {
            record::encode_with(&mut bytes, |out| {
                out.push(kind);
                put_str(out, key);
                put_str(out, rec);
            })
            .unwrap();
        };
        put(2, "future", &good);
        put(1, "bad", "pbkdf2-sha256$1$$");
        put(1, "", &good);
        put(1, "alice", &good);
        record::encode(&[1, 9, 9], &mut bytes).unwrap();
        fs::write(dir.join(ACCOUNTS), &bytes).unwrap();
        let (_, accounts, found) = AccountLog::open(&dir.0).unwrap();
        assert_eq!((found.records, found.skipped, found.accounts), (5, 4, 1));
        assert!(accounts.is_registered("alice"));
        assert!(found.to_string().contains("skipped 4"), "{found}");
        for seed in 0..200u32 {
            let garbage: Vec<u8> = (0..seed).map(|i| (i * 7 + seed) as u8).collect();
            fs::write(dir.join(ACCOUNTS), &garbage).unwrap();
            let _ = AccountLog::open(&dir.0).unwrap();
        }
    }

    #[test]
    fn a_failed_write_adds_nothing() {
        let dir = TempDir::new("failed");
        let (mut log, _, _) = AccountLog::open(&dir.0).unwrap();
        log.append("alice", &record_for("first")).unwrap();
        // Writes through a read-only handle fail.
        let len = log.len;
        log.file = Some(File::open(dir.join(ACCOUNTS)).unwrap());
        assert!(log.append("bob", &record_for("second")).is_err());
        assert_eq!(log.len, len);
        let (_, accounts, found) = AccountLog::open(&dir.0).unwrap();
        assert_eq!((found.accounts, found.dropped_bytes), (1, 0));
        assert!(!accounts.is_registered("bob"));
    }

    #[test]
    fn in_memory_appends_store_nothing_and_debug_shows_no_record() {
        let (mut log, mut accounts) = AccountLog::in_memory();
        let rec = record_for("secret!!");
        log.append("alice", &rec).unwrap();
        accounts.set("alice".into(), rec.clone());
        let shown = format!("{accounts:?} {log:?}");
        assert_eq!(format!("{accounts:?}"), "Accounts(1 registered)");
        assert!(!shown.contains(&rec));
    }
}
