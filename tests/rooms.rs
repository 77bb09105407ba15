//! Rooms over real sockets: every row and error of the rooms table, the lobby
//! rules, the limits, and one order per room with concurrent senders.

mod common;

use std::collections::HashMap;
use std::thread;

use std::time::Instant;

use common::{start, start_with, Client, PATIENCE};

/// Logs in `name` and joins `room`, reading the joiner's own JOIN line and
/// the (empty) replay block.
fn joined(addr: std::net::SocketAddr, name: &str, room: &str) -> Client {
    let mut client = Client::login(addr, name);
    client.send(&format!("JOIN {room}"));
    client.expect(&format!("JOIN {room} {name}"));
    client
}

#[test]
fn join_part_and_room_messages() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    alice.send("JOIN #Rust");
    alice.expect("JOIN #Rust alice");
    alice.expect("HISTORY #Rust 0");
    // The room keeps the spelling it was created with.
    bob.send("join #rust");
    bob.expect("JOIN #Rust bob");
    bob.expect("HISTORY #Rust 0");
    alice.expect("JOIN #Rust bob");
    bob.send("MSG #RUST hello room");
    bob.expect("MSG #Rust bob hello room");
    alice.expect("MSG #Rust bob hello room");
    // A third user outside the room sees none of it.
    let mut carol = Client::login(server.addr(), "carol");
    alice.expect("INFO carol connected");
    bob.expect("INFO carol connected");
    carol.send("MSG #rust let me in");
    carol.expect("ERR not-in-room");
    bob.send("PART #rust");
    bob.expect("PART #Rust bob");
    alice.expect("PART #Rust bob");
    bob.send("PART #rust");
    bob.expect("ERR not-in-room");
    bob.send("MSG #rust still here?");
    bob.expect("ERR not-in-room");
    carol.expect_nothing_pending();
    alice.expect_nothing_pending();
}

#[test]
fn room_errors() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    for bad in [
        "JOIN",
        "JOIN rust",
        "JOIN #",
        "JOIN #sp ace",
        "JOIN #é",
        "PART",
        "PART x",
    ] {
        alice.send(bad);
        alice.expect("ERR invalid-room");
    }
    alice.send(&format!("JOIN #{}", "x".repeat(33)));
    alice.expect("ERR invalid-room");
    alice.send(&format!("JOIN #{}", "x".repeat(32)));
    alice.expect(&format!("JOIN #{} alice", "x".repeat(32)));
    alice.expect(&format!("HISTORY #{} 0", "x".repeat(32)));
    alice.send("MSG # hi");
    alice.expect("ERR invalid-room");
    alice.send("MSG #b@d hi");
    alice.expect("ERR invalid-room");
    alice.send("JOIN #a");
    alice.expect("JOIN #a alice");
    alice.expect("HISTORY #a 0");
    alice.send("JOIN #A");
    alice.expect("ERR already-in-room");
    alice.send("MSG #a");
    alice.expect("ERR empty-message");
    alice.send("WHO #nobody-here");
    alice.expect("ERR no-such-room");
    alice.send("WHO #b@d");
    alice.expect("ERR invalid-room");
    alice.send("HISTORY #b@d");
    alice.expect("ERR invalid-room");
    alice.expect_nothing_pending();
}

#[test]
fn the_lobby_is_everybody_always() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    alice.send("JOIN #lobby");
    alice.expect("ERR already-in-room");
    alice.send("PART #Lobby");
    alice.expect("ERR cannot-leave-lobby");
    // MSG #lobby is the v1 MSG; text starting with # goes through #lobby.
    alice.send("MSG #lobby #hashtag news");
    alice.expect("MSG alice #hashtag news");
    bob.expect("MSG alice #hashtag news");
    bob.send("MSG plain");
    alice.expect("MSG bob plain");
    bob.expect("MSG bob plain");
    alice.send("WHO #lobby");
    alice.expect("USER alice");
    alice.expect("USER bob");
    alice.send("WHO");
    alice.expect("USER alice");
    alice.expect("USER bob");
    alice.expect_nothing_pending();
}

