//! The line protocol over real sockets: every row of the protocol table, every
//! `ERR`, join and leave notices, names, the idle timeout, and line framing.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::{start, start_with, Client};

#[test]
fn login_ok_and_others_are_told() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    bob.expect_nothing_pending();
    alice.expect_nothing_pending();
}

#[test]
fn login_errors_keep_the_connection_open() {
    let server = start();
    let _alice = Client::login(server.addr(), "Alice");
    let mut c = Client::connect(server.addr());
    c.send("LOGIN alice");
    c.expect("ERR username-taken");
    c.send("LOGIN ALICE");
    c.expect("ERR username-taken");
    for bad in ["", "two words", "sp@ce", &"x".repeat(33), "émile"] {
        c.send(&format!("LOGIN {bad}"));
        c.expect("ERR invalid-username");
    }
    c.send(&format!("LOGIN {}", "x".repeat(32)));
    c.expect("OK");
    c.send("LOGIN other");
    c.expect("ERR already-logged-in");
}

#[test]
fn msg_is_echoed_and_broadcast() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    bob.send("MSG hello  everyone ");
    bob.expect("MSG bob hello  everyone");
    alice.expect("MSG bob hello  everyone");
    bob.send("MSG");
    bob.expect("ERR empty-message");
    bob.send("MSG    ");
    bob.expect("ERR empty-message");
    alice.expect_nothing_pending();
}

#[test]
fn dm_reaches_only_its_target() {
    let server = start();
    let mut alice = Client::login(server.addr(), "Alice");
    let mut bob = Client::login(server.addr(), "bob");
    let mut carol = Client::login(server.addr(), "carol");
    alice.expect("INFO bob connected");
    alice.expect("INFO carol connected");
    bob.expect("INFO carol connected");
    bob.send("DM alice psst, over here");
    alice.expect("DM bob psst, over here");
    bob.expect_nothing_pending();
    carol.expect_nothing_pending();
    bob.send("DM nobody hi");
    bob.expect("ERR user-not-found");
    bob.send("DM bad/name hi");
    bob.expect("ERR user-not-found");
    bob.send("DM alice");
    bob.expect("ERR invalid-dm");
    bob.send("DM");
    bob.expect("ERR invalid-dm");
    alice.expect_nothing_pending();
}

#[test]
fn who_lists_everyone_sorted() {
    let server = start();
    let mut carol = Client::login(server.addr(), "carol");
    let _alice = Client::login(server.addr(), "Alice");
    let _bob = Client::login(server.addr(), "bob");
    carol.expect("INFO Alice connected");
    carol.expect("INFO bob connected");
    carol.send("WHO");
    carol.expect("USER Alice");
    carol.expect("USER bob");
    carol.expect("USER carol");
    carol.expect_nothing_pending();
}

#[test]
fn ping_with_and_without_token_and_before_login() {
    let server = start();
    let mut c = Client::connect(server.addr());
    c.send("PING");
    c.expect("PONG");
    c.send("ping 12345");
    c.expect("PONG 12345");
    c.send("PING a \u{1b}[31m b");
    c.expect("PONG a \u{FFFD}[31m b");
}

#[test]
fn talking_and_listing_need_login() {
    let server = start();
    let mut c = Client::connect(server.addr());
    for line in ["MSG hi", "MSG", "DM bob hi", "DM", "WHO"] {
        c.send(line);
        c.expect("ERR not-logged-in");
    }
}

#[test]
fn help_and_unknown_commands() {
    let server = start();
    let mut c = Client::connect(server.addr());
    c.send("HELP");
    let first = c.line();
    assert!(first.starts_with("INFO "), "{first}");
    let mut help = vec![first];
    c.send("PING end");
    loop {
        let line = c.line();
        if line == "PONG end" {
            break;
        }
        assert!(line.starts_with("INFO "), "{line}");
        help.push(line);
    }
    for word in ["LOGIN", "MSG", "DM", "WHO", "PING", "QUIT"] {
        assert!(
            help.iter().any(|l| l.contains(word)),
            "HELP mentions {word}"
        );
    }
    c.send("FROB x");
    c.expect("ERR unknown-command");
    c.send("LOGINalice");
    c.expect("ERR unknown-command");
}

#[test]
fn quit_says_bye_closes_and_frees_the_name() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    bob.send("quit");
    bob.expect("BYE");
    bob.expect_closed();
    alice.expect("INFO bob disconnected");
    let mut again = Client::login(server.addr(), "BOB");
    alice.expect("INFO BOB connected");
    again.expect_nothing_pending();
    alice.expect_nothing_pending();
}

