//! What the bench writes to the server: logins, and benchmark messages on
//! every stream of the [`Plan`], either as fast as the server takes them or
//! at a steady rate.

use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::dialect::{Dialect, Line};
use crate::options::Options;
use crate::plan::Plan;
use crate::readers::Totals;
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
                // The server has megabytes of this socket to read first: a
                // millisecond's nap starves nobody, and a shorter one spins.
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Connects within `patience` and sends `login` (the readers read the answer).
pub fn connect(addr: SocketAddr, login: &[u8], patience: Duration) -> Result<TcpStream, String> {
    let patience = patience.max(Duration::from_millis(1));
    let mut stream = TcpStream::connect_timeout(&addr, patience)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(patience));
    stream
        .write_all(login)
        .map_err(|e| format!("login {}: {e}", String::from_utf8_lossy(login).trim()))?;
    Ok(stream)
}

/// The client that logs in (and in IRC joins the lobby) and then never
/// reads (`slow`).
pub fn stalled_client(addr: SocketAddr, dialect: Dialect) -> Result<TcpStream, String> {
    let stream = connect(addr, &dialect.login(STALLED_NAME), STARTUP_PATIENCE)?;
    let _ = stream.set_read_timeout(Some(STARTUP_PATIENCE));
    let refused = || "the stalled client was not let in".to_string();
    // Unbuffered, so that nothing after the last line awaited is read.
    let mut lines = BufReader::with_capacity(1, &stream).split(b'\n');
    let mut next = || match lines.next() {
        Some(Ok(line)) => Ok(line),
        Some(Err(e)) => Err(format!("stalled client: {e}")),
        None => Err(refused()),
    };
    loop {
        match dialect.parse(&next()?) {
            Line::Welcome => break,
            Line::Bye => return Err(refused()),
            _ => {}
        }
    }
    if dialect == Dialect::Irc {
        (&stream)
            .write_all(&dialect.join([crate::dialect::LOBBY]))
            .map_err(|e| format!("stalled client: {e}"))?;
        while !matches!(dialect.parse(&next()?), Line::JoinDone { .. }) {}
    }
    Ok(stream)
}

/// How many messages each stream got out, and why sending stopped early
/// (e.g. the server dropped a sender), if it did.
pub struct Sent {
    pub per_stream: Vec<u64>,
    pub problem: Option<String>,
}

/// One sending client's socket, and its streams with the room each is said
/// in and how many get it.
type Writer = (TcpStream, Vec<(usize, Option<String>, u64)>);

/// Threads sending at full speed, at most: the generator shares the cores
/// with the server it measures.
const BLAST_THREADS: usize = 10;

/// The full-speed senders' flow control: deliveries due (sent x recipients)
/// against deliveries read so far, at most `--window` lines per client (2,048
/// by default). A server that never waits for a slow reader (ours drops one
/// a mebibyte behind, InspIRCd too) would drop our readers whenever the
/// machine's other work kept them from the cores for a few hundred
/// milliseconds; about 150 KB per client is far from that, and far more than
/// the server needs to keep busy. Single-threaded servers (ngIRCd) measure
/// slower with it than without: `--window 0` shows both.
struct Window {
    due: AtomicU64,
    totals: Arc<Totals>,
    limit: u64,
}

