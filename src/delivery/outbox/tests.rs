//! The outbox's own tests, over loopback sockets, and the helpers other
//! delivery tests use to make outboxes.

use super::*;
use std::io::Read;
use std::net::TcpListener;
use std::time::Instant;

/// The line protocol's framing, as the lines front has it: delivery's
/// tests stand below the fronts.
pub(crate) struct PlainLines;

impl Codec for PlainLines {
    fn encode_lines(&self, lines: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(lines);
    }

    fn encode_farewell(&self, farewell: Farewell, out: &mut Vec<u8>) {
        if let Some(line) = farewell.line() {
            line.encode(out);
        }
    }
}

/// An outbox on one end of a loopback connection, and the other end.
pub(crate) fn outbox_and_peer(
    limit: usize,
    threads: &Arc<ThreadBudget>,
) -> (Arc<Outbox>, TcpStream) {
    outbox_and_peer_within(limit, threads, &OutputBudget::new(usize::MAX))
}

/// [`outbox_and_peer`], charging `budget`.
pub(crate) fn outbox_and_peer_within(
    limit: usize,
    threads: &Arc<ThreadBudget>,
    budget: &Arc<OutputBudget>,
) -> (Arc<Outbox>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let outbox = Outbox::new(
        Arc::new(ours),
        Box::new(PlainLines),
        limit,
        WRITE_STALL_LIMIT,
        Arc::clone(threads),
        None,
        Arc::clone(budget),
    );
    let outbox = Arc::new(outbox);
    budget.register(&outbox);
    (outbox, peer)
}

/// Numbered lines, 64 KiB in all, so a reader can check order and loss.
fn block(number: usize) -> Vec<u8> {
    let mut lines = Vec::new();
    let mut line = 0;
    while lines.len() < 64 * 1024 {
        lines.extend_from_slice(format!("MSG bench {number:06} {line:06} padding\n").as_bytes());
        line += 1;
    }
    lines
}

