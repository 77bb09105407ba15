//! A registered client's commands: those that map onto the line protocol
//! become the session's commands ([`Call`]), the rest are answered here.
//!
//! | IRC | what happens |
//! |---|---|
//! | `PRIVMSG`/`NOTICE #room :text` | `MSG #room text` (`#lobby` is the lobby) |
//! | `PRIVMSG`/`NOTICE nick :text` | `DM nick text` |
//! | `JOIN #a,#b` · `JOIN 0` | `JOIN` each · `PART` every room but the lobby |
//! | `PART #a,#b [:reason]` | `PART` each, the reason shown to IRC members |
//! | `QUIT [:reason]` | `QUIT`, the reason shown to IRC users |
//! | `NAMES`, `WHO`, `WHOIS`, `LIST`, `ISON`, `USERHOST`, `LUSERS` | answered from the hub (see [`super::queries`]) |
//! | `CAP`, `MODE`, `TOPIC`, `AWAY`, `PING`, `PONG`, `MOTD`, `WHOWAS` | answered here |
//! | `NICK` | refused (`447`): a name is fixed for a connection |
//! | anything else | `421` |
//!
//! Rules kept: nothing here changes the hub except through a [`Call`] the
//! session carries out (so flood limits, checks and ordering are the line
//! protocol's); a `NOTICE` is never answered with an error; `#lobby` cannot
//! be left.

use super::link::Link;
use super::numerics::*;
use super::parse::Message;
use super::queries::Here;
use super::registration::{self, clean, Caps, Secret};
use super::registry::{Saying, IRC_HOST};
use super::text;
use super::translate::Pending;
use crate::protocol::{self, Command, RoomName, Username};

/// Longest away message kept (`AWAYLEN`), in bytes.
pub const AWAYLEN: usize = 200;

/// Longest part or quit reason kept, in bytes.
const REASON_LEN: usize = 200;

/// Most targets of one `PRIVMSG` or `NOTICE` (`TARGMAX`).
const MAX_TARGETS: usize = 4;

/// A command for the session, owning its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Login(String),
    /// The line protocol's own `AUTH <nick> <password>` line, so that the
    /// password is exactly what the protocol takes (every byte after the
    /// one space); hidden from `Debug`.
    Auth(Secret),
    /// A message to a room (`#lobby` included).
    Msg(String, String),
    Dm(String, String),
    Join(String),
    Part(String),
    Quit,
}

impl Call {
    /// The command it is, borrowing from it.
    pub fn command(&self) -> Command<'_> {
        match self {
            Call::Login(nick) => Command::Login(nick),
            Call::Auth(line) => protocol::parse(&line.0),
            Call::Msg(room, text) => Command::Msg(Some(room), text),
            Call::Dm(to, text) => Command::Dm(Some((to, text))),
            Call::Join(room) => Command::Join(room),
            Call::Part(room) => Command::Part(room),
            Call::Quit => Command::Quit,
        }
    }
}

/// One thing a client's line leads to, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A command for the session; an `ERR` it gets means `pending`, and the
    /// lines it causes carry `saying` to IRC users.
    Call {
        call: Call,
        pending: Pending,
        saying: Saying,
    },
    /// An answer written here, which counts as the line (flood limit).
    Answer(Vec<u8>),
    /// More of an answer, not a line of its own.
    More(Vec<u8>),
}

/// The steps of one line, built in order: the line's first step counts as
/// the line (flood limit), an answer after a call only completes it.
#[derive(Default)]
pub struct Steps {
    done: Vec<Step>,
    reply: Vec<u8>,
}

impl Steps {
    /// Where the answer being written goes.
    pub fn reply(&mut self) -> &mut Vec<u8> {
        &mut self.reply
    }

    pub fn call(&mut self, call: Call, pending: Pending, saying: Saying) {
        self.close_reply();
        self.done.push(Step::Call {
            call,
            pending,
            saying,
        });
    }

    fn close_reply(&mut self) {
        if !self.reply.is_empty() {
            let bytes = std::mem::take(&mut self.reply);
            let step = if self.done.is_empty() {
                Step::Answer(bytes)
            } else {
                Step::More(bytes)
            };
            self.done.push(step);
        }
    }

