//! History's tests: round trips, recovery of damaged logs, retention,
//! compaction, durability and failing writes, on temp directories.

use super::*;
use crate::store::disk::Inject;
use crate::store::temp_dir::TempDir;
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn open(dir: &TempDir, keep: usize) -> (History, Recovered) {
    History::open(&dir.0, keep, Fsync::EverySecond).unwrap()
}

fn say(h: &mut History, room: &str, text: &str) -> u64 {
    let key = room.to_lowercase();
    h.append(&key, room, "ann", text, 1_000 + text.len() as u64)
        .unwrap()
        .seq
}

fn texts(h: &History, room: &str) -> Vec<(u64, String)> {
    h.recent(room, usize::MAX)
        .map(|m| (m.seq, m.text.clone()))
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Writes records for (room, seq, text) straight into a log.
fn raw_records(items: &[(&str, u64, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(room, seq, text) in items {
        let fields = Parsed {
            seq,
            time_ms: 5,
            room_key: room,
            room_display: room,
            from: "bob",
            text,
        };
        payload::encode_record(&fields, &mut out).unwrap();
    }
    out
}

#[test]
fn handles_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<History>();
    send_sync::<Durable>();
    send_sync::<OpenError>();
}

#[test]
fn in_memory_history() {
    let mut h = History::in_memory(3);
    assert_eq!(say(&mut h, "#Rust", "a"), 1);
    assert_eq!(say(&mut h, "#Rust", "b"), 2);
    assert_eq!(say(&mut h, "#go", "x"), 1);
    let m = h.append("#rust", "#RUST", "bo", "c", 77).unwrap();
    assert_eq!(
        *m,
        Message {
            seq: 3,
            time_ms: 77,
            from: "bo".into(),
            text: "c".into()
        }
    );
    say(&mut h, "#Rust", "d");
    assert_eq!(
        texts(&h, "#rust"),
        [(2, "b".into()), (3, "c".into()), (4, "d".into())]
    );
    let last2: Vec<u64> = h.recent("#rust", 2).map(|m| m.seq).collect();
    assert_eq!(last2, [3, 4]);
    assert_eq!(h.display_name("#rust"), Some("#Rust"));
    assert_eq!(h.display_name("#nope"), None);
    assert_eq!(h.recent("#nope", 10).count(), 0);
    assert_eq!(h.last_seq("#rust"), 4);
    assert_eq!(h.rooms().count(), 2);
    h.durable().wait();
    h.sync().unwrap();
}

#[test]
fn reopen_continues_seqs() {
    let dir = TempDir::new("reopen");
    {
        let (mut h, found) = open(&dir, 100);
        assert_eq!(
            (found.records, found.dropped_bytes, found.log_bytes),
            (0, 0, 0)
        );
        for i in 0..5 {
            say(&mut h, "#Rust", &format!("r{i}"));
            say(&mut h, "#Go", &format!("g{i}"));
        }
    }
    let (mut h, found) = open(&dir, 100);
    assert_eq!((found.records, found.messages, found.rooms), (10, 10, 2));
    assert_eq!((found.skipped, found.dropped_bytes), (0, 0));
    assert_eq!(found.log_bytes, fs::metadata(dir.join(LOG)).unwrap().len());
    assert!(found
        .to_string()
        .starts_with("history: 10 messages in 2 rooms"));
    assert_eq!(texts(&h, "#rust")[4], (5, "r4".into()));
    assert_eq!(h.display_name("#go"), Some("#Go"));
    assert_eq!(say(&mut h, "#RUST", "r5"), 6);
    assert_eq!(say(&mut h, "#new", "n"), 1);
    drop(h);
    let (h, _) = open(&dir, 100);
    assert_eq!(texts(&h, "#rust").len(), 6);
    // The display name stays the first spelling.
    assert_eq!(h.display_name("#rust"), Some("#Rust"));
    assert_eq!(h.recent("#rust", 1).next().unwrap().time_ms, 1_002);
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let dir = TempDir::new("torn");
    {
        let (mut h, _) = open(&dir, 100);
        say(&mut h, "#a", "one");
        say(&mut h, "#a", "two");
        say(&mut h, "#b", "three, the last record");
    }
    let whole = fs::read(dir.join(LOG)).unwrap();
    let last_start = raw_records(&[("#a", 1, "one"), ("#a", 2, "two")]).len();
    for cut in last_start..whole.len() {
        let dir = TempDir::new("torn-cut");
        fs::create_dir_all(&dir.0).unwrap();
        fs::write(dir.join(LOG), &whole[..cut]).unwrap();
        {
            let (mut h, found) = open(&dir, 100);
            assert_eq!(found.dropped_bytes, (cut - last_start) as u64, "cut {cut}");
            assert_eq!((found.records, found.messages), (2, 2));
            assert_eq!(
                fs::metadata(dir.join(LOG)).unwrap().len(),
                last_start as u64
            );
            assert_eq!(h.display_name("#b"), None);
            assert_eq!(say(&mut h, "#a", "after"), 3);
            assert_eq!(say(&mut h, "#b", "b1"), 1);
        }
        let (h, found) = open(&dir, 100);
        assert_eq!((found.records, found.dropped_bytes), (4, 0));
        assert_eq!(texts(&h, "#a")[2], (3, "after".into()));
        assert_eq!(texts(&h, "#b"), [(1, "b1".into())]);
    }
}

#[test]
fn garbage_and_odd_records_are_survived() {
    let dir = TempDir::new("garbage");
    fs::create_dir_all(&dir.0).unwrap();
    let mut log = raw_records(&[("#a", 1, "one"), ("#a", 2, "two")]);
    // Intact records that cannot be used: an unknown kind, a kind-1 payload
    // that does not parse, a duplicate seq, an older seq, seq 0.
    record::encode(b"\x09future record", &mut log).unwrap();
    record::encode(b"\x01short", &mut log).unwrap();
    log.extend(raw_records(&[
        ("#a", 2, "dup"),
        ("#a", 5, "five"),
        ("#a", 3, "late"),
        ("#z", 0, "zero"),
        ("#a", 6, "six"),
    ]));
    let good = log.len();
    log.extend_from_slice(b"\x05\0\0\0\xde\xad\xbe\xefgarbage after the records");
    fs::write(dir.join(LOG), &log).unwrap();
    {
        let (mut h, found) = open(&dir, 100);
        assert_eq!(found.dropped_bytes, (log.len() - good) as u64);
        assert_eq!((found.records, found.skipped, found.messages), (9, 5, 4));
        let seqs: Vec<u64> = h.recent("#a", 10).map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 5, 6]);
        assert_eq!(h.display_name("#z"), None);
        assert!(found.to_string().contains("skipped 5"));
        let cut = format!("cut {} bytes", log.len() - good);
        assert!(found.to_string().contains(&cut));
        assert_eq!(say(&mut h, "#a", "seven"), 7);
    }
    // Zeros (as left by some crashes) and random bytes.
    let mut bytes = fs::read(dir.join(LOG)).unwrap();
    let len = bytes.len();
    bytes.extend_from_slice(&[0; 100]);
    fs::write(dir.join(LOG), &bytes).unwrap();
    let (h, found) = open(&dir, 100);
    assert_eq!((found.dropped_bytes, found.log_bytes), (100, len as u64));
    assert_eq!(h.last_seq("#a"), 7);
    drop(h);
    let mut x = 0x1234_5678_9ABC_DEF0u64;
    for round in 0..20 {
        let mut junk = fs::read(dir.join(LOG)).unwrap();
        junk.truncate(len);
        for _ in 0..round * 7 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk.push(x as u8);
        }
        fs::write(dir.join(LOG), &junk).unwrap();
        let (h, found) = open(&dir, 100);
        assert_eq!((found.log_bytes, h.last_seq("#a")), (len as u64, 7));
    }
}

