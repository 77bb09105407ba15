//! `--metrics`: `GET /metrics` in the Prometheus text format (checked by
//! Prometheus's own `promtool check metrics` when it is installed) and
//! `GET /healthz`, scraped from the real binary while it serves users.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{Client, Running, PATIENCE};

/// `GET path` and the whole response, head and body.
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_string(), body.to_string())
}

/// The value of the sample whose line starts with `series ` (name and
/// labels as written).
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(&format!("{series} ")))
        .unwrap_or_else(|| panic!("no {series} in\n{page}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_are_scraped_in_the_prometheus_text_format_and_pass_promtool() {
    let data = std::env::temp_dir().join(format!("chat-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut server = Running::start(&[
        "--metrics",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--max-clients",
        "3",
    ]);
    let line = server.log_containing("metrics on http://");
    let metrics: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let mut alice = Client::login(server.addr, "alice");
    let mut bob = Client::login(server.addr, "bob");
    alice.send("JOIN #rust");
    alice.send("MSG hello");
    bob.skip_until("MSG alice hello", Instant::now() + PATIENCE);
    bob.send("DM alice psst");
    alice.skip_until("DM bob psst", Instant::now() + PATIENCE);
    let mut third = Client::connect(server.addr);
    third.expect_nothing_pending();
    let mut refused = Client::connect(server.addr);
    refused.expect("BYE server-full");
    refused.expect_closed();

    let (head, page) = get(metrics, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(page.ends_with('\n'));
    assert_eq!(sample(&page, "chat_connections{front=\"lines\"}"), 3.0);
    assert_eq!(sample(&page, "chat_connections{front=\"web\"}"), 0.0);
    assert_eq!(sample(&page, "chat_users"), 2.0);
    assert_eq!(sample(&page, "chat_rooms"), 1.0);
    assert_eq!(sample(&page, "chat_messages_total"), 2.0);
    assert!(sample(&page, "chat_deliveries_total") >= 4.0);
    assert!(sample(&page, "chat_sent_bytes_total") > 0.0);
    assert_eq!(
        sample(
            &page,
            "chat_connections_refused_total{reason=\"server-full\"}"
        ),
        1.0
    );
    assert!(sample(&page, "chat_history_appends_total") >= 1.0);
    assert!(sample(&page, "chat_threads{kind=\"session\"}") >= 3.0);
    for name in [
        "chat_connections",
        "chat_backlog_bytes",
        "chat_disconnects_total",
        "chat_history_fsync_seconds",
    ] {
        assert!(page.contains(&format!("# HELP {name} ")), "HELP for {name}");
        assert!(page.contains(&format!("# TYPE {name} ")), "TYPE for {name}");
    }
    // After a departure, its cause is counted.
    bob.send("QUIT");
    bob.expect("BYE");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, page) = get(metrics, "/metrics");
        if sample(&page, "chat_disconnects_total{reason=\"quit\"}") == 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the quit is never counted");
    }

    let (head, body) = get(metrics, "/healthz");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(body, "ok\n");
    let (head, _) = get(metrics, "/nothing");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Err(_) => eprintln!("skipped: promtool not installed (Debian: prometheus)"),
        Ok(mut promtool) => {
            let mut stdin = promtool.stdin.take().unwrap();
            stdin.write_all(page.as_bytes()).unwrap();
            drop(stdin);
            let checked = promtool.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&checked.stdout).into_owned()
                + &String::from_utf8_lossy(&checked.stderr);
            assert!(checked.status.success(), "promtool: {said}");
            assert!(said.trim().is_empty(), "promtool: {said}");
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}