#[test]
fn who_and_rooms_list_members_sorted() {
    let server = start();
    let mut zed = joined(server.addr(), "Zed", "#b");
    zed.expect("HISTORY #b 0");
    let mut amy = joined(server.addr(), "amy", "#b");
    amy.expect("HISTORY #b 0");
    amy.send("JOIN #A");
    amy.expect("JOIN #A amy");
    amy.expect("HISTORY #A 0");
    let mut bob = Client::login(server.addr(), "bob");
    amy.expect("INFO bob connected");
    bob.send("WHO #B");
    bob.expect("USER amy");
    bob.expect("USER Zed");
    bob.send("ROOMS");
    bob.expect("ROOM #A 1");
    bob.expect("ROOM #b 2");
    bob.expect("ROOM #lobby 3");
    bob.expect_nothing_pending();
    // A room with nobody left is gone from the list.
    amy.send("PART #a");
    amy.expect("PART #A amy");
    bob.send("ROOMS");
    bob.expect("ROOM #b 2");
    bob.expect("ROOM #lobby 3");
    bob.expect_nothing_pending();
    drop(zed);
}

#[test]
fn leaving_the_server_leaves_every_room_without_part_lines() {
    let server = start();
    let mut alice = joined(server.addr(), "alice", "#r");
    alice.expect("HISTORY #r 0");
    let mut bob = joined(server.addr(), "bob", "#r");
    bob.expect("HISTORY #r 0");
    alice.expect("INFO bob connected");
    alice.expect("JOIN #r bob");
    bob.send("QUIT");
    bob.expect("BYE");
    alice.expect("INFO bob disconnected");
    alice.send("WHO #r");
    alice.expect("USER alice");
    alice.expect_nothing_pending();
}

#[test]
fn room_limits() {
    let server = start_with(|config| {
        config.max_rooms_per_user = 2;
        config.max_rooms = 3;
    });
    let mut alice = Client::login(server.addr(), "alice");
    for room in ["#a", "#b"] {
        alice.send(&format!("JOIN {room}"));
        alice.expect(&format!("JOIN {room} alice"));
        alice.expect(&format!("HISTORY {room} 0"));
    }
    alice.send("JOIN #c");
    alice.expect("ERR too-many-rooms");
    let mut bob = Client::login(server.addr(), "bob");
    bob.send("JOIN #c");
    bob.expect("JOIN #c bob");
    bob.expect("HISTORY #c 0");
    // Three rooms have members: a fourth cannot be made, an existing one joined.
    bob.send("JOIN #d");
    bob.expect("ERR too-many-rooms");
    bob.send("JOIN #a");
    bob.expect("JOIN #a bob");
    bob.expect("HISTORY #a 0");
    alice.expect("INFO bob connected");
    alice.expect("JOIN #a bob");
    alice.expect_nothing_pending();
}

#[test]
fn commands_before_login_are_refused() {
    let server = start();
    let mut c = Client::connect(server.addr());
    for line in [
        "JOIN #a",
        "PART #a",
        "MSG #a hi",
        "WHO #a",
        "ROOMS",
        "HISTORY",
        "HISTORY #a 5",
    ] {
        c.send(line);
        c.expect("ERR not-logged-in");
    }
    c.expect_nothing_pending();
}

#[test]
fn help_lists_the_room_commands() {
    let server = start();
    let mut c = Client::connect(server.addr());
    c.send("HELP");
    let mut help = String::new();
    loop {
        let line = c.line();
        help.push_str(&line);
        help.push('\n');
        if line.starts_with("INFO QUIT") {
            break;
        }
    }
    for command in [
        "JOIN #room",
        "PART #room",
        "ROOMS",
        "HISTORY [#room] [N]",
        "MSG #room",
    ] {
        assert!(help.contains(command), "{command} missing from {help}");
    }
}

