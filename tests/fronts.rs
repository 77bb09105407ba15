//! The server behind real TLS fronts, configured as README's "Running on
//! the internet" says: stunnel4 for the line protocol (`protocol = proxy`),
//! HAProxy (`send-proxy-v2`) and nginx (`X-Forwarded-For`) for the web page
//! and WebSocket. Each front runs in a temp dir with its own configuration
//! and a certificate made for the test, in the foreground, stopped by PID;
//! a real TLS client (`openssl s_client`) talks through it. The server's log
//! must show the client's own address and port, not the proxy's, and the
//! conversation must be what it is without a front.
//!
//! A front that is not installed is skipped with a message (CI installs
//! them: see `.ci/run`).

mod common;

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::ws::Ws;
use common::{Running, PATIENCE};

/// Whether `program` can be run; says it is skipped if not.
fn installed(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        eprintln!("skipped: {program} not installed");
    }
    found
}

/// A directory of its own for one front, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("chat-front-{what}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A self-signed certificate for `localhost` (cert.pem, key.pem, and
    /// both in combined.pem, as HAProxy wants them).
    fn certificate(&self) {
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args(["-subj", "/CN=localhost", "-days", "1"])
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(&self.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl req");
        assert!(made.success(), "openssl req failed");
        let combined = fs::read_to_string(self.path("cert.pem")).unwrap()
            + &fs::read_to_string(self.path("key.pem")).unwrap();
        fs::write(self.path("combined.pem"), combined).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A front running in the foreground, stopped by its PID when dropped.
struct Front {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Front {
    /// Starts `command` in `dir` (its output goes to `dir/front.log`) and
    /// waits until it accepts connections on `port`.
    fn start(name: &'static str, mut command: Command, dir: &TempDir, port: u16) -> Front {
        let log = dir.path("front.log");
        let out = fs::File::create(&log).unwrap();
        let child = command
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|err| panic!("start {name}: {err}"));
        let mut front = Front { child, name, log };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = front.child.try_wait().unwrap() {
                panic!("{name} exited ({status}):\n{}", front.output());
            }
            assert!(
                Instant::now() < deadline,
                "{name} never listened:\n{}",
                front.output()
            );
            thread::sleep(Duration::from_millis(20));
        }
        front
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- {} said:\n{}", self.name, self.output());
        }
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|free| free.local_addr())
        .unwrap()
        .port()
}

/// `openssl s_client` connected to a front: a TLS byte stream to write to
/// and read from (its output is read on a thread, with a timeout).
struct TlsClient {
    child: Child,
    stdin: ChildStdin,
    output: Receiver<Vec<u8>>,
    unread: Vec<u8>,
    port: u16,
}

