//! Memory a crowd of clients that never read can make the server hold, in
//! the kernel and in the process: 300 users who stop reading and a 2.6 MB
//! broadcast. The kernel's share is bounded by the send buffer cap
//! (`SO_SNDBUF`, 256 KiB a socket as Linux counts it; unbounded, the kernel
//! grows each buffer to 4 MiB), the process's by `--max-output` (the
//! biggest backlogs are dropped first) on top of `--max-backlog`.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Client, Running, PATIENCE};

/// Kernel memory used by all TCP sockets on the machine, in KiB
/// (`/proc/net/sockstat` counts pages).
fn tcp_kernel_kib() -> u64 {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").expect("/proc/net/sockstat");
    let pages: u64 = sockstat
        .lines()
        .find(|line| line.starts_with("TCP:"))
        .and_then(|line| line.split_whitespace().skip_while(|w| *w != "mem").nth(1))
        .and_then(|pages| pages.parse().ok())
        .expect("a TCP mem figure");
    pages * 4
}

#[test]
fn three_hundred_clients_that_never_read_hold_bounded_kernel_and_process_memory() {
    const READERS: usize = 300;
    const MESSAGES: usize = 650;
    let server = Running::start(&["--max-output", &(64 << 20).to_string()]);
    let addr = server.addr;
    let kernel_before = tcp_kernel_kib();
    let rss_before = server.status_kb("VmRSS");
    // They log in, then never read again (the join notices already pile up).
    let stalled: Vec<Client> = (0..READERS)
        .map(|n| Client::login(addr, &format!("stalled{n}")))
        .collect();
    let mut sender = Client::login(addr, "sender");
    let text = "x".repeat(4000);
    let sending = thread::spawn(move || {
        let start = Instant::now();
        for n in 0..MESSAGES {
            sender.send(&format!("MSG {n} {text}"));
            // The sender reads its own echoes, skipping departure notices.
            loop {
                let line = sender.line();
                if line.starts_with("MSG sender ") {
                    assert!(line.starts_with(&format!("MSG sender {n} ")));
                    break;
                }
                assert!(start.elapsed() < 10 * PATIENCE, "the broadcast stalled");
            }
        }
        sender
    });
    let (mut kernel_peak, mut rss_peak) = (kernel_before, rss_before);
    let settle = loop {
        kernel_peak = kernel_peak.max(tcp_kernel_kib());
        rss_peak = rss_peak.max(server.status_kb("VmRSS"));
        if sending.is_finished() {
            break Instant::now();
        }
        thread::sleep(Duration::from_millis(25));
    };
    let mut sender = sending.join().expect("the sender got every echo");
    // What the kernel still holds once the writers gave up, sampled a while.
    while settle.elapsed() < Duration::from_secs(2) {
        kernel_peak = kernel_peak.max(tcp_kernel_kib());
        rss_peak = rss_peak.max(server.status_kb("VmRSS"));
        thread::sleep(Duration::from_millis(50));
    }
    let kernel_kib = kernel_peak.saturating_sub(kernel_before);
    let rss_kib = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "kernel TCP memory grew by {} MiB at most, server RSS by {} MiB",
        kernel_kib / 1024,
        rss_kib / 1024
    );
    // Unbounded this was over a gigabyte (3.8 MB a socket); capped, each
    // socket holds its 256 KiB send buffer and the reader's receive buffer.
    assert!(
        kernel_kib < 300 * 1024,
        "kernel TCP memory grew by {kernel_kib} KiB"
    );
    // 64 MiB of backlogs, twice that at worst in the allocator, plus room.
    assert!(rss_kib < 200 * 1024, "server RSS grew by {rss_kib} KiB");
    sender.expect_nothing_pending();
    drop(stalled);
}
