//! Faults: peers that reset or half-close the connection, and a server that
//! runs out of file descriptors or threads. Whatever happens, everybody else
//! is served, departures are announced once, and the server neither spins nor
//! dies.
//! (A peer that vanishes without a word is caught by the idle timeout: see
//! `tests/protocol.rs`.)

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{start, Client, Running, PATIENCE, SERVER_BIN};

#[test]
fn a_reset_connection_leaves_once_and_frees_the_name() {
    // The real binary, for its log: it shows that the server saw a reset.
    let mut server = Running::start(&[]);
    let mut alice = Client::login(server.addr, "alice");
    let mut bob = Client::login(server.addr, "bob");
    alice.expect("INFO bob connected");
    // Closing a socket with unread data in its receive buffer makes the
    // kernel send a reset instead of a normal close (what SO_LINGER 0 does).
    bob.send("PING unread");
    bob.stream
        .peek(&mut [0u8; 1])
        .expect("the PONG has arrived");
    drop(bob);
    alice.expect("INFO bob disconnected");
    alice.expect_nothing_pending();
    let _bob = Client::login(server.addr, "bob");
    alice.expect("INFO bob connected");
    let left = server.log_containing("left bob:");
    assert!(left.ends_with("error: connection reset"), "{left}");
}

#[test]
fn a_half_closed_connection_is_a_departure_and_still_gets_its_answers() {
    let server = start();
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect("INFO bob connected");
    bob.send("PING last words");
    bob.stream.shutdown(Shutdown::Write).unwrap();
    bob.expect("PONG last words");
    bob.expect_closed();
    alice.expect("INFO bob disconnected");
    alice.expect_nothing_pending();
}

#[test]
fn out_of_file_descriptors_the_server_backs_off_and_recovers() {
    // A server allowed 24 descriptors: a few go to stdio, the listener and
    // the log pipe, so about 20 clients fit.
    let mut command = Command::new("bash");
    command.args([
        "-c",
        &format!(
            "ulimit -n 24 && exec {SERVER_BIN} --bind 127.0.0.1 --port 0 --web-port 0 --irc-port 0 --no-persist"
        ),
    ]);
    let mut server = Running::spawn(command);
    let addr = server.addr;
    // Connections beyond the limit wait in the kernel's accept queue.
    let crowd: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(addr).expect("connect (queued by the kernel)"))
        .collect();
    server.log_containing("accept failed");
    let cpu_before = server.cpu_ticks();
    thread::sleep(Duration::from_secs(1));
    let spent = server.cpu_ticks() - cpu_before;
    assert!(
        spent < 30,
        "the accept loop must back off, not spin: {spent} ticks in 1 s"
    );
    drop(crowd);
    // Everybody who was queued is served and leaves; then a newcomer is served.
    let deadline = Instant::now() + PATIENCE;
    let mut newcomer = loop {
        let mut c = Client::connect(addr);
        c.send("PING hello");
        if c.try_line().as_deref() == Some("PONG hello") {
            break c;
        }
        assert!(Instant::now() < deadline, "the server did not recover");
        thread::sleep(Duration::from_millis(100));
    };
    newcomer.send("LOGIN survivor");
    newcomer.expect("OK");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server is alive"
    );
}

#[test]
fn out_of_threads_clients_are_refused_politely_and_served_again_later() {
    let mut server = Running::start(&[]);
    let addr = server.addr;
    let mut first = Client::login(addr, "first");
    let mut leaving = Client::login(addr, "leaving");
    first.expect("INFO leaving connected");
    // Cap the server's address space at what it uses now: no new thread stack
    // fits, so every new connection finds the server out of threads. (Heap
    // arenas are reserved up front, so allocations still succeed.)
    let vm_bytes = server.status_kb("VmSize") * 1024;
    let pid = server.child.id().to_string();
    let capped = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--as={vm_bytes}")])
        .status()
        .expect("run prlimit (util-linux)");
    assert!(capped.success(), "prlimit failed");
    for _ in 0..5 {
        let mut refused = Client::connect(addr);
        refused.expect("BYE server-full");
        refused.expect_closed();
    }
    server.log_containing("refused: cannot start a thread");
    // Everybody already inside is still served.
    first.send("MSG still here");
    first.expect("MSG first still here");
    leaving.expect("MSG first still here");
    // When someone leaves, their threads' memory can start a newcomer's.
    leaving.send("QUIT");
    leaving.expect("BYE");
    leaving.expect_closed();
    first.expect("INFO leaving disconnected");
    let deadline = Instant::now() + PATIENCE;
    let mut newcomer = loop {
        let mut c = Client::connect(addr);
        c.send("PING in");
        match c.line().as_str() {
            "PONG in" => break c,
            "BYE server-full" => {}
            other => panic!("unexpected {other}"),
        }
        assert!(Instant::now() < deadline, "no room after a departure");
        thread::sleep(Duration::from_millis(50));
    };
    newcomer.send("LOGIN newcomer");
    newcomer.expect("OK");
    first.expect("INFO newcomer connected");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server is alive"
    );
}

#[test]
fn stopping_and_continuing_the_server_disconnects_nobody() {
    // Ctrl-Z then `fg`: every read with a timeout fails with EINTR once.
    let server = Running::start(&["--quiet"]);
    let mut clients: Vec<Client> = (0..20)
        .map(|i| {
            let mut client = Client::connect(server.addr);
            if i % 2 == 0 {
                client.send(&format!("LOGIN user{i}"));
                client.expect("OK");
            }
            client.expect_nothing_pending();
            client
        })
        .collect();
    let pid = server.child.id().to_string();
    let signal = |name: &str| {
        let sent = Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {name} failed");
    };
    signal("-STOP");
    thread::sleep(Duration::from_millis(300));
    signal("-CONT");
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&format!("PING {i}"));
        loop {
            match client.try_line().as_deref() {
                // Those who logged in after this one; nobody left.
                Some(line) if line.starts_with("INFO user") && line.ends_with(" connected") => {}
                Some(line) => {
                    assert_eq!(line, format!("PONG {i}"));
                    break;
                }
                None => panic!("client {i} was disconnected"),
            }
        }
    }
}

#[test]
fn a_broken_stderr_does_not_take_the_server_down() {
    // `chat-server 2>&1 | head`: the log's reader goes away.
    let child = common::server_command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat-server");
    let mut server = KillOnDrop(child);
    let mut log = BufReader::new(server.0.stderr.take().unwrap());
    let mut listening = String::new();
    log.read_line(&mut listening)
        .expect("the server logs a line");
    let addr: SocketAddr = listening
        .split_whitespace()
        .skip_while(|w| *w != "on")
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {listening:?}"));
    drop(log);
    // Every connection and login is logged, into the broken pipe.
    let mut clients: Vec<Client> = (0..5)
        .map(|i| Client::login(addr, &format!("user{i}")))
        .collect();
    let last = clients.last_mut().unwrap();
    last.send("PING still");
    last.expect("PONG still");
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the server is alive"
    );
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
