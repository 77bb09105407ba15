//! Accounts in a cluster: one set of registered names in Redis for every
//! node (`REGISTER` on one, `ERR name-reserved` and `AUTH` on the others), a
//! takeover across nodes, and `ERR unavailable` without Redis.

use std::net::SocketAddr;
use std::time::Instant;

use super::{node, nodes, redis};
use crate::common::{Client, PATIENCE};
use chat::server::Server;

/// Connects and sends `AUTH name password`; the client and its answer.
fn auth(addr: SocketAddr, name: &str, password: &str) -> (Client, String) {
    let mut client = Client::connect(addr);
    client.send(&format!("AUTH {name} {password}"));
    let answer = client.line();
    (client, answer)
}

/// Connects and sends `LOGIN name`; the answer.
fn login_answer(addr: SocketAddr, name: &str) -> String {
    let mut client = Client::connect(addr);
    client.send(&format!("LOGIN {name}"));
    client.line()
}

/// The lines about `name` coming or going that `client` got, up to a `PING`
/// sent now: every one of them, whatever else came between.
fn notices_about(client: &mut Client, name: &str) -> Vec<String> {
    client.send("PING notices");
    let prefix = format!("INFO {name} ");
    let mut notices = Vec::new();
    for _ in 0..1000 {
        let line = client.line();
        if line == "PONG notices" {
            return notices;
        }
        if line.starts_with(&prefix) {
            notices.push(line);
        }
    }
    panic!("no PONG in 1000 lines; notices so far {notices:?}");
}

/// `AUTH alice` on the node at `addr`, alice being online as `old`: `old`
/// gets `BYE logged-in-elsewhere` and is closed, each watcher hears alice go
/// and come once each, in that order. The new session.
fn take_alice_over(addr: SocketAddr, mut old: Client, watchers: &mut [Client]) -> Client {
    let (new, answer) = auth(addr, "alice", "sesame open");
    assert_eq!(answer, "OK");
    old.skip_until("BYE logged-in-elsewhere", Instant::now() + PATIENCE);
    old.expect_closed();
    for watcher in watchers {
        assert_eq!(
            notices_about(watcher, "alice"),
            ["INFO alice disconnected", "INFO alice connected"]
        );
    }
    new
}

#[test]
fn a_name_registered_on_one_node_is_reserved_on_every_node_and_auth_works_on_any() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 3);
    let addrs: Vec<SocketAddr> = nodes.iter().map(Server::addr).collect();
    Client::register(addrs[0], "alice", "sesame open");
    // Reserved everywhere, case-insensitively, the node it was made on too.
    assert_eq!(login_answer(addrs[0], "alice"), "ERR name-reserved");
    assert_eq!(login_answer(addrs[1], "alice"), "ERR name-reserved");
    assert_eq!(login_answer(addrs[2], "ALICE"), "ERR name-reserved");
    let (_, answer) = auth(addrs[1], "alice", "wrong password");
    assert_eq!(answer, "ERR wrong-password");
    let (mut alice, answer) = auth(addrs[1], "Alice", "sesame open");
    assert_eq!(answer, "OK");
    // Registered already, from whichever session asks.
    alice.send("REGISTER another one");
    alice.expect("ERR already-registered");
    // A new password, set on node 2, counts on node 3.
    alice.send("PASSWORD open sesame");
    alice.expect("OK");
    alice.send("QUIT");
    alice.expect("BYE");
    let (_, answer) = auth(addrs[2], "alice", "sesame open");
    assert_eq!(answer, "ERR wrong-password");
    let (_, answer) = auth(addrs[2], "alice", "open sesame");
    assert_eq!(answer, "OK");
    // A name nobody registered: AUTH says so on every node; PASSWORD too.
    let (_, answer) = auth(addrs[0], "bob", "whatever it is");
    assert_eq!(answer, "ERR not-registered");
    let mut bob = Client::login(addrs[0], "bob");
    bob.send("PASSWORD a new one");
    bob.expect("ERR not-registered");
    bob.send("REGISTER bobs secret");
    bob.expect("OK");
    bob.send("QUIT");
    bob.expect("BYE");
    assert_eq!(login_answer(addrs[1], "bob"), "ERR name-reserved");
}

