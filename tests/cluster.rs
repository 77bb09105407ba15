//! Several servers as one chat through a real Redis (`--redis`): a
//! `redis-server` of the test's own on a free loopback port, and three
//! nodes, in this process or as real binaries where `kill -9` is needed.
//! Skipped, saying so, where redis-server is not installed.

mod common;

#[path = "cluster/accounts.rs"]
mod accounts;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use chat::server::{RedisUrl, Server};
use chat::support::redis_server::RedisServer;
use common::{start_with, Client, Running, PATIENCE};

/// A redis-server of this test's own, or `None` (having said so).
fn redis() -> Option<RedisServer> {
    if !RedisServer::installed() {
        eprintln!("skipped: redis-server not installed");
        return None;
    }
    Some(RedisServer::start(&[]).expect("redis-server starts"))
}

/// A node of the cluster at `redis`, in this process.
fn node(redis: &RedisServer) -> Server {
    let url = RedisUrl::parse(&redis.url()).unwrap();
    start_with(|config| config.redis = Some(url))
}

fn nodes(redis: &RedisServer, n: usize) -> Vec<Server> {
    (0..n).map(|_| node(redis)).collect()
}

/// Reads lines until `want` lines for which `keep` is true have come (the
/// others are skipped), within `PATIENCE` per line.
fn collect(client: &mut Client, want: usize, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut kept = Vec::new();
    for _ in 0..want * 10 + 100 {
        if kept.len() == want {
            return kept;
        }
        let line = client.line();
        if keep(&line) {
            kept.push(line);
        }
    }
    panic!("only {} of {want} lines: {kept:?}", kept.len());
}

/// Kills every Redis connection of the node listening on `port`; how many.
fn kill_connections_of(redis: &RedisServer, port: u16) -> usize {
    let list = redis.cli(&["CLIENT", "LIST"]).unwrap();
    let prefix = format!("name=chat-{port}-");
    let ids: Vec<String> = list
        .lines()
        .filter(|line| line.contains(&prefix))
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
        .collect();
    for id in &ids {
        redis.cli(&["CLIENT", "KILL", "ID", id]).unwrap();
    }
    ids.len()
}

/// Sends `MSG <text>` and returns whether it was said (its echo came) or
/// refused with `ERR unavailable`; lines of others in between are skipped.
fn say(client: &mut Client, text: &str) -> bool {
    client.send(&format!("MSG {text}"));
    for _ in 0..1000 {
        let line = client.line();
        if line == "ERR unavailable" {
            return false;
        }
        if line.starts_with("MSG ") && line.ends_with(&format!(" {text}")) {
            return true;
        }
    }
    panic!("no answer to MSG {text}");
}

/// Says `text` until it is said (Redis is back), at most 100 times; the
/// texts that were said.
fn say_until_said(client: &mut Client, text: &str) -> Vec<String> {
    for attempt in 0..100 {
        let text = format!("{text}-{attempt}");
        if say(client, &text) {
            return vec![text];
        }
        thread::sleep(Duration::from_millis(200));
    }
    panic!("never said again");
}

#[test]
fn a_race_for_one_name_on_three_nodes_gives_exactly_one_ok() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 3);
    let addrs: Vec<SocketAddr> = nodes.iter().map(Server::addr).collect();
    for round in 0..15 {
        let barrier = Arc::new(Barrier::new(addrs.len()));
        let racers: Vec<_> = addrs
            .iter()
            .enumerate()
            .map(|(i, &addr)| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    let mut client = Client::connect(addr);
                    // One spelling per node: names are one case-insensitively.
                    let name = match i {
                        0 => format!("racer{round}"),
                        1 => format!("RACER{round}"),
                        _ => format!("Racer{round}"),
                    };
                    barrier.wait();
                    client.send(&format!("LOGIN {name}"));
                    (client.line(), client)
                })
            })
            .collect();
        let answers: Vec<(String, Client)> =
            racers.into_iter().map(|r| r.join().unwrap()).collect();
        let oks = answers.iter().filter(|(line, _)| line == "OK").count();
        assert_eq!(
            oks,
            1,
            "round {round}: {:?}",
            answers.iter().map(|a| &a.0).collect::<Vec<_>>()
        );
        for (line, _) in &answers {
            assert!(line == "OK" || line == "ERR username-taken", "{line}");
        }
    }
}

