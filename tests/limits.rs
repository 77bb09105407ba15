//! Connection limits and flood control: `--max-clients` exactly, the
//! per-address limits (by IPv4 address or IPv6 /64, loopback exempt unless
//! asked, IPv4 clients of a `::` listener included), the connection-rate
//! limit, the login deadline, and the per-client flood limit, which is on by
//! default for other hosts and counts WebSocket pings and telnet option
//! requests like lines. Other hosts are played by a PROXY header from
//! loopback (a trusted proxy), since tests only have loopback.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use chat::server::RateLimit;
use common::ws::{self, Ws};
use common::{start, start_with, Client, Running, PATIENCE};

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
        });
        c.rate_loopback = true;
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
fn loopback_is_exempt_from_the_default_flood_limit() {
    let server = start();
    let mut bot = Client::connect(server.addr());
    let burst: String = (0..2000).map(|n| format!("PING {n}\n")).collect();
    bot.send_raw(burst.as_bytes());
    for n in 0..2000 {
        bot.expect(&format!("PONG {n}"));
    }
}

/// A server whose line listener requires a PROXY header, as behind stunnel.
fn behind_proxy(tweak: impl FnOnce(&mut chat::server::Config)) -> chat::server::Server {
    start_with(|c| {
        c.lines_proxy_protocol = true;
        tweak(c);
    })
}

#[test]
fn the_default_flood_limit_applies_to_other_hosts() {
    let server = behind_proxy(|_| {});
    let mut flooder = Client::connect_as(server.addr(), "203.0.113.7:40000");
    let flood: String = (0..200).map(|n| format!("PING {n}\n")).collect();
    flooder.send_raw(flood.as_bytes());
    let (mut answered, mut refused) = (0, 0);
    loop {
        match flooder.line().as_str() {
            "BYE flooding" => break,
            "ERR rate-limited" => refused += 1,
            pong if pong.starts_with("PONG ") => answered += 1,
            other => panic!("unexpected {other}"),
        }
        assert!(answered + refused <= 200, "never dropped");
    }
    // A burst of 20 (and what the rate of 10 a second adds meanwhile),
    // then as many refusals, then the drop.
    assert!((20..30).contains(&answered), "answered {answered}");
    assert!((15..30).contains(&refused), "refused {refused}");
    flooder.expect_closed();
    // Somebody else at that address is not affected.
    let mut polite = Client::connect_as(server.addr(), "203.0.113.7:40001");
    polite.expect_nothing_pending();
}

