//! One IRC client as the front sees it: its registration, then its
//! commands, turned into the steps the session carries out one at a time,
//! and what the hub's answers (seen by the codec) call for next.
//!
//! Rules kept: the steps of a line go to the session in order, one event
//! each; before each event the previous one is settled: what it was saying
//! is cleared from the registry, and a login the hub accepted (or refused)
//! or a room joined gets its follow-up (the names list) first, before
//! anything else the client asked for.

use std::collections::VecDeque;
use std::sync::Arc;

use super::commands::{self, Call, Step, Steps};
use super::link::{Identity, Link};
use super::numerics::Replies;
use super::parse::{decode, Message};
use super::queries::Here;
use super::registration::{Caps, Ready, Registration, Secret, Verdict};
use super::registry::{Saying, IRC_HOST};
use super::translate::Pending;
use super::Irc;
use crate::hub::Hub;
use crate::protocol::{ErrorCode, Username, LOBBY};
use crate::session::Event;

/// One client (see the module documentation).
pub struct Client {
    irc: Arc<Irc>,
    hub: Hub,
    link: Arc<Link>,
    registration: Registration,
    caps: Caps,
    /// The nick, once the hub has accepted it.
    me: Option<Username>,
    invisible: bool,
    /// Registration is complete and its login queued.
    ready: Option<Ready>,
    /// The login was handed to the session: the next settle sees how it went.
    logging_in: bool,
    /// A `PASS` was sent for a nick without an account: logged in without it.
    password_unused: bool,
    steps: VecDeque<Step>,
    /// The command the session is carrying out, which its event borrows.
    current: Option<Call>,
    /// The registry holds what the current command is saying.
    saying: bool,
}

impl Client {
    pub fn new(irc: Arc<Irc>, hub: Hub, link: Arc<Link>) -> Client {
        Client {
            irc,
            hub,
            link,
            registration: Registration::default(),
            caps: Caps::default(),
            me: None,
            invisible: false,
            ready: None,
            logging_in: false,
            password_unused: false,
            steps: VecDeque::new(),
            current: None,
            saying: false,
        }
    }

    pub fn registered(&self) -> bool {
        self.me.is_some()
    }

