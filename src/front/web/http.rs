//! The web listener's HTTP side: read one request head within bounds, then
//! either serve the chat page, refuse with a proper status, or complete the
//! WebSocket handshake (RFC 6455 §4.2) so the connection becomes a chat session.
//!
//! One request per connection (`Connection: close`): the page is a single
//! self-contained file, so keep-alive would buy nothing. The head is bounded in
//! size ([`MAX_HEAD`] bytes, [`MAX_HEADERS`] lines) and in total time (the
//! caller's timeout, however slowly the bytes trickle in), so neither garbage
//! nor a slowloris can hold a thread or memory for long.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::websocket;
use crate::support::deadline::{is_timeout, IdleDeadline};

/// The chat page, served at `/`: one self-contained document, its markup and
/// style (`index.html`) followed by its script, kept in files by concern
/// (`script/`; they share one scope, so the order below is the order they run).
const PAGE: &str = concat!(
    include_str!("index.html"),
    "<script>\n'use strict';\n",
    include_str!("script/colours.js"),
    include_str!("script/conversations.js"),
    include_str!("script/sidebar.js"),
    include_str!("script/link.js"),
    include_str!("script/commands.js"),
    include_str!("script/main.js"),
    "</script>\n</body>\n</html>\n",
);

/// The longest request head (request line and headers) accepted, in bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// The most header lines accepted.
pub const MAX_HEADERS: usize = 100;

/// Where the WebSocket gateway lives.
const WEBSOCKET_PATH: &str = "/ws";

/// The only WebSocket version there is (RFC 6455 §4.1).
const WEBSOCKET_VERSION: &str = "13";

/// After answering, how long and how much we read and discard while the
/// client takes the response, so our close does not reset the connection
/// under it (a close with unread input sends RST, which can destroy the
/// response in flight).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 64 * 1024;

/// The page may run its own inline script and style and talk to its own
/// server, and nothing else.
const PAGE_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// How a web connection's handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The connection is now a WebSocket: run a chat session over it.
    WebSocket,
    /// A plain HTTP request, answered with this status; the connection is done.
    Answered(u16),
    /// The client went away or stayed silent before sending a byte; nothing
    /// was answered and the connection is done.
    Abandoned,
}

/// Handles one accepted web connection up to the WebSocket upgrade: reads the
/// request within `timeout` (in total), answers it, and says whether the
/// connection is now a WebSocket. For anything but a WebSocket, the response
/// has been sent and the connection half-closed; the caller just drops it.
pub fn handshake(stream: &Arc<TcpStream>, timeout: Duration) -> io::Result<Handshake> {
    stream.set_write_timeout(Some(timeout))?;
    let mut reader = IdleDeadline::new(Arc::clone(stream), timeout);
    let outcome = respond(&mut reader, &mut &**stream)?;
    if outcome != Handshake::WebSocket {
        let _ = stream.shutdown(Shutdown::Write);
        let mut rest = IdleDeadline::new(Arc::clone(stream), LINGER_TIME).take(LINGER_BYTES);
        let _ = io::copy(&mut rest, &mut io::sink());
    }
    Ok(outcome)
}

/// The whole response refusing a web connection before its request is read
/// (the server is full, or this address has too many connections): `503`
/// with the reason, small enough to go out in one non-blocking write.
pub fn refusal(reason: &str) -> Vec<u8> {
    Response::error(
        503,
        &format!("The chat server refused the connection: {reason}."),
    )
    .with_header("Retry-After", "5".into())
    .to_bytes()
}

/// Reads one request head from `reader` and writes the answer to `writer`.
/// Read timeouts (`WouldBlock`/`TimedOut`) end the request with `408`.
pub fn respond(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<Handshake> {
    let mut buf = vec![0; MAX_HEAD];
    let response = match read_head(reader, &mut buf)? {
        Head::Nothing => return Ok(Handshake::Abandoned),
        Head::TimedOut => Response::error(408, "The request took too long to arrive."),
        Head::Truncated => Response::error(400, "The request ended before its head did."),
        Head::TooLarge => Response::error(431, "The request head is too large."),
        Head::Complete { len, extra } => match parse_request(&buf[..len]) {
            Ok(request) => route(&request, extra),
            Err(response) => response,
        },
    };
    writer.write_all(&response.to_bytes())?;
    writer.flush()?;
    Ok(match response.status {
        101 => Handshake::WebSocket,
        status => Handshake::Answered(status),
    })
}

/// What reading a request head gave.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// The head is `buf[..len]`, up to and including its blank line; `extra`
    /// says whether more bytes came after it.
    Complete { len: usize, extra: bool },
    /// End of stream, or a timeout, before any byte.
    Nothing,
    /// End of stream in the middle of the head.
    Truncated,
    /// A timeout in the middle of the head.
    TimedOut,
    /// No blank line within `MAX_HEAD` bytes.
    TooLarge,
}

