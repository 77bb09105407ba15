//! Interactive mode: the terminal in raw mode, keys through the [`Editor`],
//! the picture through the [`Screen`].
//!
//! The rule kept: the terminal is always given back as it was found. The
//! saved settings are restored when [`Terminal`] is dropped (a normal exit, a
//! `/quit`, Ctrl-C or Ctrl-D, `SIGINT`/`SIGTERM`/`SIGHUP`), by the panic hook,
//! and before stopping (Ctrl-Z or `SIGTSTP`); on `SIGCONT` raw mode comes back
//! and the screen is redrawn. Signal handlers only note the signal and wake
//! the loop (see `support::sys`); everything else happens here, in the loop.
//!
//! A password is typed on the input line like anything else, but nothing of
//! it is drawn (not even stars: its length stays unknown too), and it never
//! enters the input history; neither does a protocol line that carries one.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use chat::support::sys::{self, TermMode};

use crate::display::Style;
use crate::editor::{Editor, Pressed};
use crate::input::carries_password;
use crate::keys::{Decoder, Key};
use crate::link::{Front, Waker};
use crate::screen::Screen;
use crate::session::Session;

/// How long after `ESC` a key sequence may go on; after that it was the
/// Escape key itself.
const ESCAPE_WAIT: Duration = Duration::from_millis(50);

/// At most this many completions are listed after a Tab.
const MAX_LISTED: usize = 20;

pub struct Terminal {
    stdin: File,
    saved: TermMode,
    screen: Screen,
    decoder: Decoder,
    editor: Editor,
    style: Style,
    escape_until: Option<Instant>,
    /// The input line as last drawn, to redraw only when it changed.
    drawn: Option<(String, String, usize)>,
    bell: bool,
    ended: bool,
}

/// The terminal's size, or a classic 80×24 when it will not say.
fn size() -> (u16, u16) {
    sys::window_size(io::stdout().as_raw_fd()).unwrap_or((80, 24))
}

fn write_out(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

impl Terminal {
    /// Puts the terminal in raw mode and takes the screen; `Err` when it is
    /// not a terminal this can drive (the caller stays in line mode).
    pub fn enter(stdin: File, style: Style, waker: &Waker) -> io::Result<Terminal> {
        let saved = sys::terminal_mode(stdin.as_raw_fd())?;
        sys::set_terminal_mode(stdin.as_raw_fd(), &saved.raw())?;
        let fd = stdin.as_raw_fd();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = sys::set_terminal_mode(fd, &saved);
            write_out(b"\x1b[r\x1b[0m\x1b[?25h\r\n");
            previous(info);
        }));
        let (cols, rows) = size();
        let mut terminal = Terminal {
            stdin,
            saved,
            screen: Screen::new(cols, rows),
            decoder: Decoder::default(),
            editor: Editor::default(),
            style,
            escape_until: None,
            drawn: None,
            bell: false,
            ended: false,
        };
        if let Err(err) = sys::catch_signals(waker.write_fd()) {
            terminal.show(&style.notice(&format!("signals not handled: {err}")));
        }
        // Whatever was on the screen stays in the scrollback; ours starts clean.
        write_out(b"\x1b[H\x1b[2J");
        terminal.screen.redraw();
        Ok(terminal)
    }

    fn raw_again(&mut self) {
        let _ = sys::set_terminal_mode(self.stdin.as_raw_fd(), &self.saved.raw());
        let (cols, rows) = size();
        self.screen.resize(cols, rows);
        self.drawn = None;
    }

    /// Ctrl-Z: the terminal as it was, stop, and raw again once continued.
    fn suspend(&mut self) {
        self.screen.leave();
        write_out(&self.screen.take_output());
        let _ = sys::set_terminal_mode(self.stdin.as_raw_fd(), &self.saved);
        let _ = sys::stop_self();
        self.raw_again();
    }

    fn key(&mut self, key: Key, session: &mut Session, now: Instant) {
        // The session may have started (or stopped) asking for a password
        // since the last key, even within one paste.
        self.editor.set_hidden(session.hides_input());
        match key {
            Key::Ctrl('c') => session.leave_now(now),
            Key::Ctrl('d') if self.editor.buffer().is_empty() => session.end_of_input(now),
            Key::Ctrl('d') => {
                self.editor.press(&Key::Delete);
            }
            Key::Ctrl('l') => {
                self.screen.redraw();
                self.drawn = None;
            }
            Key::Ctrl('z') => self.suspend(),
            Key::Tab if self.editor.is_hidden() => {}
            Key::Tab => self.complete(session),
            Key::Enter if carries_password(self.editor.buffer()) => {
                let line = self.editor.take();
                session.typed(&line, now);
            }
            key => {
                if let Pressed::Submitted(line) = self.editor.press(&key) {
                    if !session.typed(&line, now) {
                        self.editor.restore(line);
                    }
                }
            }
        }
    }

    fn complete(&mut self, session: &Session) {
        let (word, first) = self.editor.word_to_complete();
        let (candidates, suffix) = session.completions(word, first);
        let listed = self.editor.complete(&candidates, suffix);
        if listed.len() > 1 {
            let mut text = listed
                .iter()
                .take(MAX_LISTED)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            if listed.len() > MAX_LISTED {
                text.push_str(&format!(" and {} more", listed.len() - MAX_LISTED));
            }
            self.show(&self.style.notice(&text));
        }
    }
}

