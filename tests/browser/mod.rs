//! A real browser for the web tests: headless Chromium driven over the
//! DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages
//! ending in NUL on file descriptors 3 and 4), so a test waits on what
//! actually happens, in real time. A `--dump-dom` run cannot do that: its
//! virtual clock races ahead of real WebSocket traffic.
//!
//! Also here: a loopback TCP proxy the page can be served through, so that a
//! test can cut the page's connection and hold it off, as a network would.
//!
//! Where Chromium is not installed the tests say so and pass; CI installs it.
#![allow(dead_code)] // each browser test file uses its own subset

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat::support::{base64, json};

/// The longest the browser may take to answer one DevTools command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Chromium, or `None` after saying on stderr that `test` is skipped.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        // Straight to stderr, so the skip shows even though output is captured.
        let _ = writeln!(
            io::stderr(),
            "{test}: skipped, chromium is not installed (apt-get install chromium)"
        );
    }
    found
}

/// Where screenshots go: the test run's temp dir (`target/tmp`), kept after
/// the run so that a person can look at them.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// Headless Chromium. Dropping it kills the browser and removes its profile,
/// whatever happened.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    replies: Receiver<String>,
    next_id: u64,
    profile: PathBuf,
    pub deadline: Instant,
}

/// A tab, by its DevTools session.
pub struct Page {
    session: String,
}