#[test]
fn auth_on_another_node_takes_the_name_over_and_everybody_hears_it_once_in_order() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 3);
    let addrs: Vec<SocketAddr> = nodes.iter().map(Server::addr).collect();
    Client::register(addrs[0], "alice", "sesame open");
    let (mut old, answer) = auth(addrs[0], "alice", "sesame open");
    assert_eq!(answer, "OK");
    old.send("JOIN #r");
    old.skip_until("HISTORY #r 0", Instant::now() + PATIENCE);
    // A watcher on the old holder's node, one on the new one's, one on neither.
    let mut watchers: Vec<Client> = ["carol", "dave", "erin"]
        .iter()
        .zip(&addrs)
        .map(|(name, &addr)| Client::login(addr, name))
        .collect();
    for (watcher, name) in watchers.iter_mut().zip(["carol", "dave", "erin"]) {
        watcher.send("JOIN #r");
        watcher.skip_until(&format!("JOIN #r {name}"), Instant::now() + PATIENCE);
    }

    let mut new = take_alice_over(addrs[1], old, &mut watchers);
    // The old session left every room; the new one is alice, once.
    watchers[2].send("WHO #r");
    let mut in_room = Vec::new();
    for _ in 0..3 {
        in_room.push(watchers[2].line());
    }
    in_room.sort();
    assert_eq!(in_room, ["USER carol", "USER dave", "USER erin"]);
    watchers[2].send("MSG hello alice");
    new.skip_until("MSG erin hello alice", Instant::now() + PATIENCE);

    // Taken over again, on the node that holds it now.
    let mut newer = take_alice_over(addrs[1], new, &mut watchers);
    newer.send("MSG still me");
    watchers[0].skip_until("MSG alice still me", Instant::now() + PATIENCE);
}

#[test]
fn a_node_started_later_knows_the_accounts() {
    let Some(redis) = redis() else { return };
    let first = node(&redis);
    Client::register(first.addr(), "alice", "sesame open");
    drop(first);
    let later = node(&redis);
    assert_eq!(login_answer(later.addr(), "alice"), "ERR name-reserved");
    let (_, answer) = auth(later.addr(), "alice", "sesame open");
    assert_eq!(answer, "OK");
}

#[test]
fn accounts_answer_err_unavailable_while_redis_is_stopped() {
    let Some(mut redis) = redis() else { return };
    let nodes = nodes(&redis, 2);
    Client::register(nodes[0].addr(), "alice", "sesame open");
    let mut bob = Client::login(nodes[1].addr(), "bob");
    redis.stop();
    let mut carol = Client::connect(nodes[1].addr());
    for command in ["AUTH alice sesame open", "LOGIN alice"] {
        carol.send(command);
        carol.skip_until("ERR unavailable", Instant::now() + PATIENCE);
    }
    bob.send("REGISTER bobs secret");
    bob.skip_until("ERR unavailable", Instant::now() + PATIENCE);
    // Still connected.
    bob.send("PING still");
    bob.expect("PONG still");
    carol.send("PING still");
    carol.expect("PONG still");
    redis.restart().unwrap();
    // Back by themselves: AUTH works again (within a bounded wait).
    let deadline = Instant::now() + PATIENCE * 3;
    loop {
        carol.send("AUTH alice sesame open");
        match carol.line().as_str() {
            "OK" => break,
            "ERR unavailable" if Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => panic!("AUTH after Redis came back: {other}"),
        }
    }
    // Nothing was registered while Redis was away: it can be now.
    bob.send("REGISTER bobs secret");
    bob.skip_until("OK", Instant::now() + PATIENCE);
    bob.send("QUIT");
    bob.skip_until("BYE", Instant::now() + PATIENCE);
    assert_eq!(login_answer(nodes[0].addr(), "bob"), "ERR name-reserved");
}