impl Front for Terminal {
    fn show(&mut self, line: &str) {
        self.screen.print(line);
        // The input line is drawn over by nothing, but the cursor moved.
        self.drawn = None;
    }

    fn ask_name(&mut self) {}

    fn bell(&mut self) {
        self.bell = true;
    }

    fn input(&self, _session: &Session) -> Option<RawFd> {
        (!self.ended).then(|| self.stdin.as_raw_fd())
    }

    fn read_input(&mut self, session: &mut Session, readable: bool, now: Instant) {
        if !readable {
            return;
        }
        let mut buf = [0u8; 4096];
        let keys = match self.stdin.read(&mut buf) {
            Ok(0) => {
                // The terminal is gone.
                self.ended = true;
                return session.leave_now(now);
            }
            Ok(n) => self.decoder.feed(&buf[..n]),
            Err(_) => return,
        };
        self.escape_until = self.decoder.pending().then_some(now + ESCAPE_WAIT);
        for key in keys {
            self.key(key, session, now);
        }
    }

    fn woken(&mut self, session: &mut Session, now: Instant) {
        let signals = sys::take_signals();
        if signals.leave() {
            session.leave_now(now);
        }
        if signals.stop() {
            self.suspend();
        } else if signals.resumed() {
            self.raw_again();
        } else if signals.resized() {
            let (cols, rows) = size();
            self.screen.resize(cols, rows);
            self.drawn = None;
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.escape_until
    }

    fn tick(&mut self, now: Instant) {
        if self.escape_until.is_some_and(|at| now >= at) {
            self.escape_until = None;
            self.decoder.timed_out();
        }
    }

    fn refresh(&mut self, session: &Session) {
        self.editor.set_hidden(session.hides_input());
        let now_drawn = if self.editor.is_hidden() {
            (session.prompt(), String::new(), 0)
        } else {
            (
                session.prompt(),
                self.editor.buffer().to_string(),
                self.editor.cursor(),
            )
        };
        if self.drawn.as_ref() != Some(&now_drawn) {
            self.screen
                .draw_input(&now_drawn.0, &now_drawn.1, now_drawn.2);
            self.drawn = Some(now_drawn);
        }
        let mut out = self.screen.take_output();
        if std::mem::take(&mut self.bell) {
            out.push(0x07);
        }
        if !out.is_empty() {
            write_out(&out);
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.screen.leave();
        write_out(&self.screen.take_output());
        let _ = sys::set_terminal_mode(self.stdin.as_raw_fd(), &self.saved);
    }
}
