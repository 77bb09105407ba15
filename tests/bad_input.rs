//! Bad input never hurts the server or other users: over-long lines, floods of
//! bytes without newlines (memory stays bounded), invalid UTF-8, control
//! characters and escape sequences (towards other users and the server log),
//! and telnet's in-band commands.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{start, start_with, Client, Running, PATIENCE};

#[test]
fn a_megabyte_line_is_refused_and_the_connection_lives_on() {
    let server = start();
    let mut c = Client::connect(server.addr());
    let mut huge = vec![b'a'; 1 << 20];
    huge.push(b'\n');
    c.send_raw(&huge);
    c.expect("ERR line-too-long");
    c.send("PING");
    c.expect("PONG");
    // Exactly at the limit is fine; one byte more is not.
    c.send(&format!("PING {}", "x".repeat(4096 - 5)));
    assert_eq!(c.line().len(), 4096);
    c.send(&format!("PING {}", "x".repeat(4096 - 4)));
    c.expect("ERR line-too-long");
    c.send("PING again");
    c.expect("PONG again");
}

#[test]
fn twenty_clients_sending_20_mib_without_newlines_leave_rss_bounded() {
    const CLIENTS: usize = 20;
    const BYTES: usize = 20 << 20;
    let server = Running::start(&[]);
    let addr = server.addr;
    let senders: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let chunk = vec![b'z'; 64 * 1024];
                for _ in 0..BYTES / chunk.len() {
                    c.send_raw(&chunk);
                }
                c.send_raw(b"\nPING done\n");
                c.expect("ERR line-too-long");
                c.expect("PONG done");
            })
        })
        .collect();
    let mut peak_kb = 0;
    while !senders.iter().all(|s| s.is_finished()) {
        peak_kb = peak_kb.max(server.status_kb("VmRSS"));
        thread::sleep(Duration::from_millis(20));
    }
    for sender in senders {
        sender.join().expect("every sender got its answers");
    }
    peak_kb = peak_kb.max(server.status_kb("VmRSS"));
    assert!(peak_kb < 64 * 1024, "server RSS peaked at {peak_kb} kB");
}

#[test]
fn invalid_utf8_is_refused_and_the_connection_lives_on() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    bob.send_raw(b"MSG caf\xe9\n");
    bob.expect("ERR invalid-utf8");
    bob.send_raw(b"MSG \xc0\xaf overlong\n");
    bob.expect("ERR invalid-utf8");
    bob.send_raw(b"\x80\n");
    bob.expect("ERR invalid-utf8");
    bob.send("MSG caf\u{e9} ok");
    bob.expect("MSG bob caf\u{e9} ok");
    alice.expect("MSG bob caf\u{e9} ok");
}

#[test]
fn control_characters_never_reach_other_users_raw() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut mallory = Client::login(server.addr(), "mallory");
    alice.expect("INFO mallory connected");
    // Clear screen, cursor moves, a C1 CSI, BEL, NUL, DEL, a lone CR.
    mallory.send("MSG \u{1b}[2J\u{1b}[H\u{9b}31m\u{7}x\u{0}\u{7f}y\rz\tend");
    let seen = alice.line();
    assert_eq!(
        seen,
        "MSG mallory \u{FFFD}[2J\u{FFFD}[H\u{FFFD}31m\u{FFFD}x\u{FFFD}\u{FFFD}y\u{FFFD}z\tend"
    );
    mallory.line();
    mallory.send("DM alice \u{1b}]0;pwned\u{7}");
    alice.expect("DM mallory \u{FFFD}]0;pwned\u{FFFD}");
}

#[test]
fn bidi_controls_and_line_separators_never_reach_other_users_raw() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut mallory = Client::login(server.addr(), "mallory");
    alice.expect("INFO mallory connected");
    // A right-to-left override turns `txt.exe` into `exe.txt` on screen; an
    // isolate, and line and paragraph separators, which break lines in a page.
    mallory.send("MSG look: \u{202E}txt.exe \u{2067}x\u{2069} a\u{2028}b\u{2029}c");
    alice.expect("MSG mallory look: \u{FFFD}txt.exe \u{FFFD}x\u{FFFD} a\u{FFFD}b\u{FFFD}c");
    // Emoji sequences keep their zero-width joiners.
    mallory.send("MSG \u{1F469}\u{200D}\u{1F4BB}");
    alice.expect("MSG mallory \u{1F469}\u{200D}\u{1F4BB}");
}