#[test]
fn a_second_open_is_refused_while_the_first_lives() {
    let dir = TempDir::new("lock");
    let (first, _) = open(&dir, 10);
    let err = History::open(&dir.0, 10, Fsync::Always).unwrap_err();
    assert!(matches!(&err, OpenError::Locked { dir: d } if *d == dir.0));
    assert_eq!(
        err.to_string(),
        format!(
            "data directory {} is in use by another chat-server",
            dir.0.display()
        )
    );
    drop(first);
    let (second, _) = open(&dir, 10);
    drop(second);
}

#[test]
fn open_reports_io_errors() {
    let dir = TempDir::new("io");
    fs::create_dir_all(dir.join(LOG)).unwrap(); // the log is a directory
    let err = History::open(&dir.0, 10, Fsync::EverySecond).unwrap_err();
    assert!(matches!(err, OpenError::Io { ref path, .. } if *path == dir.join(LOG)));
    // The message names the flag and the file, for the operator.
    let message = err.to_string();
    assert!(message.starts_with("cannot use the data directory (--data-dir): "));
    assert!(message.contains(&dir.join(LOG).display().to_string()));
}

#[test]
fn retention_in_memory_and_after_reopen() {
    let dir = TempDir::new("keep");
    {
        let (mut h, _) = open(&dir, 5);
        for i in 1..=20 {
            say(&mut h, "#a", &i.to_string());
        }
        let seqs: Vec<u64> = h.recent("#a", 100).map(|m| m.seq).collect();
        assert_eq!(seqs, [16, 17, 18, 19, 20]);
    }
    let (mut h, found) = open(&dir, 5);
    assert_eq!((found.records, found.messages), (20, 5));
    assert_eq!(texts(&h, "#a")[0], (16, "16".into()));
    assert_eq!(say(&mut h, "#a", "21"), 21);
    // Fewer kept after a restart with a smaller `keep`.
    drop(h);
    let (h, _) = open(&dir, 2);
    assert_eq!(texts(&h, "#a"), [(20, "20".into()), (21, "21".into())]);
}

