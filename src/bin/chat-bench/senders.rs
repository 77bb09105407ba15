//! What the bench writes to the server: logins, and benchmark messages, either
//! as fast as the server takes them or at a steady rate.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::options::Options;
use crate::received::STALLED_NAME;
use crate::server_process::STARTUP_PATIENCE;

/// `write_all` on a socket that is non-blocking (it shares its file
/// description with a reader's clone), giving up at `deadline`.
fn send_all(stream: &TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    while !data.is_empty() {
        match (&*stream).write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(ErrorKind::TimedOut.into());
                }
                thread::sleep(Duration::from_micros(50));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Appends one message line of `size` bytes (at least its header) to `out`.
pub fn message(seq: u64, sent_us: u64, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = write!(out, "MSG {seq}:{sent_us}:");
    let header = out.len() - start;
    out.resize(start + size.max(header + 2) - 1, b'x');
    out.push(b'\n');
}

/// Connects within `patience` and sends `LOGIN name` (the readers read the answer).
pub fn connect(addr: SocketAddr, name: &str, patience: Duration) -> Result<TcpStream, String> {
    let patience = patience.max(Duration::from_millis(1));
    let mut stream = TcpStream::connect_timeout(&addr, patience)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(patience));
    stream
        .write_all(format!("LOGIN {name}\n").as_bytes())
        .map_err(|e| format!("login {name}: {e}"))?;
    Ok(stream)
}

/// The client that logs in and then never reads (`slow`).
pub fn stalled_client(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut stream = connect(addr, STALLED_NAME, STARTUP_PATIENCE)?;
    let _ = stream.set_read_timeout(Some(STARTUP_PATIENCE));
    let mut ok = [0u8; 3];
    stream
        .read_exact(&mut ok)
        .map_err(|e| format!("stalled client: {e}"))?;
    if &ok != b"OK\n" {
        return Err("the stalled client was not let in".into());
    }
    Ok(stream)
}

/// How many messages each sender got out, and why sending stopped early
/// (e.g. the server dropped a sender), if it did.
pub struct Sent {
    pub per_sender: Vec<u64>,
    pub problem: Option<String>,
}

/// Sends `messages` lines from every sender as fast as the server takes them.
pub fn blast(
    senders: Vec<TcpStream>,
    options: &Options,
    epoch: Instant,
    deadline: Instant,
) -> Sent {
    const BATCH: usize = 256;
    let (messages, size) = (options.messages, options.size);
    let threads: Vec<_> = senders
        .into_iter()
        .map(|stream| {
            thread::spawn(move || {
                let mut batch = Vec::with_capacity(BATCH * size);
                for first in (0..messages).step_by(BATCH) {
                    batch.clear();
                    let now = epoch.elapsed().as_micros() as u64;
                    for seq in first..(first + BATCH).min(messages) {
                        message(seq as u64, now, size, &mut batch);
                    }
                    if let Err(e) = send_all(&stream, &batch, deadline) {
                        return (first as u64, Some(format!("sending: {e}")));
                    }
                }
                (messages as u64, None)
            })
        })
        .collect();
    let mut sent = Sent {
        per_sender: Vec::new(),
        problem: None,
    };
    for thread in threads {
        let (count, problem) = thread
            .join()
            .unwrap_or((0, Some("a sender panicked".into())));
        sent.per_sender.push(count);
        sent.problem = sent.problem.or(problem);
    }
    sent
}

/// Sends at `options.rate` for `options.duration`, on schedule (a late
/// message does not push back the ones after it).
pub fn pace(stream: &TcpStream, options: &Options, epoch: Instant, deadline: Instant) -> Sent {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let mut sent = 0u64;
    let mut line = Vec::new();
    let mut problem = None;
    while start.elapsed() < options.duration && Instant::now() < deadline {
        let due = start + interval.mul_f64(sent as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        line.clear();
        let now = epoch.elapsed().as_micros() as u64;
        message(sent, now, options.size, &mut line);
        if let Err(e) = send_all(stream, &line, deadline) {
            problem = Some(format!("sending: {e} after {sent} messages"));
            break;
        }
        sent += 1;
    }
    Sent {
        per_sender: vec![sent],
        problem,
    }
}