impl TlsClient {
    fn connect(port: u16) -> TlsClient {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-servername", "localhost"])
            .args(["-connect", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl s_client");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (sender, output) = mpsc::channel();
        thread::spawn(move || {
            let mut chunk = [0; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                if sender.send(chunk[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        TlsClient {
            child,
            stdin,
            output,
            unread: Vec::new(),
            port,
        }
    }

    /// The next line, without its `\n`.
    fn line(&mut self) -> String {
        let mut line = Vec::new();
        let mut byte = [0];
        while line.last() != Some(&b'\n') {
            self.read_exact(&mut byte)
                .expect("a line through the front");
            line.push(byte[0]);
            assert!(line.len() < 64 * 1024, "no end of line");
        }
        line.pop();
        String::from_utf8(line).unwrap()
    }

    fn send(&mut self, line: &str) {
        self.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// The local address of the client's TCP connection to the front, from
    /// `/proc` (s_client does not say).
    fn source(&self) -> SocketAddr {
        let pid = self.child.id();
        let inodes: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|fd| fs::read_link(fd.path()).ok())
            .filter_map(|link| {
                let link = link.to_string_lossy().into_owned();
                Some(
                    link.strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_string(),
                )
            })
            .collect();
        let table = fs::read_to_string("/proc/net/tcp").unwrap();
        for row in table.lines().skip(1) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(remote), Some(inode)) =
                (fields.get(1), fields.get(2), fields.get(9))
            else {
                continue;
            };
            let port = |hex: &str| u16::from_str_radix(hex.split(':').nth(1)?, 16).ok();
            if inodes.iter().any(|i| i == inode) && port(remote) == Some(self.port) {
                return SocketAddr::from(([127, 0, 0, 1], port(local).unwrap()));
            }
        }
        panic!(
            "no connection of s_client {pid} to port {} in /proc/net/tcp",
            self.port
        );
    }
}

impl Read for TlsClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.unread.is_empty() {
            match self.output.recv_timeout(PATIENCE) {
                Ok(chunk) => self.unread = chunk,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(io::ErrorKind::TimedOut.into()),
            }
        }
        let n = buf.len().min(self.unread.len());
        buf[..n].copy_from_slice(&self.unread[..n]);
        self.unread.drain(..n);
        Ok(n)
    }
}

impl Write for TlsClient {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stdin.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdin.flush()
    }
}

impl Drop for TlsClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that the next log line for `what` (e.g. `login alice`) carries the
/// client's own address, and returns it.
fn logged_from(server: &mut Running, client: SocketAddr, what: &str) -> String {
    // Any other connection's lines (the page's, say) are skipped.
    server.log_containing(&format!(" {client} {what}"))
}

/// Asserts that a `… via proxy ADDR` or `… by proxy ADDR` log line names a
/// proxy connection other than the client's own.
fn proxy_is_not(line: &str, client: SocketAddr) {
    let proxy = line.rsplit(' ').next().unwrap_or_default();
    assert!(proxy.starts_with("127.0.0.1:"), "{line}");
    assert_ne!(proxy, client.to_string(), "{line}");
}

/// Asks for the page through a front and checks it arrived whole.
fn page_through(port: u16) {
    let mut client = TlsClient::connect(port);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = client.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response:.200}");
    assert!(response.contains("</html>"), "the whole page");
}

fn config_file(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path(name);
    fs::write(&path, text).unwrap();
    path
}

fn dir_str(dir: &TempDir) -> &str {
    dir.0.to_str().unwrap()
}

#[test]
fn stunnel_terminates_tls_for_the_line_protocol_and_passes_the_address() {
    if !installed("stunnel4") || !installed("openssl") {
        return;
    }
    let mut server = Running::start(&["--proxy-protocol", "lines"]);
    let dir = TempDir::new("stunnel");
    dir.certificate();
    let tls = free_port();
    let conf = config_file(
        &dir,
        "stunnel.conf",
        &readme_config(
            "; stunnel",
            &[
                ("accept = 4443", format!("accept = 127.0.0.1:{tls}")),
                (
                    "127.0.0.1:4000",
                    format!("127.0.0.1:{}", server.addr.port()),
                ),
            ],
            &dir,
        ),
    );
    let mut command = Command::new("stunnel4");
    command.arg(&conf);
    let _front = Front::start("stunnel4", command, &dir, tls);
    let mut alice = TlsClient::connect(tls);
    alice.send("LOGIN alice");
    alice.expect("OK");
    let alice_addr = alice.source();
    let connect = logged_from(&mut server, alice_addr, "connect via proxy");
    proxy_is_not(&connect, alice_addr);
    logged_from(&mut server, alice_addr, "login alice");
    let mut bob = TlsClient::connect(tls);
    bob.send("LOGIN bob");
    bob.expect("OK");
    alice.expect("INFO bob connected");
    logged_from(&mut server, bob.source(), "login bob");
    bob.send("MSG hello through TLS");
    bob.expect("MSG bob hello through TLS");
    alice.expect("MSG bob hello through TLS");
    alice.send("WHO");
    alice.expect("USER alice");
    alice.expect("USER bob");
    alice.send("QUIT");
    alice.expect("BYE");
    bob.expect("INFO alice disconnected");
    logged_from(&mut server, alice_addr, "left alice: quit");
}

#[test]
fn haproxy_terminates_https_and_wss_and_sends_the_address_in_proxy_v2() {
    if !installed("haproxy") || !installed("openssl") {
        return;
    }
    let web = free_port();
    let mut server = Running::start(&["--proxy-protocol", "web", "--web-port", &web.to_string()]);
    let dir = TempDir::new("haproxy");
    dir.certificate();
    let tls = free_port();
    let frontend = readme_config(
        "# haproxy",
        &[
            ("bind :443", format!("bind 127.0.0.1:{tls}")),
            ("127.0.0.1:8080", format!("127.0.0.1:{web}")),
        ],
        &dir,
    );
    let conf = config_file(
        &dir,
        "haproxy.cfg",
        &format!("global\n    maxconn 256\n\n{frontend}"),
    );
    let mut command = Command::new("haproxy");
    command.arg("-db").arg("-f").arg(&conf);
    let _front = Front::start("haproxy", command, &dir, tls);
    web_user_through(tls, &mut server, "connect via proxy");
}

#[test]
fn nginx_terminates_https_and_wss_and_forwards_the_address() {
    if !installed("nginx") || !installed("openssl") {
        return;
    }
    let web = free_port();
    let mut server = Running::start(&["--web-port", &web.to_string()]);
    let dir = TempDir::new("nginx");
    dir.certificate();
    let tls = free_port();
    let d = dir_str(&dir);
    // README's server block, inside what a test run needs around it
    // (files in the temp dir, one process in the foreground).
    let conf = config_file(
        &dir,
        "nginx.conf",
        &format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             {}\n}}\n",
            readme_config(
                "# nginx",
                &[
                    ("listen 443 ssl;", format!("listen 127.0.0.1:{tls} ssl;")),
                    ("listen [::]:443 ssl;", String::new()),
                    ("127.0.0.1:8080", format!("127.0.0.1:{web}")),
                ],
                &dir,
            )
        ),
    );
    let mut command = Command::new("nginx");
    command
        .args(["-p", d, "-e", &format!("{d}/error.log"), "-c"])
        .arg(&conf);
    let _front = Front::start("nginx", command, &dir, tls);
    web_user_through(tls, &mut server, "forwarded by proxy");
}

