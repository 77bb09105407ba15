//! History that survives: restarts on the same data directory (graceful, and
//! `kill -9` of the real binary during a flood), logs with a torn or garbage
//! tail, a full disk, and one server per data directory.

mod common;

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use chat::server::{Config, Server};
use common::{Client, Hist, Running, TempDir, PATIENCE};

fn on_disk(dir: &TempDir) -> Config {
    Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..common::config()
    }
}

/// Binds a server on `dir`, waiting while an earlier server in this process
/// still lets go of the directory (its last connection threads ending).
fn bind_on(dir: &TempDir) -> Server {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match Server::bind(on_disk(dir)) {
            Ok(server) => return server,
            Err(err) if Instant::now() < deadline && err.to_string().contains("in use") => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(err) => panic!("server does not start: {err}"),
        }
    }
}

/// Sends `query` and reads the history block of `room` it answers with.
fn history(client: &mut Client, query: &str, room: &str) -> Vec<Hist> {
    client.send(query);
    client.read_history(room)
}

fn texts(block: &[Hist]) -> Vec<&str> {
    block.iter().map(|hist| hist.text.as_str()).collect()
}

#[test]
fn a_restarted_server_remembers_every_room() {
    let dir = TempDir::new("restart");
    let server = bind_on(&dir);
    let mut alice = Client::login(server.addr(), "alice");
    alice.send("JOIN #Rust");
    alice.expect("JOIN #Rust alice");
    alice.expect("HISTORY #Rust 0");
    for n in 1..=3 {
        alice.send(&format!("MSG #rust r{n}"));
        alice.expect(&format!("MSG #Rust alice r{n}"));
        alice.send(&format!("MSG l{n}"));
        alice.expect(&format!("MSG alice l{n}"));
    }
    // Users still connected while it stops: their threads end after the hang-up.
    let connected: Vec<Client> = (0..20)
        .map(|i| Client::login(server.addr(), &format!("idle{i}")))
        .collect();
    server.stop();
    drop((alice, connected));

    // Stopped means the directory is free: a new server starts on it at once.
    let server = Server::bind(on_disk(&dir)).expect("the data directory is free after stop");
    let mut bob = Client::login(server.addr(), "bob");
    let rust = history(&mut bob, "HISTORY #rust", "#Rust");
    assert_eq!(texts(&rust), ["r1", "r2", "r3"]);
    assert_eq!(rust.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        texts(&history(&mut bob, "HISTORY", "#lobby")),
        ["l1", "l2", "l3"]
    );
    // Sequence numbers go on; the room keeps its first spelling.
    bob.send("JOIN #RUST");
    bob.expect("JOIN #Rust bob");
    assert_eq!(bob.read_history("#Rust").len(), 3);
    bob.send("MSG #rust r4");
    bob.expect("MSG #Rust bob r4");
    assert_eq!(history(&mut bob, "HISTORY #rust 1", "#Rust")[0].seq, 4);
}

/// Everything any client received before a `kill -9` is in `HISTORY` after
/// the restart, once, and sequence numbers go on from there.
#[test]
fn kill_9_during_a_flood_loses_nothing_anybody_saw() {
    let dir = TempDir::new("kill9");
    let mut server = Running::start(&["--data-dir", dir.arg()]);
    let addr = server.addr;
    let mut watcher = Client::login(addr, "watcher");
    let senders: Vec<_> = (0..3)
        .map(|s| {
            thread::spawn(move || {
                // The kill may come before this sender is even in.
                let mut client = Client::connect(addr);
                client.send(&format!("LOGIN sender{s}"));
                if client.try_line().as_deref() != Some("OK") {
                    return;
                }
                for n in 0..300 {
                    let line = format!("MSG s{s}-{n}\n");
                    if client.stream.write_all(line.as_bytes()).is_err() {
                        return;
                    }
                }
                // Read until the end (or the kill): closing with unread bytes
                // would reset the connection and drop lines not yet read.
                let _ = client.stream.write_all(b"PING done\n");
                while client.try_line().is_some_and(|line| line != "PONG done") {}
            })
        })
        .collect();
    let mut seen = Vec::new();
    while seen.len() < 250 {
        let line = watcher.line();
        if let Some(rest) = line.strip_prefix("MSG ") {
            seen.push(rest.split_once(' ').unwrap().1.to_string());
        }
    }
    server.child.kill().expect("kill -9");
    server.child.wait().unwrap();
    // What else reached the watcher before the connection died counts too.
    while let Some(line) = watcher.try_line() {
        if let Some(rest) = line.strip_prefix("MSG ") {
            seen.push(rest.split_once(' ').unwrap().1.to_string());
        }
    }
    for sender in senders {
        sender.join().unwrap();
    }

    let restarted = Running::start(&["--data-dir", dir.arg()]);
    let mut reader = Client::login(restarted.addr, "reader");
    let kept = history(&mut reader, "HISTORY 1000", "#lobby");
    let kept_texts: HashSet<&str> = texts(&kept).into_iter().collect();
    assert_eq!(kept_texts.len(), kept.len(), "a message stored twice");
    for text in &seen {
        assert!(
            kept_texts.contains(text.as_str()),
            "{text} was seen but lost"
        );
    }
    let seqs: Vec<u64> = kept.iter().map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gaps: {seqs:?}");
    reader.send("MSG after");
    reader.expect("MSG reader after");
    let last = history(&mut reader, "HISTORY 1", "#lobby");
    assert_eq!(last[0].seq, seqs.last().copied().unwrap_or(0) + 1);
}

