//! Accounts over real sockets: `REGISTER`, `AUTH`, `PASSWORD`, reserved
//! names, the takeover of a name, throttling (checked before the KDF), and
//! accounts surviving a restart, a `kill -9` and a damaged file.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chat::server::{Config, Server};
use common::{config, start, start_with, Client, Running};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "chat-accounts-it-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }

    fn accounts(&self) -> PathBuf {
        self.0.join("accounts")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Connects and logs in as `name`, then registers it with `password`.
fn registered(addr: std::net::SocketAddr, name: &str, password: &str) -> Client {
    let mut client = Client::login(addr, name);
    client.send(&format!("REGISTER {password}"));
    client.expect("OK");
    client
}

/// Connects and sends `AUTH name password`, returning the answer.
fn auth(addr: std::net::SocketAddr, name: &str, password: &str) -> (Client, String) {
    let mut client = Client::connect(addr);
    client.send(&format!("AUTH {name} {password}"));
    let answer = client.line();
    (client, answer)
}

/// A server on the data directory `dir`, waiting (boundedly) for a server
/// stopped just before to let go of it.
fn start_on(dir: &Path) -> Server {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let config = Config {
            data_dir: Some(dir.to_owned()),
            ..config()
        };
        match Server::bind(config) {
            Ok(server) => return server,
            Err(err) if err.to_string().contains("in use") && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(err) => panic!("server does not start: {err}"),
        }
    }
}

/// The binary on `dir`, with cheap hashing.
fn binary_on(dir: &TempDir) -> Running {
    Running::start(&["--data-dir", dir.arg(), "--pbkdf2-iterations", "1000"])
}

#[test]
fn a_registered_name_needs_its_password() {
    let server = start();
    let addr = server.addr();
    let mut carol = Client::login(addr, "carol");
    let mut alice = Client::login(addr, "alice");
    carol.expect("INFO alice connected");
    alice.send("REGISTER correct horse");
    alice.expect("OK");
    alice.send("REGISTER correct horse");
    alice.expect("ERR already-registered");
    alice.send("QUIT");
    alice.expect("BYE");
    carol.expect("INFO alice disconnected");

    let mut bob = Client::connect(addr);
    for taken in ["LOGIN alice", "LOGIN ALICE"] {
        bob.send(taken);
        bob.expect("ERR name-reserved");
    }
    bob.send("AUTH alice correct horses");
    bob.expect("ERR wrong-password");
    bob.send("AUTH Alice correct horse");
    bob.expect("OK");
    carol.expect("INFO Alice connected");
    bob.send("WHO");
    bob.expect("USER Alice");
    bob.expect("USER carol");
    bob.send("MSG it is me");
    bob.expect("MSG Alice it is me");
    carol.expect("MSG Alice it is me");
    // Other names are as free as ever.
    let mut dave = Client::login(addr, "dave");
    dave.expect_nothing_pending();
    carol.expect("INFO dave connected");
    carol.expect_nothing_pending();
}

#[test]
fn every_error_of_the_account_commands() {
    let server = start();
    let addr = server.addr();
    let mut c = Client::connect(addr);
    for (line, answer) in [
        ("REGISTER long enough", "ERR not-logged-in"),
        ("PASSWORD long enough", "ERR not-logged-in"),
        ("AUTH nobody password1", "ERR not-registered"),
        ("AUTH b@d password1", "ERR invalid-username"),
        ("AUTH", "ERR invalid-username"),
        ("LOGIN dave", "OK"),
        ("PASSWORD long enough", "ERR not-registered"),
        ("REGISTER 1234567", "ERR weak-password"),
        ("REGISTER", "ERR weak-password"),
        (
            &format!("REGISTER {}", "x".repeat(129)),
            "ERR weak-password",
        ),
        // Four two-byte characters are eight bytes.
        ("REGISTER ééé", "ERR weak-password"),
        ("AUTH dave whatever1", "ERR already-logged-in"),
        ("REGISTER éééé", "OK"),
        ("REGISTER 12345678", "ERR already-registered"),
        ("PASSWORD short", "ERR weak-password"),
        (&format!("PASSWORD {}", "y".repeat(128)), "OK"),
    ] {
        c.send(line);
        assert_eq!(c.line(), answer, "{line:.40}");
    }
    c.expect_nothing_pending();
    // A too-short or too-long guess is simply wrong.
    let (_, answer) = auth(addr, "dave", "short");
    assert_eq!(answer, "ERR wrong-password");
    let (_, answer) = auth(addr, "dave", &"y".repeat(128));
    assert_eq!(answer, "OK");
}