/// The page, then a WebSocket user's session through the front on port
/// `tls`: the server must log `proxied` (how it learnt the address) and the
/// login with the client's own address, and the session must be what it is
/// without a front.
fn web_user_through(tls: u16, server: &mut Running, proxied: &str) {
    page_through(tls);
    let mut carol = Ws::handshake(TlsClient::connect(tls), "");
    carol.send("LOGIN carol");
    carol.expect("OK");
    let carol_addr = carol.stream.source();
    let connect = logged_from(server, carol_addr, proxied);
    proxy_is_not(&connect, carol_addr);
    logged_from(server, carol_addr, "login carol");
    carol.send("MSG over wss");
    carol.expect("MSG carol over wss");
    carol.send("PING token");
    carol.expect("PONG token");
    carol.send("QUIT");
    carol.expect("BYE");
    assert_eq!(carol.close_status(), 1000);
    logged_from(server, carol_addr, "left carol: quit");
}

/// The configuration README gives between `{marker}: begin` and
/// `{marker}: end`, with its addresses replaced by the test's (`changes`)
/// and its certificate paths by the test's files.
fn readme_config(marker: &str, changes: &[(&str, String)], dir: &TempDir) -> String {
    let readme = include_str!("../README.md");
    let begin = format!("{marker}: begin\n");
    let start = readme.find(&begin).expect("README has the configuration") + begin.len();
    let len = readme[start..]
        .find(&format!("{marker}: end"))
        .expect("the configuration ends");
    let mut config = readme[start..start + len].to_string();
    for (from, to) in changes {
        assert!(config.contains(from), "README's {marker} has {from}");
        config = config.replace(from, to);
    }
    let certs = "/etc/ssl/chat.example.org";
    assert!(config.contains(certs));
    config
        .replace(certs, dir_str(dir))
        .replace("fullchain.pem", "cert.pem")
        .replace("privkey.pem", "key.pem")
}
