//! A real browser against the real server: headless Chromium opens the chat
//! page from the web listener, logs in through the WebSocket gateway and talks
//! with a user on the line protocol, both ways.
//!
//! The browser is driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: JSON messages ending in NUL on file descriptors
//! 3 and 4), so the test waits on what actually happens, in real time. A
//! `--dump-dom` run cannot do that: its virtual clock races ahead of real
//! WebSocket traffic and dumps before a reply from outside can arrive.
//!
//! Where Chromium is not installed the test says so and passes; CI installs it.

mod common;

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat::support::json;
use common::Client;

/// Everything the test waits for must happen within this (generous: the
/// machine is shared, and Chromium's first start is slow).
const DEADLINE: Duration = Duration::from_secs(90);

/// The longest the browser may take to answer one DevTools command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn browser_and_tcp_users_chat_with_each_other() {
    let Some(chromium) = find_in_path("chromium") else {
        // Straight to stderr, so the skip shows even though output is captured.
        let _ = writeln!(
            io::stderr(),
            "web_browser: skipped, chromium is not installed (apt-get install chromium)"
        );
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    let server = common::start_web();
    let web = server.web_addr().expect("the web listener is on");

    let mut tcp = Client::login(server.addr(), "tcpuser");

    let mut browser = Browser::launch(&chromium, deadline);
    let page = browser.open(&format!("http://{web}/?name=webby&say=hello"));

    // The browser user's arrival and message reach the TCP user.
    tcp.skip_until("INFO webby connected", deadline);
    tcp.send("MSG hi-browser");
    tcp.skip_until("MSG webby hello", deadline);

    // The TCP user's message, sent after the browser logged in, reaches the page.
    let text_from = |name: &str| {
        format!(
            "Array.from(document.querySelectorAll('#messages li[data-from=\"{name}\"] .text'), \
             li => li.textContent).join('|')"
        )
    };
    page.wait_for(&mut browser, &text_from("tcpuser"), "hi-browser");
    page.wait_for(&mut browser, &text_from("webby"), "hello");
    page.wait_for(
        &mut browser,
        "document.getElementById('status').dataset.state",
        "online",
    );
    page.wait_for(
        &mut browser,
        "Array.from(document.querySelectorAll('#online li'), li => li.dataset.name).join(',')",
        "tcpuser,webby",
    );

    // Closing the browser is the browser user leaving.
    browser.close();
    tcp.skip_until("INFO webby disconnected", deadline);
    server.stop();
}

/// The first executable called `name` on the `PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Headless Chromium, driven over the DevTools protocol on a pipe. Dropping
/// it kills the browser and removes its profile, whatever happened.
struct Browser {
    child: Child,
    commands: ChildStdin,
    replies: Receiver<String>,
    next_id: u64,
    profile: PathBuf,
    deadline: Instant,
}

/// A page open in the browser, by its DevTools session.
struct Page {
    session: String,
}

impl Browser {
    fn launch(chromium: &Path, deadline: Instant) -> Browser {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let profile = std::env::temp_dir().join(format!(
            "chat-web-browser-test-{}-{nanos}",
            std::process::id()
        ));
        // The shell hands our pipes to Chromium as descriptors 3 (commands in)
        // and 4 (replies out), where --remote-debugging-pipe expects them.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null 2>/dev/null"#)
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let (Some(commands), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium's pipes are missing");
        };
        let (sender, replies) = mpsc::channel();
        thread::spawn(move || {
            // Split the reply stream on NUL; ends when the browser exits.
            let mut reader = BufReader::new(output);
            let mut message = Vec::new();
            while let Ok(n) = reader.read_until(0, &mut message) {
                if n == 0 {
                    break;
                }
                if message.last() == Some(&0) {
                    message.pop();
                }
                let text = String::from_utf8_lossy(&message).into_owned();
                if sender.send(text).is_err() {
                    break;
                }
                message.clear();
            }
        });
        Browser {
            child,
            commands,
            replies,
            next_id: 0,
            profile,
            deadline,
        }
    }

    /// Sends a DevTools command and returns its reply (a JSON object).
    fn call(&mut self, session: Option<&str>, method: &str, params: &str) -> String {
        self.next_id += 1;
        let id = self.next_id;
        let session = session.map_or(String::new(), |s| format!(r#","sessionId":"{s}""#));
        let command = format!(r#"{{"id":{id},"method":"{method}","params":{params}{session}}}"#);
        self.commands
            .write_all(format!("{command}\0").as_bytes())
            .and_then(|()| self.commands.flush())
            .unwrap_or_else(|err| panic!("send {method} to chromium: {err}"));
        let reply_start = format!(r#"{{"id":{id},"#);
        let give_up = Instant::now() + COMMAND_TIMEOUT;
        for _ in 0..10_000 {
            let left = give_up.saturating_duration_since(Instant::now());
            let reply = self
                .replies
                .recv_timeout(left)
                .unwrap_or_else(|err| panic!("no reply from chromium to {method}: {err}"));
            if reply.starts_with(&reply_start) {
                assert!(
                    !reply.starts_with(&format!(r#"{reply_start}"error""#)),
                    "{method} failed: {reply}"
                );
                return reply;
            }
        }
        panic!("no reply to {method} among 10000 messages");
    }

    /// Opens `url` in a new tab.
    fn open(&mut self, url: &str) -> Page {
        let created = self.call(
            None,
            "Target.createTarget",
            &format!(r#"{{"url":{}}}"#, json::string_literal(url)),
        );
        let target = string_field(&created, "targetId").expect("a target id");
        let attached = self.call(
            None,
            "Target.attachToTarget",
            &format!(r#"{{"targetId":"{target}","flatten":true}}"#),
        );
        let session = string_field(&attached, "sessionId").expect("a session id");
        Page { session }
    }

    /// Asks the browser to close, and waits (bounded) for it to exit.
    fn close(&mut self) {
        let _ = self
            .commands
            .write_all(br#"{"id":0,"method":"Browser.close","params":{}}"#)
            .and_then(|()| self.commands.write_all(b"\0"));
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Page {
    /// Evaluates `expression` in the page until it gives the string `expected`.
    fn wait_for(&self, browser: &mut Browser, expression: &str, expected: &str) {
        let params = format!(
            r#"{{"expression":{},"returnByValue":true}}"#,
            json::string_literal(expression)
        );
        let wanted = format!(r#""value":{}"#, json::string_literal(expected));
        let mut reply = String::new();
        for _ in 0..1000 {
            if Instant::now() > browser.deadline {
                break;
            }
            reply = browser.call(Some(&self.session), "Runtime.evaluate", &params);
            if reply.contains(&wanted) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let page = browser.call(
            Some(&self.session),
            "Runtime.evaluate",
            r#"{"expression":"document.body.innerText","returnByValue":true}"#,
        );
        panic!("{expression} never gave {expected:?}; last: {reply}\npage: {page}");
    }
}

/// The value of the first `"name":"value"` in a JSON text (for ids, which
/// have no escapes).
fn string_field(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!(r#""{name}":""#))? + name.len() + 4;
    let len = json.get(start..)?.find('"')?;
    json.get(start..start + len).map(str::to_string)
}
