//! The reader threads: each owns half of the clients' non-blocking sockets,
//! polls them with epoll, and accounts for every line in shared [`Totals`] and
//! its own latency histogram.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat::support::sys::{EpollEvent, Poller};

use crate::histogram::Histogram;
use crate::plan::Plan;
use crate::received::{Heard, Received};

/// Counters shared by the reader threads, to know when everything has arrived.
#[derive(Default)]
pub struct Totals {
    pub oks: AtomicU64,
    pub refused: AtomicU64,
    pub dropped: AtomicU64,
    pub joins: AtomicU64,
    pub msgs: AtomicU64,
    pub stalled_leaves: AtomicU64,
    /// Microseconds after the epoch when the first `INFO stalled disconnected` came.
    pub stalled_left_at: AtomicU64,
}

impl Totals {
    /// Logins answered so far, let in or refused.
    pub fn answered(&self) -> u64 {
        self.oks.load(Ordering::Relaxed) + self.refused.load(Ordering::Relaxed)
    }
}

/// Longest line a reader keeps; the server's own limit is far below.
const MAX_LINE: usize = 64 * 1024;

/// One reading client: its socket, the start of a line still unfinished, and
/// what it received.
pub struct Client {
    stream: TcpStream,
    partial: Vec<u8>,
    pub got: Received,
    open: bool,
}

impl Client {
    /// Splits freshly read bytes into lines and accounts for each; they all
    /// arrived now, as far as latency goes (one clock reading per read).
    fn feed(&mut self, mut data: &[u8], clock: &Clock) {
        let now = clock.now_us();
        while let Some(end) = find_newline(data) {
            let heard = if self.partial.is_empty() {
                self.got.take_line(&data[..end], now)
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&data[..end]);
                let heard = self.got.take_line(&line, now);
                line.clear();
                self.partial = line; // keep the allocation
                heard
            };
            clock.count(heard);
            data = &data[end + 1..];
        }
        if self.partial.len() + data.len() > MAX_LINE {
            self.partial.clear(); // a line this long is not ours: drop it
        } else {
            self.partial.extend_from_slice(data);
        }
        clock.publish();
    }

    /// Sends what the lines asked to answer (IRC's `JOIN` and `PONG`s), as
    /// far as the socket takes it now; the rest waits for the next read.
    fn answer(&mut self) {
        let answer = &mut self.got.answer;
        while !answer.is_empty() {
            match (&self.stream).write(answer) {
                Ok(0) => break,
                Ok(n) => drop(answer.drain(..n)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}

/// Where the first `\n` in `data` is: eight bytes at a time (this is most
/// of what a reader does per byte).
fn find_newline(data: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut chunks = data.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8])) ^ NEWLINES;
        // A zero byte in `word` is a newline in `chunk` (exact for the first).
        if word.wrapping_sub(ONES) & !word & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    data[at..].iter().position(|&b| b == b'\n').map(|i| at + i)
}

/// The epoch every timestamp counts from, the shared totals, and the reader
/// thread's own latency histogram. Messages and join notices, a line each,
/// are counted here and added to the totals once per read: two reader
/// threads adding to the same counters per line made their cache line bounce
/// between the cores.
struct Clock {
    epoch: Instant,
    totals: Arc<Totals>,
    latencies: std::cell::RefCell<Histogram>,
    msgs: Cell<u64>,
    joins: Cell<u64>,
}

