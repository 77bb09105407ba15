//! The IRC front: the client side of IRC (RFC 1459/2812 as modern servers
//! speak it) onto the same users, rooms, lobby, DMs, history and limits as
//! the line protocol. Rooms are channels, the lobby is `#lobby`, DMs are
//! private messages; the hub knows nothing of IRC.
//!
//! How it plugs in, like the other fronts: [`serve`] runs one connection
//! through the session. Its reader side ([`Client`] over [`Lines`])
//! registers the client and turns each IRC line into session events: the
//! session's own commands where one means the same (`PRIVMSG #room` is
//! `MSG #room`), answers written here for the rest (`WHO`, `MODE`…). Its
//! codec turns every server line queued for the client into IRC
//! ([`translate`](mod@translate)). The two share a [`Link`]; what IRC users
//! are beyond their nick (user, real name, away, what they are saying) is in
//! the [`Registry`] every IRC connection of the server shares.

mod client;
mod commands;
mod link;
mod numerics;
mod parse;
mod queries;
mod reader;
mod registration;
mod registry;
mod text;
mod translate;

use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::delivery::{Codec, Farewell, Outbox};
use crate::protocol::{ServerLine, LOBBY};
use crate::session::{self, Context, Event, Inbound};
use crate::support::deadline::{is_timeout, IdleDeadline};
use crate::support::time;
use client::Client;
use link::{Link, State};
use numerics::{put, Replies};
use parse::Frame;
use reader::{Input, Lines};
use registry::{Entry, Registry, Saying, IRC_HOST};
use translate::{translate, Pending, Recipient};

/// What an operator sets for the IRC front.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's name in prefixes, `004` and `PONG` (`--irc-name`).
    pub name: String,
    /// Silence after which a registered client is pinged.
    pub ping_interval: Duration,
    /// How long a pinged client has to send anything.
    pub ping_timeout: Duration,
    /// For `CHANLIMIT` (the lobby counted).
    pub max_rooms_per_user: usize,
}

/// Whether `name` can be an IRC server name here: 1–63 characters of
/// `A-Z a-z 0-9 . - _`.
pub fn is_valid_server_name(name: &str) -> bool {
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    (1..=63).contains(&name.len()) && name.bytes().all(valid)
}

/// The IRC front of one server: its settings and its users.
pub struct Irc {
    settings: Settings,
    registry: Registry,
    /// For `003`.
    created: String,
    next_link: AtomicU64,
}

impl Irc {
    pub fn new(settings: Settings) -> Irc {
        Irc {
            settings,
            registry: Registry::default(),
            created: time::rfc3339_seconds(time::now_ms() / 1000),
            next_link: AtomicU64::new(1),
        }
    }
}

impl fmt::Debug for Irc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Irc")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Runs an IRC connection to its end.
pub fn serve(irc: &Arc<Irc>, stream: Arc<TcpStream>, peer: SocketAddr, context: &Context) {
    let id = irc.next_link.fetch_add(1, Ordering::Relaxed);
    let link = Arc::new(Link::new(id, peer.ip()));
    let codec = IrcCodec {
        irc: Arc::clone(irc),
        link: Arc::clone(&link),
    };
    let outbox = context.outbox(&stream, Box::new(codec));
    let idle = IdleDeadline::new(stream, context.limits.idle_timeout);
    let settings = &irc.settings;
    let mut connection = Connection {
        lines: Lines::new(
            idle,
            settings.ping_interval,
            settings.ping_timeout,
            &settings.name,
        ),
        client: Client::new(Arc::clone(irc), context.hub.clone(), link),
        outbox: Arc::clone(&outbox),
    };
    session::serve(context, peer, outbox, &mut connection);
    connection.client.forget();
}

/// Refuses a connection with `ERROR`, without blocking.
pub fn refuse(stream: &TcpStream, reason: &str) {
    let _ = stream.set_nonblocking(true);
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "*".to_string(), |peer| peer.ip().to_string());
    let mut line = Vec::new();
    put(
        &mut line,
        None,
        "ERROR",
        &[],
        Some(&format!("Closing Link: {peer} ({reason})")),
    );
    let _ = (&*stream).write_all(&line);
    let _ = stream.shutdown(Shutdown::Write);
}

/// The session's view of an IRC connection: lines from the socket, turned
/// into events by the client.
struct Connection {
    lines: Lines,
    client: Client,
    outbox: Arc<Outbox>,
}

impl Connection {
    /// The socket ended or failed: the user leaves saying `why`, unless the
    /// server dropped it as too slow. Then the hub announces the departure
    /// itself, and its `QUIT` must not say whichever of the two threads got
    /// there first.
    fn socket_ended(&mut self, why: String) {
        if self.outbox.farewell() != Some(Farewell::TooSlow) {
            self.client.leaving(why);
        }
    }
}

