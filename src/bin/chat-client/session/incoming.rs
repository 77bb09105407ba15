//! The session's side that reads the server: history blocks, the answers it
//! waits for, the login's answer (`AUTH`'s: see [`super::account`]), and
//! every other line shown as it reads.

use std::time::Instant;

use chat::protocol::{self, sanitize, ErrorCode, ServerLine, LOBBY};

use super::{
    Action, Asker, Block, Ended, Outcome, Phase, Session, GAP, MAX_BLOCK_BYTES, MAX_BLOCK_LINES,
    MAX_NAMES,
};
use crate::display::{
    describe_error, display, display_unknown, dm_sent, mentions, online_line, rooms_line,
    round_trip, Clock,
};
use crate::pending::Awaited;

impl Session {
    /// A line from the server over the client's limit was skipped.
    pub fn skipped_long_line(&mut self) {
        self.notice("skipped a line from the server too long to show");
    }

    /// One line from the server (without its `\n`).
    pub fn server_line(&mut self, line: &str, now: Instant) {
        self.now = now;
        self.last_heard = now;
        self.heartbeat.heard(now);
        // A server behind something that ends lines with CRLF is still understood.
        let text = line.strip_suffix('\r').unwrap_or(line);
        let parsed = ServerLine::parse(text);
        if let Some(ServerLine::Pong(Some(token))) = parsed {
            if token.starts_with("hb-") {
                self.heartbeat.answered();
                return;
            }
        }
        if self.config.raw {
            self.show(sanitize(line).into_owned());
            if let Some(ServerLine::Bye(reason)) = parsed {
                self.ended(Ended::Bye(reason.map(str::to_string)));
            }
            return;
        }
        if let Some(parsed) = &parsed {
            if self.in_block(parsed) {
                return;
            }
        }
        let replay_for = self.replay_for.take();
        match parsed {
            Some(parsed) => self.on_line(parsed, replay_for),
            None => {
                let shown = display_unknown(text, self.style);
                self.show(shown);
            }
        }
    }

    /// Whether `line` was taken by the history block being received.
    fn in_block(&mut self, line: &ServerLine<'_>) -> bool {
        let Some(block) = &mut self.block else {
            return false;
        };
        let ServerLine::Hist { room, seq, .. } = *line else {
            // A block cut short (a server that miscounted): what came is shown.
            self.finish_block();
            return false;
        };
        if !room.eq_ignore_ascii_case(&block.room) {
            self.finish_block();
            return false;
        }
        let shown = display(line, Clock::now(), self.style);
        block.left = block.left.saturating_sub(1);
        match block.asker {
            Asker::User => self.show(shown),
            Asker::Client(_) => {
                if block.lines.len() < MAX_BLOCK_LINES && block.bytes < MAX_BLOCK_BYTES {
                    block.bytes += shown.len();
                    block.lines.push((seq, shown));
                }
            }
        }
        if self.block.as_ref().is_some_and(|block| block.left == 0) {
            self.finish_block();
        }
        true
    }

    fn finish_block(&mut self) {
        let Some(block) = self.block.take() else {
            return;
        };
        if let Asker::Client(show_last) = block.asker {
            let seqs: Vec<u64> = block.lines.iter().map(|(seq, _)| *seq).collect();
            let keep = self.rooms.block(&block.room, &seqs);
            let new: Vec<String> = block
                .lines
                .into_iter()
                .zip(keep)
                .filter_map(|((_, line), keep)| keep.then_some(line))
                .collect();
            let skip = new.len().saturating_sub(show_last);
            new.into_iter().skip(skip).for_each(|line| self.show(line));
        }
    }

    fn start_block(&mut self, room: &str, count: usize, replay_for: Option<String>) {
        let asker = match replay_for {
            Some(joined) if joined.eq_ignore_ascii_case(room) => Asker::Client(usize::MAX),
            _ => self.history_asked.pop_front().unwrap_or(Asker::User),
        };
        if asker == Asker::User {
            let header = display(&ServerLine::History(room, count), Clock::now(), self.style);
            self.show(header);
        }
        self.block = Some(Block {
            room: room.to_string(),
            left: count,
            asker,
            lines: Vec::new(),
            bytes: 0,
        });
        if count == 0 {
            self.finish_block();
        }
    }

