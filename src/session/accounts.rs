//! The session's side of accounts: `AUTH`, `REGISTER` and `PASSWORD`.
//!
//! Rules kept:
//! - **The KDF runs here, on the session's own thread, holding no lock**, and
//!   only after the throttle ([`super::throttle`]) gave the attempt a place:
//!   a burst of guesses costs the server at most what the limits allow. On
//!   a node of a cluster the records come from Redis but the throttle is
//!   the node's own: the limits hold per node.
//! - **A password is never logged, echoed or formatted.** Log lines name the
//!   validated user and the outcome, nothing else.
//! - A session "holds a registered name" once it came in through `AUTH` or
//!   its `REGISTER` succeeded; only such a session may use `PASSWORD`.

use std::time::Instant;

use super::Session;
use crate::hub::{AccountError, Change};
use crate::protocol::{ErrorCode, Password, ServerLine, Username};
use crate::support::crypto;

impl Session<'_> {
    /// `AUTH <name> <password>`: logs in as a registered name, taking it over
    /// from whichever connection holds it.
    pub(super) fn auth(
        &mut self,
        requested: &str,
        password: Password<'_>,
    ) -> Result<(), ErrorCode> {
        if self.name.is_some() {
            return Err(ErrorCode::AlreadyLoggedIn);
        }
        let name = Username::parse(requested)?;
        let hub = &self.context.hub;
        let record = hub
            .password_record(&name)?
            .ok_or(ErrorCode::NotRegistered)?;
        let attempt = self
            .context
            .throttle
            .begin_attempt(&name.folded(), self.peer.ip(), Instant::now())
            .inspect_err(|_| self.log(format_args!("auth {name}: rate-limited")))?;
        // No password outside the lengths REGISTER accepts was ever stored.
        let right = password.check_length().is_ok()
            && crypto::verify_password(password.as_bytes(), &record) == Ok(true);
        if !right {
            self.log(format_args!("auth {name}: wrong password"));
            return Err(ErrorCode::WrongPassword);
        }
        self.context.throttle.passed(attempt);
        hub.take_over(&name, &self.outbox, &record, &self.claims)?;
        // As for LOGIN: deliver the notices before the log line.
        self.claims.flush();
        self.log(format_args!("login {name} (password)"));
        self.name = Some(name);
        self.holds_registered = true;
        Ok(())
    }

    /// `REGISTER <password>` (reserves the name this session holds) or
    /// `PASSWORD <new>` (changes the password of the registered name held).
    pub(super) fn set_password(
        &mut self,
        password: Password<'_>,
        change: Change,
    ) -> Result<(), ErrorCode> {
        let name = self.user()?.clone();
        match (change, self.holds_registered) {
            (Change::Register, true) => return Err(ErrorCode::AlreadyRegistered),
            (Change::Password, false) => return Err(ErrorCode::NotRegistered),
            _ => {}
        }
        let record = self.new_record(password)?;
        self.context
            .hub
            .set_password(&name, &self.outbox, record, change)
            .map_err(|err| self.account_error(err))?;
        self.holds_registered = true;
        self.reply(ServerLine::Ok);
        match change {
            Change::Register => self.log(format_args!("registered {name}")),
            Change::Password => self.log(format_args!("password changed for {name}")),
        }
        Ok(())
    }

    /// A password record for `password`, once its length and the write
    /// throttle allow: the KDF runs here.
    fn new_record(&self, password: Password<'_>) -> Result<String, ErrorCode> {
        password.check_length()?;
        self.context
            .throttle
            .begin_write(self.peer.ip(), Instant::now())
            .inspect_err(|_| self.log(format_args!("password write: rate-limited")))?;
        crypto::hash_password(password.as_bytes(), self.context.limits.pbkdf2_iterations).map_err(
            |err| {
                let log = &self.context.log;
                log.event(None, format_args!("accounts: cannot make a salt: {err}"));
                ErrorCode::StorageFailed
            },
        )
    }

    /// The answer to a failed account change; a failing disk is logged.
    fn account_error(&self, err: AccountError) -> ErrorCode {
        match err {
            AccountError::Refused(code) => code,
            AccountError::Storage(err) => {
                self.context.log.event(
                    None,
                    format_args!(
                        "accounts: cannot write the accounts file ({err}); the change is \
                         refused with ERR storage-failed"
                    ),
                );
                ErrorCode::StorageFailed
            }
        }
    }

    /// Logs one event of this connection.
    fn log(&self, what: std::fmt::Arguments<'_>) {
        self.context.log.event(Some(self.peer), what);
    }
}