/// Runs a server on `dir`, says `n` lobby messages, and stops it.
fn say_and_stop(dir: &TempDir, n: usize) {
    let server = bind_on(dir);
    let mut alice = Client::login(server.addr(), "alice");
    for i in 1..=n {
        alice.send(&format!("MSG m{i}"));
        alice.expect(&format!("MSG alice m{i}"));
    }
    drop(alice);
    server.stop();
}

#[test]
fn a_torn_last_record_is_cut_and_the_rest_kept() {
    let dir = TempDir::new("torn");
    say_and_stop(&dir, 5);
    let log = dir.path().join("log");
    let len = std::fs::metadata(&log).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let mut server = Running::start(&["--data-dir", dir.arg()]);
    let note = server.log_containing("history:");
    assert!(note.contains("dropped") || note.contains("cut"), "{note}");
    let mut bob = Client::login(server.addr, "bob");
    let kept = history(&mut bob, "HISTORY", "#lobby");
    assert_eq!(texts(&kept), ["m1", "m2", "m3", "m4"]);
    bob.send("MSG next");
    bob.expect("MSG bob next");
    assert_eq!(history(&mut bob, "HISTORY 1", "#lobby")[0].seq, 5);
}

#[test]
fn garbage_after_the_last_record_is_cut() {
    let dir = TempDir::new("garbage");
    say_and_stop(&dir, 3);
    let mut log = OpenOptions::new()
        .append(true)
        .open(dir.path().join("log"))
        .unwrap();
    log.write_all(b"\x07\x00\x00\x00garbage that is no record at all \xff\xfe")
        .unwrap();
    drop(log);
    let mut server = Running::start(&["--data-dir", dir.arg()]);
    let note = server.log_containing("history:");
    assert!(note.contains("dropped") || note.contains("cut"), "{note}");
    let mut bob = Client::login(server.addr, "bob");
    assert_eq!(
        texts(&history(&mut bob, "HISTORY", "#lobby")),
        ["m1", "m2", "m3"]
    );
}

#[test]
fn one_server_per_data_directory() {
    let dir = TempDir::new("owner");
    let _first = Running::start(&["--data-dir", dir.arg()]);
    let second = common::server_command()
        .args(["--data-dir", dir.arg()])
        .output()
        .expect("run a second chat-server");
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use"), "{err}");
    assert!(err.contains(dir.arg()), "{err}");
}

/// A small tmpfs the test mounts and unmounts (root only; skipped elsewhere).
struct SmallDisk(TempDir);

impl SmallDisk {
    fn mount(bytes: usize) -> Option<SmallDisk> {
        let dir = TempDir::new("tmpfs");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(self.0.path())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn a_full_disk_refuses_messages_and_recovers_when_there_is_room_again() {
    let Some(disk) = SmallDisk::mount(256 * 1024) else {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let data = disk.0.path().join("data");
    let dir = TempDir(data);
    std::fs::create_dir_all(dir.path()).unwrap();
    let server = Server::bind(on_disk(&dir)).expect("server starts");
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    // Fill the disk, leaving less room than one message needs.
    let filler = disk.0.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![b'x'; 4096];
    while file.write_all(&block).is_ok() {}
    let _ = file.write_all(b"x");
    while file.write_all(b"x").is_ok() {}
    drop(file);
    let text = "y".repeat(600);
    for _ in 0..3 {
        alice.send(&format!("MSG {text}"));
        alice.expect("ERR storage-failed");
    }
    bob.expect_nothing_pending();
    // Room again: messages flow, no restart.
    std::fs::remove_file(&filler).unwrap();
    alice.send("MSG back");
    alice.expect("MSG alice back");
    bob.expect("MSG alice back");
    assert_eq!(texts(&history(&mut bob, "HISTORY", "#lobby")), ["back"]);
    drop((alice, bob));
    server.stop();
    // Unmount only once the server has let go of its files.
    let deadline = Instant::now() + PATIENCE;
    while Command::new("umount")
        .arg(disk.0.path())
        .status()
        .is_ok_and(|status| !status.success())
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(50));
    }
    std::mem::forget(dir);
}