#[test]
fn one_order_per_room_with_senders_on_every_node() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 3);
    const EACH: usize = 40;
    // On each node a sender and a listener, all of them in #rust.
    let mut clients = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for role in ["s", "l"] {
            let mut client = Client::login(node.addr(), &format!("{role}{i}"));
            client.send("JOIN #rust");
            client.skip_until(&format!("JOIN #rust {role}{i}"), Instant::now() + PATIENCE);
            clients.push(client);
        }
    }
    // Each sender writes all its lines in one go, lobby and room interleaved.
    for i in 0..nodes.len() {
        let lines: String = (0..EACH)
            .map(|k| format!("MSG #rust s{i}-{k}\nMSG lobby s{i}-{k}\n"))
            .collect();
        clients[i * 2].send_raw(lines.as_bytes());
    }
    let total = EACH * nodes.len();
    let mut first: Option<(Vec<String>, Vec<String>)> = None;
    for client in &mut clients {
        let got = collect(client, total * 2, |line| line.starts_with("MSG "));
        let (room, lobby): (Vec<String>, Vec<String>) = got
            .into_iter()
            .partition(|line| line.starts_with("MSG #rust "));
        assert_eq!((room.len(), lobby.len()), (total, total));
        let unique: HashSet<&String> = room.iter().collect();
        assert_eq!(unique.len(), total, "nothing twice");
        // Each sender's lines in the order it sent them.
        for i in 0..nodes.len() {
            let own: Vec<&String> = room
                .iter()
                .filter(|line| line.starts_with(&format!("MSG #rust s{i} ")))
                .collect();
            let sent: Vec<String> = (0..EACH)
                .map(|k| format!("MSG #rust s{i} s{i}-{k}"))
                .collect();
            assert_eq!(own, sent.iter().collect::<Vec<_>>());
        }
        match &first {
            None => first = Some((room, lobby)),
            Some((first_room, first_lobby)) => {
                assert_eq!(&room, first_room, "one order in #rust on every node");
                assert_eq!(&lobby, first_lobby, "one order in the lobby on every node");
            }
        }
    }
    for client in &mut clients {
        client.expect_nothing_pending();
    }
}

#[test]
fn dms_reach_users_on_other_nodes_and_only_them() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 3);
    let mut alice = Client::login(nodes[0].addr(), "alice");
    let mut bob = Client::login(nodes[1].addr(), "Bob");
    let mut carol = Client::login(nodes[2].addr(), "carol");
    bob.skip_until("INFO carol connected", Instant::now() + PATIENCE);
    alice.send("DM BOB hi bob");
    bob.expect("DM alice hi bob");
    bob.send("DM carol and you");
    carol.expect("DM Bob and you");
    carol.send("DM carol to myself");
    carol.expect("DM carol to myself");
    alice.send("DM nobody hello?");
    alice.skip_until("ERR user-not-found", Instant::now() + PATIENCE);
    alice.send("DM carol last");
    carol.expect("DM alice last");
    // A DM goes to its recipient alone.
    for client in [&mut alice, &mut bob, &mut carol] {
        client.expect_nothing_pending();
    }
    alice.send("QUIT");
    alice.expect("BYE");
    bob.expect("INFO alice disconnected");
    bob.send("DM alice still there?");
    bob.expect("ERR user-not-found");
}

#[test]
fn who_and_rooms_see_every_node() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 3);
    let mut users = Vec::new();
    for (i, name) in ["carol", "Alice", "bob"].iter().enumerate() {
        let mut client = Client::login(nodes[i].addr(), name);
        if i > 0 {
            client.send("JOIN #Rust");
            client.skip_until(&format!("JOIN #Rust {name}"), Instant::now() + PATIENCE);
        }
        users.push(client);
    }
    users[0].send("JOIN #go");
    users[0].skip_until("JOIN #go carol", Instant::now() + PATIENCE);
    let who = |client: &mut Client, what: &str, n: usize| {
        client.send(what);
        collect(client, n, |line| line.starts_with("USER "))
    };
    for client in &mut users {
        assert_eq!(
            who(client, "WHO", 3),
            ["USER Alice", "USER bob", "USER carol"]
        );
        assert_eq!(who(client, "WHO #rust", 2), ["USER Alice", "USER bob"]);
        client.send("ROOMS");
        let rooms = collect(client, 3, |line| line.starts_with("ROOM "));
        assert_eq!(rooms, ["ROOM #go 1", "ROOM #lobby 3", "ROOM #Rust 2"]);
        client.send("WHO #nothing");
        client.skip_until("ERR no-such-room", Instant::now() + PATIENCE);
    }
    users[2].send("PART #rust");
    users[2].skip_until("PART #Rust bob", Instant::now() + PATIENCE);
    assert_eq!(who(&mut users[0], "WHO #rust", 1), ["USER Alice"]);
}