#[test]
fn telnet_commands_are_dropped_not_relayed_and_refused_politely() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut telnet = TcpStream::connect(server.addr()).unwrap();
    telnet.set_read_timeout(Some(PATIENCE)).unwrap();
    telnet.write_all(b"LOGIN tel\r\n").unwrap();
    alice.expect("INFO tel connected");
    // Ctrl-C in telnet: IAC IP, IAC DO TIMING-MARK; then a message.
    telnet
        .write_all(b"\xff\xf4\xff\xfd\x06MSG still here\r\n")
        .unwrap();
    alice.expect("MSG tel still here");
    let want: &[u8] = b"OK\n\xff\xfc\x06MSG tel still here\n";
    let mut got = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while got.len() < want.len() && Instant::now() < deadline {
        let mut buf = [0u8; 256];
        let n = telnet.read(&mut buf).expect("telnet user still connected");
        assert!(n > 0, "telnet user was disconnected");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        got, want,
        "OK, the refusal (IAC WONT TIMING-MARK), then the echo"
    );
    alice.expect_nothing_pending();
}

#[test]
fn nothing_a_client_sends_reaches_the_log_raw() {
    let mut server = Running::start(&[]);
    let mut mallory = Client::connect(server.addr);
    // Escape sequences, BEL, a CR and a newline-forged log line everywhere a
    // client can put text: a refused name, a good name, messages, a DM to a
    // missing user, a ping token, an unknown command, invalid UTF-8, telnet.
    mallory.send_raw(b"LOGIN \x1b[2J\x1b]0;owned\x07\r\n");
    mallory.expect("ERR invalid-username");
    mallory.send("LOGIN mallory");
    mallory.expect("OK");
    let nasty: &[&[u8]] = &[
        b"MSG \x1b[31mred\x07 \x9b2J\r2026-01-01T00:00:00Z forged\n",
        b"DM \x1b[2J hello\n",
        b"PING \x1b[H\x00\x7f\n",
        b"\x1b[A\n",
        b"MSG \xff\xfe\x1b\n",
        b"\xff\xf4\xff\xfd\x06QUIT\n",
    ];
    for line in nasty {
        mallory.send_raw(line);
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        // The log reader stops at the first line that is not UTF-8, so such a
        // line shows up here as a missing log line.
        let line = server.next_log();
        let end = line.contains("left mallory: quit");
        seen.push(line);
        if end {
            break;
        }
        assert!(Instant::now() < deadline, "no departure logged: {seen:#?}");
    }
    for line in &seen {
        assert!(
            !line.chars().any(char::is_control),
            "control character in the log: {line:?}"
        );
        assert!(
            line.starts_with("20") && !line.contains("forged"),
            "a line the server did not write: {line:?}"
        );
    }
    assert!(
        seen.iter().any(|l| l.ends_with("login mallory")),
        "{seen:#?}"
    );
}

#[test]
fn telnet_negotiation_does_not_keep_an_idle_connection_alive() {
    let server = start_with(|c| c.idle_timeout = Duration::from_secs(1));
    let mut telnet = TcpStream::connect(server.addr()).unwrap();
    telnet
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Ask for an option every 200 ms (each request gets a refusal back), but
    // never send a line: the idle timeout must still end the connection.
    let mut got = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        let _ = telnet.write_all(b"\xff\xfd\x06");
        thread::sleep(Duration::from_millis(200));
        let mut buf = [0u8; 256];
        match telnet.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {} // nothing yet
        }
        if got.ends_with(b"BYE idle-timeout\n") {
            break;
        }
    }
    let tail = String::from_utf8_lossy(&got[got.len().saturating_sub(40)..]).into_owned();
    assert!(
        tail.ends_with("BYE idle-timeout\n"),
        "still open after {:?}, last bytes {tail:?}",
        start.elapsed()
    );
}
