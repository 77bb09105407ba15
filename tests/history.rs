//! History over real sockets: `HISTORY` blocks, replay on join, retention,
//! and blocks never interrupted by live lines. (Restarts and damaged logs
//! are in `tests/persistence.rs`.)

mod common;

use std::thread;

use common::{start, start_with, Client};

/// `(seq, from, text)` of each line of the next history block of `room`.
fn read_block(client: &mut Client, room: &str) -> Vec<(u64, String, String)> {
    client
        .read_history(room)
        .into_iter()
        .map(|hist| (hist.seq, hist.from, hist.text))
        .collect()
}

#[test]
fn history_of_the_lobby_and_a_room() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    alice.send("HISTORY");
    alice.expect("HISTORY #lobby 0");
    alice.send("HISTORY #never-used");
    alice.expect("HISTORY #never-used 0");
    for n in 1..=3 {
        alice.send(&format!("MSG lobby {n}"));
        alice.expect(&format!("MSG alice lobby {n}"));
    }
    alice.send("JOIN #rust");
    alice.expect("JOIN #rust alice");
    alice.expect("HISTORY #rust 0");
    alice.send("MSG #rust in the room");
    alice.expect("MSG #rust alice in the room");
    alice.send("HISTORY");
    let lobby = read_block(&mut alice, "#lobby");
    let want: Vec<(u64, String, String)> = (1..=3)
        .map(|n| (n, "alice".to_string(), format!("lobby {n}")))
        .collect();
    assert_eq!(lobby, want);
    alice.send("HISTORY 2");
    let last_two = read_block(&mut alice, "#lobby");
    assert_eq!(last_two, want[1..]);
    alice.send("HISTORY #RUST 1000");
    assert_eq!(
        read_block(&mut alice, "#rust"),
        vec![(1, "alice".to_string(), "in the room".to_string())]
    );
    // Rooms are public: a non-member reads it too, and WHO.
    let mut bob = Client::login(server.addr(), "bob");
    bob.send("HISTORY #rust");
    assert_eq!(read_block(&mut bob, "#rust").len(), 1);
    bob.send("WHO #rust");
    bob.expect("USER alice");
    for bad in [
        "HISTORY 0",
        "HISTORY 1001",
        "HISTORY x",
        "HISTORY #rust 5 5",
    ] {
        bob.send(bad);
        bob.expect("ERR invalid-history");
    }
    bob.expect_nothing_pending();
}

#[test]
fn joins_parts_and_dms_are_not_history() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    bob.send("DM alice secret");
    alice.expect("DM bob secret");
    bob.send("JOIN #r");
    bob.expect("JOIN #r bob");
    bob.expect("HISTORY #r 0");
    bob.send("PART #r");
    bob.expect("PART #r bob");
    alice.send("HISTORY");
    alice.expect("HISTORY #lobby 0");
    alice.send("HISTORY #r");
    alice.expect("HISTORY #r 0");
}

#[test]
fn a_joiner_is_shown_the_last_messages_and_a_room_that_empties_keeps_them() {
    let server = start_with(|config| config.replay = 3);
    let mut alice = Client::login(server.addr(), "alice");
    alice.send("JOIN #rust");
    alice.expect("JOIN #rust alice");
    alice.expect("HISTORY #rust 0");
    for n in 1..=5 {
        alice.send(&format!("MSG #rust m{n}"));
        alice.expect(&format!("MSG #rust alice m{n}"));
    }
    let mut bob = Client::login(server.addr(), "bob");
    bob.send("JOIN #rust");
    bob.expect("JOIN #rust bob");
    let replay = read_block(&mut bob, "#rust");
    let texts: Vec<&str> = replay.iter().map(|(_, _, text)| text.as_str()).collect();
    assert_eq!(texts, ["m3", "m4", "m5"]);
    assert_eq!(replay[0].0, 3);
    alice.expect("INFO bob connected");
    alice.expect("JOIN #rust bob");
    // Everybody leaves; the room is gone, its history is not.
    alice.send("PART #rust");
    alice.expect("PART #rust alice");
    bob.expect("PART #rust alice");
    bob.send("PART #rust");
    bob.expect("PART #rust bob");
    let mut carol = Client::login(server.addr(), "carol");
    carol.send("ROOMS");
    carol.expect("ROOM #lobby 3");
    carol.send("JOIN #rust");
    carol.expect("JOIN #rust carol");
    assert_eq!(read_block(&mut carol, "#rust").len(), 3);
    carol.send("MSG #rust again");
    carol.expect("MSG #rust carol again");
    carol.send("HISTORY #rust 1");
    assert_eq!(
        read_block(&mut carol, "#rust")[0].0,
        6,
        "sequence numbers go on"
    );
}

