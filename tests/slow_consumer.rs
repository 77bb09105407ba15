//! A client that stops reading is dropped when its backlog overflows, and in
//! the meantime nobody else waits: the others get every message with low
//! latency, and the server's memory stays bounded. If the stalled client
//! wakes up, it learns why it was dropped (`BYE too-slow`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use common::{start_with, Client, Running, PATIENCE};

const CHATTERS: usize = 4;
const MESSAGES: usize = 30_000;
const SIZE: usize = 1000; // 30,000 x 1000 B = 30 MB of chat
const BATCH: usize = 100;

/// One test at a time: the latency measurement must not share the two cores
/// with the other test's traffic.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn a_stalled_reader_is_dropped_and_nobody_else_waits() {
    let _alone = alone();
    let server = Running::start(&[]);
    let addr = server.addr;
    let stalled = Client::login(addr, "stalled");
    // Never read from `stalled` again.

    let epoch = Arc::new(Instant::now());
    let mut chatters: Vec<Client> = (0..CHATTERS)
        .map(|i| Client::login(addr, &format!("chatter{i}")))
        .collect();
    for (i, chatter) in chatters.iter_mut().enumerate() {
        for j in (i + 1)..CHATTERS {
            chatter.expect(&format!("INFO chatter{j} connected"));
        }
    }
    let mut sender = chatters[0].stream.try_clone().unwrap();
    let readers: Vec<_> = chatters
        .into_iter()
        .map(|chatter| {
            let epoch = Arc::clone(&epoch);
            thread::spawn(move || receive(chatter, &epoch))
        })
        .collect();

    let padding = "p".repeat(SIZE - 40);
    let mut peak_rss_kb = 0;
    for batch in 0..MESSAGES / BATCH {
        let now = epoch.elapsed().as_micros();
        let lines: String = (0..BATCH)
            .map(|n| format!("MSG {now} {} {padding}\n", batch * BATCH + n))
            .collect();
        sender.write_all(lines.as_bytes()).unwrap();
        peak_rss_kb = peak_rss_kb.max(server.status_kb("VmRSS"));
        thread::sleep(Duration::from_millis(10));
    }

    for reader in readers {
        let report = reader.join().expect("every chatter got everything");
        assert!(report.saw_stalled_leave, "the stalled client was dropped");
        let mut latencies = report.latencies_us;
        assert_eq!(latencies.len(), MESSAGES, "nothing lost");
        latencies.sort_unstable();
        let p99 = latencies[latencies.len() * 99 / 100];
        assert!(p99 < 200_000, "p99 delivery latency {p99} us");
    }
    assert!(
        peak_rss_kb < 64 * 1024,
        "server RSS peaked at {peak_rss_kb} kB"
    );
    // The stalled client's connection was closed by the server.
    stalled.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut rest = BufReader::new(stalled.stream);
    let deadline = Instant::now() + PATIENCE;
    let mut line = Vec::new();
    loop {
        line.clear();
        match rest.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "stalled client never closed"),
        }
    }
}

struct Report {
    latencies_us: Vec<u128>,
    saw_stalled_leave: bool,
}

/// Reads until every message has arrived, noting each one's latency.
fn receive(mut chatter: Client, epoch: &Instant) -> Report {
    let mut report = Report {
        latencies_us: Vec::with_capacity(MESSAGES),
        saw_stalled_leave: false,
    };
    while report.latencies_us.len() < MESSAGES || !report.saw_stalled_leave {
        let line = chatter.line();
        if line == "INFO stalled disconnected" {
            report.saw_stalled_leave = true;
            continue;
        }
        let sent: u128 = line
            .strip_prefix("MSG chatter0 ")
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {:.80}", line));
        report
            .latencies_us
            .push(epoch.elapsed().as_micros().saturating_sub(sent));
    }
    report
}

