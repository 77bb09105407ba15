//! What each command does: the session's side of the protocol, one arm per
//! command, each answering with its result or an `ERR` code.

use super::departure::Departure;
use super::{Flow, Session};
use crate::hub::{Change, Me, StorageNews};
use crate::protocol::{self, Command, ErrorCode, RoomName, ServerLine, Username, HELP_TEXT};

impl Session<'_> {
    /// Carries out one command (the caller has checked that it may run before
    /// `LOGIN`); an `Err` is answered with `ERR <code>`.
    pub(super) fn dispatch(&mut self, command: Command<'_>) -> Result<Flow, ErrorCode> {
        let hub = &self.context.hub;
        match command {
            Command::Empty => {}
            Command::Login(requested) => self.login(requested)?,
            Command::Auth(requested, password) => self.auth(requested, password)?,
            Command::Register(password) => self.set_password(password, Change::Register)?,
            Command::Password(password) => self.set_password(password, Change::Password)?,
            Command::Quit => return Ok(Flow::End(Departure::Quit)),
            Command::Help => {
                let mut help = Vec::new();
                for text in HELP_TEXT {
                    ServerLine::Info(text).encode(&mut help);
                }
                self.reply_lines(&help);
            }
            Command::Ping(token) => {
                let token = token.map(protocol::sanitize);
                self.reply(ServerLine::Pong(token.as_deref()));
            }
            Command::Unknown => return Err(ErrorCode::UnknownCommand),
            Command::Msg(room, text) => {
                let room = room.map(RoomName::parse).transpose()?;
                if text.is_empty() {
                    return Err(ErrorCode::EmptyMessage);
                }
                let text = protocol::sanitize(text);
                let (said, news) = hub.say(self.me()?, room.as_ref(), &text, &self.claims);
                if let Some(news) = news {
                    self.log_storage(news);
                }
                said?;
            }
            Command::Dm(target) => {
                let (to, text) = target.ok_or(ErrorCode::InvalidDm)?;
                let text = protocol::sanitize(text);
                hub.direct_message(self.me()?, to, &text, &self.claims)?;
            }
            Command::Who(room) => {
                let room = room.map(RoomName::parse).transpose()?;
                self.reply_lines(&hub.who(room.as_ref())?);
            }
            Command::Join(room) => hub.join(self.me()?, &RoomName::parse(room)?, &self.claims)?,
            Command::Part(room) => hub.part(self.me()?, &RoomName::parse(room)?, &self.claims)?,
            Command::Rooms => self.reply_lines(&hub.rooms()),
            Command::History(query) => {
                let (room, count) = query?;
                let room = room.map(RoomName::parse).transpose()?;
                hub.history(self.me()?, room.as_ref(), count, &self.claims)?;
            }
        }
        Ok(Flow::Continue)
    }

    /// This session as the hub knows it (the caller checked
    /// [`Command::needs_login`]).
    fn me(&self) -> Result<Me<'_>, ErrorCode> {
        let name = self.name.as_ref().ok_or(ErrorCode::NotLoggedIn)?;
        Ok(Me {
            name,
            outbox: &self.outbox,
        })
    }

    /// The logged-in user's name (the caller checked [`Command::needs_login`]).
    pub(super) fn user(&self) -> Result<&Username, ErrorCode> {
        self.name.as_ref().ok_or(ErrorCode::NotLoggedIn)
    }

    /// Logs a change in the history log's health, once per burst.
    fn log_storage(&self, news: StorageNews) {
        let log = &self.context.log;
        match news {
            StorageNews::Failed(err) => log.event(
                None,
                format_args!(
                    "history: cannot write the log ({err}); messages are refused with ERR \
                     storage-failed until it works again"
                ),
            ),
            StorageNews::Recovered => {
                log.event(None, format_args!("history: writing the log works again"))
            }
        }
    }
}