impl Window {
    /// Waits until the readers are within the window again; false at the deadline.
    fn wait(&self, deadline: Instant) -> bool {
        let read = || self.totals.msgs.load(Ordering::Relaxed);
        while self.due.load(Ordering::Relaxed).saturating_sub(read()) > self.limit {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// Sends `options.messages` lines on every stream as fast as the server takes
/// them. `writers` are the sending clients' sockets, in [`Plan::senders`] order.
pub fn blast(
    writers: Vec<TcpStream>,
    plan: &Plan,
    options: &Options,
    totals: &Arc<Totals>,
    epoch: Instant,
    deadline: Instant,
) -> Sent {
    const BATCH: usize = 256;
    let window = Arc::new(Window {
        due: AtomicU64::new(0),
        totals: Arc::clone(totals),
        limit: match options.window {
            0 => u64::MAX,
            lines => lines.saturating_mul(plan.clients() as u64),
        },
    });
    let (messages, size) = (options.messages, options.size);
    let mut shares: Vec<Vec<Writer>> = (0..BLAST_THREADS.min(writers.len()))
        .map(|_| Vec::new())
        .collect();
    let threads = shares.len().max(1);
    for (i, (stream, (_, streams))) in writers.into_iter().zip(plan.senders()).enumerate() {
        let streams = streams
            .into_iter()
            .map(|s| (s, plan.said_in(s), plan.recipients(s)))
            .collect();
        shares[i % threads].push((stream, streams));
    }
    let dialect = plan.dialect;
    let threads: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let window = Arc::clone(&window);
            thread::spawn(move || {
                let mut counts: Vec<(usize, u64)> = Vec::new();
                let mut batch = Vec::with_capacity(BATCH * size * 2);
                for first in (0..messages).step_by(BATCH) {
                    let last = (first + BATCH).min(messages);
                    for (at, (stream, streams)) in share.iter().enumerate() {
                        batch.clear();
                        let now = epoch.elapsed().as_micros() as u64;
                        let mut due = 0;
                        for (_, room, recipients) in streams {
                            for seq in first..last {
                                dialect.message(room.as_deref(), seq as u64, now, size, &mut batch);
                            }
                            due += (last - first) as u64 * recipients;
                        }
                        // Room first, then the batch counts: what waits was not sent.
                        let sent = match window.wait(deadline) {
                            true => {
                                window.due.fetch_add(due, Ordering::Relaxed);
                                send_all(stream, &batch, deadline)
                            }
                            false => Err(ErrorKind::TimedOut.into()),
                        };
                        if let Err(e) = sent {
                            // Sockets before this one got this round out, the rest did not.
                            let count = |i: usize| if i < at { last } else { first } as u64;
                            for (i, (_, streams)) in share.iter().enumerate() {
                                counts.extend(streams.iter().map(|(s, ..)| (*s, count(i))));
                            }
                            return (counts, Some(format!("sending: {e}")));
                        }
                    }
                }
                for (_, streams) in &share {
                    counts.extend(streams.iter().map(|(s, ..)| (*s, messages as u64)));
                }
                (counts, None)
            })
        })
        .collect();
    let mut sent = Sent {
        per_stream: vec![0; plan.streams.len()],
        problem: None,
    };
    for thread in threads {
        let (counts, problem) = thread
            .join()
            .unwrap_or((Vec::new(), Some("a sender panicked".into())));
        for (stream, count) in counts {
            sent.per_stream[stream] = count;
        }
        sent.problem = sent.problem.or(problem);
    }
    sent
}

/// Sends at `options.rate` messages a second in all for `options.duration`,
/// taking the streams in turn, on schedule (a late message does not push back
/// the ones after it). `writers` as for [`blast`].
pub fn pace(
    writers: &[TcpStream],
    plan: &Plan,
    options: &Options,
    epoch: Instant,
    deadline: Instant,
) -> Sent {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let mut turns = Vec::new();
    for (writer, (_, streams)) in writers.iter().zip(plan.senders()) {
        turns.extend(streams.into_iter().map(|s| (s, writer, plan.said_in(s))));
    }
    turns.sort_by_key(|(s, ..)| *s);
    let mut sent = Sent {
        per_stream: vec![0; plan.streams.len()],
        problem: None,
    };
    let mut line = Vec::new();
    let mut total = 0u64;
    while start.elapsed() < options.duration && Instant::now() < deadline && !turns.is_empty() {
        let due = start + interval.mul_f64(total as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let (stream, writer, room) = &turns[total as usize % turns.len()];
        let seq = sent.per_stream[*stream];
        line.clear();
        let now = epoch.elapsed().as_micros() as u64;
        plan.dialect
            .message(room.as_deref(), seq, now, options.size, &mut line);
        if let Err(e) = send_all(writer, &line, deadline) {
            sent.problem = Some(format!("sending: {e} after {total} messages"));
            break;
        }
        sent.per_stream[*stream] += 1;
        total += 1;
    }
    sent
}
