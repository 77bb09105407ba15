//! Seeded, reproducible fuzzing without crates: random and mutated byte
//! streams (NUL, 0xFF, lone `\r`, huge and empty lines, telnet bytes, valid
//! commands cut at random places) go to the parser, the line reader, and a live
//! server over 200 connections. Afterwards a fresh client is served normally.
//!
//! Set `CHAT_FUZZ_SEED` to replay a run; the seed is printed on failure.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use chat::protocol;
use chat::support::rng::Rng;
use chat::{LineReader, Next};
use common::{start_with, Client};

fn seed() -> u64 {
    std::env::var("CHAT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_CAFE)
        .max(1)
}

/// Runs `body` and names the seed if it panics.
fn with_seed(name: &str, body: impl FnOnce(&mut Rng)) {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut rng)));
    if let Err(panic) = outcome {
        eprintln!("{name} failed; replay with CHAT_FUZZ_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}

const PIECES: &[&[u8]] = &[
    b"LOGIN ",
    b"MSG ",
    b"DM ",
    b"WHO",
    b"PING",
    b"QUIT",
    b"HELP",
    b"login",
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\xff",
    b"\xff\xfd\x06",
    b"\xff\xfa\x18",
    b"\xc3\xa9",
    b"\xe2\x82",
    b"\x1b[2J",
    b" ",
    b"\t",
    b"alice",
    b"bob",
    b"x",
];

/// A random byte stream: pieces of the protocol, random bytes, long runs.
fn stream(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < max_len {
        match rng.below(10) {
            0 => out.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8)),
            1 => out.extend(std::iter::repeat_n(b'a', rng.below(9000))),
            2 => out.push(b'\n'),
            _ => out.extend_from_slice(PIECES[rng.below(PIECES.len())]),
        }
    }
    out.truncate(max_len);
    out
}

#[test]
fn the_parser_takes_anything() {
    with_seed("the_parser_takes_anything", |rng| {
        for _ in 0..20_000 {
            let len = rng.below(200);
            let bytes = stream(rng, len);
            let text = String::from_utf8_lossy(&bytes);
            let command = protocol::parse(&text);
            let _ = command.needs_login();
            let _ = protocol::sanitize(&text);
        }
    });
}

/// A reader handing out its data in random-sized pieces.
struct Chopped<'a> {
    data: &'a [u8],
    rng: &'a mut Rng,
}

impl Read for Chopped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (1 + self.rng.below(3000))
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn the_line_reader_stays_within_its_limit() {
    with_seed("the_line_reader_stays_within_its_limit", |rng| {
        for _ in 0..300 {
            let len = rng.below(100_000);
            let data = stream(rng, len);
            let max_line = 1 + rng.below(5000);
            let mut chop_rng = Rng::new(rng.next_u64());
            let mut reader = LineReader::new(
                Chopped {
                    data: &data,
                    rng: &mut chop_rng,
                },
                max_line,
            );
            let mut events = 0;
            loop {
                match reader.read_next().expect("in-memory reads never fail") {
                    Next::Line(line) => assert!(line.len() <= max_line, "line over the limit"),
                    Next::TooLong | Next::Reply(_) => {}
                    Next::Closed => break,
                }
                events += 1;
                assert!(events <= data.len() + 1, "more events than bytes");
            }
        }
    });
}

/// Set if any of the server's own threads panics.
static SERVER_THREAD_PANICKED: AtomicBool = AtomicBool::new(false);

fn watch_server_threads_for_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = thread::current();
        if thread.name().is_some_and(|name| name.starts_with("chat-")) {
            SERVER_THREAD_PANICKED.store(true, Ordering::SeqCst);
        }
        default_hook(info);
    }));
}

#[test]
fn a_live_server_survives_200_fuzzing_connections() {
    const CONNECTIONS: usize = 200;
    const THREADS: usize = 8;
    watch_server_threads_for_panics();
    let server = start_with(|c| c.idle_timeout = Duration::from_secs(5));
    let addr = server.addr();
    let mut watcher = Client::login(addr, "watcher");
    with_seed("a_live_server_survives_200_fuzzing_connections", |rng| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let mut rng = Rng::new(rng.next_u64());
                thread::spawn(move || {
                    for _ in 0..CONNECTIONS / THREADS {
                        let mut conn = TcpStream::connect(addr).expect("connect");
                        conn.set_read_timeout(Some(Duration::from_millis(200)))
                            .unwrap();
                        let len = rng.below(30_000);
                        let data = stream(&mut rng, len);
                        // The server may hang up (QUIT in the stream): stop writing then.
                        for chunk in data.chunks(1 + rng.below(4096)) {
                            if conn.write_all(chunk).is_err() {
                                break;
                            }
                        }
                        // Read a little of what came back, then vanish.
                        let mut sink = [0u8; 4096];
                        let _ = conn.read(&mut sink);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("fuzzing worker");
        }
        // The server is still fine: a fresh user logs in, talks and pings.
        let mut fresh = Client::login(addr, "fresh");
        fresh.send("MSG still standing");
        fresh.send("PING after");
        loop {
            let line = fresh.line();
            if line == "PONG after" {
                break;
            }
            // Fuzzers that logged in may still be chatting or leaving.
            assert!(
                line.starts_with("MSG ") || line.starts_with("INFO ") || line.starts_with("DM "),
                "{line}"
            );
        }
        loop {
            let line = watcher.line();
            if line == "MSG fresh still standing" {
                break;
            }
        }
        assert!(
            !SERVER_THREAD_PANICKED.load(Ordering::SeqCst),
            "a server thread panicked"
        );
    });
}
