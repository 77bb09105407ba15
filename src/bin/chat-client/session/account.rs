//! Accounts on the client's side: when `LOGIN` gets `ERR name-reserved`, the
//! name's password (the one we have, or one asked for without echo) goes in
//! an `AUTH`; `/register` and `/password` ask for a new one twice.
//!
//! The rules kept: a password is kept in memory only, and only one the server
//! took (it is what every reconnect authenticates with); a script is never
//! asked for one (it gives `--password-file`, or exits 3 saying so); a
//! password the server could never take (not 8 to 128 bytes) is refused here
//! without being sent, so it costs no attempt of the server's throttle; and
//! no line shown, sent elsewhere or kept in the input history holds one.

use chat::protocol::{sanitize, ErrorCode};

use super::{Action, Awaited, Change, Ended, Outcome, Phase, Session};
use crate::display::describe_error;
use crate::secret::Secret;

/// Wrong passwords at one login before the name is asked for again.
const MAX_WRONG: u8 = 3;

/// Where the password of an `AUTH` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Typed at the hidden prompt.
    Typed,
    /// `--password-file`.
    File,
    /// Taken by the server before, on an earlier connection.
    Kept,
}

/// `/register` or `/password` at the terminal, with the first of the two
/// typings once it came.
#[derive(Debug)]
pub struct NewPassword {
    change: Change,
    first: Option<Secret>,
}

impl Session {
    /// Whether what is typed now is a password: shown as nothing, and kept
    /// out of the input history.
    pub fn hides_input(&self) -> bool {
        match self.phase {
            Phase::AskingPassword => true,
            Phase::Chatting => self.new_password.is_some(),
            _ => false,
        }
    }

    /// The prompt while a password is typed.
    pub(super) fn password_prompt(&self) -> Option<String> {
        if self.phase == Phase::AskingPassword {
            return Some(format!("password for {}: ", self.shown_name()));
        }
        match &self.new_password {
            Some(NewPassword { first: None, .. }) => Some("new password: ".into()),
            Some(NewPassword { first: Some(_), .. }) => Some("new password again: ".into()),
            None => None,
        }
    }

    fn shown_name(&self) -> String {
        sanitize(self.name.as_deref().unwrap_or("")).into_owned()
    }

    /// `LOGIN` got `ERR name-reserved`: `AUTH` with the password we have,
    /// or ask for it.
    pub(super) fn name_reserved(&mut self) {
        let known = match (&self.account, &self.config.password) {
            (Some(kept), _) => Some((kept.clone(), Source::Kept)),
            (None, Some(file)) => Some((file.clone(), Source::File)),
            (None, None) => None,
        };
        match known {
            Some((password, source)) => self.authenticate(password, source),
            None => {
                let name = self.shown_name();
                self.ask_password(
                    &format!("{name} is registered: type its password"),
                    "the name is registered; give its password with --password-file FILE",
                );
            }
        }
    }

    /// At a terminal, asks for the password (`notice` says why); a script
    /// cannot be asked, and ends saying `refused`.
    fn ask_password(&mut self, notice: &str, refused: &str) {
        if !self.config.interactive {
            let name = self.shown_name();
            let refused = Outcome::NameRefused(format!("cannot log in as {name}: {refused}"));
            self.actions.push(Action::Exit(refused));
            return;
        }
        self.phase = Phase::AskingPassword;
        self.notice(&format!(
            "{notice} (it is not shown; an empty line picks another name)"
        ));
    }

    /// A line typed at the password prompt.
    pub(super) fn password_typed(&mut self, line: &str) {
        let password = Secret::typed(line);
        if password.is_empty() {
            self.ask_another_name();
        } else if let Some(problem) = password.length_problem() {
            self.notice(&format!("{problem}: not sent; type it again"));
        } else {
            self.authenticate(password, Source::Typed);
        }
    }

    fn ask_another_name(&mut self) {
        self.name = None;
        self.wrong = 0;
        self.phase = Phase::AskingName;
        self.actions.push(Action::AskName);
    }

    fn authenticate(&mut self, password: Secret, source: Source) {
        let name = self.name.clone().unwrap_or_default();
        self.phase = Phase::Authenticating(self.now);
        self.send(&format!("AUTH {name} {}", password.expose()));
        self.trying = Some((password, source));
    }

    /// `OK` to our `AUTH`: the password is kept for reconnecting.
    pub(super) fn authenticated(&mut self) {
        if let Some((password, _)) = self.trying.take() {
            self.account = Some(password);
        }
        self.wrong = 0;
        self.logged_in();
    }