impl Inbound for Connection {
    fn next_event(
        &mut self,
        before_wait: &mut dyn FnMut(),
        _may_defer: &dyn Fn() -> bool,
    ) -> io::Result<Event<'_>> {
        loop {
            self.client.settle();
            if self.client.has_step() {
                return Ok(self.client.issue());
            }
            match self.lines.next(before_wait, self.client.registered()) {
                Ok(Input::Frame(Frame::Line(line))) => self.client.handle(&line),
                Ok(Input::Frame(Frame::TooLong)) => return Ok(Event::TooLong),
                // Our PING is not the client's activity.
                Ok(Input::Ping(ping)) => return Ok(Event::Reply(ping)),
                Ok(Input::Closed) => {
                    self.socket_ended("Connection closed".into());
                    return Ok(Event::Closed);
                }
                Err(err) => {
                    let why = match (is_timeout(&err), self.client.registered()) {
                        (true, true) => {
                            format!("Ping timeout: {} seconds", self.lines.deadline().as_secs())
                        }
                        (true, false) => "Registration timeout".to_string(),
                        (false, _) => "Connection closed".to_string(),
                    };
                    self.socket_ended(why);
                    return Err(err);
                }
            }
        }
    }

    fn reset_idle(&mut self) {
        self.lines.active(self.client.registered());
    }

    fn cap_deadline(&mut self, at: Option<Instant>) {
        self.lines.cap(at);
    }
}

/// IRC framing: each server line as the IRC lines it means to this client.
struct IrcCodec {
    irc: Arc<Irc>,
    link: Arc<Link>,
}

impl Codec for IrcCodec {
    fn encode_lines(&self, lines: &[u8], out: &mut Vec<u8>) {
        let mut state = self.link.lock();
        let now = state.server_time.then(|| time::rfc3339(time::now_ms()));
        let registry = &self.irc.registry;
        for raw in lines.split(|&b| b == b'\n').filter(|raw| !raw.is_empty()) {
            let text = String::from_utf8_lossy(raw);
            let me = match (&state.identity, state.registered) {
                (Some(identity), true) => identity.nick.to_string(),
                _ => "*".to_string(),
            };
            let replies = Replies {
                server: &self.irc.settings.name,
                me: &me,
            };
            // A line this build does not know (a newer server's) is still said.
            let Some(line) = ServerLine::parse(&text) else {
                replies.notice(out, &text);
                continue;
            };
            if line == ServerLine::Ok {
                self.welcome(&mut state, now.as_deref(), out);
                continue;
            }
            if let (ServerLine::Err(code), Pending::Login(_)) = (line, &state.pending) {
                state.refused = Some(code);
            }
            if let ServerLine::Join(room, name) = line {
                if name.eq_ignore_ascii_case(&me) {
                    state.joined.push(room.to_string());
                }
            }
            let to = Recipient {
                replies,
                time: now.as_deref(),
            };
            translate(line, &to, &state.pending, &|name| registry.seen(name), out);
        }
    }

    fn encode_farewell(&self, farewell: Farewell, out: &mut Vec<u8>) {
        let state = self.link.lock();
        let why = match farewell {
            Farewell::Bye(Some("flooding")) => "Excess Flood".to_string(),
            Farewell::Bye(None) => state
                .closing
                .clone()
                .unwrap_or_else(|| "Client Quit".into()),
            Farewell::Bye(Some("idle-timeout")) => state
                .closing
                .clone()
                .unwrap_or_else(|| "Ping timeout".into()),
            Farewell::Bye(Some(other)) => other.to_string(),
            Farewell::TooSlow => "too slow".to_string(),
            Farewell::TakenOver => "Logged in elsewhere".to_string(),
            Farewell::Shutdown => "Server shutting down".to_string(),
            Farewell::Silent | Farewell::Violation(_) => return,
        };
        let text = format!("Closing Link: {} ({why})", self.link.peer);
        put(out, None, "ERROR", &[], Some(&text));
    }
}

impl IrcCodec {
    /// The hub's `OK` to the login: the name is the client's. It is an IRC
    /// user from now on (before anybody hears of it: this runs under the
    /// hub's lock), and gets its welcome and its auto-join to the lobby.
    fn welcome(&self, state: &mut State, time: Option<&str>, out: &mut Vec<u8>) {
        if state.registered {
            return;
        }
        let Some(identity) = state.identity.clone() else {
            return;
        };
        state.registered = true;
        out.append(&mut state.welcome);
        let entry = Entry {
            owner: self.link.id,
            user: identity.user.clone(),
            realname: identity.realname,
            away: None,
            saying: Saying::default(),
        };
        self.irc.registry.insert(identity.nick.clone(), entry);
        if let Some(time) = time {
            out.extend_from_slice(format!("@time={time} ").as_bytes());
        }
        let mask = format!("{}!~{}@{IRC_HOST}", identity.nick, identity.user);
        put(out, Some(&mask), "JOIN", &[LOBBY], None);
    }
}