#[test]
fn websocket_pings_and_telnet_option_requests_count_against_the_flood_limit() {
    let server = start_with(|c| {
        c.web_addr = Some("127.0.0.1:0".parse().unwrap());
        c.max_rate = Some(RateLimit {
            per_sec: 5.0,
            burst: 10,
        });
        c.rate_loopback = true;
    });
    let mut pinger = Ws::connect(server.web_addr().unwrap());
    let flood: Vec<u8> = (0..2000)
        .flat_map(|_| ws::frame(0x89, b"hb", true))
        .collect();
    let _ = pinger.stream.write_all(&flood);
    let mut pongs = 0;
    let last = loop {
        match pinger.frame() {
            (0xA, _) => pongs += 1,
            (0x1, line) => break String::from_utf8(line).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
        assert!(pongs <= 2000, "never dropped");
    };
    assert_eq!(last, "BYE flooding");
    assert!(pongs <= 20, "{pongs} pongs for a burst of 10");
    assert_eq!(pinger.close_status(), 1000);

    // IAC DO ECHO, two thousand times.
    let mut telnet = Client::connect(server.addr());
    let requests: Vec<u8> = (0..2000).flat_map(|_| [255, 253, 1]).collect();
    telnet.send_raw(&requests);
    let answer = telnet.read_to_close();
    assert!(answer.ends_with(b"BYE flooding\n"), "{answer:?}");
    let refusals = answer.windows(3).filter(|w| *w == [255, 252, 1]).count();
    assert!(refusals <= 20, "{refusals} answers for a burst of 10");
}

#[test]
fn pings_do_not_put_off_the_login_deadline() {
    let server = start_with(|c| {
        c.web_addr = Some("127.0.0.1:0".parse().unwrap());
        c.login_timeout = Duration::from_secs(2);
    });
    let start = Instant::now();
    let mut pinger = Client::connect(server.addr());
    let mut web_pinger = Ws::connect(server.web_addr().unwrap());
    let mut user = Client::connect(server.addr());
    user.send("LOGIN patient");
    user.expect("OK");
    let mut line_done = false;
    let mut web_done = false;
    for n in 0..100 {
        assert!(start.elapsed() < Duration::from_secs(30), "never dropped");
        thread::sleep(Duration::from_millis(200));
        if !line_done {
            pinger.send(&format!("PING {n}"));
            match pinger.line().as_str() {
                "BYE login-timeout" => line_done = true,
                pong => assert_eq!(pong, format!("PONG {n}")),
            }
        }
        if !web_done {
            web_pinger.send_frame(0x89, b"hb", true);
            match web_pinger.frame() {
                (0xA, _) => {}
                (0x1, line) => {
                    assert_eq!(line, b"BYE login-timeout");
                    assert_eq!(web_pinger.close_status(), 1000);
                    web_done = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if line_done && web_done {
            break;
        }
    }
    assert!(line_done && web_done);
    assert!(start.elapsed() >= Duration::from_millis(1900));
    pinger.expect_closed();
    // Logged in in time: the deadline is gone.
    user.expect_nothing_pending();
}

#[test]
fn other_hosts_may_connect_30_times_a_minute_per_address_or_ipv6_slash_64() {
    let server = behind_proxy(|_| {});
    let served = |client: &str| {
        let mut c = Client::connect_as(server.addr(), client);
        c.send("PING in");
        match c.line().as_str() {
            "PONG in" => true,
            "BYE connecting-too-fast" => false,
            other => panic!("unexpected {other}"),
        }
    };
    // Quickly one after the other: at most a token comes back meanwhile.
    let ipv4 = (0..32)
        .filter(|n| served(&format!("198.51.100.9:{}", 1000 + n)))
        .count();
    assert!((30..32).contains(&ipv4), "{ipv4} of 32 served");
    assert!(
        served("198.51.100.10:1000"),
        "another address is not affected"
    );
    // Every address of one IPv6 /64 shares one limit; the next /64 does not.
    let ipv6 = (0..32)
        .filter(|n| served(&format!("[2001:db8:1:2::{:x}]:1000", n + 1)))
        .count();
    assert!((30..32).contains(&ipv6), "{ipv6} of 32 served");
    assert!(served("[2001:db8:1:3::1]:1000"));
    // Loopback (a local user behind the proxy) is exempt by default.
    assert!((0..40).all(|n| served(&format!("127.0.0.1:{}", 2000 + n))));
}

#[test]
fn the_per_address_limit_counts_an_ipv6_slash_64_as_one_address() {
    let server = behind_proxy(|c| c.max_per_ip = 2);
    let mut inside: Vec<Client> = ["[2001:db8:5::1]:1", "[2001:db8:5::ffff]:2"]
        .iter()
        .map(|client| Client::connect_as(server.addr(), client))
        .collect();
    for c in inside.iter_mut() {
        c.expect_nothing_pending();
    }
    let mut third = Client::connect_as(server.addr(), "[2001:db8:5::2:3]:3");
    third.expect("BYE too-many-connections");
    let mut elsewhere = Client::connect_as(server.addr(), "[2001:db8:6::1]:4");
    elsewhere.expect_nothing_pending();
}

#[test]
fn on_a_dual_stack_listener_ipv4_loopback_is_still_loopback() {
    // `::` also takes IPv4 connections, which it reports as ::ffff:127.0.0.1.
    let server = start_with(|c| {
        c.addr = "[::]:0".parse().unwrap();
        c.max_per_ip = 2;
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.addr().port()));
    let mut many: Vec<Client> = (0..5).map(|_| Client::connect(addr)).collect();
    for c in many.iter_mut() {
        c.expect_nothing_pending();
    }
}

#[test]
fn refusals_are_logged_at_most_ten_a_second_and_the_rest_counted() {
    let mut server = Running::start(&["--max-clients", "1"]);
    let mut inside = Client::connect(server.addr);
    inside.expect_nothing_pending();
    let refused = 60;
    for _ in 0..refused {
        let mut c = Client::connect(server.addr);
        c.expect("BYE server-full");
    }
    thread::sleep(Duration::from_millis(1100));
    let mut last = Client::connect(server.addr);
    last.expect("BYE server-full");
    // Every refusal is either logged or counted in a summary line.
    let (mut logged, mut counted) = (0, 0);
    let deadline = Instant::now() + PATIENCE;
    while logged + counted < refused + 1 {
        assert!(
            Instant::now() < deadline,
            "{logged} logged, {counted} counted"
        );
        let line = server.next_log();
        if line.contains("refused: server-full") {
            logged += 1;
        } else if let Some(rest) = line.split("refused ").nth(1) {
            if let Some(n) = rest.strip_suffix(
                " more connections without logging each (at most 10 refusal lines a second)",
            ) {
                counted += n.parse::<usize>().unwrap();
            }
        }
    }
    assert_eq!(logged + counted, refused + 1);
    assert!(
        logged <= 30,
        "{logged} refusal lines for {} refusals",
        refused + 1
    );
}
