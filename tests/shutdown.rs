//! Stopping the real binary with a signal: SIGTERM (or SIGINT) stops it
//! gracefully (everybody gets `BYE server-shutdown`, a WebSocket then close
//! 1001, history is synced, exit 0); a second signal, or a stop that would
//! overrun `--shutdown-timeout`, ends it at once, and the log says which.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::ws::Ws;
use common::{Client, Running, PATIENCE};

fn signal(server: &Running, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{name}");
}

/// Waits (boundedly) for the process to end and returns its exit status.
fn exit_status(server: &mut Running) -> i32 {
    let deadline = Instant::now() + 3 * PATIENCE;
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A client whose own answers fill its socket because it never reads them,
/// so that the writer for it is blocked and its goodbye cannot go out.
fn stuck_reader(server: &Running) -> TcpStream {
    let mut stuck = TcpStream::connect(server.addr).unwrap();
    let ping = format!("PING {}\n", "p".repeat(1000));
    // About 700 KB of answers: more than the socket buffers on both sides
    // hold, less than the 1 MiB backlog that would get it dropped.
    for _ in 0..700 {
        stuck.write_all(ping.as_bytes()).unwrap();
    }
    // Stuck once a writer thread waits for room in its socket.
    let deadline = Instant::now() + PATIENCE;
    while !has_thread(server, "chat-writer") {
        assert!(Instant::now() < deadline, "no writer thread got stuck");
        thread::sleep(Duration::from_millis(10));
    }
    stuck
}

/// Whether the server has a thread called `name` now.
fn has_thread(server: &Running, name: &str) -> bool {
    let tasks = format!("/proc/{}/task", server.child.id());
    std::fs::read_dir(tasks)
        .into_iter()
        .flatten()
        .flatten()
        .any(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
}

#[test]
fn sigterm_says_goodbye_to_line_and_websocket_users_syncs_history_and_exits_0() {
    let web = TcpListener::bind("127.0.0.1:0")
        .and_then(|free| free.local_addr())
        .unwrap();
    let data = std::env::temp_dir().join(format!("chat-shutdown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut server = Running::start(&[
        "--web-port",
        &web.port().to_string(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let mut alice = Client::login(server.addr, "alice");
    let mut bob = Client::login(server.addr, "bob");
    let mut carol = Ws::connect(web);
    carol.send("LOGIN carol");
    carol.expect("OK");
    alice.send("MSG kept on disk");
    bob.skip_until("MSG alice kept on disk", Instant::now() + PATIENCE);
    let mut idle = Client::connect(server.addr);
    idle.expect_nothing_pending();

    signal(&server, "TERM");
    for user in [&mut alice, &mut bob, &mut idle] {
        user.skip_until("BYE server-shutdown", Instant::now() + PATIENCE);
        user.expect_closed();
    }
    let bye = loop {
        match carol.frame() {
            (0x1, line) if line.starts_with(b"INFO ") || line.starts_with(b"MSG ") => {}
            (0x1, line) => break String::from_utf8(line).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(bye, "BYE server-shutdown");
    assert_eq!(carol.close_status(), 1001, "going away");
    assert_eq!(exit_status(&mut server), 0);
    server.log_containing("received SIGTERM: stopping gracefully within 5 s");
    server.log_containing("shutting down: stopped accepting");
    server.log_containing("left alice: server-shutdown");
    server.log_containing("shutting down: every connection closed");
    server.log_containing("history synced to disk");
    server.log_containing("stopped");
    // The message survived: a new server replays it.
    drop(server);
    let server = Running::start(&["--data-dir", data.to_str().unwrap()]);
    let mut dave = Client::login(server.addr, "dave");
    dave.send("HISTORY");
    let replayed = (0..100)
        .map(|_| dave.line())
        .find(|line| line.ends_with("alice kept on disk"));
    assert!(replayed.is_some(), "the message is replayed");
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_second_signal_ends_the_process_at_once() {
    let mut server = Running::start(&["--shutdown-timeout", "60"]);
    let _stuck = stuck_reader(&server);
    let mut alice = Client::login(server.addr, "alice");
    signal(&server, "TERM");
    alice.skip_until("BYE server-shutdown", Instant::now() + PATIENCE);
    server.log_containing("shutting down: stopped accepting");
    signal(&server, "INT");
    assert_eq!(exit_status(&mut server), 1);
    server.log_containing("received SIGINT again: exiting now");
}

#[test]
fn connections_that_do_not_close_in_time_are_hung_up_on() {
    let mut server = Running::start(&["--shutdown-timeout", "2"]);
    let _stuck = stuck_reader(&server);
    let mut alice = Client::login(server.addr, "alice");
    signal(&server, "INT");
    alice.skip_until("BYE server-shutdown", Instant::now() + PATIENCE);
    assert_eq!(exit_status(&mut server), 0);
    server.log_containing("received SIGINT: stopping gracefully within 2 s");
    server.log_containing("1 connections did not close in time; hanging up");
    server.log_containing("stopped");
}