#[test]
fn compaction_keeps_the_log_near_twice_the_retained_bytes() {
    let dir = TempDir::new("compact");
    let rooms = ["#a", "#B", "#c"];
    let (mut h, _) = open(&dir, 40);
    h.set_compaction_floor(4096);
    let shared = Arc::clone(h.shared());
    let longest = payload::record_overhead(4) as u64 + 3 + 40;
    let mut written = 0;
    for i in 0..6000 {
        let room = rooms[i % 3];
        let text = format!("message number {i} in {room}");
        say(&mut h, room, &text);
        written += payload::record_overhead(4) + 3 + text.len();
        // A writer slower than the compaction (one that outpaces it grows
        // the log by what it appends while a compaction runs).
        wait_until("compaction", || !shared.compacting());
        let size = fs::metadata(dir.join(LOG)).unwrap().len();
        assert_eq!(size, shared.log_len());
        assert!(
            size <= (2 * h.retained).max(4096) + 2 * longest,
            "log {size} bytes, retained {}",
            h.retained
        );
        assert!(size >= h.retained);
    }
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 2); // lock, log
    let compactions = shared.compactions();
    assert!(compactions >= 40, "{compactions} compactions");
    assert!(written > 40 * h.retained as usize);
    let before: Vec<_> = rooms.iter().map(|r| texts(&h, &r.to_lowercase())).collect();
    assert_eq!(before[0].len(), 40);
    assert_eq!(before[0][39].0, 2000);
    drop(h);
    let (mut h, found) = open(&dir, 40);
    let after: Vec<_> = rooms.iter().map(|r| texts(&h, &r.to_lowercase())).collect();
    assert_eq!(after, before);
    assert_eq!(found.dropped_bytes, 0);
    assert_eq!(h.display_name("#b"), Some("#B"));
    assert_eq!(say(&mut h, "#b", "next"), 2001);
}

