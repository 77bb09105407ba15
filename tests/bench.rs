//! `chat-bench` cannot rot: each workload runs at a tiny size against a server
//! it spawns itself, and must report that nothing was lost, nobody but the
//! stalled client was dropped, and (for `slow`) that the stalled client was.
//! Speed is never asserted here; the figures belong in README's Performance
//! section.

use std::process::Command;

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
    ] {
        let out = Command::new(BENCH).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