#[test]
fn history_is_served_by_a_node_that_was_not_up_when_it_was_said() {
    let Some(redis) = redis() else { return };
    let first = node(&redis);
    let mut alice = Client::login(first.addr(), "alice");
    alice.send("JOIN #Rust");
    alice.expect("JOIN #Rust alice");
    alice.expect("HISTORY #Rust 0");
    for k in 1..=5 {
        alice.send(&format!("MSG #rust m{k}"));
        alice.expect(&format!("MSG #Rust alice m{k}"));
    }
    alice.send("MSG in the lobby");
    alice.expect("MSG alice in the lobby");
    // A node started only now has it all, from Redis.
    let later = node(&redis);
    let mut bob = Client::login(later.addr(), "bob");
    bob.send("HISTORY #rust 3");
    bob.expect("HISTORY #Rust 3");
    for k in 3..=5 {
        let line = bob.line();
        let fields: Vec<&str> = line.splitn(6, ' ').collect();
        assert_eq!(fields[..3], ["HIST", "#Rust", &k.to_string()], "{line}");
        assert_eq!(fields[4..], ["alice", &format!("m{k}")]);
        assert!(fields[3].ends_with('Z') && fields[3].len() == 24, "{line}");
    }
    bob.send("HISTORY");
    bob.expect("HISTORY #lobby 1");
    assert!(bob.line().ends_with(" alice in the lobby"));
    // Joining replays the room's last messages, then comes live.
    bob.send("JOIN #rust");
    bob.expect("JOIN #Rust bob");
    bob.expect("HISTORY #Rust 5");
    for k in 1..=5 {
        assert!(bob.line().ends_with(&format!(" alice m{k}")));
    }
    alice.expect("INFO bob connected");
    alice.expect("JOIN #Rust bob");
    alice.send("MSG #rust m6");
    bob.expect("MSG #Rust alice m6");
}

#[test]
fn a_departure_frees_the_name_everywhere_at_once() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 2);
    let mut watcher = Client::login(nodes[1].addr(), "watcher");
    for _ in 0..5 {
        let mut alice = Client::login(nodes[0].addr(), "alice");
        alice.send("JOIN #r");
        alice.skip_until("HISTORY #r 0", Instant::now() + PATIENCE);
        alice.send("QUIT");
        alice.expect("BYE");
        // The name was let go of before BYE: another node takes it at once.
        let mut again = Client::login(nodes[1].addr(), "alice");
        again.send("WHO #r");
        again.expect("ERR no-such-room");
        again.send("QUIT");
        again.expect("BYE");
        for what in ["connected", "disconnected", "connected", "disconnected"] {
            watcher.expect(&format!("INFO alice {what}"));
        }
    }
}