#[test]
fn a_stalled_reader_that_wakes_up_hears_bye_too_slow_and_its_name_is_free() {
    let _alone = alone();
    const BACKLOG: usize = 128 * 1024;
    const LINES: usize = 50; // 50 kB a batch, well under the backlog
    let server = start_with(|c| c.max_backlog = BACKLOG);
    let mut stalled = Client::login(server.addr(), "stalled");
    let mut talker = Client::login(server.addr(), "talker");
    stalled.expect("INFO talker connected");
    // Talk until the stalled client overflows (the kernel's socket buffers
    // take a few megabytes first), reading our own echoes after each batch
    // (they count against our own backlog).
    let padding = "p".repeat(1000);
    let batch: String = (0..LINES).map(|_| format!("MSG {padding}\n")).collect();
    let echo = format!("MSG talker {padding}");
    let mut dropped = false;
    for _ in 0..MESSAGES / LINES {
        talker.send_raw(batch.as_bytes());
        let mut echoes = 0;
        while echoes < LINES {
            match talker.line() {
                line if line == echo => echoes += 1,
                line if line == "INFO stalled disconnected" => dropped = true,
                other => panic!("unexpected {other:.80}"),
            }
        }
        if dropped {
            break;
        }
    }
    assert!(dropped, "30 MB sent and the stalled client is still there");
    // Its name is free at once.
    let mut again = Client::login(server.addr(), "stalled");
    talker.expect("INFO stalled connected");
    again.expect_nothing_pending();
    // When it finally reads, it gets whole lines up to the overflow, then the
    // reason, then the end of the stream.
    let mut last = String::new();
    while let Some(line) = stalled.try_line() {
        assert!(
            line == echo || line == "BYE too-slow",
            "unexpected {line:.80}"
        );
        last = line;
    }
    assert_eq!(last, "BYE too-slow");
}

#[test]
fn a_write_that_makes_no_progress_for_the_stall_limit_drops_the_client_with_room_to_spare() {
    let _alone = alone();
    const BACKLOG: usize = 256 * 1024 * 1024;
    let server = start_with(|c| {
        c.max_backlog = BACKLOG; // never reached here
        c.write_stall_limit = Duration::from_millis(500);
    });
    let mut stalled = Client::login(server.addr(), "stalled");
    let mut talker = Client::login(server.addr(), "talker");
    stalled.expect("INFO talker connected");
    let padding = "p".repeat(1000);
    let batch: String = (0..50).map(|_| format!("MSG {padding}\n")).collect();
    let echo = format!("MSG talker {padding}");
    let deadline = Instant::now() + PATIENCE;
    let mut sent = 0;
    'talk: while sent < BACKLOG / 8 {
        talker.send_raw(batch.as_bytes());
        sent += batch.len();
        for _ in 0..50 {
            match talker.line() {
                line if line == echo => {}
                line if line == "INFO stalled disconnected" => break 'talk,
                other => panic!("unexpected {other:.80}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        // Slow enough that the stall limit, not the backlog, decides.
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sent < BACKLOG / 8,
        "{sent} bytes sent and the stalled client is still there"
    );
    // Its name is free at once.
    let _again = Client::login(server.addr(), "stalled");
    loop {
        match talker.line() {
            line if line == echo => {} // the rest of the last batch
            line => {
                assert_eq!(line, "INFO stalled connected");
                break;
            }
        }
    }
    // When it finally reads, it gets what the kernel had taken, then the end
    // of the stream (no room was ever made for a `BYE`). The last write was
    // cut short by the stall, so the last line may be cut short too.
    let rest = stalled.read_to_close();
    let mut lines = rest.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = String::from_utf8_lossy(line);
        if lines.peek().is_some() {
            assert_eq!(line, echo);
        } else {
            assert!(echo.starts_with(&*line), "unexpected {line:.80}");
        }
    }
}

#[test]
fn a_client_dropped_as_too_slow_says_nothing_more_whatever_it_still_sends() {
    let _alone = alone();
    let server = start_with(|c| {
        c.max_backlog = 64 * 1024;
        c.write_stall_limit = Duration::from_secs(1);
    });
    let addr = server.addr();
    let mut witness = Client::login(addr, "witness");
    let admin = Client::login(addr, "admin");
    witness.expect("INFO admin connected");
    // `admin` never reads again. It sends itself big DMs, whose echoes fill
    // its own socket and then overflow its backlog, each DM followed by a
    // MSG: whatever the server still reads from it after dropping it (lines
    // already read, lines queued in the socket) must go nowhere.
    let mut sender = admin.stream.try_clone().unwrap();
    sender.set_write_timeout(Some(PATIENCE)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let talking = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let padding = "x".repeat(3900);
            let deadline = Instant::now() + PATIENCE;
            for n in 0..10_000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    return;
                }
                let pair = format!("DM admin {padding}\nMSG ghost {n}\n");
                // Fails once the server has hung up: that is the point.
                if sender.write_all(pair.as_bytes()).is_err() {
                    return;
                }
            }
        })
    };
    // Until its departure, its messages are its own.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = witness.line();
        if line == "INFO admin disconnected" {
            break;
        }
        assert!(
            line.starts_with("MSG admin ghost "),
            "unexpected {line:.80}"
        );
        assert!(Instant::now() < deadline, "admin was never dropped");
    }
    // After it, not a line, not even to the next holder of the name.
    let mut next = Client::login(addr, "admin");
    witness.expect("INFO admin connected");
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    talking.join().unwrap();
    witness.expect_nothing_pending();
    next.expect_nothing_pending();
}
