//! The metrics listener (`--metrics ADDR:PORT`): `GET /metrics` in the
//! Prometheus text format, and `GET /healthz` (`200 ok`, or `503 stopping`
//! once a graceful stop has begun).
//!
//! One request per connection, one connection at a time, each within a
//! short deadline: a scraper asks every few seconds, and nothing a client
//! sends here can hold more than one small buffer or this one thread for
//! long. Counters come from [`METRICS`]; levels (connections, users, rooms,
//! backlog, threads) are read from the server's state as it is scraped.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Shared;
use crate::support::deadline::is_timeout;
use crate::support::metrics::{Exposition, METRICS};

/// How long one request may take to arrive, and its answer to be taken.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest request head read.
const MAX_REQUEST: usize = 4096;

pub(super) fn serve(listener: &TcpListener, shared: &Shared) {
    for stream in listener.incoming() {
        // Set by the server, which then connects once to wake this loop.
        if shared.stopping_metrics.load(Ordering::SeqCst) {
            break;
        }
        if let Ok(stream) = stream {
            let _ = answer(&stream, shared);
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn answer(stream: &TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let (status, content_type, body) = match read_request_line(stream)? {
        Some(line) => route(&line, shared),
        None => (
            400,
            "text/plain; charset=utf-8",
            "bad request\n".to_string(),
        ),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    (&*stream).write_all(head.as_bytes())?;
    (&*stream).write_all(body.as_bytes())
}

/// The request line of the request on `stream`, once its whole head has
/// arrived (`None`: not within the bounds).
fn read_request_line(stream: &TcpStream) -> io::Result<Option<String>> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut head = Vec::new();
    let mut chunk = [0; 1024];
    while !(head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n")) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || head.len() > MAX_REQUEST {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        match (&*stream).read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if is_timeout(&err) => return Ok(None),
            Err(err) => return Err(err),
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(std::str::from_utf8(line)
        .ok()
        .map(|l| l.trim_end().to_string()))
}

fn route(request_line: &str, shared: &Shared) -> (u16, &'static str, String) {
    let text = "text/plain; charset=utf-8";
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return (400, text, "bad request\n".into());
    };
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET", "/metrics") => (200, Exposition::CONTENT_TYPE, exposition(shared)),
        ("GET", "/healthz") if shared.stopping.load(Ordering::SeqCst) => {
            (503, text, "stopping\n".into())
        }
        ("GET", "/healthz") => (200, text, "ok\n".into()),
        (_, "/metrics" | "/healthz") => (405, text, "only GET works here\n".into()),
        _ => (404, text, "see /metrics and /healthz\n".into()),
    }
}

/// The whole `/metrics` page.
fn exposition(shared: &Shared) -> String {
    let context = &shared.context;
    let mut page = Exposition::default();
    let open = |front| shared.admission.open_on(front) as u64;
    page.gauge_by(
        "chat_connections",
        "Connections open now, by front.",
        "front",
        &["lines", "web", "irc"].map(|front| (front, open(front))),
    );
    let (users, rooms) = context.hub.counts();
    page.gauge("chat_users", "Users logged in now.", users as u64);
    page.gauge(
        "chat_rooms",
        "Rooms with members now, #lobby not counted.",
        rooms as u64,
    );
    page.gauge(
        "chat_backlog_bytes",
        "Bytes queued for clients and not yet written, all together.",
        context.budget.used() as u64,
    );
    page.gauge(
        "chat_backlog_limit_bytes",
        "The most bytes queued for all clients together (--max-output).",
        context.budget.limit() as u64,
    );
    let (sessions, reserved) = context.threads.running_by_kind();
    page.gauge_by(
        "chat_threads",
        "Connection threads running now, by kind.",
        "kind",
        &[
            ("session", sessions as u64),
            ("writer-or-helper", reserved as u64),
        ],
    );
    METRICS.write(&mut page, shared.history_on_disk);
    page.into_string()
}