#[test]
fn compaction_under_group_commit() {
    let dir = TempDir::new("compact-always");
    let (h, _) = History::open(&dir.0, 10, Fsync::Always).unwrap();
    let h = Arc::new(Mutex::new(h));
    h.lock().unwrap().set_compaction_floor(2048);
    let durable = h.lock().unwrap().durable();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (h, durable) = (Arc::clone(&h), durable.clone());
            std::thread::spawn(move || {
                for i in 0..150 {
                    let seq = {
                        let mut h = h.lock().unwrap();
                        let shared = Arc::clone(h.shared());
                        let seq = say(&mut h, &format!("#t{t}"), &format!("{i:>40}"));
                        (seq, shared)
                    };
                    let ticket = seq.1.appended();
                    durable.wait();
                    assert!(seq.1.synced() >= ticket);
                    assert_eq!(seq.0, i + 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let h = Arc::into_inner(h).unwrap().into_inner().unwrap();
    let shared = Arc::clone(h.shared());
    wait_until("compaction", || !shared.compacting());
    assert!(shared.compactions() >= 1);
    drop(h);
    let (h, _) = open(&dir, 10);
    assert_eq!(h.last_seq("#t0"), 150);
    assert_eq!(h.recent("#t1", 100).count(), 10);
}

#[test]
fn durable_wait_returns_after_a_sync() {
    let dir = TempDir::new("durable");
    let (h, _) = History::open(&dir.0, 100, Fsync::Always).unwrap();
    let shared = Arc::clone(h.shared());
    let h = Arc::new(Mutex::new(h));
    let durable = h.lock().unwrap().durable();
    durable.wait(); // nothing pending
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (h, durable, shared) = (Arc::clone(&h), durable.clone(), Arc::clone(&shared));
            std::thread::spawn(move || {
                for i in 0..20 {
                    say(&mut h.lock().unwrap(), "#a", &format!("{t}.{i}"));
                    let ticket = shared.appended();
                    durable.wait();
                    assert!(shared.synced() >= ticket);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(shared.synced(), 60);
    // The handle outlives the History without blocking.
    drop(h);
    assert_eq!(shared.synced(), u64::MAX);
    durable.wait();
    // Other modes: returns at once.
    History::in_memory(1).durable().wait();
}

#[test]
fn every_second_mode_syncs_within_a_second() {
    let dir = TempDir::new("every-second");
    let (mut h, _) = open(&dir, 100);
    let start = Instant::now();
    say(&mut h, "#a", "x");
    h.durable().wait(); // does not wait in this mode
    let shared = Arc::clone(h.shared());
    wait_until("the syncer", || shared.synced() >= 1);
    assert!(start.elapsed() < Duration::from_secs(2));
    say(&mut h, "#a", "y");
    h.sync().unwrap();
    assert_eq!(shared.synced(), 2);
}

#[test]
fn fsync_failures_are_reported_once_and_release_waiters() {
    let dir = TempDir::new("fsync-fail");
    let (mut h, _) = History::open(&dir.0, 100, Fsync::Always).unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    h.set_error_hook(move |e| sink.lock().unwrap().push(e.to_string()));
    let durable = h.durable();
    let shared = Arc::clone(h.shared());
    shared.inject(Inject {
        fail_sync: true,
        ..Inject::default()
    });
    for i in 0..3 {
        say(&mut h, "#a", &i.to_string());
        durable.wait();
    }
    assert!(h.sync().is_ok()); // nothing new since the last (failed) fsync
    say(&mut h, "#a", "3");
    assert!(h.sync().is_err());
    assert_eq!(reports.lock().unwrap().len(), 1);
    assert!(reports.lock().unwrap()[0].contains("fsync of"));
    shared.inject(Inject::default());
    say(&mut h, "#a", "4");
    h.sync().unwrap();
    shared.inject(Inject {
        fail_sync: true,
        ..Inject::default()
    });
    say(&mut h, "#a", "5");
    durable.wait();
    assert_eq!(reports.lock().unwrap().len(), 2);
    assert_eq!(h.last_seq("#a"), 6);
}

#[test]
fn a_failed_write_stores_nothing_and_appends_recover() {
    let dir = TempDir::new("write-fail");
    {
        let (mut h, _) = open(&dir, 100);
        say(&mut h, "#a", "one");
        let shared = Arc::clone(h.shared());
        let len = fs::metadata(dir.join(LOG)).unwrap().len();
        for short in [0, 1, 5, 8, 30] {
            shared.inject(Inject {
                short_write: Some(short),
                ..Inject::default()
            });
            let err = h.append("#a", "#a", "ann", "two", 9).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::StorageFull);
            assert_eq!(h.last_seq("#a"), 1);
            assert_eq!(h.recent("#a", 10).count(), 1);
            assert_eq!(fs::metadata(dir.join(LOG)).unwrap().len(), len);
            // A new room is not created by a failed append.
            assert!(h.append("#new", "#New", "ann", "x", 9).is_err());
            assert_eq!(h.display_name("#new"), None);
        }
        // The truncation fails too: the next append cuts the bytes first.
        shared.inject(Inject {
            short_write: Some(6),
            fail_truncate: true,
            ..Inject::default()
        });
        assert!(h.append("#a", "#a", "ann", "two", 9).is_err());
        assert_eq!(fs::metadata(dir.join(LOG)).unwrap().len(), len + 6);
        shared.inject(Inject {
            fail_truncate: true,
            ..Inject::default()
        });
        assert!(h.append("#a", "#a", "ann", "two", 9).is_err());
        shared.inject(Inject::default());
        assert_eq!(say(&mut h, "#a", "two"), 2);
        assert_eq!(say(&mut h, "#new", "x"), 1);
        assert_eq!(h.display_name("#new"), Some("#new"));
    }
    let (h, found) = open(&dir, 100);
    assert_eq!((found.records, found.dropped_bytes), (3, 0));
    assert_eq!(texts(&h, "#a"), [(1, "one".into()), (2, "two".into())]);
}

#[test]
fn a_message_too_long_for_a_record_is_refused() {
    let mut h = History::in_memory(10);
    let text = "x".repeat(record::MAX_PAYLOAD);
    let err = h.append("#a", "#a", "ann", &text, 1).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(h.last_seq("#a"), 0);
    assert_eq!(say(&mut h, "#a", "ok"), 1);
}

#[test]
fn a_leftover_compaction_file_is_ignored() {
    let dir = TempDir::new("leftover");
    {
        let (mut h, _) = open(&dir, 100);
        say(&mut h, "#a", "one");
    }
    fs::write(dir.0.join(LOG_NEW), raw_records(&[("#a", 9, "nine")])).unwrap();
    let (h, _) = open(&dir, 100);
    assert_eq!(h.last_seq("#a"), 1);
    assert!(!dir.0.join(LOG_NEW).exists());
}

#[test]
fn a_failed_compaction_is_reported_and_retried_later() {
    let dir = TempDir::new("compact-fail");
    // A directory where the compaction wants to create its file.
    fs::create_dir_all(dir.0.join(LOG_NEW)).unwrap();
    let (mut h, _) = open(&dir, 5);
    h.set_compaction_floor(1024);
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    h.set_error_hook(move |e| sink.lock().unwrap().push(e.to_string()));
    let shared = Arc::clone(h.shared());
    for i in 0..100 {
        say(&mut h, "#a", &format!("{i:>50}"));
        wait_until("compaction", || !shared.compacting());
    }
    let failures = reports.lock().unwrap().len();
    // One attempt per floor's worth of growth (9800 bytes written, 1024
    // floor), not one per append.
    assert!((5..=10).contains(&failures), "{failures} failures");
    assert!(reports.lock().unwrap()[0].starts_with("store: compaction of"));
    assert_eq!(shared.compactions(), 0);
    fs::remove_dir(dir.0.join(LOG_NEW)).unwrap();
    for i in 100..200 {
        say(&mut h, "#a", &format!("{i:>50}"));
        wait_until("compaction", || !shared.compacting());
    }
    assert!(shared.compactions() >= 1);
    assert_eq!(reports.lock().unwrap().len(), failures);
    drop(h);
    let (h, _) = open(&dir, 5);
    let seqs: Vec<u64> = h.recent("#a", 10).map(|m| m.seq).collect();
    assert_eq!(seqs, [196, 197, 198, 199, 200]);
}

#[test]
fn dropping_during_a_compaction_leaves_a_whole_log() {
    let dir = TempDir::new("compact-drop");
    let text = "y".repeat(1000);
    for round in 0..3u64 {
        let (mut h, _) = open(&dir, 1000);
        h.set_compaction_floor(1 << 20);
        for _ in 0..600 {
            say(&mut h, "#a", &text);
        }
        // The log holds about the retained bytes; pretend it holds more
        // than twice as much, so that a compaction starts, and drop the
        // History while it runs.
        h.set_compaction_floor(0);
        h.retained /= 4;
        h.maybe_compact();
        drop(h);
        assert!(!dir.0.join(LOG_NEW).exists());
        let (h, found) = open(&dir, 1000);
        assert_eq!(found.dropped_bytes, 0);
        assert_eq!(h.last_seq("#a"), 600 * (round + 1));
        assert_eq!(
            h.recent("#a", usize::MAX).count(),
            1000.min(600 * (round as usize + 1))
        );
    }
}