#[test]
fn replay_zero_sends_no_block() {
    let server = start_with(|config| config.replay = 0);
    let mut alice = Client::login(server.addr(), "alice");
    alice.send("JOIN #quiet");
    alice.expect("JOIN #quiet alice");
    alice.expect_nothing_pending();
}

#[test]
fn retention_keeps_the_newest() {
    let server = start_with(|config| config.history_keep = 5);
    let mut alice = Client::login(server.addr(), "alice");
    for n in 1..=12 {
        alice.send(&format!("MSG m{n}"));
        alice.expect(&format!("MSG alice m{n}"));
    }
    alice.send("HISTORY 1000");
    let kept = read_block(&mut alice, "#lobby");
    let seqs: Vec<u64> = kept.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, [8, 9, 10, 11, 12]);
}

/// Three users who join `#busy` and each send `count` messages there.
fn flood_busy(addr: std::net::SocketAddr, count: usize) -> Vec<thread::JoinHandle<()>> {
    (0..3)
        .map(|f| {
            thread::spawn(move || {
                let name = format!("flooder{f}");
                let mut client = Client::login(addr, &name);
                client.send("JOIN #busy");
                let joined = format!("JOIN #busy {name}");
                while client.line() != joined {}
                for n in 0..count {
                    client.send(&format!("MSG #busy {n}"));
                }
                client.send("PING done");
                while client.line() != "PONG done" {}
            })
        })
        .collect()
}

/// While others flood the room, a history block arrives whole: header, then
/// exactly its lines, nothing in between.
#[test]
fn history_blocks_are_never_interrupted() {
    let server = start();
    let addr = server.addr();
    let mut reader = Client::login(addr, "reader");
    reader.send("JOIN #busy");
    reader.expect("JOIN #busy reader");
    reader.expect("HISTORY #busy 0");
    let flooders = flood_busy(addr, 300);
    let mut blocks = 0;
    for _ in 0..20 {
        reader.send("HISTORY #busy 100");
        // Skip live lines until the block starts, then read it whole.
        loop {
            let line = reader.line();
            if let Some(count) = line.strip_prefix("HISTORY #busy ") {
                let count: usize = count.parse().unwrap();
                for _ in 0..count {
                    let line = reader.line();
                    assert!(line.starts_with("HIST #busy "), "interrupted by {line}");
                }
                blocks += 1;
                break;
            }
        }
    }
    assert_eq!(blocks, 20);
    for flooder in flooders {
        flooder.join().unwrap();
    }
}

/// A `HISTORY` answer agrees with the live lines around it: every message a
/// member received before the block is in it, and none received after it is,
/// so a client can merge the two by sequence number (the web page does, after
/// a reconnect) without a gap or a duplicate.
#[test]
fn a_history_block_splits_the_live_lines_exactly() {
    let server = start();
    let addr = server.addr();
    let mut reader = Client::login(addr, "reader");
    reader.send("JOIN #busy");
    reader.expect("JOIN #busy reader");
    reader.expect("HISTORY #busy 0");
    let flooders = flood_busy(addr, 2000);
    // The reader joined first, so the n-th live message it gets has seq n.
    let mut live = 0u64;
    let mut joined = 0;
    while joined < 3 {
        let line = reader.line();
        if line.starts_with("JOIN #busy flooder") {
            joined += 1;
        } else if line.starts_with("MSG #busy ") {
            live += 1;
        }
    }
    // Big blocks: the longer a block takes to queue, the likelier a live
    // line is to come between the lock and the queue, if it can.
    for _ in 0..100 {
        reader.send("HISTORY #busy 1000");
        loop {
            let line = reader.line();
            if line.starts_with("MSG #busy ") {
                live += 1;
            } else if let Some(count) = line.strip_prefix("HISTORY #busy ") {
                let count: usize = count.parse().unwrap();
                let mut newest = 0;
                for _ in 0..count {
                    let hist = reader.line();
                    let seq = hist
                        .strip_prefix("HIST #busy ")
                        .and_then(|rest| rest.split(' ').next().and_then(|seq| seq.parse().ok()));
                    newest = seq.unwrap_or_else(|| panic!("not a history line: {hist}"));
                }
                assert_eq!(
                    newest, live,
                    "the block's newest seq vs live lines before it"
                );
                break;
            }
        }
    }
    for flooder in flooders {
        flooder.join().unwrap();
    }
}