#[test]
fn a_node_killed_with_kill_9_is_noticed_by_the_others_within_15_s() {
    let Some(redis) = redis() else { return };
    let survivor = node(&redis);
    let mut doomed = Running::start(&["--redis", &redis.url(), "--quiet"]);
    let mut watcher = Client::login(survivor.addr(), "watcher");
    watcher.send("JOIN #r");
    watcher.skip_until("HISTORY #r 0", Instant::now() + PATIENCE);
    let victims: Vec<Client> = ["v1", "v2", "v3"]
        .iter()
        .map(|name| {
            let mut client = Client::login(doomed.addr, name);
            client.send("JOIN #r");
            client.skip_until(&format!("JOIN #r {name}"), Instant::now() + PATIENCE);
            client
        })
        .collect();
    for name in ["v1", "v2", "v3"] {
        watcher.skip_until(&format!("JOIN #r {name}"), Instant::now() + PATIENCE);
    }
    doomed.child.kill().expect("kill -9");
    let killed = Instant::now();
    let mut gone = Vec::new();
    let deadline = killed + Duration::from_secs(15);
    while gone.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "within 15 s only {gone:?}");
        watcher.stream.set_read_timeout(Some(left)).unwrap();
        let line = watcher.line();
        assert!(line.ends_with(" disconnected"), "{line}");
        gone.push(line);
    }
    eprintln!("the departures came {:?} after kill -9", killed.elapsed());
    watcher.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    gone.sort();
    assert_eq!(
        gone,
        [
            "INFO v1 disconnected",
            "INFO v2 disconnected",
            "INFO v3 disconnected"
        ]
    );
    // Each once; their names are free, and they left every room.
    watcher.expect_nothing_pending();
    watcher.send("WHO #r");
    watcher.expect("USER watcher");
    let mut again = Client::login(survivor.addr(), "v2");
    again.send("WHO");
    again.expect("USER v2");
    again.expect("USER watcher");
    drop(victims);
}

#[test]
fn client_kill_and_a_redis_restart_lose_nothing_and_double_nothing() {
    let Some(mut redis) = redis() else { return };
    let nodes = nodes(&redis, 3);
    let mut sender = Client::login(nodes[0].addr(), "sender");
    let mut listeners: Vec<Client> = (1..3)
        .map(|i| Client::login(nodes[i].addr(), &format!("listener{i}")))
        .collect();
    let mut said = Vec::new();
    for k in 0..10 {
        assert!(say(&mut sender, &format!("before-{k}")));
        said.push(format!("before-{k}"));
    }
    // Redis drops every connection of two nodes: nobody notices.
    for node in &nodes[..2] {
        assert!(kill_connections_of(&redis, node.addr().port()) >= 2);
    }
    for k in 0..10 {
        assert!(say(&mut sender, &format!("killed-{k}")), "killed-{k}");
        said.push(format!("killed-{k}"));
    }
    // Redis stops: refused, at once, and delivered to nobody.
    redis.stop();
    for k in 0..3 {
        assert!(!say(&mut sender, &format!("refused-{k}")));
    }
    redis.restart().unwrap();
    said.extend(say_until_said(&mut sender, "back"));
    for k in 0..10 {
        assert!(say(&mut sender, &format!("after-{k}")), "after-{k}");
        said.push(format!("after-{k}"));
    }
    let want: Vec<String> = said
        .iter()
        .map(|text| format!("MSG sender {text}"))
        .collect();
    for listener in &mut listeners {
        let got = collect(listener, want.len(), |line| line.starts_with("MSG "));
        assert_eq!(
            got, want,
            "everything said, once, in order, and nothing refused"
        );
        listener.expect_nothing_pending();
    }
    // History has them too, numbered without a gap.
    sender.send("HISTORY 1000");
    sender.skip_until(
        &format!("HISTORY #lobby {}", said.len()),
        Instant::now() + PATIENCE,
    );
    for (seq, text) in said.iter().enumerate() {
        let line = sender.line();
        assert!(
            line.starts_with(&format!("HIST #lobby {} ", seq + 1)),
            "{line}"
        );
        assert!(line.ends_with(&format!(" sender {text}")), "{line}");
    }
}