fn read_head(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<Head> {
    let mut filled = 0;
    loop {
        if let Some(len) = head_len(&buf[..filled]) {
            return Ok(Head::Complete {
                len,
                extra: filled > len,
            });
        }
        let Some(space) = buf.get_mut(filled..).filter(|space| !space.is_empty()) else {
            return Ok(Head::TooLarge);
        };
        match reader.read(space) {
            Ok(0) if filled == 0 => return Ok(Head::Nothing),
            Ok(0) => return Ok(Head::Truncated),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if is_timeout(&err) && filled == 0 => return Ok(Head::Nothing),
            Err(err) if is_timeout(&err) => return Ok(Head::TimedOut),
            Err(err) => return Err(err),
        }
    }
}

/// The length of the head up to and including the blank line that ends it
/// (lines end in `\r\n`, or a bare `\n`, which RFC 9112 §2.2 lets us accept).
fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().find_map(|(i, &b)| {
        if b != b'\n' {
            return None;
        }
        match bytes.get(i + 1..) {
            Some([b'\n', ..]) => Some(i + 2),
            Some([b'\r', b'\n', ..]) => Some(i + 3),
            _ => None,
        }
    })
}

/// A parsed request head. Strings borrow from the head's bytes.
#[derive(Debug)]
struct Request<'a> {
    method: &'a str,
    /// The target without its query string.
    path: &'a str,
    /// Whether the version is HTTP/1.1 (else HTTP/1.0).
    http11: bool,
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    /// The values of every header called `name` (names are case-insensitive).
    fn values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + '_ {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, value)| value)
    }

    /// The value of a header that must appear exactly once.
    fn single(&self, name: &'a str) -> Option<&'a str> {
        let mut values = self.values(name);
        match (values.next(), values.next()) {
            (Some(value), None) => Some(value),
            _ => None,
        }
    }

    /// Whether a comma-separated header (such as `Connection`) lists `token`.
    fn has_token(&self, name: &'a str, token: &str) -> bool {
        self.values(name)
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }
}

/// Parses a complete head, or returns the response refusing it.
fn parse_request(head: &[u8]) -> Result<Request<'_>, Response> {
    let bad = |detail| Response::error(400, detail);
    let head = std::str::from_utf8(head).map_err(|_| bad("The request head is not UTF-8."))?;
    let mut lines = head
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .take_while(|line| !line.is_empty());
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("The request line is not METHOD TARGET VERSION."));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(bad("The method is not a valid token."));
    }
    if !target.starts_with('/') {
        return Err(bad("The target is not a path."));
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(bad("Only HTTP/1.0 and HTTP/1.1 are spoken here.")),
    };
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(Response::error(431, "Too many header lines."));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("A header line has no colon."));
        };
        // An empty name or one with spaces (including folded continuation lines,
        // which start with whitespace) is refused, as RFC 9112 §5 asks.
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(bad("A header name is not a valid token."));
        }
        headers.push((name, value.trim_matches([' ', '\t'])));
    }
    Ok(Request {
        method,
        path,
        http11,
        headers,
    })
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn route(request: &Request<'_>, extra_bytes: bool) -> Response {
    match request.path {
        "/" | WEBSOCKET_PATH if request.method != "GET" => {
            Response::error(405, "Only GET works here.").with_header("Allow", "GET".into())
        }
        "/" => Response::page(),
        WEBSOCKET_PATH => upgrade(request, extra_bytes),
        _ => Response::error(404, "There is nothing here; the chat is at /."),
    }
}