    /// The steps; a line that led to nothing still showed the client is
    /// there.
    pub fn finish(mut self) -> Vec<Step> {
        self.close_reply();
        if self.done.is_empty() {
            self.done.push(Step::More(Vec::new()));
        }
        self.done
    }
}

/// A registered client, as its commands need it.
pub struct Client<'a> {
    pub here: Here<'a>,
    pub link: &'a Link,
    pub me: &'a Username,
    pub caps: &'a mut Caps,
    /// User mode `i`, which changes nothing here but is remembered.
    pub invisible: &'a mut bool,
}

impl Client<'_> {
    /// The steps `message` leads to.
    pub fn handle(&mut self, message: &Message, steps: &mut Steps) {
        let command = message.command.to_ascii_uppercase();
        let replies = self.here.replies;
        match command.as_str() {
            "PRIVMSG" => self.message(message, false, steps),
            "NOTICE" => self.message(message, true, steps),
            "JOIN" => self.join(message, steps),
            "PART" => self.part(message, steps),
            "QUIT" => {
                let reason = match message.param(0).filter(|reason| !reason.is_empty()) {
                    Some(reason) => format!("Quit: {}", clean(reason, REASON_LEN)),
                    None => "Client Quit".to_string(),
                };
                let saying = Saying {
                    notice: false,
                    reason: Some(reason),
                };
                steps.call(Call::Quit, Pending::None, saying);
            }
            "NAMES" => match message.param(0) {
                Some(channel) => self.here.names(channel, steps.reply()),
                None => {
                    replies.numeric(steps.reply(), RPL_ENDOFNAMES, &["*"], "End of /NAMES list")
                }
            },
            "WHO" => {
                // `WHO <mask> o`; a WHOX field list (`%…`) is not that.
                let flags = message.param(1).filter(|flags| !flags.starts_with('%'));
                let operators_only = flags.is_some_and(|flags| flags.contains('o'));
                self.here
                    .who(message.param(0), operators_only, steps.reply());
            }
            "WHOIS" => match message.params.last() {
                Some(nicks) => {
                    let nick = nicks.split(',').next().unwrap_or(nicks);
                    self.here.whois(nick, steps.reply());
                }
                None => {
                    replies.numeric(steps.reply(), ERR_NONICKNAMEGIVEN, &[], "No nickname given")
                }
            },
            "WHOWAS" => match message.param(0) {
                Some(nick) => {
                    let out = steps.reply();
                    replies.numeric(
                        out,
                        ERR_WASNOSUCHNICK,
                        &[nick],
                        "There was no such nickname",
                    );
                    replies.numeric(out, RPL_ENDOFWHOWAS, &[nick], "End of WHOWAS");
                }
                None => {
                    replies.numeric(steps.reply(), ERR_NONICKNAMEGIVEN, &[], "No nickname given")
                }
            },
            "LIST" => self.here.list(message.param(0), steps.reply()),
            "ISON" => self.here.ison(&message.params, steps.reply()),
            "USERHOST" => self.here.userhost(&message.params, steps.reply()),
            "LUSERS" => {
                let census = self.here.census();
                self.here.lusers(census, steps.reply());
            }
            "MOTD" => replies.numeric(steps.reply(), ERR_NOMOTD, &[], "MOTD File is missing"),
            "PING" => match message.param(0) {
                Some(token) => replies.pong(steps.reply(), token),
                None => replies.numeric(steps.reply(), ERR_NOORIGIN, &[], "No origin specified"),
            },
            // An answer to our PING, or a late one: it shows the client is there.
            "PONG" => {}
            "CAP" => {
                registration::cap(message, &replies, self.caps, steps.reply());
                self.link.lock().server_time = self.caps.server_time;
            }
            "AWAY" => self.away(message, steps.reply()),
            "MODE" => self.mode(message, steps.reply()),
            "TOPIC" => self.topic(message, steps.reply()),
            "NICK" => match message.param(0) {
                Some(nick) if nick == self.me.as_str() => {}
                _ => replies.numeric(
                    steps.reply(),
                    ERR_NONICKCHANGE,
                    &[],
                    "Nicknames cannot be changed on this server: reconnect to use another",
                ),
            },
            "USER" | "PASS" => replies.numeric(
                steps.reply(),
                ERR_ALREADYREGISTERED,
                &[],
                "You may not reregister",
            ),
            _ => replies.numeric(
                steps.reply(),
                ERR_UNKNOWNCOMMAND,
                &[message.command],
                "Unknown command",
            ),
        }
    }

    /// `PRIVMSG` or `NOTICE` to each target.
    fn message(&mut self, message: &Message, notice: bool, steps: &mut Steps) {
        let replies = self.here.replies;
        let command = if notice { "NOTICE" } else { "PRIVMSG" };
        let Some(targets) = message.param(0).filter(|targets| !targets.is_empty()) else {
            if !notice {
                let text = format!("No recipient given ({command})");
                replies.numeric(steps.reply(), ERR_NORECIPIENT, &[], &text);
            }
            return;
        };
        let text = message.param(1).unwrap_or("");
        // A CTCP request or reply other than ACTION goes nowhere.
        let Some(text) = text::from_irc(text) else {
            return;
        };
        if text.trim().is_empty() {
            if !notice {
                replies.numeric(steps.reply(), ERR_NOTEXTTOSEND, &[], "No text to send");
            }
            return;
        }
        let saying = Saying {
            notice,
            reason: None,
        };
        for target in targets
            .split(',')
            .filter(|target| !target.is_empty())
            .take(MAX_TARGETS)
        {
            let pending = Pending::Message {
                target: target.to_string(),
                notice,
            };
            if target.starts_with('#') {
                steps.call(
                    Call::Msg(target.into(), text.to_string()),
                    pending,
                    saying.clone(),
                );
                continue;
            }
            steps.call(
                Call::Dm(target.into(), text.to_string()),
                pending,
                saying.clone(),
            );
            if let Some(away) = self.here.registry.get(target).and_then(|entry| entry.away) {
                if !notice {
                    replies.numeric(steps.reply(), RPL_AWAY, &[target], &away);
                }
            }
        }
    }

    /// `JOIN #a,#b` (keys are ignored: no channel has one), or `JOIN 0`.
    fn join(&mut self, message: &Message, steps: &mut Steps) {
        let Some(channels) = message.param(0) else {
            return self.here.replies.need_more_params(steps.reply(), "JOIN");
        };
        if channels == "0" {
            let rooms = self
                .here
                .hub
                .user(self.me.as_str())
                .map(|(_, rooms)| rooms)
                .unwrap_or_default();
            for room in rooms {
                let room = room.to_string();
                steps.call(
                    Call::Part(room.clone()),
                    Pending::Part(room),
                    Saying::default(),
                );
            }
            return;
        }
        for channel in channels.split(',').filter(|channel| !channel.is_empty()) {
            // Everybody is in the lobby already: nothing to say.
            if RoomName::parse(channel).is_ok_and(|room| room.is_lobby()) {
                continue;
            }
            steps.call(
                Call::Join(channel.into()),
                Pending::Join(channel.into()),
                Saying::default(),
            );
        }
    }

    /// `PART #a,#b [:reason]`.
    fn part(&mut self, message: &Message, steps: &mut Steps) {
        let Some(channels) = message.param(0) else {
            return self.here.replies.need_more_params(steps.reply(), "PART");
        };
        let saying = Saying {
            notice: false,
            reason: message
                .param(1)
                .filter(|reason| !reason.is_empty())
                .map(|reason| clean(reason, REASON_LEN)),
        };
        for channel in channels.split(',').filter(|channel| !channel.is_empty()) {
            if RoomName::parse(channel).is_ok_and(|room| room.is_lobby()) {
                let text = "You cannot leave #lobby: every user is in it";
                self.here.replies.notice(steps.reply(), text);
                continue;
            }
            steps.call(
                Call::Part(channel.into()),
                Pending::Part(channel.into()),
                saying.clone(),
            );
        }
    }

    /// `AWAY :message` (`306`) or `AWAY` (`305`).
    fn away(&mut self, message: &Message, out: &mut Vec<u8>) {
        let away = message
            .param(0)
            .filter(|text| !text.is_empty())
            .map(|text| clean(text, AWAYLEN));
        let (code, text) = match away {
            Some(_) => (RPL_NOWAWAY, "You have been marked as being away"),
            None => (RPL_UNAWAY, "You are no longer marked as being away"),
        };
        self.here
            .registry
            .update(self.me, self.link.id, |entry| entry.away = away);
        self.here.replies.numeric(out, code, &[], text);
    }

    /// Whether `channel` has members (the lobby always does).
    fn exists(&self, channel: &RoomName) -> bool {
        channel.is_lobby() || self.here.hub.members(Some(channel)).is_ok()
    }

    /// Whether this client is in `channel`.
    fn is_in(&self, channel: &RoomName) -> bool {
        channel.is_lobby()
            || self
                .here
                .hub
                .user(self.me.as_str())
                .is_some_and(|(_, rooms)| rooms.contains(channel))
    }

    /// `MODE #room [b|e|I]` and `MODE <me> [±i]`: what clients ask to keep
    /// their view of modes; nothing can be set but `i`.
    fn mode(&mut self, message: &Message, out: &mut Vec<u8>) {
        let replies = self.here.replies;
        let Some(target) = message.param(0) else {
            return replies.need_more_params(out, "MODE");
        };
        if target.starts_with('#') {
            let channel = match RoomName::parse(target) {
                Ok(channel) if self.exists(&channel) => channel,
                _ => return replies.numeric(out, ERR_NOSUCHCHANNEL, &[target], "No such channel"),
            };
            let (code, list) = match message.param(1) {
                None => return replies.bare(out, RPL_CHANNELMODEIS, &[channel.as_str(), "+n"]),
                Some("b" | "+b") => (RPL_ENDOFBANLIST, "End of channel ban list"),
                Some("e" | "+e") => (RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
                Some("I" | "+I") => (RPL_ENDOFINVITELIST, "End of channel invite list"),
                Some(_) => {
                    let text = "Channel modes cannot be changed on this server";
                    return replies.numeric(out, ERR_CHANOPRIVSNEEDED, &[channel.as_str()], text);
                }
            };
            return replies.numeric(out, code, &[channel.as_str()], list);
        }
        if !target.eq_ignore_ascii_case(self.me.as_str()) {
            return match self.here.hub.user(target) {
                Some(_) => replies.numeric(
                    out,
                    ERR_USERSDONTMATCH,
                    &[],
                    "Can't change mode for other users",
                ),
                None => replies.numeric(out, ERR_NOSUCHNICK, &[target], "No such nick/channel"),
            };
        }
        let Some(changes) = message.param(1) else {
            let modes = if *self.invisible { "+i" } else { "+" };
            return replies.bare(out, RPL_UMODEIS, &[modes]);
        };
        let mut on = true;
        let mut invisible = *self.invisible;
        for c in changes.chars() {
            match c {
                '+' => on = true,
                '-' => on = false,
                'i' => invisible = on,
                _ => return replies.numeric(out, ERR_UMODEUNKNOWNFLAG, &[], "Unknown MODE flag"),
            }
        }
        if invisible != *self.invisible {
            *self.invisible = invisible;
            let mask = format!("{}!~{}@{IRC_HOST}", self.me, self.user());
            let change = if invisible { "+i" } else { "-i" };
            put(out, Some(&mask), "MODE", &[self.me.as_str()], Some(change));
        }
    }

    /// The client's own `~user`, as the registry has it.
    fn user(&self) -> String {
        self.here
            .registry
            .get(self.me.as_str())
            .map_or_else(|| self.me.to_string(), |entry| entry.user)
    }

    /// `TOPIC #room`: `331`, as no room has a topic; setting one is refused.
    fn topic(&mut self, message: &Message, out: &mut Vec<u8>) {
        let replies = self.here.replies;
        let Some(target) = message.param(0) else {
            return replies.need_more_params(out, "TOPIC");
        };
        let channel = match RoomName::parse(target) {
            Ok(channel) if self.exists(&channel) => channel,
            _ => return replies.numeric(out, ERR_NOSUCHCHANNEL, &[target], "No such channel"),
        };
        match message.param(1) {
            None => replies.numeric(out, RPL_NOTOPIC, &[target], "No topic is set"),
            Some(_) if !self.is_in(&channel) => replies.numeric(
                out,
                ERR_NOTONCHANNEL,
                &[target],
                "You're not on that channel",
            ),
            Some(_) => replies.numeric(
                out,
                ERR_CHANOPRIVSNEEDED,
                &[target],
                "Topics cannot be set on this server",
            ),
        }
    }
}
