//! The `chat-client` binary in a real terminal: tmux runs it in a detached
//! 100×30 window, `send-keys` types, `capture-pane` shows the screen as a
//! person sees it. Against an in-process server, with other users on plain
//! sockets: typing while others chat, editing with arrows, recalling with Up,
//! a resize, UTF-8, a name asked again at the prompt, a server restart the
//! client survives by itself, the terminal given back as it was found, and
//! passwords typed with nothing of them on the screen or in the history.
//!
//! Skipped, saying so, where tmux is not installed (`.ci/run` installs it).

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Client, PATIENCE};

const BIN: &str = env!("CARGO_BIN_EXE_chat-client");

/// A tmux server of its own, with one window running one command; killed
/// when dropped, whatever happened.
struct Tmux {
    socket: String,
}

fn tmux_installed() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("skipped: tmux not installed");
    }
    found
}

impl Tmux {
    /// Starts `command` (a shell command line) in a 100×30 window.
    fn start(command: &str) -> Tmux {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmux = Tmux {
            socket: format!("chat-client-test-{}-{n}", std::process::id()),
        };
        let started = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "chat",
            command,
        ]);
        assert!(started.status.success(), "tmux: {started:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-u", "-f", "/dev/null", "-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Presses keys by tmux's names for them (`Left`, `Enter`, `C-w`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    /// Types `text` as it is.
    fn type_text(&self, text: &str) {
        assert!(self
            .run(&["send-keys", "-t", "chat", "-l", text])
            .status
            .success());
    }

    fn resize(&self, cols: u16, rows: u16) {
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let done = self.run(&["resize-window", "-t", "chat", "-x", &cols, "-y", &rows]);
        assert!(done.status.success(), "{done:?}");
    }

    /// The screen, one string per row.
    fn screen(&self) -> Vec<String> {
        let out = self.run(&["capture-pane", "-p", "-t", "chat"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| line.trim_end().to_string())
            .collect()
    }

    /// The screen and everything that scrolled off it, as one text.
    fn everything(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-S", "-", "-t", "chat"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `ready`, and returns it.
    fn wait_for(&self, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on the screen:\n{}",
                screen.join("\n")
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a row contains `text`.
    fn wait_for_text(&self, text: &str) -> Vec<String> {
        self.wait_for(text, |screen| screen.iter().any(|row| row.contains(text)))
    }

    /// Waits until the input line (the last row in use) is exactly `line`.
    fn wait_for_input(&self, line: &str) -> Vec<String> {
        self.wait_for(&format!("input line {line:?}"), |screen| {
            input_line(screen) == line
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The bottom row that is not blank: the input line.
fn input_line(screen: &[String]) -> &str {
    screen
        .iter()
        .rev()
        .find(|row| !row.is_empty())
        .map_or("", String::as_str)
}

/// The shell command that runs the client against `addr` with `args`, in a
/// UTF-8 locale and without colours (so the screen reads as plain text).
fn client_command(addr: SocketAddr, args: &str) -> String {
    format!(
        "env LC_ALL=C.UTF-8 NO_COLOR=1 {BIN} --host 127.0.0.1 --port {} {args}",
        addr.port()
    )
}

/// Starts the client as `name` and waits until it is logged in.
fn logged_in(addr: SocketAddr, name: &str) -> Tmux {
    let tmux = Tmux::start(&format!(
        "exec {}",
        client_command(addr, &format!("--name {name}"))
    ));
    tmux.wait_for_text(&format!("logged in as {name}"));
    tmux
}

#[test]
fn an_incoming_line_leaves_the_input_line_intact_and_arrows_edit_what_is_sent() {
    if !tmux_installed() {
        return;
    }
    let server = common::start();
    let tmux = logged_in(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    tmux.wait_for_text("bob joined");
    let half = "I am in the middle of typing a long sent";
    tmux.type_text(half);
    tmux.wait_for_input(&format!("#lobby> {half}"));
    bob.send("MSG interrupting!");
    bob.expect("MSG bob interrupting!");
    let screen = tmux.wait_for_text("bob: interrupting!");
    assert_eq!(
        input_line(&screen),
        format!("#lobby> {half}"),
        "{screen:#?}"
    );
    assert!(
        !screen.iter().any(|row| row.contains("sent[")),
        "spliced: {screen:#?}"
    );
    // Fix the typo with the arrows, finish the sentence, send it.
    tmux.keys(&["C-u"]);
    tmux.type_text("helo wrld");
    tmux.keys(&["Left", "Left", "Left"]);
    tmux.type_text("o");
    tmux.keys(&["Home", "Right", "Right", "Right"]);
    tmux.type_text("l");
    tmux.keys(&["End"]);
    tmux.type_text(" and bye");
    tmux.wait_for_input("#lobby> hello world and bye");
    tmux.keys(&["Enter"]);
    bob.expect("MSG alice hello world and bye");
    tmux.wait_for_text("alice: hello world and bye");
    // Ctrl-W takes the last word, Ctrl-A and Ctrl-K the rest.
    tmux.type_text("one two three");
    tmux.keys(&["C-w"]);
    tmux.wait_for_input("#lobby> one two");
    tmux.keys(&["C-a", "Right", "C-k"]);
    tmux.type_text("nly");
    tmux.keys(&["Enter"]);
    bob.expect("MSG alice only");
    // Keys the editor does not know (F5, Page Up) are never sent.
    tmux.keys(&["F5", "PageUp"]);
    tmux.type_text("x");
    tmux.keys(&["Enter"]);
    bob.expect("MSG alice x");
}

#[test]
fn up_recalls_and_a_resize_redraws() {
    if !tmux_installed() {
        return;
    }
    let server = common::start();
    let tmux = logged_in(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    tmux.type_text("the first message");
    tmux.keys(&["Enter"]);
    bob.expect("MSG alice the first message");
    tmux.type_text("the second");
    tmux.keys(&["Enter"]);
    bob.expect("MSG alice the second");
    tmux.wait_for_text("alice: the second");
    tmux.keys(&["Up", "Up"]);
    tmux.wait_for_input("#lobby> the first message");
    tmux.keys(&["Down"]);
    tmux.wait_for_input("#lobby> the second");
    tmux.keys(&["Up", "Enter"]);
    bob.expect("MSG alice the first message");

    tmux.type_text("still typing");
    tmux.resize(50, 12);
    let screen = tmux.wait_for("a 12-row screen", |screen| {
        screen.len() == 12 && input_line(screen) == "#lobby> still typing"
    });
    assert_eq!(screen[11], "#lobby> still typing", "{screen:#?}");
    assert!(
        screen[..11]
            .iter()
            .any(|row| row.ends_with("alice: the first message")),
        "{screen:#?}"
    );
    tmux.resize(100, 30);
    tmux.wait_for("a 30-row screen", |screen| {
        screen.len() == 30 && screen[29] == "#lobby> still typing"
    });
    // Lines longer than the window wrap above the input line, which stays one row.
    bob.send(&format!("MSG {}", "w".repeat(150)));
    tmux.wait_for_text(&"w".repeat(50));
    tmux.wait_for("the input line on the bottom row", |screen| {
        screen.len() == 30 && screen[29] == "#lobby> still typing"
    });
}

#[test]
fn multibyte_and_wide_characters_are_edited_as_they_are_seen() {
    if !tmux_installed() {
        return;
    }
    let server = common::start();
    let tmux = logged_in(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    tmux.type_text("日本語🎉 ok");
    tmux.wait_for_input("#lobby> 日本語🎉 ok");
    tmux.keys(&["Left", "Left", "Left", "BSpace"]);
    tmux.wait_for_input("#lobby> 日本語 ok");
    tmux.keys(&["Home", "Right", "DC"]);
    tmux.type_text("é");
    tmux.wait_for_input("#lobby> 日é語 ok");
    tmux.keys(&["Enter"]);
    bob.expect("MSG alice 日é語 ok");
    bob.send("MSG 한국어 👍🏽 reçu");
    tmux.wait_for_text("bob: 한국어 👍🏽 reçu");
}

#[test]
fn a_taken_name_is_asked_again_at_the_prompt_and_rooms_work() {
    if !tmux_installed() {
        return;
    }
    let server = common::start();
    let mut bob = Client::login(server.addr(), "bob");
    let tmux = Tmux::start(&format!("exec {}", client_command(server.addr(), "")));
    tmux.wait_for_input("Enter your username:");
    tmux.type_text("bob");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("that name is taken");
    tmux.wait_for_input("Enter your username:");
    tmux.type_text("carol");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("logged in as carol");
    bob.expect("INFO carol connected");
    tmux.type_text("/join #rust");
    tmux.keys(&["Enter"]);
    tmux.wait_for_input("#rust>");
    bob.send("JOIN #rust");
    bob.expect("JOIN #rust bob");
    bob.expect("HISTORY #rust 0");
    tmux.type_text("in the room");
    tmux.keys(&["Enter"]);
    bob.expect("MSG #rust carol in the room");
    tmux.wait_for_text("#rust carol: in the room");
    // A DM is confirmed; Tab completes a name.
    tmux.type_text("/dm b");
    tmux.keys(&["Tab"]);
    tmux.wait_for_input("#rust> /dm bob");
    tmux.type_text("psst");
    tmux.keys(&["Enter"]);
    bob.expect("DM carol psst");
    tmux.wait_for_text("(dm) to bob: psst");
}

#[test]
fn the_client_survives_a_server_restart_and_shows_what_was_said_meanwhile_once() {
    if !tmux_installed() {
        return;
    }
    let data = common::TempDir::new("terminal-reconnect");
    let server = common::start_in(&data);
    let addr = server.addr();
    let mut bob = Client::login(addr, "bob");
    bob.send("MSG before the restart");
    bob.expect("MSG bob before the restart");
    let tmux = Tmux::start(&format!(
        "exec {}",
        client_command(addr, "--name alice --heartbeat 0.3")
    ));
    tmux.wait_for_text("(history) bob: before the restart");
    bob.expect("INFO alice connected");
    tmux.type_text("/join #rust");
    tmux.keys(&["Enter"]);
    tmux.wait_for_input("#rust>");
    server.stop();
    tmux.wait_for_text("connecting again in");
    tmux.wait_for_input("(offline) #rust>");
    let server = common::restart_in(&data, addr);
    let mut bob = Client::login(server.addr(), "bob");
    bob.send("MSG said meanwhile");
    bob.expect("MSG bob said meanwhile");
    tmux.wait_for_text("reconnected as alice");
    tmux.wait_for_text("back in #rust");
    tmux.wait_for_text("(history) bob: said meanwhile");
    bob.send("MSG live again");
    let screen = tmux.wait_for_text("bob: live again");
    let count = |text: &str| screen.iter().filter(|row| row.contains(text)).count();
    assert_eq!(count("said meanwhile"), 1, "{screen:#?}");
    assert_eq!(count("before the restart"), 1, "{screen:#?}");
    assert_eq!(
        input_line(&screen),
        "#rust>",
        "the room is kept: {screen:#?}"
    );
}

#[test]
fn the_terminal_is_given_back_as_it_was_after_quit_ctrl_d_and_ctrl_c() {
    if !tmux_installed() {
        return;
    }
    let server = common::start();
    for leave in [&["/quit", "Enter"][..], &["C-d"], &["C-c"]] {
        let tmux = Tmux::start(&format!(
            "{}; echo EXITED $?; stty -a; sleep 60",
            client_command(server.addr(), "--name alice")
        ));
        tmux.wait_for_text("logged in as alice");
        match leave {
            [text, "Enter"] => {
                tmux.type_text(text);
                tmux.keys(&["Enter"]);
            }
            keys => tmux.keys(keys),
        }
        // `stty -a` prints its flags (`icanon` or `-icanon`) last.
        let screen = tmux.wait_for_text("icanon");
        let shown = screen.join("\n");
        assert!(shown.contains("EXITED 0"), "{leave:?}: {shown}");
        let settings: Vec<&str> = shown.split_whitespace().collect();
        for setting in ["icanon", "echo", "isig", "icrnl", "ixon"] {
            assert!(
                settings.contains(&setting),
                "{leave:?}: no {setting} in {shown}"
            );
        }
        // Logged out for real: the name is free again at once.
        let mut again = Client::login(server.addr(), "alice");
        again.send("QUIT");
        again.expect("BYE");
    }
}

#[test]
fn ctrl_z_gives_the_terminal_back_and_fg_takes_it_again() {
    if !tmux_installed() {
        return;
    }
    let server = common::start();
    let mut bob = Client::login(server.addr(), "bob");
    // A shell with job control, as a person has.
    let tmux = Tmux::start("env PS1='$ ' bash --norc --noprofile -i");
    tmux.wait_for_input("$");
    tmux.type_text(&client_command(server.addr(), "--name alice"));
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("logged in as alice");
    bob.expect("INFO alice connected");
    tmux.type_text("half typed");
    tmux.keys(&["C-z"]);
    tmux.wait_for_text("Stopped");
    tmux.type_text("stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("stty's answer", |screen| {
        screen.iter().any(|row| row == "icanon" || row == "-icanon")
    });
    assert!(screen.iter().any(|row| row == "icanon"), "{screen:#?}");
    bob.send("MSG said while stopped");
    bob.expect("MSG bob said while stopped");
    tmux.type_text("fg");
    tmux.keys(&["Enter"]);
    // Back in raw mode, redrawn, with the half-typed line where it was.
    tmux.wait_for_text("bob: said while stopped");
    tmux.wait_for_input("#lobby> half typed");
    tmux.type_text(" and done");
    tmux.keys(&["Enter"]);
    bob.expect("MSG alice half typed and done");
}

/// Types `text` and Enter at a password prompt `prompt`, checking first that
/// nothing of what was typed shows.
fn type_password(tmux: &Tmux, prompt: &str, text: &str) {
    tmux.wait_for_input(prompt);
    tmux.type_text(text);
    // A resize after the keys: once the client has redrawn for it, it has
    // read them too, and the prompt is still alone on its row.
    tmux.resize(100, 29);
    let screen = tmux.wait_for("the redraw after a resize", |screen| {
        screen.len() == 29 && input_line(screen) == prompt
    });
    assert!(!screen.iter().any(|row| row.contains(text)), "{screen:#?}");
    tmux.resize(100, 30);
    tmux.wait_for("the redraw after a resize", |screen| screen.len() == 30);
    tmux.keys(&["Enter"]);
}

#[test]
fn a_registered_name_asks_for_its_password_unshown_and_a_restart_re_authenticates() {
    if !tmux_installed() {
        return;
    }
    let data = common::TempDir::new("terminal-auth");
    let server = common::start_in(&data);
    let addr = server.addr();
    Client::register(addr, "alice", "tmux-secret-pw");
    let tmux = Tmux::start(&format!(
        "exec {}",
        client_command(addr, "--name alice --heartbeat 0.3")
    ));
    tmux.wait_for_text("alice is registered: type its password");
    type_password(&tmux, "password for alice:", "nope-nope-1");
    tmux.wait_for_text("wrong password; type the password for alice again");
    type_password(&tmux, "password for alice:", "tmux-secret-pw");
    tmux.wait_for_text("logged in as alice");
    tmux.wait_for_input("#lobby>");
    let mut bob = Client::connect(addr);
    bob.send("LOGIN alice");
    bob.expect("ERR name-reserved");
    bob.send("LOGIN bob");
    bob.expect("OK");

    // The server restarts: the client logs in again with the password it
    // kept, which nobody typed again.
    server.stop();
    tmux.wait_for_text("connecting again in");
    let server = common::restart_in(&data, addr);
    tmux.wait_for_text("reconnected as alice");
    let mut bob = Client::login(server.addr(), "bob");
    bob.send("WHO");
    bob.expect("USER alice");
    bob.expect("USER bob");
    let mut carol = Client::connect(server.addr());
    carol.send("LOGIN alice");
    carol.expect("ERR name-reserved");

    // Nothing typed at the prompt went to the history: Up recalls nothing.
    tmux.keys(&["Up"]);
    tmux.type_text("x");
    tmux.wait_for_input("#lobby> x");
    let all = tmux.everything();
    for secret in ["tmux-secret-pw", "nope-nope-1"] {
        assert!(!all.contains(secret), "{secret} shown:\n{all}");
    }
}

#[test]
fn register_asks_twice_unshown_and_then_the_name_is_reserved() {
    if !tmux_installed() {
        return;
    }
    let server = common::start();
    let tmux = Tmux::start(&format!(
        "{}; echo EXITED $?; sleep 60",
        client_command(server.addr(), "--name carol")
    ));
    tmux.wait_for_text("logged in as carol");
    tmux.type_text("/register");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("type the new password, twice");
    type_password(&tmux, "new password:", "first-one-1");
    type_password(&tmux, "new password again:", "first-typo-1");
    tmux.wait_for_text("the two differ");
    type_password(&tmux, "new password:", "carol-pass-9");
    type_password(&tmux, "new password again:", "carol-pass-9");
    tmux.wait_for_text("carol is yours now");
    let mut bob = Client::connect(server.addr());
    bob.send("LOGIN carol");
    bob.expect("ERR name-reserved");
    bob.send("AUTH carol carol-pass-9");
    bob.expect("OK");
    // Taken over from elsewhere: the client says so and stops, for good.
    tmux.wait_for_text("you logged in elsewhere");
    tmux.wait_for_text("EXITED 4");
    bob.expect_nothing_pending();

    let all = tmux.everything();
    for secret in ["first-one-1", "first-typo-1", "carol-pass-9"] {
        assert!(!all.contains(secret), "{secret} shown:\n{all}");
    }
}
