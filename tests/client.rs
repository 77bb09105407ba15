//! The `chat-client` binary, run for real with piped standard input and output
//! against an in-process server (or, where the server must misbehave, a fake
//! one on a loopback socket): logging in, typing, what is shown, the heartbeat
//! and the exit codes.

mod client_bin;
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client_bin::{script, time_of_day, untimed, Running, BIN};
use common::{Client, PATIENCE};

const WELCOME: &str = "; type /help for the commands";

/// A fake server on a free loopback port, run by `serve` for one connection.
fn fake_server(serve: impl FnOnce(TcpStream) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        serve(stream);
    });
    (addr, handle)
}

#[test]
fn help_version_and_bad_flags() {
    let run = |args: &[&str]| Command::new(BIN).args(args).output().unwrap();
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--host",
        "--port",
        "--name",
        "--password-file",
        "--raw",
        "--heartbeat",
        "--reconnect",
        "--no-reconnect",
        "--history",
        "--no-bell",
        "/who",
        "/dm",
        "/join",
        "/part",
        "/rooms",
        "/history",
        "/go",
        "/register",
        "/password",
        "Exit status",
    ] {
        assert!(text.contains(flag), "--help does not mention {flag}");
    }
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("chat-client {}\n", env!("CARGO_PKG_VERSION"))
    );
    for bad in [
        &["--bogus"][..],
        &["--port", "high"],
        &["--heartbeat", "0"],
        &["--heartbeat", "-1"],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: chat-client"));
    }
}

#[test]
fn a_refused_connection_is_one_line_and_exit_1() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let out = Command::new(BIN)
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("cannot connect to 127.0.0.1:{port}: connection refused\n")
    );
}

#[test]
fn a_script_is_sent_whole_and_every_answer_is_shown_before_exit_0() {
    let server = common::start();
    let mut watcher = Client::login(server.addr(), "watcher");
    let ended = script(
        server.addr(),
        &["--name", "bot"],
        "hello\n/who\nMSG typed by hand\n/dm watcher psst\n/dm nobody hi\n",
    );
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert_eq!(ended.stderr, "");
    let shown: Vec<String> = ended.rest.iter().map(|l| untimed(l)).collect();
    assert_eq!(
        shown,
        [
            format!("*** logged in as bot{WELCOME}"),
            "[t] bot: hello".into(),
            "*** online (2): bot, watcher".into(),
            "[t] bot: typed by hand".into(),
            "*** nobody by that name is online".into(),
        ]
    );
    watcher.expect("INFO bot connected");
    watcher.expect("MSG bot hello");
    watcher.expect("MSG bot typed by hand");
    watcher.expect("DM bot psst");
    watcher.expect("INFO bot disconnected");
}

#[test]
fn a_script_whose_name_is_refused_exits_3_and_sends_nothing_else() {
    let server = common::start();
    let mut bob = Client::login(server.addr(), "bob");
    // The name comes from --name or the first line, never from a later line.
    let ended = script(server.addr(), &["--name", "bob"], "ok\nbuild 42 passed\n");
    assert_eq!(ended.code, 3, "stderr: {}", ended.stderr);
    assert_eq!(
        ended.stderr,
        "cannot log in as bob: that name is taken, please choose another\n"
    );
    assert_eq!(ended.rest, Vec::<String>::new());
    let ended = script(server.addr(), &[], "bob\nbad name\n\nLOGIN carol\nhi\n");
    assert_eq!(ended.code, 3, "stderr: {}", ended.stderr);
    assert_eq!(ended.rest, ["Enter your username: "]);
    let ended = script(server.addr(), &["--name", "bad name"], "hello\nalice\n");
    assert_eq!(ended.code, 3, "stderr: {}", ended.stderr);
    assert_eq!(
        ended.stderr,
        "cannot log in as bad name: a name is 1 to 32 letters, digits, '_', '.' or '-'\n"
    );
    // A name longer than the server's line limit gets `ERR line-too-long`,
    // which answers the login too.
    let huge = "n".repeat(5000);
    let ended = script(server.addr(), &["--name", &huge], "hello\n");
    assert_eq!(
        ended.code,
        3,
        "stderr: {}",
        &ended.stderr[..80.min(ended.stderr.len())]
    );
    // Nobody got in, and nothing was said.
    bob.expect_nothing_pending();
}

