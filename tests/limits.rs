//! Connection limits and flood control: `--max-clients` exactly, the per-IP
//! limit (loopback exempt unless asked), and the optional per-client rate limit
//! (off by default).

mod common;

use std::thread;
use std::time::{Duration, Instant};

use chat::server::RateLimit;
use common::{start, start_with, Client, PATIENCE};

/// Connects until the server takes the connection (a departing client's slot
/// is freed when its thread ends, a moment after its socket closes).
fn connect_when_a_slot_frees(addr: std::net::SocketAddr) -> Client {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut c = Client::connect(addr);
        c.send("PING in");
        match c.line().as_str() {
            "PONG in" => return c,
            "BYE server-full" => {}
            other => panic!("unexpected {other}"),
        }
        assert!(Instant::now() < deadline, "no slot freed");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn max_clients_is_exact_and_a_slot_frees_when_someone_leaves() {
    let server = start_with(|c| c.max_clients = 3);
    let mut inside: Vec<Client> = (0..3).map(|_| Client::connect(server.addr())).collect();
    for c in inside.iter_mut() {
        c.expect_nothing_pending();
    }
    let mut fourth = Client::connect(server.addr());
    fourth.expect("BYE server-full");
    fourth.expect_closed();
    let mut leaving = inside.pop().unwrap();
    leaving.send("QUIT");
    leaving.expect("BYE");
    leaving.expect_closed();
    let mut newcomer = connect_when_a_slot_frees(server.addr());
    newcomer.send("LOGIN newcomer");
    newcomer.expect("OK");
    let mut fifth = Client::connect(server.addr());
    fifth.expect("BYE server-full");
}

#[test]
fn per_ip_limit_applies_to_loopback_only_when_asked() {
    let capped = start_with(|c| {
        c.max_per_ip = 2;
        c.limit_loopback = true;
    });
    let mut two: Vec<Client> = (0..2).map(|_| Client::connect(capped.addr())).collect();
    for c in two.iter_mut() {
        c.expect_nothing_pending();
    }
    let mut third = Client::connect(capped.addr());
    third.expect("BYE too-many-connections");
    third.expect_closed();

    let exempt = start_with(|c| c.max_per_ip = 2);
    let mut many: Vec<Client> = (0..5).map(|_| Client::connect(exempt.addr())).collect();
    for c in many.iter_mut() {
        c.expect_nothing_pending();
    }
}

#[test]
fn rate_limit_refuses_excess_lines_and_drops_a_flooder() {
    let server = start_with(|c| {
        c.max_rate = Some(RateLimit {
            per_sec: 2.0,
            burst: 4,
        })
    });
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut flooder = Client::connect(server.addr());
    flooder.send_raw(b"LOGIN flooder\nPING 1\nPING 2\nPING 3\nPING 4\nPING 5\n");
    flooder.expect("OK");
    for n in 1..=3 {
        flooder.expect(&format!("PONG {n}"));
    }
    flooder.expect("ERR rate-limited");
    flooder.expect("ERR rate-limited");
    watcher.expect("INFO flooder connected");
    // Keep flooding: after a burst's worth of refusals the flooder is dropped.
    let flood: String = (0..20).map(|n| format!("MSG spam {n}\n")).collect();
    flooder.send_raw(flood.as_bytes());
    let mut refused = 0;
    loop {
        match flooder.line().as_str() {
            "ERR rate-limited" => refused += 1,
            "BYE flooding" => break,
            // On a slow machine a token may come back meanwhile.
            echo if echo.starts_with("MSG flooder spam") => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused >= 2, "refusals before the drop: {refused}");
    flooder.expect_closed();
    loop {
        match watcher.line().as_str() {
            "INFO flooder disconnected" => break,
            echo if echo.starts_with("MSG flooder spam") => {}
            other => panic!("unexpected {other}"),
        }
    }
    // A polite client at the limit is never refused.
    let mut polite = Client::login(server.addr(), "polite");
    watcher.expect("INFO polite connected");
    for n in 0..3 {
        thread::sleep(Duration::from_millis(600));
        polite.send(&format!("PING {n}"));
        polite.expect(&format!("PONG {n}"));
    }
}

#[test]
fn by_default_there_is_no_rate_limit() {
    let server = start();
    let mut bot = Client::connect(server.addr());
    let burst: String = (0..2000).map(|n| format!("PING {n}\n")).collect();
    bot.send_raw(burst.as_bytes());
    for n in 0..2000 {
        bot.expect(&format!("PONG {n}"));
    }
}