    /// An `ERR` to our `AUTH`.
    pub(super) fn auth_refused(&mut self, code: ErrorCode) {
        let source = self.trying.take().map(|(_, source)| source);
        let name = self.shown_name();
        match code {
            ErrorCode::WrongPassword => {
                if source == Some(Source::Kept) {
                    // Changed elsewhere since: ours is no good any more.
                    self.account = None;
                }
                self.wrong += 1;
                if self.config.interactive && self.wrong >= MAX_WRONG {
                    self.notice(&format!("{MAX_WRONG} wrong passwords for {name}"));
                    self.ask_another_name();
                    return;
                }
                let whose = match source {
                    Some(Source::File) => " (from --password-file)",
                    Some(Source::Kept) => " (was it changed elsewhere?)",
                    _ => "",
                };
                self.ask_password(
                    &format!("wrong password{whose}; type the password for {name} again"),
                    &format!("wrong password{whose}"),
                );
            }
            ErrorCode::RateLimited if self.logged_in_before && source == Some(Source::Kept) => {
                // The right password, refused while someone guesses: the
                // reconnect's back-off tries it again later.
                self.ended(Ended::PasswordThrottled);
            }
            ErrorCode::RateLimited => self.ask_password(
                &format!(
                    "too many wrong passwords for {name} lately: wait a minute, then type it again"
                ),
                "too many wrong passwords for this name lately; wait a minute and try again",
            ),
            code => self.name_refused(code),
        }
    }

    /// `/register` or `/password`: asked for twice at a terminal; a script
    /// registers the password of its `--password-file`.
    pub(super) fn ask_new_password(&mut self, change: Change) -> bool {
        let name = self.shown_name();
        match (change, &self.account) {
            (Change::Register, Some(_)) => {
                self.notice(&format!(
                    "{name} is registered already; /password changes its password"
                ));
                return true;
            }
            (Change::Password, None) => {
                self.notice(&format!(
                    "{name} is not registered (or not by this login): /register makes it yours"
                ));
                return true;
            }
            _ => {}
        }
        if self.config.interactive {
            self.new_password = Some(NewPassword {
                change,
                first: None,
            });
            self.notice("type the new password, twice (it is not shown; an empty line cancels)");
            return true;
        }
        match (change, self.config.password.clone()) {
            (Change::Register, Some(password)) => self.send_new_password(change, password),
            (Change::Register, None) => {
                self.notice("in a script, /register registers the password of --password-file");
                true
            }
            (Change::Password, _) => {
                self.notice("/password needs a terminal: it asks for the new password unshown");
                true
            }
        }
    }

    /// A line typed while `/register` or `/password` asks.
    pub(super) fn new_password_typed(&mut self, line: &str) {
        let Some(NewPassword { change, first }) = self.new_password.take() else {
            return;
        };
        let password = Secret::typed(line);
        let again = NewPassword {
            change,
            first: None,
        };
        if password.is_empty() {
            self.notice("cancelled: nothing was changed");
        } else if let Some(problem) = password.length_problem() {
            self.notice(&format!("{problem}; type another"));
            self.new_password = Some(again);
        } else {
            match first {
                None => {
                    self.new_password = Some(NewPassword {
                        change,
                        first: Some(password),
                    });
                }
                Some(first) if first == password => {
                    self.send_new_password(change, password);
                }
                Some(_) => {
                    self.notice("the two differ; type the new password again");
                    self.new_password = Some(again);
                }
            }
        }
    }

    fn send_new_password(&mut self, change: Change, password: Secret) -> bool {
        let word = match change {
            Change::Register => "REGISTER",
            Change::Password => "PASSWORD",
        };
        let line = format!("{word} {}", password.expose());
        let awaited = Awaited::Password {
            change,
            password,
            taken: false,
            refused: None,
        };
        self.send_awaited(Some(&line), awaited)
    }

    /// The answer to our `REGISTER` or `PASSWORD` is complete.
    pub(super) fn password_answered(
        &mut self,
        change: Change,
        password: Secret,
        taken: bool,
        refused: Option<ErrorCode>,
    ) {
        let name = self.shown_name();
        match (taken, change) {
            (true, Change::Register) => {
                self.account = Some(password);
                self.notice(&format!(
                    "{name} is yours now: logging in as {name} takes this password"
                ));
            }
            (true, Change::Password) => {
                self.account = Some(password);
                self.notice("password changed");
            }
            (false, _) => {
                let why = match refused {
                    Some(ErrorCode::RateLimited) => {
                        "too many passwords were set from your address lately; try again in an hour"
                    }
                    Some(code) => describe_error(code),
                    None => "the server did not say why",
                };
                let what = match change {
                    Change::Register => "not registered",
                    Change::Password => "the password was not changed",
                };
                self.notice(&format!("{what}: {why}"));
            }
        }
    }
}
