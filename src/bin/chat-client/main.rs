//! `chat-client`: the terminal client. It parses the command line
//! ([`options`]), connects ([`link`]), and runs one [`session`] over it, in
//! one of two modes:
//!
//! - **at a terminal** (standard input and output both), [`terminal`]: raw
//!   mode, an input line that stays at the bottom ([`screen`]), line editing
//!   ([`editor`], fed by [`keys`], measured by [`width`]), reconnection with
//!   [`backoff`];
//! - **in line mode** (a script, a pipe, `--raw`), [`lines`]: lines in, lines
//!   out, as before, and no reconnection unless asked.
//!
//! What a typed line means ([`input`]), how a server line is shown
//! ([`display`]), which answers are awaited ([`pending`]), the rooms and their
//! history ([`rooms`]) and the [`heartbeat`] are pure and unit-tested without
//! a socket or a terminal; so is the session itself, accounts included. A
//! password, typed or from `--password-file`, is a [`secret::Secret`].

mod backoff;
mod display;
mod editor;
mod heartbeat;
mod input;
mod keys;
mod lines;
mod link;
mod options;
mod pending;
mod rooms;
mod screen;
mod secret;
mod session;
mod terminal;
mod width;

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Instant;

use display::Style;
use link::{Target, Waker};
use options::{Options, USAGE};
use secret::Secret;
use session::{Config, Outcome, Session};

/// Lobby messages shown after logging in at a terminal, unless told.
const TERMINAL_HISTORY: usize = 20;

fn main() -> ExitCode {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-client: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Read before connecting, so that a file that will not do is said at once.
    let password = match options.password_file.as_deref().map(Secret::from_file) {
        None => None,
        Some(Ok(password)) => Some(password),
        Some(Err(why)) => {
            eprintln!("chat-client: {why}");
            return ExitCode::from(2);
        }
    };
    let outcome = run(&options, password);
    if let Some(message) = outcome.message() {
        eprintln!("{message}");
    }
    ExitCode::from(outcome.exit_code())
}

fn run(options: &Options, password: Option<Secret>) -> Outcome {
    let stream = match link::connect(&options.host, options.port) {
        Ok(stream) => stream,
        Err(why) => return Outcome::Failed(why),
    };
    let (waker, stdin) = match (Waker::new(), link::stdin_file()) {
        (Ok(waker), Ok(stdin)) => (waker, stdin),
        (Err(err), _) | (_, Err(err)) => return Outcome::Failed(format!("cannot start: {err}")),
    };
    let style = Style::for_stdout();
    let target = Target {
        host: options.host.clone(),
        port: options.port,
    };
    let at_terminal = !options.raw && io::stdin().is_terminal() && io::stdout().is_terminal();
    let config = |interactive: bool| Config {
        name: options.name.clone(),
        password: password.clone(),
        raw: options.raw,
        interactive,
        retry_names: io::stdin().is_terminal(),
        reconnect: options.reconnect.unwrap_or(interactive),
        history: options
            .history
            .unwrap_or(if interactive { TERMINAL_HISTORY } else { 0 }),
        heartbeat: options.heartbeat,
        bell: options.bell,
    };
    if at_terminal {
        match stdin
            .try_clone()
            .and_then(|stdin| terminal::Terminal::enter(stdin, style, &waker))
        {
            Ok(mut terminal) => {
                let session = Session::new(config(true), style, Instant::now());
                return link::run(&mut terminal, session, style, target, waker, stream);
            }
            Err(err) => eprintln!("chat-client: no raw mode ({err}); reading lines instead"),
        }
    }
    let mut front = lines::LineFront::new(stdin, style);
    let session = Session::new(config(false), style, Instant::now());
    link::run(&mut front, session, style, target, waker, stream)
}