#[test]
fn a_script_reads_its_first_line_as_the_name() {
    let server = common::start();
    let mut alice = Client::login(server.addr(), "alice");
    let ended = script(server.addr(), &[], "bot\nhi\n");
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    let shown: Vec<String> = ended.rest.iter().map(|l| untimed(l)).collect();
    assert_eq!(
        shown,
        [
            format!("Enter your username: *** logged in as bot{WELCOME}"),
            "[t] bot: hi".into()
        ]
    );
    alice.expect("INFO bot connected");
    alice.expect("MSG bot hi");
    alice.expect("INFO bot disconnected");
}

#[test]
fn only_exact_protocol_commands_are_sent_as_typed_and_long_lines_say_the_limit() {
    let server = common::start();
    let mut watcher = Client::login(server.addr(), "watcher");
    let long = "y".repeat(5000);
    let ended = script(
        server.addr(),
        &["--name", "bot"],
        &format!("WHO IS THERE?\n{long}\nQUIT SMOKING\n"),
    );
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    let mut shown: Vec<String> = ended.rest.iter().map(|l| untimed(l)).collect();
    // Refused at once, so perhaps before the echo of the line before it.
    let refusal = "*** that line is 5004 bytes, over the 4096 the server takes; it was not sent";
    let at = shown.iter().position(|l| l == refusal);
    assert!(at.is_some(), "{shown:?}");
    shown.retain(|l| l != refusal);
    assert_eq!(
        shown,
        [
            format!("*** logged in as bot{WELCOME}"),
            "[t] bot: WHO IS THERE?".into(),
            "[t] bot: QUIT SMOKING".into(),
        ]
    );
    watcher.expect("INFO bot connected");
    watcher.expect("MSG bot WHO IS THERE?");
    watcher.expect("MSG bot QUIT SMOKING");
    watcher.expect("INFO bot disconnected");
}

#[test]
fn messages_dms_and_notices_are_shown_in_local_time_and_quit_leaves() {
    let server = common::start();
    // Half an hour off from UTC, so a client printing UTC would be caught.
    let mut bot = Running::start(server.addr(), &["--name", "bot"], &[("TZ", "XYZ-05:30")]);
    assert_eq!(bot.line(), format!("*** logged in as bot{WELCOME}"));
    let mut alice = Client::login(server.addr(), "alice");
    assert_eq!(bot.line(), "*** alice joined");

    alice.send("MSG hello everyone");
    alice.expect("MSG alice hello everyone");
    let utc_minute = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60;
    let line = bot.line();
    assert_eq!(untimed(&line), "[t] alice: hello everyone");
    let shown_minute = time_of_day(&line[1..9]) / 60;
    let expected = (utc_minute + 5 * 60 + 30) % (24 * 60);
    let off_by = (i64::from(shown_minute) - expected as i64).rem_euclid(24 * 60);
    assert!(
        off_by == 0 || off_by == 1 || off_by == 24 * 60 - 1,
        "{line} is not UTC+05:30 (expected minute {expected} of the day)"
    );

    alice.send("DM bot psst");
    assert_eq!(untimed(&bot.line()), "[t] (dm) alice: psst");
    bot.type_line("/ping");
    let pong = bot.line();
    assert!(pong.starts_with("*** pong from the server in "), "{pong}");
    assert!(pong.ends_with(" ms"), "{pong}");
    bot.type_line("/help");
    assert_eq!(bot.line(), "*** commands:");
    // The rooms and history commands joined the list (issue 11), and the
    // accounts' (issue 15).
    let help: Vec<String> = (0..15).map(|_| bot.line()).collect();
    assert_eq!(
        help.iter().filter(|l| l.starts_with("***   /")).count(),
        12,
        "{help:?}"
    );
    bot.type_line("/who");
    assert_eq!(bot.line(), "*** online (2): alice, bot");
    alice.send("QUIT");
    alice.expect("BYE");
    assert_eq!(bot.line(), "*** alice left");

    bot.type_line("/quit");
    let ended = bot.wait();
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert_eq!(ended.rest, Vec::<String>::new());
    let all = [line, pong].concat();
    assert!(!all.contains('\x1b'), "colour codes in a pipe: {all:?}");
}