/// Checks a WebSocket opening handshake (RFC 6455 §4.2.1) and accepts it.
fn upgrade(request: &Request<'_>, extra_bytes: bool) -> Response {
    let bad = |detail| Response::error(400, detail);
    if !request.has_token("Upgrade", "websocket") || !request.has_token("Connection", "upgrade") {
        return bad("This address is for WebSocket connections; the chat page is at /.");
    }
    if !request.http11 || request.single("Host").is_none() {
        return bad("A WebSocket handshake needs HTTP/1.1 and one Host header.");
    }
    if request.single("Sec-WebSocket-Version") != Some(WEBSOCKET_VERSION) {
        return Response::error(426, "Only WebSocket version 13 is spoken here.")
            .with_header("Sec-WebSocket-Version", WEBSOCKET_VERSION.into());
    }
    let Some(key) = request
        .single("Sec-WebSocket-Key")
        .filter(|key| is_valid_key(key))
    else {
        return bad("Sec-WebSocket-Key must be one base64-encoded 16-byte value.");
    };
    if extra_bytes {
        // RFC 6455 §4.1: the client waits for our answer before sending frames.
        return bad("Data arrived before the handshake was answered.");
    }
    Response {
        status: 101,
        headers: vec![
            ("Upgrade", "websocket".into()),
            ("Connection", "Upgrade".into()),
            ("Sec-WebSocket-Accept", websocket::accept_key(key)),
        ],
        body: Vec::new(),
    }
}

/// Whether `key` is the base64 encoding of 16 bytes: 22 characters, the last
/// of which carries only 2 bits (so it is one of `AQgw`), then `==`.
fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let is_base64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    match bytes {
        [data @ .., last, b'=', b'='] if data.len() == 21 => {
            data.iter().all(is_base64) && b"AQgw".contains(last)
        }
        _ => false,
    }
}

