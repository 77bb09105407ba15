//! `chat-bench` cannot rot: each workload runs at a tiny size against a server
//! it spawns itself, and must report that nothing was lost, nobody but the
//! stalled client was dropped, and (for `slow`) that the stalled client was.
//! Speed is never asserted here; the figures belong in README's Performance
//! section.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

const BENCH: &str = env!("CARGO_BIN_EXE_chat-bench");

/// Runs `chat-bench ARGS --json` and returns its one JSON line.
fn run(args: &[&str]) -> String {
    let out = Command::new(BENCH)
        .args(args)
        .args(["--json", "--timeout", "30"])
        .output()
        .expect("run chat-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "chat-bench {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    stdout
}

fn assert_clean(json: &str) {
    for field in [
        "\"complete\":true",
        "\"refused\":0",
        "\"lost\":0",
        "\"dropped\":0",
        "\"problem\":null",
        "\"duplicates\":0",
        "\"same_order\":true",
    ] {
        assert!(json.contains(field), "{field} in {json}");
    }
}

#[test]
fn connect() {
    let json = run(&["connect", "--clients", "50"]);
    assert_clean(&json);
    assert!(
        json.contains("\"deliveries\":1225"),
        "50 x 49 / 2 join notices: {json}"
    );
}

#[test]
fn fanout() {
    let json = run(&[
        "fanout",
        "--clients",
        "10",
        "--senders",
        "3",
        "--messages",
        "100",
    ]);
    assert_clean(&json);
    assert!(json.contains("\"deliveries\":3000"), "{json}");
}

#[test]
fn latency() {
    let json = run(&[
        "latency",
        "--clients",
        "20",
        "--rate",
        "200",
        "--duration",
        "0.5",
    ]);
    assert_clean(&json);
    assert!(json.contains("\"p99_us\":"), "{json}");
}

#[test]
fn slow_consumer_is_dropped() {
    // 4 MB/s: enough to fill the stalled client's socket buffers and its
    // 256 KiB backlog in about a second, while the readers' writer threads
    // have 64 ms of slack before their own backlog would overflow.
    let json = run(&[
        "slow",
        "--clients",
        "5",
        "--rate",
        "1000",
        "--size",
        "4000",
        "--duration",
        "2.5",
        "--max-backlog",
        "262144",
    ]);
    assert_clean(&json);
    assert!(json.contains("\"stalled_dropped\":true"), "{json}");
    assert!(!json.contains("\"stalled_dropped_after\":null"), "{json}");
}

#[test]
fn cluster_over_three_nodes() {
    if !chat::support::redis_server::RedisServer::installed() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    let json = run(&[
        "cluster",
        "--clients",
        "12",
        "--rate",
        "100",
        "--duration",
        "0.5",
    ]);
    assert_clean(&json);
    assert!(
        json.contains("\"workload\":\"cluster\",\"clients\":12,\"nodes\":3,"),
        "{json}"
    );
    // Any workload spreads over nodes with --nodes.
    let json = run(&[
        "fanout",
        "--clients",
        "9",
        "--senders",
        "3",
        "--messages",
        "20",
        "--nodes",
        "2",
    ]);
    assert_clean(&json);
    assert!(json.contains("\"deliveries\":540"), "{json}");
}

#[test]
fn rooms_keep_one_order_each() {
    let json = run(&[
        "rooms",
        "--clients",
        "40",
        "--rooms",
        "8",
        "--senders",
        "2",
        "--messages",
        "50",
    ]);
    assert_clean(&json);
    // 40 clients x 3 rooms = 120 memberships; every one gets 2 x 50 messages.
    assert!(json.contains("\"deliveries\":12000"), "{json}");
    assert!(json.contains("\"server_cpu_s_per_m\":"), "{json}");
    let paced = run(&[
        "rooms",
        "--clients",
        "20",
        "--rooms",
        "4",
        "--rate",
        "400",
        "--duration",
        "0.5",
    ]);
    assert_clean(&paced);
    assert!(paced.contains("\"p99_us\":"), "{paced}");
}

/// ngIRCd on a free loopback port with src/bin/chat-bench/peers/ngircd.conf, killed when
/// dropped; `None` (and a note) where ngIRCd is not installed.
struct Ngircd {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Ngircd {
    fn start() -> Option<Ngircd> {
        let installed = Command::new("ngircd").arg("--version").output();
        if !installed.is_ok_and(|out| out.status.success()) {
            eprintln!("skipped: ngircd not installed");
            return None;
        }
        let dir = TempDir::new("ngircd");
        let template = include_str!("../src/bin/chat-bench/peers/ngircd.conf");
        // Bound, then freed for ngIRCd: it cannot be told to pick a port itself.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = template
            .replace("@PORT@", &port.to_string())
            .replace("@DIR@", dir.arg());
        let path = dir.path().join("ngircd.conf");
        std::fs::write(&path, config).expect("write the config");
        let child = Command::new("ngircd")
            .arg("--nodaemon")
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ngircd");
        let server = Ngircd {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "ngircd never listened on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn irc_mode_measures_an_irc_server() {
    let Some(ngircd) = Ngircd::start() else {
        return;
    };
    let pid = ngircd.child.id().to_string();
    let addr = ngircd.addr();
    let irc = |args: &[&str]| run(&[args, &["--addr", &addr, "--pid", &pid, "--irc"]].concat());
    let fanout = irc(&[
        "fanout",
        "--clients",
        "10",
        "--senders",
        "3",
        "--messages",
        "100",
    ]);
    assert_clean(&fanout);
    // No echo in IRC: each message reaches the 9 others.
    assert!(fanout.contains("\"deliveries\":2700"), "{fanout}");
    assert!(!fanout.contains("\"server_cpu_s\":null"), "{fanout}");
    let connect = irc(&["connect", "--clients", "20"]);
    assert_clean(&connect);
    assert!(connect.contains("\"deliveries\":190"), "{connect}");
    let rooms = irc(&[
        "rooms",
        "--clients",
        "20",
        "--rooms",
        "4",
        "--messages",
        "20",
    ]);
    assert_clean(&rooms);
    let slow = irc(&[
        "slow",
        "--clients",
        "3",
        "--rate",
        "8000",
        "--size",
        "400",
        "--duration",
        "4",
    ]);
    assert_clean(&slow);
    assert!(slow.contains("\"stalled_dropped\":true"), "{slow}");
}

#[test]
fn peers_are_measured_in_the_same_sitting() {
    let Some(ngircd) = Ngircd::start() else {
        return;
    };
    let peer = format!("ngircd={}/{}", ngircd.addr(), ngircd.child.id());
    let out = Command::new(BENCH)
        .args([
            "fanout",
            "--clients",
            "10",
            "--senders",
            "2",
            "--messages",
            "50",
        ])
        .args(["--peer", &peer, "--rounds", "2", "--timeout", "30"])
        .output()
        .expect("run chat-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = stdout
        .lines()
        .find(|l| l.contains("ours") && l.contains("ngircd"))
        .unwrap_or_else(|| panic!("one column per server: {stdout}"));
    assert!(header.find("ours") < header.find("ngircd"), "{header}");
    assert!(stdout.contains("2 round(s) each"), "{stdout}");
    let complete = stdout
        .lines()
        .find(|l| l.contains("complete, nothing lost"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(complete.matches("2 of 2").count(), 2, "{complete}");
    assert!(
        stdout.contains("the fastest peer's deliveries/s"),
        "{stdout}"
    );
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["warp"][..],
        &[],
        &["fanout", "--clients", "x"],
        &["fanout", "--addr", "192.0.2.1:4000"],
        &["latency", "--duration", "-1"],
        &["slow", "--rate", "0"],
        &["fanout", "--senders", "0"],
        &["cluster", "--nodes", "0"],
        &["cluster", "--addr", "127.0.0.1:4000"],
        &["fanout", "--irc"],
        &["fanout", "--peer", "ngircd"],
        &["fanout", "--peer", "ngircd=192.0.2.1:6667"],
        &["fanout", "--rounds", "0"],
        &["rooms", "--rooms", "0"],
        &[
            "fanout",
            "--addr",
            "127.0.0.1:6667",
            "--irc",
            "--size",
            "600",
        ],
    ] {
        let out = Command::new(BENCH).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