/// Pushes and flushes blocks while nobody reads, until `full` says the
/// socket has pushed back; returns what was pushed.
fn fill(outbox: &Arc<Outbox>, full: impl Fn() -> bool) -> Vec<u8> {
    let mut pushed = Vec::new();
    for number in 0..1024 {
        if full() {
            return pushed;
        }
        let lines = block(number);
        let (claim, appended) = outbox.push(&lines);
        appended.unwrap();
        claim.flush();
        pushed.extend_from_slice(&lines);
    }
    panic!("64 MiB went into the socket without it ever filling up");
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn nothing_is_written_until_the_claiming_thread_flushes_and_then_all_of_it_in_order() {
    let threads = ThreadBudget::new(0);
    let (outbox, mut peer) = outbox_and_peer(1 << 20, &threads);
    let (claim, pushed) = outbox.push(b"MSG a one\n");
    pushed.unwrap();
    let (again, pushed) = outbox.push(&ServerLine::Pong(Some("two")).to_bytes());
    pushed.unwrap();
    let raw = outbox.push_raw(b"MSG a three\n");
    // The first append claimed the outbox; the others ride along.
    assert!(claim.0.is_some() && again.0.is_none() && raw.0.is_none());
    peer.set_nonblocking(true).unwrap();
    let early = peer.read(&mut [0; 64]).unwrap_err();
    assert_eq!(early.kind(), io::ErrorKind::WouldBlock);
    peer.set_nonblocking(false).unwrap();
    claim.flush();
    outbox.close(Farewell::Bye(None)).flush();
    outbox.wait_finished();
    let mut got = String::new();
    peer.read_to_string(&mut got).unwrap();
    assert_eq!(got, "MSG a one\nPONG two\nMSG a three\nBYE\n");
    // Not a single thread was needed for it.
    assert_eq!(threads.running(), 0);
}

#[test]
fn a_full_socket_gets_a_writer_thread_that_delivers_everything_and_then_ends() {
    let threads = ThreadBudget::new(1);
    let (outbox, mut peer) = outbox_and_peer(64 << 20, &threads);
    let pushed = fill(&outbox, || threads.running() == 1);
    // Lines queued while the writer waits for room go out after the rest.
    let (claim, appended) = outbox.push(b"MSG late line\n");
    appended.unwrap();
    claim.flush();
    let mut got = vec![0; pushed.len()];
    peer.read_exact(&mut got).unwrap();
    assert!(got == pushed, "the bytes arrived altered or out of order");
    let mut late = [0; 14];
    peer.read_exact(&mut late).unwrap();
    assert_eq!(&late, b"MSG late line\n");
    wait_for("the writer thread to end", || threads.running() == 0);
    assert_eq!(outbox.farewell(), None, "the connection is still open");
}

#[test]
fn a_full_socket_with_no_thread_left_drops_the_client_as_too_slow() {
    let threads = ThreadBudget::new(0);
    let (outbox, mut peer) = outbox_and_peer(64 << 20, &threads);
    let pushed = fill(&outbox, || outbox.farewell().is_some());
    assert_eq!(outbox.farewell(), Some(Farewell::TooSlow));
    outbox.wait_finished();
    // What fitted in the socket still arrives, then the connection ends.
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert!(!got.is_empty() && pushed.starts_with(&got));
}

#[test]
fn an_overflowing_backlog_is_replaced_by_bye_too_slow_and_the_session_is_woken() {
    let threads = ThreadBudget::new(0);
    let (outbox, mut peer) = outbox_and_peer(4096, &threads);
    let mut claims = Vec::new();
    let line = [b"MSG bob ".as_slice(), &[b'x'; 100], b"\n"].concat();
    let mut accepted = 0;
    loop {
        let (claim, pushed) = outbox.push(&line);
        claims.push(claim);
        if pushed.is_err() {
            break;
        }
        accepted += 1;
        assert!(accepted < 100, "4 KiB of backlog never overflowed");
    }
    assert_eq!(accepted, 4096 / line.len());
    // Later pushes are dropped quietly.
    let (claim, pushed) = outbox.push(&line);
    assert_eq!(pushed, Ok(()));
    claims.push(claim);
    // Its session, blocked reading, sees the end of its input at once.
    let read = (&*outbox.stream).read(&mut [0; 16]).unwrap();
    assert_eq!(read, 0);
    claims.into_iter().for_each(Claim::flush);
    outbox.wait_finished();
    let mut got = String::new();
    peer.read_to_string(&mut got).unwrap();
    assert_eq!(got, "BYE too-slow\n");
}

#[test]
fn a_line_that_may_wait_defers_the_outbox_until_a_line_that_may_not_claims_it() {
    let threads = ThreadBudget::new(0);
    let (outbox, mut peer) = outbox_and_peer(1 << 20, &threads);
    let (claim, later, pushed) = outbox.push_later(b"INFO bob connected\n");
    pushed.unwrap();
    assert!(
        claim.0.is_none() && later.0.is_some(),
        "deferred, not claimed"
    );
    let (claim, again, _) = outbox.push_later(b"INFO eve connected\n");
    assert!(claim.0.is_none() && again.0.is_none(), "rides along");
    let nothing_yet = |peer: &mut TcpStream| {
        peer.set_nonblocking(true).unwrap();
        let early = peer.read(&mut [0; 64]).unwrap_err();
        assert_eq!(early.kind(), io::ErrorKind::WouldBlock);
        peer.set_nonblocking(false).unwrap();
    };
    nothing_yet(&mut peer);
    let (claim, _) = outbox.push(b"MSG bob hi\n");
    assert!(claim.0.is_some(), "a line that may not wait claims it");
    // The sweeper's turn comes: it is claimed, so the sweeper leaves it.
    let deferred = later.0.unwrap();
    assert_eq!(deferred.flush_deferred(), 0);
    nothing_yet(&mut peer);
    claim.flush();
    let expected = b"INFO bob connected\nINFO eve connected\nMSG bob hi\n";
    let mut got = vec![0; expected.len()];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(got, expected, "in the order appended");
    // Deferred again, and this time the sweeper writes it out.
    let (_, later, _) = outbox.push_later(b"INFO eve disconnected\n");
    assert_eq!(later.0.unwrap().flush_deferred(), 22);
    let mut got = [0; 22];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"INFO eve disconnected\n");
}