#[test]
fn raw_mode_is_verbatim_both_ways() {
    let server = common::start();
    let ended = script(
        server.addr(),
        &["--raw"],
        "LOGIN rawbot\nWHO\nPING hi\nmsg lower case\n/who\n",
    );
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert_eq!(
        ended.rest,
        [
            "OK",
            "USER rawbot",
            "PONG hi",
            "MSG rawbot lower case",
            "ERR unknown-command",
            "BYE"
        ]
    );
}

#[test]
fn control_characters_from_others_are_neutralised_and_a_server_close_is_exit_1() {
    let (addr, server) = fake_server(|stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut login = String::new();
        reader.read_line(&mut login).unwrap();
        assert_eq!(login, "LOGIN bot\n");
        let evil = "OK\nMSG eve \x1b[2J\x1b[Hgotcha\x07\nDM eve \x1b]0;pwned\x07hi\r\n\
                    INFO \x1b[31mmallory connected\nUSER \x08\x08x\nBYE \x1b[5mmaintenance\n";
        (&stream).write_all(evil.as_bytes()).unwrap();
    });
    let mut bot = Running::start(addr, &["--name", "bot"], &[]);
    server.join().unwrap();
    let ended = bot.wait();
    assert_eq!(ended.code, 1);
    assert_eq!(
        ended.stderr,
        "disconnected by server (\u{FFFD}[5mmaintenance)\n"
    );
    let shown: Vec<String> = ended.rest.iter().map(|l| untimed(l)).collect();
    assert_eq!(
        shown,
        [
            format!("*** logged in as bot{WELCOME}"),
            "[t] eve: \u{FFFD}[2J\u{FFFD}[Hgotcha\u{FFFD}".into(),
            "[t] (dm) eve: \u{FFFD}]0;pwned\u{FFFD}hi".into(),
            "*** \u{FFFD}[31mmallory joined".into(),
            "*** online: \u{FFFD}\u{FFFD}x".into(),
        ]
    );
}

#[test]
fn being_dropped_by_the_server_is_reported_with_its_reason() {
    let server = common::start_with(|config| config.idle_timeout = Duration::from_secs(1));
    let mut lazy = Running::start(server.addr(), &["--name", "lazy", "--heartbeat", "60"], &[]);
    assert_eq!(lazy.line(), format!("*** logged in as lazy{WELCOME}"));
    let ended = lazy.wait();
    assert_eq!(ended.code, 1);
    assert_eq!(ended.stderr, "disconnected by server (idle-timeout)\n");
}

#[test]
fn the_heartbeat_keeps_an_idle_client_connected_and_its_pongs_hidden() {
    let server = common::start_with(|config| config.idle_timeout = Duration::from_secs(1));
    let mut keen = Running::start(
        server.addr(),
        &["--name", "keen", "--heartbeat", "0.25"],
        &[],
    );
    assert_eq!(keen.line(), format!("*** logged in as keen{WELCOME}"));
    // Well past the server's idle timeout without typing anything.
    thread::sleep(Duration::from_millis(2500));
    let mut alice = Client::login(server.addr(), "alice");
    alice.send("MSG still there?");
    assert_eq!(keen.line(), "*** alice joined");
    assert_eq!(untimed(&keen.line()), "[t] alice: still there?");
    let ended = keen.close_input_and_wait();
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert_eq!(ended.rest, Vec::<String>::new(), "heartbeat answers shown");
}