#[test]
fn a_new_password_replaces_the_old_one() {
    let server = start();
    let addr = server.addr();
    let mut alice = registered(addr, "alice", "first password");
    alice.send("PASSWORD second password");
    alice.expect("OK");
    alice.send("QUIT");
    alice.expect("BYE");
    let (_, answer) = auth(addr, "alice", "first password");
    assert_eq!(answer, "ERR wrong-password");
    // A session that came in through AUTH may change it too.
    let (mut alice, answer) = auth(addr, "alice", "second password");
    assert_eq!(answer, "OK");
    alice.send("PASSWORD third password");
    alice.expect("OK");
    let (_, answer) = auth(addr, "alice", "third password");
    assert_eq!(answer, "OK");
}

#[test]
fn auth_takes_a_name_over_from_a_stale_connection() {
    let server = start();
    let addr = server.addr();
    let mut old = registered(addr, "alice", "sesame open");
    old.send("JOIN #r");
    old.expect("JOIN #r alice");
    old.expect("HISTORY #r 0");
    let mut carol = Client::login(addr, "carol");
    old.expect("INFO carol connected");
    carol.send("JOIN #r");
    carol.expect("JOIN #r carol");
    carol.expect("HISTORY #r 0");
    old.expect("JOIN #r carol");

    let (mut new, answer) = auth(addr, "alice", "sesame open");
    assert_eq!(answer, "OK");
    old.expect("BYE logged-in-elsewhere");
    old.expect_closed();
    carol.expect("INFO alice disconnected");
    carol.expect("INFO alice connected");
    carol.expect_nothing_pending();
    // A fresh login: the rooms are the client's to rejoin.
    carol.send("WHO #r");
    carol.expect("USER carol");
    carol.expect_nothing_pending();
    new.send("JOIN #r");
    new.expect("JOIN #r alice");
    new.expect("HISTORY #r 0");
    carol.expect("JOIN #r alice");
    new.send("WHO");
    new.expect("USER alice");
    new.expect("USER carol");
    new.expect_nothing_pending();
}

#[test]
fn a_password_is_the_rest_of_the_line_with_spaces_and_utf8() {
    let server = start();
    let addr = server.addr();
    let password = "  correct horse é 🌍 ";
    let mut alice = registered(addr, "alice", password);
    alice.send("QUIT");
    alice.expect("BYE");
    for wrong in [password.trim(), password.trim_start(), password.trim_end()] {
        let (_, answer) = auth(addr, "alice", wrong);
        assert_eq!(answer, "ERR wrong-password", "{wrong:?}");
    }
    // Telnet's CRLF is a line end, not part of the password.
    let mut c = Client::connect(addr);
    c.send_raw(format!("AUTH alice {password}\r\n").as_bytes());
    c.expect("OK");
}

#[test]
fn wrong_passwords_per_name_are_refused_before_the_kdf() {
    // Expensive hashing: a KDF that ran for refused attempts would show.
    let server = start_with(|c| c.pbkdf2_iterations = 400_000);
    let addr = server.addr();
    let started = Instant::now();
    let _alice = registered(addr, "alice", "the right one");
    let one_kdf = started.elapsed();
    let mut guesser = Client::connect(addr);
    for i in 0..5 {
        guesser.send(&format!("AUTH alice guess number {i}"));
        guesser.expect("ERR wrong-password");
    }
    let burst = Instant::now();
    for i in 5..30 {
        guesser.send(&format!("AUTH alice guess number {i}"));
        guesser.expect("ERR rate-limited");
    }
    let refused = burst.elapsed();
    // 25 KDF runs would take 25 times one; allow a fifth of that.
    assert!(
        refused < one_kdf * 5,
        "25 refusals took {refused:?}, one KDF {one_kdf:?}"
    );
    // Beyond the limit, a right password is refused too; other names are not.
    guesser.send("AUTH alice the right one");
    guesser.expect("ERR rate-limited");
    guesser.send("AUTH bob anything");
    guesser.expect("ERR not-registered");
    guesser.expect_nothing_pending();
}