#[test]
fn quit_before_login() {
    let server = start();
    let mut c = Client::connect(server.addr());
    c.send("QUIT");
    c.expect("BYE");
    c.expect_closed();
}

#[test]
fn closing_the_socket_announces_the_departure_once() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    drop(bob);
    alice.expect("INFO bob disconnected");
    alice.expect_nothing_pending();
    // The name is free at once.
    let _bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
}

#[test]
fn idle_clients_are_dropped_and_any_line_counts_as_activity() {
    let server = start_with(|c| c.idle_timeout = Duration::from_millis(1500));
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut idle = Client::login(server.addr(), "idle");
    watcher.expect("INFO idle connected");
    let mut anonymous = Client::connect(server.addr());
    let started = Instant::now();
    // The watcher keeps itself alive for twice the timeout with PINGs and
    // blank lines, noting whatever else arrives meanwhile.
    let mut other_lines = Vec::new();
    for i in 0..6 {
        thread::sleep(Duration::from_millis(500));
        if i % 2 == 0 {
            watcher.send("PING");
            loop {
                match watcher.line() {
                    pong if pong == "PONG" => break,
                    other => other_lines.push(other),
                }
            }
        } else {
            watcher.send("");
        }
    }
    idle.expect("BYE idle-timeout");
    idle.expect_closed();
    anonymous.expect("BYE idle-timeout");
    anonymous.expect_closed();
    assert!(started.elapsed() >= Duration::from_millis(1400));
    watcher.expect_nothing_pending();
    assert_eq!(other_lines, ["INFO idle disconnected"]);
}

#[test]
fn a_client_dribbling_bytes_without_newline_is_still_idle() {
    let server = start_with(|c| c.idle_timeout = Duration::from_millis(1000));
    let mut c = Client::connect(server.addr());
    let started = Instant::now();
    // A byte every 300 ms would keep a per-read timeout happy forever; the
    // timeout counts from the last complete line (here: the connection).
    for _ in 0..4 {
        c.stream.write_all(b"x").unwrap();
        thread::sleep(Duration::from_millis(300));
    }
    c.expect("BYE idle-timeout");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(1900),
        "dropped after {waited:?}"
    );
}

#[test]
fn crlf_split_packets_and_many_commands_per_packet() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut c = Client::connect(server.addr());
    // Split at every offset, one byte at a time.
    for byte in b"LOGIN bob\r\n" {
        c.send_raw(&[*byte]);
        thread::sleep(Duration::from_millis(2));
    }
    c.expect("OK");
    alice.expect("INFO bob connected");
    c.send_raw(b"PING 1\r\nMSG one\r\n\r\nMSG two\nPI");
    c.expect("PONG 1");
    c.expect("MSG bob one");
    c.expect("MSG bob two");
    c.send_raw(b"NG 2\r\n");
    c.expect("PONG 2");
    alice.expect("MSG bob one");
    alice.expect("MSG bob two");
}

#[test]
fn broadcasts_arrive_in_one_order_for_everybody() {
    let server = start();
    const SENDERS: usize = 4;
    const EACH: usize = 50;
    let mut listener = Client::login(server.addr(), "listener");
    let mut senders: Vec<Client> = (0..SENDERS)
        .map(|i| Client::login(server.addr(), &format!("s{i}")))
        .collect();
    for i in 0..SENDERS {
        listener.expect(&format!("INFO s{i} connected"));
    }
    for (i, sender) in senders.iter_mut().enumerate() {
        for _ in (i + 1)..SENDERS {
            sender.line(); // the join notices of later senders
        }
    }
    let handles: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, mut sender)| {
            thread::spawn(move || {
                for n in 0..EACH {
                    sender.send(&format!("MSG {n}"));
                }
                let seen: Vec<String> = (0..SENDERS * EACH).map(|_| sender.line()).collect();
                assert!(seen.iter().all(|l| l.starts_with("MSG s")), "sender {i}");
                seen
            })
        })
        .collect();
    let seen: Vec<String> = (0..SENDERS * EACH).map(|_| listener.line()).collect();
    for handle in handles {
        assert_eq!(
            handle.join().unwrap(),
            seen,
            "same order for every receiver"
        );
    }
    for i in 0..SENDERS {
        let mine: Vec<&String> = seen
            .iter()
            .filter(|l| l.starts_with(&format!("MSG s{i} ")))
            .collect();
        let expected: Vec<String> = (0..EACH).map(|n| format!("MSG s{i} {n}")).collect();
        assert_eq!(
            mine,
            expected.iter().collect::<Vec<_>>(),
            "each sender's messages in its order"
        );
    }
}
