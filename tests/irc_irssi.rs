//! A real IRC client in a real terminal: irssi, in a tmux session of its
//! own, connects to the in-process server, joins `#rust` and chats with a
//! line-protocol user and a WebSocket (browser) user, both ways; a `/msg` is
//! a DM and `/me` an action; each front's `WHO` lists all three. The
//! test drives irssi with `tmux send-keys` and reads its screen with
//! `tmux capture-pane`. Skipped (with a message) where irssi or tmux is not
//! installed; `.ci/run` installs both.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::irc;
use common::ws::Ws;
use common::{Client, TempDir};

/// How long irssi may take to start, connect or show a line.
const SLOW: Duration = Duration::from_secs(30);

fn installed(program: &str, version_flag: &str) -> bool {
    Command::new(program)
        .arg(version_flag)
        .output()
        .is_ok_and(|out| out.status.success())
}

/// A tmux server on a socket of its own in `dir`, killed (with irssi) when
/// dropped.
struct Tmux {
    dir: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", "irssi"])
            .args(args)
            .env("TMUX_TMPDIR", &self.dir)
            .env("TERM", "xterm-256color")
            .output()
            .expect("run tmux")
    }

    /// Types `text` into irssi and presses Enter.
    fn type_line(&self, text: &str) {
        assert!(self
            .run(&["send-keys", "-t", "irc", "-l", text])
            .status
            .success());
        assert!(self
            .run(&["send-keys", "-t", "irc", "Enter"])
            .status
            .success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "irc"]).stdout).into_owned()
    }

    /// Waits until irssi's screen shows a line with all of `parts`.
    fn wait_for(&self, parts: &[&str]) {
        let deadline = Instant::now() + SLOW;
        loop {
            let screen = self.screen();
            if screen
                .lines()
                .any(|line| parts.iter().all(|part| line.contains(part)))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "irssi never showed {parts:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn irssi_joins_rust_and_chats_with_a_line_user_and_a_browser_user() {
    if !installed("irssi", "--version") || !installed("tmux", "-V") {
        eprintln!("skipped: irssi or tmux not installed");
        return;
    }
    let server = irc::start_with(|config| config.web_addr = Some("127.0.0.1:0".parse().unwrap()));
    let port = irc::addr(&server).port().to_string();
    let mut nc = Client::login(server.addr(), "nc");
    nc.send("JOIN #rust");
    nc.expect("JOIN #rust nc");
    nc.expect("HISTORY #rust 0");
    let mut web = Ws::connect(server.web_addr().unwrap());
    web.send("LOGIN web");
    web.expect("OK");
    web.send("JOIN #rust");
    web.expect("JOIN #rust web");
    web.expect("HISTORY #rust 0");
    nc.expect("INFO web connected");
    nc.expect("JOIN #rust web");

    let home = TempDir::new("irssi");
    // irssi's own flood protection would space our lines 2.2 s apart.
    let config = "settings = { \"irc/core\" = { cmd_queue_speed = \"0msec\"; cmds_max_at_once = \"100\"; }; };\n";
    std::fs::write(home.path().join("config"), config).expect("write irssi's config");
    let tmux = Tmux {
        dir: home.path().to_path_buf(),
    };
    let irssi = format!(
        "irssi --home={} -c 127.0.0.1 -p {port} -n irssiuser",
        home.arg()
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "irc",
        "-x",
        "160",
        "-y",
        "40",
        &irssi,
    ]);
    assert!(started.status.success(), "{started:?}");
    let soon = || Instant::now() + SLOW;
    nc.skip_until("INFO irssiuser connected", soon());
    tmux.wait_for(&["Welcome to the irc.test IRC network, irssiuser!"]);

    tmux.type_line("/join #rust");
    nc.skip_until("JOIN #rust irssiuser", soon());
    tmux.wait_for(&["irssiuser", "has joined #rust"]);
    web.expect("INFO irssiuser connected");
    web.expect("JOIN #rust irssiuser");
    nc.send("MSG #rust hello irssi");
    nc.expect("MSG #rust nc hello irssi");
    web.expect("MSG #rust nc hello irssi");
    tmux.wait_for(&["nc", "hello irssi"]);
    web.send("MSG #rust hello from the browser");
    web.expect("MSG #rust web hello from the browser");
    nc.expect("MSG #rust web hello from the browser");
    tmux.wait_for(&["web", "hello from the browser"]);
    tmux.type_line("hi from irssi");
    nc.expect("MSG #rust irssiuser hi from irssi");
    web.expect("MSG #rust irssiuser hi from irssi");
    tmux.type_line("/me waves");
    nc.expect("MSG #rust irssiuser /me waves");
    web.expect("MSG #rust irssiuser /me waves");
    nc.send("MSG #rust /me nods");
    nc.expect("MSG #rust nc /me nods");
    web.expect("MSG #rust nc /me nods");
    tmux.wait_for(&["* nc nods"]);
    tmux.type_line("/msg nc psst");
    nc.expect("DM irssiuser psst");
    for line in ["WHO #rust", "WHO"] {
        nc.send(line);
        web.send(line);
        for name in ["irssiuser", "nc", "web"] {
            nc.expect(&format!("USER {name}"));
            web.expect(&format!("USER {name}"));
        }
    }
    tmux.type_line("/names");
    tmux.wait_for(&["[ irssiuser]", "[ nc", "[ web"]);
    tmux.type_line("/quit see you");
    nc.skip_until("INFO irssiuser disconnected", soon());
}