#[test]
fn wrong_passwords_and_registrations_per_address() {
    let server = start();
    let addr = server.addr();
    let _users: Vec<Client> = (0..5)
        .map(|n| registered(addr, &format!("user{n}"), &format!("password {n}")))
        .collect();
    let mut sixth = Client::login(addr, "user5");
    sixth.send("REGISTER password 5");
    sixth.expect("ERR rate-limited");
    // Four wrong on each of five names: under the per-name limit, at the
    // per-address one.
    let mut guesser = Client::connect(addr);
    for n in 0..5 {
        for i in 0..4 {
            guesser.send(&format!("AUTH user{n} wrong guess {i}"));
            guesser.expect("ERR wrong-password");
        }
    }
    guesser.send("AUTH user0 password 0");
    guesser.expect("ERR rate-limited");
    guesser.expect_nothing_pending();
}

#[test]
fn accounts_survive_a_restart() {
    let dir = TempDir::new("restart");
    {
        let server = start_on(&dir.0);
        let addr = server.addr();
        let _alice = registered(addr, "alice", "alice's secret");
        let mut bob = registered(addr, "bob", "bob's first");
        bob.send("PASSWORD bob's second");
        bob.expect("OK");
        server.stop();
    }
    let server = start_on(&dir.0);
    let addr = server.addr();
    let mut c = Client::connect(addr);
    c.send("LOGIN alice");
    c.expect("ERR name-reserved");
    c.send("AUTH alice alice's secret");
    c.expect("OK");
    let (_, answer) = auth(addr, "bob", "bob's first");
    assert_eq!(answer, "ERR wrong-password");
    let (_, answer) = auth(addr, "bob", "bob's second");
    assert_eq!(answer, "OK");
}

#[test]
fn an_acknowledged_registration_survives_kill_9() {
    let dir = TempDir::new("kill9");
    let mut server = binary_on(&dir);
    let _alice = registered(server.addr, "alice", "kept through kill");
    // SIGKILL: no shutdown, no last fsync.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut server = binary_on(&dir);
    let recovered = server.log_containing("accounts:");
    assert!(recovered.contains("1 registered names"), "{recovered}");
    let mut c = Client::connect(server.addr);
    c.send("LOGIN alice");
    c.expect("ERR name-reserved");
    c.send("AUTH alice kept through kill");
    c.expect("OK");
}

#[test]
fn a_corrupt_accounts_record_is_cut_and_earlier_accounts_kept() {
    let dir = TempDir::new("corrupt");
    let mut server = binary_on(&dir);
    let _alice = registered(server.addr, "alice", "alice's secret");
    let _bob = registered(server.addr, "bob", "bob's secret");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    // Damage bob's record, the last one.
    let mut bytes = fs::read(dir.accounts()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(dir.accounts(), &bytes).unwrap();

    let mut server = binary_on(&dir);
    let recovered = server.log_containing("accounts:");
    assert!(recovered.contains("1 registered names"), "{recovered}");
    assert!(recovered.contains("cut "), "{recovered}");
    assert!(fs::metadata(dir.accounts()).unwrap().len() < bytes.len() as u64);
    let mut c = Client::connect(server.addr);
    c.send("LOGIN alice");
    c.expect("ERR name-reserved");
    c.send("LOGIN bob");
    c.expect("OK");
    // The file takes new records after the cut.
    c.send("REGISTER bob's again");
    c.expect("OK");
    drop(server);
    let mut server = binary_on(&dir);
    let recovered = server.log_containing("accounts:");
    assert!(recovered.contains("2 registered names"), "{recovered}");
    assert!(!recovered.contains("cut "), "{recovered}");
}

#[test]
fn passwords_never_reach_the_log() {
    let dir = TempDir::new("log");
    let mut server = binary_on(&dir);
    let addr = server.addr;
    let mut alice = registered(addr, "alice", "first secret");
    alice.send("PASSWORD second secret");
    alice.expect("OK");
    let (_, answer) = auth(addr, "alice", "wrong secret");
    assert_eq!(answer, "ERR wrong-password");
    let (_, answer) = auth(addr, "alice", "second secret");
    assert_eq!(answer, "OK");
    // Each event in turn (the old session's departure and the new login
    // may come in either order).
    let mut lines = Vec::new();
    for expected in [
        "registered alice",
        "password changed for alice",
        "auth alice: wrong password",
        "left alice: logged-in-elsewhere",
        "login alice (password)",
    ] {
        if !lines.iter().any(|line: &String| line.contains(expected)) {
            lines.extend(server.log_until(expected));
        }
    }
    let all = lines.join("\n");
    assert!(!all.contains("secret"), "a password in the log:\n{all}");
}
