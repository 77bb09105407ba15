//! The `chat-server` binary itself: help, version, bad flags, a port in use,
//! and a real run that serves a client and logs its events.

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::{Client, Running, SERVER_BIN as BIN};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run chat-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_version() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--port",
        "--bind",
        "--idle-timeout",
        "--login-timeout",
        "--max-clients",
        "--max-line",
        "--pbkdf2-iterations",
        "--max-connect-rate",
        "--max-output",
        "--proxy-protocol",
        "--trusted-proxy",
        "--metrics",
        "--shutdown-timeout",
    ] {
        assert!(out.contains(flag), "--help mentions {flag}");
    }
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("chat-server {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_flags_exit_2_with_usage() {
    for args in [
        &["--frobnicate"][..],
        &["--port", "eighty"],
        &["--port"],
        &["--idle-timeout", "0"],
        &["--max-clients", "-3"],
        &["--pbkdf2-iterations", "0"],
        &["--pbkdf2-iterations", "10000001"],
        &["--login-timeout", "0"],
        &["--max-rate", "0"],
        &["--max-connect-rate", "0"],
        &["--burst", "3", "--max-rate", "off"],
        &["--proxy-protocol", "irc"],
        &["--trusted-proxy", "10.0.0.0/33"],
        &["--metrics", "localhost"],
        &["stray"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty(), "{args:?}");
        assert!(err.starts_with("chat-server: "), "{args:?}: {err}");
        assert!(err.contains("usage: chat-server"), "{args:?}: {err}");
    }
}

#[test]
fn port_in_use_is_one_line_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let args = [
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--web-port",
        "0",
        "--irc-port",
        "0",
    ];
    let (code, _, err) = run(&args);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
    assert!(
        err.to_lowercase().contains("address already in use"),
        "{err}"
    );
}

#[test]
fn a_web_port_in_use_is_named_in_the_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let web = taken.local_addr().unwrap();
    let port = web.port().to_string();
    let args = [
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--web-port",
        &port,
        "--irc-port",
        "0",
    ];
    let (code, _, err) = run(&args);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("cannot listen on {web}")), "{err}");
    assert!(
        err.to_lowercase().contains("address already in use"),
        "{err}"
    );
}

#[test]
fn serves_clients_and_logs_each_event_with_the_peer() {
    let mut server = Running::start(&["--idle-timeout", "30"]);
    let mut alice = Client::login(server.addr, "alice");
    let peer = alice.stream.local_addr().unwrap().to_string();
    let connect = server.next_log();
    assert!(
        connect.contains(&peer) && connect.contains("connect"),
        "{connect}"
    );
    let login = server.next_log();
    assert!(
        login.contains(&peer) && login.contains("login alice"),
        "{login}"
    );
    alice.send("MSG hi \u{1b}[2J");
    alice.expect("MSG alice hi \u{FFFD}[2J");
    alice.send("QUIT");
    alice.expect("BYE");
    let left = server.next_log();
    assert!(
        left.contains(&peer) && left.contains("alice") && left.contains("quit"),
        "{left}"
    );
    assert!(
        !left.contains('\u{1b}'),
        "no raw control characters in the log"
    );
}