    fn here(&self) -> Here<'_> {
        Here {
            hub: &self.hub,
            registry: &self.irc.registry,
            replies: Replies {
                server: &self.irc.settings.name,
                me: self.me.as_ref().map_or("*", Username::as_str),
            },
        }
    }

    /// Wraps up the last event: clears what it was saying, and queues what
    /// the hub's answer calls for.
    pub fn settle(&mut self) {
        self.current = None;
        if std::mem::take(&mut self.saying) {
            self.say(Saying::default());
        }
        let (registered, joined) = {
            let mut state = self.link.lock();
            (state.registered, std::mem::take(&mut state.joined))
        };
        if std::mem::take(&mut self.logging_in) {
            let refused = self.link.lock().refused.take();
            self.logged_in_or_not(registered, refused);
        }
        for room in joined.iter().rev() {
            let mut names = Vec::new();
            self.here().names(room, &mut names);
            self.steps.push_front(Step::More(names));
        }
    }

    /// What the hub's answer to the login calls for: the welcome's rest, or
    /// another try.
    fn logged_in_or_not(&mut self, registered: bool, refused: Option<ErrorCode>) {
        let Some(ready) = self.ready.take() else {
            return;
        };
        let with_password = ready.password.is_some() && !self.password_unused;
        match refused {
            _ if registered => self.welcomed(ready),
            // PASS for a nick nobody registered: in without it (and told so).
            Some(ErrorCode::NotRegistered) if with_password => {
                self.password_unused = true;
                let (call, pending) = login(&ready, None);
                let saying = Saying::default();
                self.steps.push_front(Step::Call {
                    call,
                    pending,
                    saying,
                });
                self.ready = Some(ready);
            }
            // Modern IRC closes the connection after ERR_PASSWDMISMATCH.
            Some(ErrorCode::WrongPassword | ErrorCode::RateLimited) if with_password => {
                self.link.lock().closing = Some("Password incorrect".into());
                let quit = Step::Call {
                    call: Call::Quit,
                    pending: Pending::None,
                    saying: Saying::default(),
                };
                self.steps.push_front(quit);
            }
            _ => self.registration.nick_refused(),
        }
    }

    /// Whether a step waits to be handed to the session.
    pub fn has_step(&self) -> bool {
        !self.steps.is_empty()
    }

    /// Takes one line from the client and queues its steps.
    pub fn handle(&mut self, line: &[u8]) {
        let text = decode(line);
        let Some(message) = Message::parse(&text) else {
            // A blank line: nothing to do, but the client is there.
            self.steps.push_back(Step::More(Vec::new()));
            return;
        };
        let mut steps = Steps::default();
        match &self.me {
            Some(me) => {
                let here = Here {
                    hub: &self.hub,
                    registry: &self.irc.registry,
                    replies: Replies {
                        server: &self.irc.settings.name,
                        me: me.as_str(),
                    },
                };
                let mut client = commands::Client {
                    here,
                    link: &self.link,
                    me,
                    caps: &mut self.caps,
                    invisible: &mut self.invisible,
                };
                client.handle(&message, &mut steps);
            }
            None => self.register(&message, &mut steps),
        }
        self.steps.extend(steps.finish());
    }

    /// A line before registration.
    fn register(&mut self, message: &Message, steps: &mut Steps) {
        let hub = &self.hub;
        let taken = |nick: &Username| hub.user(nick.as_str()).is_some();
        let replies = Replies {
            server: &self.irc.settings.name,
            me: "*",
        };
        let verdict =
            self.registration
                .handle(message, &replies, &mut self.caps, &taken, steps.reply());
        self.link.lock().server_time = self.caps.server_time;
        match verdict {
            Verdict::Waiting => {}
            Verdict::Quit(reason) => {
                let reason =
                    reason.map_or_else(|| "Client Quit".into(), |reason| format!("Quit: {reason}"));
                self.link.lock().closing = Some(reason);
                steps.call(Call::Quit, Pending::None, Saying::default());
            }
            Verdict::Ready(ready) => self.log_in(ready, steps),
        }
    }

    /// Registration is complete: prepares the welcome for the codec to send
    /// in place of the hub's `OK`, and asks the session to log in.
    fn log_in(&mut self, ready: Ready, steps: &mut Steps) {
        let nick = ready.nick.as_str();
        let mask = format!("{nick}!~{}@{IRC_HOST}", ready.user);
        let mut welcome = Vec::new();
        let here = Here {
            replies: Replies {
                server: &self.irc.settings.name,
                me: nick,
            },
            ..self.here()
        };
        let (users, rooms) = here.census();
        // The newcomer is not counted yet.
        here.welcome(
            &self.irc.settings,
            &self.irc.created,
            &mask,
            (users + 1, rooms),
            &mut welcome,
        );
        {
            let mut state = self.link.lock();
            state.identity = Some(Identity {
                nick: ready.nick.clone(),
                user: ready.user.clone(),
                realname: ready.realname.clone(),
            });
            state.welcome = welcome;
        }
        // A new try (another nick): a PASS counts again.
        self.password_unused = false;
        let (call, pending) = login(&ready, ready.password.as_ref());
        steps.call(call, pending, Saying::default());
        self.ready = Some(ready);
    }

    /// The hub accepted the nick (the codec has sent the welcome and the
    /// auto-join): the lobby's names follow, and a word about an unused
    /// `PASS`.
    fn welcomed(&mut self, ready: Ready) {
        self.me = Some(ready.nick);
        let mut more = Vec::new();
        let here = self.here();
        here.names(LOBBY, &mut more);
        if self.password_unused {
            let text = format!(
                "There is no account for {} on this server: the password (PASS) was not used",
                here.replies.me
            );
            here.replies.notice(&mut more, &text);
        }
        self.steps.push_front(Step::More(more));
    }

    /// Hands the next step to the session as its event.
    pub fn issue(&mut self) -> Event<'_> {
        let Some(step) = self.steps.pop_front() else {
            return Event::Alive(Vec::new());
        };
        let (pending, event) = match step {
            Step::Answer(bytes) => (Pending::None, Event::Answered(bytes)),
            Step::More(bytes) => (Pending::None, Event::Alive(bytes)),
            Step::Call {
                call,
                pending,
                saying,
            } => {
                self.logging_in = matches!(call, Call::Login(_) | Call::Auth(_));
                if call == Call::Quit && saying.reason.is_some() {
                    self.link.lock().closing = saying.reason.clone();
                }
                if saying != Saying::default() {
                    self.say(saying);
                    self.saying = true;
                }
                self.link.lock().pending = pending;
                let call = self.current.insert(call);
                return Event::Command(call.command());
            }
        };
        self.link.lock().pending = pending;
        event
    }

    /// Puts what the client's current command says in the registry.
    fn say(&self, saying: Saying) {
        if let Some(me) = &self.me {
            self.irc
                .registry
                .update(me, self.link.id, |entry| entry.saying = saying);
        }
    }

    /// The connection is ending for `why` (shown in the `QUIT` others see
    /// and the client's `ERROR`), unless it already has a reason.
    pub fn leaving(&mut self, why: String) {
        let mut state = self.link.lock();
        if state.closing.is_none() {
            state.closing = Some(why.clone());
            drop(state);
            self.say(Saying {
                notice: false,
                reason: Some(why),
            });
        }
    }

    /// The connection is over: the nick is no longer an IRC user's.
    pub fn forget(&self) {
        if let Some(me) = &self.me {
            self.irc.registry.remove(me, self.link.id);
        }
    }
}

/// The session's login for `ready`: the line protocol's `AUTH` with a
/// password (an account's, from `PASS`), `LOGIN` without; the hub's answer
/// comes back through the codec either way (`OK`, or an `ERR` it words as
/// IRC and notes for [`Client::settle`]).
fn login(ready: &Ready, password: Option<&Secret>) -> (Call, Pending) {
    let nick = ready.nick.to_string();
    let call = match password {
        Some(password) => Call::Auth(Secret(format!("AUTH {nick} {}", password.0))),
        None => Call::Login(nick.clone()),
    };
    (call, Pending::Login(nick))
}