/// Senders in three rooms at once, each member of two: every member of a room
/// sees all of its messages, once, in one and the same order.
#[test]
fn one_order_per_room_with_concurrent_senders() {
    const PER_SENDER: usize = 200;
    let server = start();
    let addr = server.addr();
    let rooms = ["#r0", "#r1", "#r2"];
    // Listener i is in rooms i and i+1.
    let mut listeners: Vec<Client> = (0..3)
        .map(|i| {
            let name = format!("listener{i}");
            let mut client = Client::login(addr, &name);
            for room in [rooms[i], rooms[(i + 1) % 3]] {
                client.send(&format!("JOIN {room}"));
                client.expect(&format!("JOIN {room} {name}"));
                client.expect(&format!("HISTORY {room} 0"));
            }
            client.expect_nothing_pending();
            client
        })
        .collect();
    // Drain join notices so only messages remain.
    for client in &mut listeners {
        client.send("PING ready");
        while client.line() != "PONG ready" {}
    }
    let senders: Vec<_> = (0..6)
        .map(|s| {
            thread::spawn(move || {
                let name = format!("sender{s}");
                let room = rooms[s % 3];
                let mut client = Client::login(addr, &name);
                client.send(&format!("JOIN {room}"));
                let joined = format!("JOIN {room} {name}");
                while client.line() != joined {}
                for n in 0..PER_SENDER {
                    client.send(&format!("MSG {room} {n}"));
                }
                client.send("PING done");
                while client.line() != "PONG done" {}
                client
            })
        })
        .collect();
    let senders: Vec<Client> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    // Each room gets 2 senders x PER_SENDER messages.
    let mut seen: Vec<HashMap<String, Vec<String>>> = Vec::new();
    for client in &mut listeners {
        let mut per_room: HashMap<String, Vec<String>> = HashMap::new();
        let mut total = 0;
        while total < 2 * 2 * PER_SENDER {
            let line = client.line();
            let Some(rest) = line.strip_prefix("MSG #") else {
                continue;
            };
            let (room, message) = rest.split_once(' ').unwrap();
            per_room
                .entry(format!("#{room}"))
                .or_default()
                .push(message.to_string());
            total += 1;
        }
        // Nothing more than that: only notices may follow.
        client.send("PING end");
        loop {
            let line = client.line();
            assert!(!line.starts_with("MSG "), "a message too many: {line}");
            if line == "PONG end" {
                break;
            }
        }
        seen.push(per_room);
    }
    for (i, room) in rooms.iter().enumerate() {
        // Room i is heard by listener i and listener i-1.
        let a = &seen[i][*room];
        let b = &seen[(i + 2) % 3][*room];
        assert_eq!(a.len(), 2 * PER_SENDER, "{room}");
        assert_eq!(a, b, "{room}: two members saw different orders");
        for sender in [i, i + 3] {
            let mine: Vec<&String> = a
                .iter()
                .filter(|m| m.starts_with(&format!("sender{sender} ")))
                .collect();
            let want: Vec<String> = (0..PER_SENDER)
                .map(|n| format!("sender{sender} {n}"))
                .collect();
            assert_eq!(
                mine,
                want.iter().collect::<Vec<_>>(),
                "{room} sender{sender}"
            );
        }
    }
    drop(senders);
}

/// A v1 client (LOGIN, MSG, DM, WHO, PING, QUIT only) among users of rooms
/// sees exactly the lines it always saw: nothing of the rooms.
#[test]
fn a_v1_client_sees_nothing_of_the_rooms() {
    let server = start();
    let mut v1 = Client::login(server.addr(), "oldtimer");
    let mut alice = joined(server.addr(), "alice", "#rust");
    alice.expect("HISTORY #rust 0");
    let mut bob = joined(server.addr(), "bob", "#rust");
    bob.expect("HISTORY #rust 0");
    alice.send("MSG #rust room talk");
    alice.send("MSG lobby talk");
    alice.skip_until("MSG alice lobby talk", Instant::now() + PATIENCE);
    bob.send("PART #rust");
    bob.send("DM oldtimer psst");
    bob.send("QUIT");
    bob.skip_until("BYE", Instant::now() + PATIENCE);
    v1.send("WHO");
    v1.send("PING end");
    let mut seen = Vec::new();
    loop {
        let line = v1.line();
        if line == "PONG end" {
            break;
        }
        seen.push(line);
    }
    assert_eq!(
        seen,
        [
            "INFO alice connected",
            "INFO bob connected",
            "MSG alice lobby talk",
            "DM bob psst",
            "INFO bob disconnected",
            "USER alice",
            "USER oldtimer",
        ]
    );
}