impl Browser {
    pub fn launch(chromium: &Path, deadline: Instant) -> Browser {
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
                "--hide-scrollbars",
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
    pub fn call(&mut self, session: Option<&str>, method: &str, params: &str) -> String {
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
        for _ in 0..100_000 {
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
        panic!("no reply to {method} among 100000 messages");
    }

    /// A new tab, blank, so that emulation can be set before the page loads.
    pub fn new_page(&mut self) -> Page {
        let created = self.call(None, "Target.createTarget", r#"{"url":"about:blank"}"#);
        let target = string_field(&created, "targetId").expect("a target id");
        let attached = self.call(
            None,
            "Target.attachToTarget",
            &format!(r#"{{"targetId":"{target}","flatten":true}}"#),
        );
        let session = string_field(&attached, "sessionId").expect("a session id");
        Page { session }
    }

    /// A new tab `width` × `height` CSS pixels (a phone's when `mobile`) showing `url`.
    pub fn open(&mut self, url: &str, width: u32, height: u32, mobile: bool) -> Page {
        let page = self.new_page();
        page.viewport(self, width, height, mobile);
        page.navigate(self, url);
        page
    }

    /// Asks the browser to close, and waits (bounded) for it to exit.
    pub fn close(&mut self) {
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
    pub fn call(&self, browser: &mut Browser, method: &str, params: &str) -> String {
        browser.call(Some(&self.session), method, params)
    }

    pub fn navigate(&self, browser: &mut Browser, url: &str) {
        self.call(
            browser,
            "Page.navigate",
            &format!(r#"{{"url":{}}}"#, json::string_literal(url)),
        );
    }

    pub fn viewport(&self, browser: &mut Browser, width: u32, height: u32, mobile: bool) {
        self.call(
            browser,
            "Emulation.setDeviceMetricsOverride",
            &format!(
                r#"{{"width":{width},"height":{height},"deviceScaleFactor":1,"mobile":{mobile}}}"#
            ),
        );
    }

    /// Switches `prefers-color-scheme` to dark (or back to light).
    pub fn dark(&self, browser: &mut Browser, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        self.call(
            browser,
            "Emulation.setEmulatedMedia",
            &format!(r#"{{"features":[{{"name":"prefers-color-scheme","value":"{scheme}"}}]}}"#),
        );
    }

    /// Evaluates `expression` (which must give a string) and returns it.
    pub fn eval(&self, browser: &mut Browser, expression: &str) -> String {
        self.try_eval(browser, expression)
            .unwrap_or_else(|reply| panic!("{expression} threw or gave no string: {reply}"))
    }

    /// The string `expression` gives, or the reply if it threw or gave none.
    fn try_eval(&self, browser: &mut Browser, expression: &str) -> Result<String, String> {
        let params = format!(
            r#"{{"expression":{},"returnByValue":true}}"#,
            json::string_literal(expression)
        );
        let reply = self.call(browser, "Runtime.evaluate", &params);
        if reply.contains(r#""exceptionDetails""#) {
            return Err(reply);
        }
        string_value(&reply).ok_or(reply)
    }

    /// Evaluates `expression` until it gives the string `expected` (while
    /// it throws, the page may still be loading: it is asked again).
    pub fn wait_for(&self, browser: &mut Browser, expression: &str, expected: &str) {
        let mut last = String::new();
        for _ in 0..2000 {
            if Instant::now() > browser.deadline {
                break;
            }
            last = self
                .try_eval(browser, expression)
                .unwrap_or_else(|reply| reply);
            if last == expected {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let page = self.eval(browser, "document.body.innerText");
        panic!("{expression} never gave {expected:?}; last: {last:?}\npage:\n{page}");
    }

    /// Waits until `expression` gives a string containing `part`.
    pub fn wait_for_part(&self, browser: &mut Browser, expression: &str, part: &str) {
        let wrapped = format!(
            "String({expression}).includes({}) ? 'yes' : 'no'",
            json::string_literal(part)
        );
        self.wait_for(browser, &wrapped, "yes");
    }

    /// Types `text` into the focused element, as a keyboard (or a paste) would.
    pub fn type_text(&self, browser: &mut Browser, text: &str) {
        self.call(
            browser,
            "Input.insertText",
            &format!(r#"{{"text":{}}}"#, json::string_literal(text)),
        );
    }

    /// Presses and releases one key (`Enter`, `Tab`, …), as a keyboard does.
    pub fn press(&self, browser: &mut Browser, key: &str, code: u32, shift: bool) {
        let modifiers = if shift { 8 } else { 0 };
        for kind in ["keyDown", "keyUp"] {
            let text = if kind == "keyDown" && key == "Enter" {
                r#","text":"\r""#
            } else {
                ""
            };
            self.call(
                browser,
                "Input.dispatchKeyEvent",
                &format!(
                    r#"{{"type":"{kind}","key":"{key}","code":"{key}","windowsVirtualKeyCode":{code},"modifiers":{modifiers}{text}}}"#
                ),
            );
        }
    }

    /// Puts the focus in the message box and types `line` and Enter there.
    pub fn say(&self, browser: &mut Browser, line: &str) {
        self.eval(browser, "document.getElementById('text').focus(), ''");
        self.type_text(browser, line);
        self.press(browser, "Enter", 13, false);
    }

    /// Saves a PNG of what the tab shows as `dir/name.png` and returns its path.
    pub fn screenshot(&self, browser: &mut Browser, dir: &Path, name: &str) -> PathBuf {
        let reply = self.call(browser, "Page.captureScreenshot", r#"{"format":"png"}"#);
        let data = string_field(&reply, "data").expect("screenshot data");
        let png = base64::decode(&data).expect("screenshot is base64");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        let _ = writeln!(io::stderr(), "screenshot: {}", path.display());
        path
    }
}

/// The value of the first `"name":"value"` in a JSON text (for ids and
/// base64, which have no escapes).
fn string_field(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!(r#""{name}":""#))? + name.len() + 4;
    let len = json.get(start..)?.find('"')?;
    json.get(start..start + len).map(str::to_string)
}

/// The string result of `Runtime.evaluate` (`"value":"…"`), unescaped.
fn string_value(reply: &str) -> Option<String> {
    let start = reply.find(r#""type":"string","value":""#)? + 25;
    let mut out = String::new();
    let mut chars = reply.get(start..)?.chars();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    // Surrogate pairs do not occur in what the tests ask for.
                    out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

/// A loopback TCP proxy in front of `upstream`: `cut` ends every connection
/// through it (both ways, as a network that went away), and while `hold` is
/// on new connections wait, accepted but not forwarded, until `pass`.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<(Mutex<ProxyState>, Condvar)>,
}

struct ProxyState {
    upstream: SocketAddr,
    passing: bool,
    stopped: bool,
    live: Vec<TcpStream>,
}

/// How long a held connection waits before the proxy gives up on it.
const HOLD_LIMIT: Duration = Duration::from_secs(60);

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let state = Arc::new((
            Mutex::new(ProxyState {
                upstream,
                passing: true,
                stopped: false,
                live: Vec::new(),
            }),
            Condvar::new(),
        ));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for client in listener.incoming().take(1000) {
                let Ok(client) = client else { continue };
                if shared.0.lock().unwrap().stopped {
                    break;
                }
                let shared = Arc::clone(&shared);
                thread::spawn(move || forward(client, &shared));
            }
        });
        Proxy { addr, state }
    }

    /// New connections go to `upstream` from now on.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.state.0.lock().unwrap().upstream = upstream;
    }

    pub fn hold(&self) {
        self.state.0.lock().unwrap().passing = false;
    }

    pub fn pass(&self) {
        self.state.0.lock().unwrap().passing = true;
        self.state.1.notify_all();
    }

    pub fn cut(&self) {
        for stream in self.state.0.lock().unwrap().live.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.0.lock().unwrap().stopped = true;
        self.pass();
        self.cut();
        // Wakes the accept loop so that it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// One connection through the proxy: waits while held, then copies both ways.
fn forward(client: TcpStream, state: &(Mutex<ProxyState>, Condvar)) {
    let (lock, wake) = state;
    let guard = lock.lock().unwrap();
    let (guard, _) = wake
        .wait_timeout_while(guard, HOLD_LIMIT, |s| !s.passing && !s.stopped)
        .unwrap();
    let stopped = guard.stopped || !guard.passing;
    let upstream = guard.upstream;
    drop(guard);
    if stopped {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    {
        let mut guard = lock.lock().unwrap();
        for stream in [&client, &server] {
            if let Ok(clone) = stream.try_clone() {
                guard.live.push(clone);
            }
        }
    }
    let up = thread::spawn(move || pipe(client_in, server));
    pipe(server_in, client);
    let _ = up.join();
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}