    fn on_line(&mut self, line: ServerLine<'_>, replay_for: Option<String>) {
        match line {
            ServerLine::Ok if matches!(self.phase, Phase::LoggingIn(_)) => self.logged_in(),
            ServerLine::Ok if matches!(self.phase, Phase::Authenticating(_)) => {
                self.authenticated()
            }
            ServerLine::Ok if self.pending.ok() => {}
            ServerLine::Err(code) if matches!(self.phase, Phase::Authenticating(_)) => {
                self.auth_refused(code)
            }
            ServerLine::Err(ErrorCode::NameReserved)
                if matches!(self.phase, Phase::LoggingIn(_)) =>
            {
                self.name_reserved()
            }
            ServerLine::Err(code) if self.pending.password_refused(code) => {}
            ServerLine::Err(
                code @ (ErrorCode::UsernameTaken
                | ErrorCode::InvalidUsername
                | ErrorCode::LineTooLong),
            ) if matches!(self.phase, Phase::LoggingIn(_)) => self.name_refused(code),
            ServerLine::Err(code) => {
                if matches!(
                    code,
                    ErrorCode::UserNotFound | ErrorCode::InvalidDm | ErrorCode::RateLimited
                ) {
                    self.pending.dm_failed();
                }
                self.notice(describe_error(code));
            }
            ServerLine::Info(text) => {
                match text.split_once(' ') {
                    Some((name, "connected")) => self.saw(name),
                    Some((name, "disconnected")) => {
                        self.names.remove(&name.to_ascii_lowercase());
                    }
                    _ => {}
                }
                self.show_plain(&line);
            }
            ServerLine::Msg(from, text) => {
                self.rooms.live(LOBBY);
                self.show_message(&line, from, text);
            }
            ServerLine::RoomMsg(room, from, text) => {
                self.rooms.live(room);
                self.show_message(&line, from, text);
            }
            ServerLine::Dm(from, text) => self.show_message(&line, from, text),
            ServerLine::Join(room, name) if self.is_me(name) => self.joined(room),
            ServerLine::Part(room, name) if self.is_me(name) => {
                self.rooms.parted(room);
                let current = self.rooms.current().to_string();
                let room = sanitize(room);
                self.notice(&format!("you left {room}; plain lines go to {current}"));
            }
            ServerLine::Join(_, name) | ServerLine::Part(_, name) => {
                self.saw(name);
                self.show_plain(&line);
            }
            ServerLine::Room(room, members) => {
                if !self.pending.room(room, members) {
                    self.show_plain(&line);
                }
            }
            ServerLine::History(room, count) => self.start_block(room, count, replay_for),
            ServerLine::User(name) => {
                self.saw(name);
                if !self.pending.user(name) {
                    self.show_plain(&line);
                }
            }
            ServerLine::Pong(Some(token)) => match self.pending.pong(token) {
                Some(awaited) => self.answered(awaited),
                None => self.show_plain(&line),
            },
            ServerLine::Bye(reason) => self.ended(Ended::Bye(reason.map(str::to_string))),
            _ => self.show_plain(&line),
        }
    }

    fn show_plain(&mut self, line: &ServerLine<'_>) {
        let shown = display(line, Clock::now(), self.style);
        self.show(shown);
    }

    fn saw(&mut self, name: &str) {
        if self.names.len() < MAX_NAMES || self.names.contains_key(&name.to_ascii_lowercase()) {
            self.names
                .insert(name.to_ascii_lowercase(), sanitize(name).into_owned());
        }
    }

    /// A message, in bold and with a bell when it mentions the user.
    fn show_message(&mut self, line: &ServerLine<'_>, from: &str, text: &str) {
        self.saw(from);
        let shown = display(line, Clock::now(), self.style);
        let me = self.name.clone().unwrap_or_default();
        if self.config.interactive && !self.is_me(from) && mentions(text, &me) {
            let bold = self.style.mention(&shown);
            self.show(bold);
            if self.config.bell {
                self.actions.push(Action::Bell);
            }
        } else {
            self.show(shown);
        }
    }

    pub(super) fn logged_in(&mut self) {
        self.phase = Phase::Chatting;
        self.actions.push(Action::Online);
        let name = self.style.name(self.name.as_deref().unwrap_or(""));
        if !self.logged_in_before {
            self.logged_in_before = true;
            self.notice(&format!("logged in as {name}; type /help for the commands"));
            // Even when none is shown, one line tells the lobby's number, so
            // that a reconnect can tell what it missed.
            if self.config.history > 0 || self.config.reconnect {
                let count = self.config.history.clamp(1, protocol::MAX_HISTORY);
                self.ask_history(LOBBY, count, Asker::Client(self.config.history));
            }
            return;
        }
        self.notice(&format!("reconnected as {name}"));
        self.ask_history(LOBBY, GAP, Asker::Client(usize::MAX));
        self.rejoining = self.rooms.to_rejoin().to_vec();
        for room in self.rejoining.clone() {
            self.send(&format!("JOIN {room}"));
            self.ask_history(&room, GAP, Asker::Client(usize::MAX));
        }
    }

    pub(super) fn name_refused(&mut self, code: ErrorCode) {
        let why = describe_error(match code {
            ErrorCode::LineTooLong => ErrorCode::InvalidUsername,
            code => code,
        });
        let name = sanitize(self.name.as_deref().unwrap_or("")).into_owned();
        if self.logged_in_before {
            // Our old connection may still hold the name until the server
            // notices it is gone: try again later.
            self.ended(Ended::NameStillTaken);
        } else if self.config.retry_names {
            self.notice(why);
            self.name = None;
            self.phase = Phase::AskingName;
            self.actions.push(Action::AskName);
        } else {
            let refused = Outcome::NameRefused(format!("cannot log in as {name}: {why}"));
            self.actions.push(Action::Exit(refused));
        }
    }

    /// The server's echo of the user's own `JOIN`.
    fn joined(&mut self, room: &str) {
        self.replay_for = Some(room.to_string());
        let room_shown = sanitize(room).into_owned();
        if let Some(i) = self
            .rejoining
            .iter()
            .position(|r| r.eq_ignore_ascii_case(room))
        {
            self.rejoining.remove(i);
            self.notice(&format!("back in {room_shown}"));
            return;
        }
        self.rooms.joined(room);
        self.notice(&format!(
            "you joined {room_shown}; plain lines go there (/go #lobby to switch back)"
        ));
    }

    fn answered(&mut self, awaited: Awaited) {
        let line = match awaited {
            Awaited::Who {
                room,
                listed,
                unlisted,
            } => online_line(room.as_deref(), &listed, unlisted, self.style),
            Awaited::Rooms { listed, unlisted } => rooms_line(&listed, unlisted, self.style),
            Awaited::Dm { failed: true, .. } => return,
            Awaited::Dm { to, text, .. } => dm_sent(&to, &text, Clock::now(), self.style),
            Awaited::Rtt { sent } => self.style.notice(&round_trip(self.now - sent)),
            Awaited::Password {
                change,
                password,
                taken,
                refused,
            } => return self.password_answered(change, password, taken, refused),
        };
        self.show(line);
    }
}