#[test]
fn a_server_that_stops_answering_means_connection_lost() {
    let (addr, server) = fake_server(|stream| {
        // Reads everything (the login, the pings) and answers nothing.
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
    });
    let mut bot = Running::start(addr, &["--name", "bot", "--heartbeat", "0.5"], &[]);
    let ended = bot.wait();
    assert_eq!(ended.code, 1);
    assert_eq!(ended.stderr, "connection lost\n");
    assert_eq!(ended.rest, Vec::<String>::new());
    drop(bot);
    server.join().unwrap();
}

#[test]
fn a_server_that_answers_pings_but_never_the_login_is_given_up_on() {
    let (addr, server) = fake_server(|stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            if let Some(token) = line.trim_end().strip_prefix("PING ") {
                let _ = (&stream).write_all(format!("PONG {token}\n").as_bytes());
            }
            line.clear();
        }
    });
    // Patience is 5 heartbeats, the login gets twice that: 2 s here.
    let mut bot = Running::start(addr, &["--name", "bot", "--heartbeat", "0.2"], &[]);
    let ended = bot.wait();
    assert_eq!(ended.code, 1);
    assert_eq!(ended.stderr, "the server did not answer the login\n");
    drop(bot);
    server.join().unwrap();
}

#[test]
fn quit_works_while_the_server_trickles_a_line_that_never_ends() {
    let (addr, server) = fake_server(|stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut login = String::new();
        reader.read_line(&mut login).unwrap();
        (&stream).write_all(b"OK\n").unwrap();
        // Three bytes a second, never a newline, until the client goes.
        for _ in 0..200 {
            if (&stream).write_all(b"abc").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let mut bot = Running::start(addr, &["--name", "bot"], &[]);
    assert_eq!(bot.line(), format!("*** logged in as bot{WELCOME}"));
    let asked = Instant::now();
    bot.type_line("/quit");
    let ended = bot.wait();
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert!(
        asked.elapsed() < PATIENCE,
        "quit took {:?}",
        asked.elapsed()
    );
    drop(bot);
    server.join().unwrap();
}

#[test]
fn a_script_asked_to_reconnect_survives_a_restart_and_shows_what_it_missed_once() {
    let data = common::TempDir::new("client-reconnect");
    let server = common::start_in(&data);
    let addr = server.addr();
    let mut alice = Client::login(addr, "alice");
    alice.send("MSG before");
    alice.expect("MSG alice before");
    let mut bot = Running::start(
        addr,
        &["--name", "bot", "--reconnect", "--heartbeat", "0.3"],
        &[],
    );
    assert_eq!(bot.line(), format!("*** logged in as bot{WELCOME}"));
    alice.expect("INFO bot connected");
    alice.send("MSG seen live");
    assert_eq!(untimed(&bot.line()), "[t] alice: seen live");
    server.stop();
    // Perhaps `*** alice left` first: the server hangs up on her too.
    let mut before_loss = Vec::new();
    while !before_loss
        .iter()
        .any(|l: &String| l.contains("connecting again in"))
    {
        before_loss.push(bot.line());
        assert!(before_loss.len() < 5, "{before_loss:?}");
    }
    let server = common::restart_in(&data, addr);
    let mut alice = Client::login(server.addr(), "alice");
    alice.send("MSG said meanwhile");
    alice.expect("MSG alice said meanwhile");
    let mut shown = Vec::new();
    while !shown
        .iter()
        .any(|l: &String| l.starts_with("*** reconnected as bot"))
    {
        shown.push(untimed(&bot.line()));
        assert!(shown.len() < 20, "{shown:?}");
    }
    // Said before the client was back: fetched with HISTORY and shown once,
    // without what it had seen already.
    assert_eq!(untimed(&bot.line()), "[t] (history) alice: said meanwhile");
    alice.send("MSG and live again");
    assert_eq!(untimed(&bot.line()), "[t] alice: and live again");
    let ended = bot.close_input_and_wait();
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert_eq!(ended.rest, Vec::<String>::new());
}

/// A password file (`pw` in `dir`, readable by its owner only) holding `line`.
fn password_file(dir: &common::TempDir, line: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join("pw");
    std::fs::write(&path, line).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_script_logs_in_to_a_registered_name_with_its_password_file_or_exits_3() {
    let server = common::start();
    let dir = common::TempDir::new("client-password");
    Client::register(server.addr(), "owner", "correct horse");
    let mut watcher = Client::login(server.addr(), "watcher");

    let file = password_file(&dir, "correct horse\nthe rest is not read\n");
    let mut owner = Running::start(
        server.addr(),
        &["--name", "owner", "--password-file", &file],
        &[],
    );
    assert_eq!(owner.line(), format!("*** logged in as owner{WELCOME}"));
    // Nowhere on the command line, which everybody on the machine can read.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", owner.child.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("horse"));
    owner.type_line("hello as owner");
    watcher.expect("INFO owner connected");
    watcher.expect("MSG owner hello as owner");
    let ended = owner.close_input_and_wait();
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    watcher.expect("INFO owner disconnected");

    let file = password_file(&dir, "incorrect horse\n");
    let ended = script(
        server.addr(),
        &["--name", "owner", "--password-file", &file],
        "not sent\n",
    );
    assert_eq!(ended.code, 3, "stderr: {}", ended.stderr);
    assert_eq!(
        ended.stderr,
        "cannot log in as owner: wrong password (from --password-file)\n"
    );
    let ended = script(server.addr(), &["--name", "owner"], "not sent\n");
    assert_eq!(ended.code, 3, "stderr: {}", ended.stderr);
    assert_eq!(
        ended.stderr,
        "cannot log in as owner: the name is registered; give its password with --password-file FILE\n"
    );
    assert_eq!(ended.rest, Vec::<String>::new());
    // A file that cannot be a password is a bad option, said before connecting.
    let file = password_file(&dir, "short\n");
    let ended = script(server.addr(), &["--password-file", &file], "");
    assert_eq!(ended.code, 2);
    assert!(
        ended.stderr.contains("a password is 8 to 128 bytes") && !ended.stderr.contains("short"),
        "{}",
        ended.stderr
    );
    watcher.expect_nothing_pending();
}

#[test]
fn a_script_registers_its_name_and_a_takeover_elsewhere_ends_it_with_exit_4() {
    let server = common::start();
    let dir = common::TempDir::new("client-register");
    let file = password_file(&dir, "a long enough secret\n");
    let mut bot = Running::start(
        server.addr(),
        &[
            "--name",
            "regbot",
            "--password-file",
            &file,
            "--reconnect",
            "--heartbeat",
            "0.3",
        ],
        &[],
    );
    assert_eq!(bot.line(), format!("*** logged in as regbot{WELCOME}"));
    bot.type_line("/register");
    assert_eq!(
        bot.line(),
        "*** regbot is yours now: logging in as regbot takes this password"
    );
    let mut other = Client::connect(server.addr());
    other.send("LOGIN regbot");
    other.expect("ERR name-reserved");

    // The name's owner logs in from elsewhere: this client stops, for good.
    other.send("AUTH regbot a long enough secret");
    other.expect("OK");
    let ended = bot.wait();
    assert_eq!(ended.code, 4, "stderr: {}", ended.stderr);
    assert!(
        ended.stderr.starts_with("you logged in elsewhere"),
        "{}",
        ended.stderr
    );
    assert_eq!(ended.rest, Vec::<String>::new());
    // It did not come back to take the name again.
    other.expect_nothing_pending();
    other.send("WHO");
    other.expect("USER regbot");
    other.expect_nothing_pending();
}