impl Clock {
    fn new(epoch: Instant, totals: Arc<Totals>) -> Clock {
        Clock {
            epoch,
            totals,
            latencies: Default::default(),
            msgs: Cell::new(0),
            joins: Cell::new(0),
        }
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Adds what was counted since the last time to the totals.
    fn publish(&self) {
        for (count, total) in [
            (&self.msgs, &self.totals.msgs),
            (&self.joins, &self.totals.joins),
        ] {
            if count.get() > 0 {
                total.fetch_add(count.replace(0), Ordering::Relaxed);
            }
        }
    }

    fn count(&self, heard: Heard) {
        let totals = &self.totals;
        match heard {
            Heard::LoggedIn => totals.oks.fetch_add(1, Ordering::Relaxed),
            Heard::Refused => totals.refused.fetch_add(1, Ordering::Relaxed),
            Heard::Dropped => totals.dropped.fetch_add(1, Ordering::Relaxed),
            Heard::Joined => self.joins.replace(self.joins.get() + 1),
            Heard::StalledLeft => {
                let _ = totals.stalled_left_at.compare_exchange(
                    0,
                    self.now_us().max(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                totals.stalled_leaves.fetch_add(1, Ordering::Relaxed)
            }
            Heard::Message { latency } => {
                self.latencies.borrow_mut().record(latency);
                self.msgs.replace(self.msgs.get() + 1)
            }
            Heard::Other => 0,
        };
    }
}

/// What a reader thread hands back: its clients and their latencies.
#[derive(Default)]
pub struct ReaderResult {
    pub clients: Vec<Client>,
    pub latencies: Histogram,
}

/// Two threads reading many non-blocking sockets, each in its own epoll.
pub struct Readers {
    /// Each client's socket and its index in the plan.
    inboxes: Vec<Sender<(TcpStream, usize)>>,
    handles: Vec<JoinHandle<ReaderResult>>,
    stop: Arc<AtomicBool>,
    next: usize,
}

/// One reader per core: enough to keep up, few enough to leave the server room.
const READER_THREADS: usize = 2;

impl Readers {
    pub fn start(
        plan: &Arc<Plan>,
        epoch: Instant,
        totals: &Arc<Totals>,
    ) -> Result<Readers, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Readers {
            inboxes: Vec::new(),
            handles: Vec::new(),
            stop: Arc::clone(&stop),
            next: 0,
        };
        for _ in 0..READER_THREADS {
            let poller = Poller::new().map_err(|e| format!("epoll: {e}"))?;
            let (sender, inbox) = mpsc::channel();
            let (stop, totals, plan) = (Arc::clone(&stop), Arc::clone(totals), Arc::clone(plan));
            let clock = Clock::new(epoch, totals);
            let handle = thread::Builder::new()
                .name("bench-reader".into())
                .spawn(move || read_loop(&poller, &inbox, &stop, &plan, clock))
                .map_err(|e| format!("reader thread: {e}"))?;
            readers.inboxes.push(sender);
            readers.handles.push(handle);
        }
        Ok(readers)
    }

    /// Reads client `index`'s socket from now on.
    pub fn add(&mut self, stream: TcpStream, index: usize) {
        let _ = self.inboxes[self.next % self.inboxes.len()].send((stream, index));
        self.next += 1;
    }

    /// Stops the threads and hands back every client with what it received,
    /// and all latencies.
    pub fn finish(mut self) -> ReaderResult {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = ReaderResult::default();
        for handle in std::mem::take(&mut self.handles) {
            let mut one = handle.join().unwrap_or_default();
            all.clients.append(&mut one.clients);
            all.latencies.merge(&one.latencies);
        }
        all
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        // On an early return the threads stop too (within one wait).
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Readers never block in `epoll_wait`: they poll, and nap this long whenever
/// fewer than `COALESCE_BELOW` sockets were ready. Clients on separate machines
/// cost a server nothing to wake; a generator sharing the server's two cores
/// must not make each of the server's sends wake one of its threads (a
/// cross-CPU wake-up on a VM costs more than the send itself), nor spend a core
/// being woken per line. Latencies are measured from the data, so they include
/// the nap: pessimistic by at most that much.
const COALESCE: Duration = Duration::from_micros(500);
const COALESCE_BELOW: usize = 64;

fn read_loop(
    poller: &Poller,
    inbox: &Receiver<(TcpStream, usize)>,
    stop: &AtomicBool,
    plan: &Arc<Plan>,
    clock: Clock,
) -> ReaderResult {
    // Bound here: the tokens are `Client` indexes, so this can't move.
    let mut clients: Vec<Client> = Vec::new();
    let mut events = vec![EpollEvent::default(); 256];
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        while let Ok((stream, index)) = inbox.try_recv() {
            let token = clients.len() as u64;
            if stream.set_nonblocking(true).is_err()
                || poller.add(stream.as_raw_fd(), token).is_err()
            {
                continue; // never heard from: it will count as lost
            }
            clients.push(Client {
                stream,
                partial: Vec::new(),
                got: Received::new(plan, index),
                open: true,
            });
        }
        let Ok(ready) = poller.wait(&mut events, 0) else {
            continue; // interrupted by a signal: wait again
        };
        let woke_for = ready.len();
        for token in ready {
            let Some(client) = usize::try_from(token).ok().and_then(|i| clients.get_mut(i)) else {
                continue;
            };
            match (&client.stream).read(&mut buf) {
                Ok(0) => client.open = false,
                Ok(n) => {
                    client.feed(&buf[..n], &clock);
                    client.answer();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => client.open = false,
            }
            if !client.open {
                let _ = poller.remove(client.stream.as_raw_fd());
                clock.count(client.got.ended());
            }
        }
        if woke_for < COALESCE_BELOW {
            thread::sleep(COALESCE);
        }
    }
    ReaderResult {
        clients,
        latencies: clock.latencies.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;

    #[test]
    fn newlines_are_found_wherever_they_are() {
        for len in 0..40 {
            let mut data = vec![b'x'; len];
            assert_eq!(find_newline(&data), None);
            for at in 0..len {
                data[at] = b'\n';
                assert_eq!(find_newline(&data), Some(at), "{len} {at}");
                data[at] = 0x8a; // high bit set, as in UTF-8
            }
        }
    }

    #[test]
    fn lines_split_across_reads() {
        let totals = Arc::new(Totals::default());
        let clock = Clock::new(Instant::now(), Arc::clone(&totals));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = Client {
            stream: TcpStream::connect(listener.local_addr().unwrap()).unwrap(),
            partial: Vec::new(),
            got: Received::new(&Arc::new(Plan::lobby(Dialect::Chat, 1, 1)), 0),
            open: true,
        };
        for chunk in [
            &b"O"[..],
            b"K\nMSG b0 0:0:x",
            b"x\nMSG b0 1:0:xx\nINFO b3 conn",
            b"ected\n",
        ] {
            client.feed(chunk, &clock);
        }
        assert_eq!(client.got.msgs, 2);
        assert_eq!(totals.oks.load(Ordering::Relaxed), 1);
        assert_eq!(totals.joins.load(Ordering::Relaxed), 1);
        assert_eq!(clock.latencies.borrow().samples, 2);
        client.feed(&vec![b'x'; MAX_LINE + 1], &clock);
        assert!(client.partial.is_empty(), "an endless line is not kept");
    }
}
