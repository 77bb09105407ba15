//! Line mode, for scripts and pipes (and `--raw`): typed lines are read from
//! standard input as they come, shown lines are printed one per line, with no
//! escape codes beyond the colours [`crate::display::Style`] allows.
//!
//! The rule kept: a script's lines are read only while the session wants
//! them (not while a login is awaited, nor while offline), so no line is ever
//! sent before the server has said whether the name was taken.

use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use chat::{LineReader, Next};

use crate::display::Style;
use crate::link::{Budget, Front};
use crate::session::{Session, SERVER_MAX_LINE};

/// The longest typed line kept; longer ones are refused, saying so.
const MAX_TYPED: usize = 64 * 1024;

/// Lines handled per loop turn, so the server's answers keep flowing.
const LINES_PER_TURN: usize = 64;

pub struct LineFront {
    style: Style,
    fd: RawFd,
    input: LineReader<Budget<File>>,
    ended: bool,
}

impl LineFront {
    pub fn new(stdin: File, style: Style) -> LineFront {
        LineFront {
            style,
            fd: stdin.as_raw_fd(),
            input: LineReader::new(Budget::new(stdin), MAX_TYPED),
            ended: false,
        }
    }
}

/// Writes to standard output; a closed one is no reason to stop chatting.
fn print(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

impl Front for LineFront {
    fn show(&mut self, line: &str) {
        print(&format!("{line}\n"));
    }

    fn ask_name(&mut self) {
        print("Enter your username: ");
    }

    fn bell(&mut self) {}

    fn input(&self, session: &Session) -> Option<RawFd> {
        (!self.ended && session.wants_input()).then_some(self.fd)
    }

    fn read_input(&mut self, session: &mut Session, readable: bool, now: Instant) {
        // One read when poll says there is something: a second might block.
        self.input.get_mut().allow(usize::from(readable));
        for _ in 0..LINES_PER_TURN {
            if !session.wants_input() {
                return;
            }
            let typed = match self.input.read_next() {
                Ok(Next::Line(bytes)) => match std::str::from_utf8(bytes) {
                    Ok(text) => text.to_string(),
                    Err(_) => {
                        self.show(
                            &self
                                .style
                                .notice("that line is not UTF-8 text; it was not sent"),
                        );
                        continue;
                    }
                },
                Ok(Next::TooLong) => {
                    self.show(&self.style.notice(&format!(
                        "that line is over {MAX_TYPED} bytes (the server takes {SERVER_MAX_LINE}); \
                         it was not sent"
                    )));
                    continue;
                }
                Ok(Next::Reply(_)) => continue,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return,
                Ok(Next::Closed) | Err(_) => {
                    self.ended = true;
                    session.end_of_input(now);
                    return;
                }
            };
            session.typed(&typed, now);
        }
    }

    fn woken(&mut self, _session: &mut Session, _now: Instant) {}

    fn deadline(&self) -> Option<Instant> {
        None
    }

    fn tick(&mut self, _now: Instant) {}

    fn refresh(&mut self, _session: &Session) {}
}