/// A response about to be written.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn page() -> Response {
        Response {
            status: 200,
            headers: vec![
                ("Content-Type", "text/html; charset=utf-8".into()),
                ("Content-Security-Policy", PAGE_SECURITY_POLICY.into()),
                ("Referrer-Policy", "no-referrer".into()),
            ],
            body: PAGE.as_bytes().to_vec(),
        }
    }

    /// An error with a short plain-text explanation for whoever reads it.
    fn error(status: u16, detail: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: format!("{status} {}\n{detail}\n", reason(status)).into_bytes(),
        }
    }

    fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if self.status != 101 {
            head.push_str(&format!(
                "Content-Length: {}\r\nCache-Control: no-store\r\n\
                 X-Content-Type-Options: nosniff\r\nConnection: close\r\n",
                self.body.len()
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// Sends `request` through `respond` and returns the outcome and the
    /// response text.
    fn exchange(request: &[u8]) -> (Handshake, String) {
        let mut reader = request;
        let mut written = Vec::new();
        let outcome = respond(&mut reader, &mut written).expect("in-memory I/O does not fail");
        (outcome, String::from_utf8_lossy(&written).into_owned())
    }

    fn upgrade_request(extra_headers: &str) -> String {
        format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
        )
    }

    fn status_of(request: &[u8]) -> u16 {
        match exchange(request).0 {
            Handshake::Answered(status) => status,
            Handshake::WebSocket => 101,
            Handshake::Abandoned => 0,
        }
    }

    #[test]
    fn serves_the_page() {
        let (outcome, response) = exchange(b"GET /?name=webby&say=hi HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(outcome, Handshake::Answered(200));
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: text/html; charset=utf-8"));
        assert!(head.contains(&format!("Content-Length: {}\r\n", PAGE.len())));
        assert!(head.contains("Cache-Control: no-store"));
        assert!(head.contains("Connection: close"));
        assert!(head.contains("Content-Security-Policy: default-src 'none'"));
        assert_eq!(body, PAGE);
    }

    #[test]
    fn accepts_a_websocket_handshake() {
        let (outcome, response) =
            exchange(upgrade_request(&format!("Sec-WebSocket-Key: {KEY}\r\n")).as_bytes());
        assert_eq!(outcome, Handshake::WebSocket);
        assert_eq!(
            response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
    }

    #[test]
    fn handshake_headers_are_read_the_way_browsers_write_them() {
        // Firefox lists two connection tokens; names are case-insensitive;
        // a bare \n ends lines for hand-typed requests.
        let request = format!(
            "GET /ws?x=1 HTTP/1.1\nhost: a\nupgrade: WebSocket\nconnection: keep-alive, Upgrade\n\
             sec-websocket-version: 13\nsec-websocket-key:   {KEY}  \nOrigin: http://a\n\n"
        );
        assert_eq!(status_of(request.as_bytes()), 101);
    }

    #[test]
    fn refuses_bad_handshakes() {
        let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
        let cases = [
            (
                "a plain GET",
                "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
                400,
            ),
            ("no key", upgrade_request(""), 400),
            ("two keys", upgrade_request(&format!("{key}{key}")), 400),
            (
                "a key of 15 bytes",
                upgrade_request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n"),
                400,
            ),
            (
                "a key with stray bits",
                upgrade_request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n"),
                400,
            ),
            (
                "HTTP/1.0",
                upgrade_request(&key).replace("HTTP/1.1", "HTTP/1.0"),
                400,
            ),
            (
                "no Host",
                upgrade_request(&key).replace("Host: 127.0.0.1:8080\r\n", ""),
                400,
            ),
            (
                "version 8",
                upgrade_request(&key).replace("Version: 13", "Version: 8"),
                426,
            ),
            (
                "frames before the answer",
                upgrade_request(&key) + "\u{81}",
                400,
            ),
            ("POST", upgrade_request(&key).replace("GET", "POST"), 405),
        ];
        for (what, request, status) in cases {
            assert_eq!(status_of(request.as_bytes()), status, "{what}");
        }
        let (_, response) = exchange(
            upgrade_request(&key)
                .replace("Version: 13", "Version: 8")
                .as_bytes(),
        );
        assert!(
            response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
            "{response}"
        );
    }

    #[test]
    fn answers_other_requests_with_the_right_status() {
        assert_eq!(status_of(b"GET /favicon.ico HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(status_of(b"DELETE /nothing HTTP/1.1\r\n\r\n"), 404);
        let (outcome, response) = exchange(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(outcome, Handshake::Answered(405));
        assert!(response.contains("\r\nAllow: GET\r\n"), "{response}");
        let (_, not_found) = exchange(b"GET /x HTTP/1.0\r\n\r\n");
        let (head, body) = not_found.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(body.starts_with("404 Not Found\n"), "{body}");
    }

    #[test]
    fn refusal_is_a_complete_503() {
        let response = String::from_utf8(refusal("server-full")).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(head.contains("Retry-After: 5"));
        assert!(body.contains("server-full"), "{body}");
    }

    #[test]
    fn refuses_garbage() {
        let cases: [(&str, &[u8]); 8] = [
            ("not a request line", b"hello\r\n\r\n"),
            (
                "binary",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
            ),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            ("absolute target", b"GET http://a/ HTTP/1.1\r\n\r\n"),
            ("two spaces", b"GET  / HTTP/1.1\r\n\r\n"),
            ("header without colon", b"GET / HTTP/1.1\r\nHost a\r\n\r\n"),
            ("folded header", b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"),
            ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
        ];
        for (what, request) in cases {
            assert_eq!(status_of(request), 400, "{what}");
        }
    }

    #[test]
    fn bounds_the_head() {
        let many_headers = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(status_of(many_headers.as_bytes()), 431);
        let just_enough = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS));
        assert_eq!(status_of(just_enough.as_bytes()), 200);
        // Endless header bytes: refused after MAX_HEAD, without reading the rest.
        let endless = vec![b'a'; 10 * MAX_HEAD];
        let mut reader = &endless[..];
        let mut written = Vec::new();
        assert_eq!(
            respond(&mut reader, &mut written).unwrap(),
            Handshake::Answered(431)
        );
        assert!(reader.len() >= 9 * MAX_HEAD);
    }

    #[test]
    fn incomplete_requests() {
        assert_eq!(exchange(b""), (Handshake::Abandoned, String::new()));
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: a\r\n"), 400);

        /// Gives its bytes, then times out.
        struct Stalls(&'static [u8]);
        impl Read for Stalls {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                self.0.read(buf)
            }
        }
        let mut written = Vec::new();
        let outcome = respond(&mut Stalls(b"GET / HT"), &mut written).unwrap();
        assert_eq!(outcome, Handshake::Answered(408));
        assert!(written.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        written.clear();
        assert_eq!(
            respond(&mut Stalls(b""), &mut written).unwrap(),
            Handshake::Abandoned
        );
        assert!(written.is_empty());
    }

    #[test]
    fn a_trickling_client_is_cut_off_at_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let trickler = thread::spawn(move || {
            // One byte every 50 ms for a second: every read succeeds quickly,
            // only a deadline on the whole head can end it before the client
            // gives up (which would make it a truncated request, 400).
            for _ in 0..20 {
                client.write_all(b"X")?;
                thread::sleep(Duration::from_millis(50));
            }
            client.shutdown(Shutdown::Write)?;
            client.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut response = Vec::new();
            client.read_to_end(&mut response)?;
            io::Result::Ok(String::from_utf8_lossy(&response).into_owned())
        });
        let outcome = handshake(&Arc::new(server_side), Duration::from_millis(300)).unwrap();
        assert_eq!(outcome, Handshake::Answered(408));
        let response = trickler.join().unwrap().unwrap();
        assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    }
}