#[test]
fn while_redis_is_stopped_commands_answer_err_unavailable_and_users_stay() {
    let Some(mut redis) = redis() else { return };
    let nodes = nodes(&redis, 2);
    let mut alice = Client::login(nodes[0].addr(), "alice");
    alice.send("JOIN #r");
    alice.skip_until("HISTORY #r 0", Instant::now() + PATIENCE);
    let mut bob = Client::login(nodes[1].addr(), "bob");
    bob.send("JOIN #r");
    bob.skip_until("HISTORY #r 0", Instant::now() + PATIENCE);
    redis.stop();
    for command in [
        "MSG lost",
        "MSG #r lost",
        "JOIN #other",
        "PART #r",
        "DM bob lost",
        "WHO",
        "WHO #r",
        "ROOMS",
        "HISTORY #r",
    ] {
        alice.send(command);
        alice.skip_until("ERR unavailable", Instant::now() + PATIENCE);
    }
    // Connected all the same; what needs no Redis works.
    alice.send("PING still");
    alice.expect("PONG still");
    let mut carol = Client::connect(nodes[1].addr());
    carol.send("LOGIN carol");
    carol.expect("ERR unavailable");
    redis.restart().unwrap();
    let said = say_until_said(&mut alice, "back");
    bob.skip_until(&format!("MSG alice {}", said[0]), Instant::now() + PATIENCE);
    bob.send("HISTORY #r");
    bob.expect("HISTORY #r 0");
    bob.send("WHO #r");
    bob.expect("USER alice");
    bob.expect("USER bob");
    carol.send("LOGIN carol");
    carol.expect("OK");
    alice.skip_until("INFO carol connected", Instant::now() + PATIENCE);
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(running: &Running, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &running.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
}

#[test]
fn a_paused_node_is_not_declared_dead_within_its_lease_and_steps_down_after() {
    let Some(redis) = redis() else { return };
    let survivor = node(&redis);
    let mut paused = Running::start(&["--redis", &redis.url(), "--quiet"]);
    let mut watcher = Client::login(survivor.addr(), "watcher");
    let mut sleeper = Client::login(paused.addr, "sleeper");
    watcher.expect("INFO sleeper connected");
    // A short pause: nobody is told anything, and the node carries on.
    signal(&paused, "STOP");
    thread::sleep(Duration::from_secs(3));
    signal(&paused, "CONT");
    assert!(say(&mut sleeper, "awake"));
    watcher.expect("MSG sleeper awake");
    watcher.expect_nothing_pending();
    // Past its lease: the others let its users go, and its name is free...
    signal(&paused, "STOP");
    watcher
        .stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    watcher.expect("INFO sleeper disconnected");
    watcher.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut taken = Client::login(survivor.addr(), "sleeper");
    watcher.expect("INFO sleeper connected");
    // ...and when it wakes up it steps down: its user is told and let go.
    signal(&paused, "CONT");
    let farewell = collect(&mut sleeper, 1, |line| line.starts_with("BYE"));
    assert_eq!(farewell, ["BYE unavailable"]);
    sleeper.expect_closed();
    paused.log_containing("lease ran out");
    // It serves again, as a new node of the cluster.
    let mut fresh = Client::login(paused.addr, "fresh");
    watcher.expect("INFO fresh connected");
    fresh.send("WHO");
    let who = collect(&mut fresh, 3, |line| line.starts_with("USER "));
    assert_eq!(who, ["USER fresh", "USER sleeper", "USER watcher"]);
    taken.expect("INFO fresh connected");
    watcher.expect_nothing_pending();
}

#[test]
fn a_sessions_replies_come_after_what_its_commands_caused() {
    let Some(redis) = redis() else { return };
    let nodes = nodes(&redis, 2);
    let mut other = Client::login(nodes[1].addr(), "other");
    let mut me = Client::login(nodes[0].addr(), "me");
    other.expect("INFO me connected");
    // Pipelined: every reply after the echoes and JOIN lines before it, as
    // on one server.
    me.send_raw(
        b"MSG one\nMSG two\nPING a\nJOIN #a\nWHO #a\nMSG #a three\nHISTORY #a 1\nMSG four\nQUIT\n",
    );
    for line in [
        "MSG me one",
        "MSG me two",
        "PONG a",
        "JOIN #a me",
        "HISTORY #a 0",
        "USER me",
        "MSG #a me three",
        "HISTORY #a 1",
    ] {
        me.expect(line);
    }
    assert!(me.line().ends_with(" me three"));
    me.expect("MSG me four");
    me.expect("BYE");
    for line in [
        "MSG me one",
        "MSG me two",
        "MSG me four",
        "INFO me disconnected",
    ] {
        other.expect(line);
    }
}

#[test]
fn the_redis_flag_refuses_a_bad_url_and_an_unreachable_redis() {
    let run = |url: &str| {
        common::server_command()
            .args(["--redis", url])
            .output()
            .expect("run chat-server")
    };
    let bad = run("http://localhost");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--redis: "));
    // Nothing listens on a port just freed: it says so and exits 1, and
    // never shows the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = run(&format!("redis://:hunter2@127.0.0.1:{port}/1"));
    assert_eq!(unreachable.status.code(), Some(1));
    let said = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        said.contains(&format!(
            "cannot join the cluster at redis://127.0.0.1:{port}/1"
        )),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
}
