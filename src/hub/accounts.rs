//! The hub's side of accounts: who may take a registered name, registering
//! one, changing its password, and the takeover of a name by `AUTH`.
//!
//! Rules kept:
//! - **No KDF here.** Callers hash and verify passwords on their own thread
//!   before or after calling in; these methods only move password records.
//! - **No disk I/O under the state lock.** A change is written and fsynced
//!   (see [`AccountLog`](crate::store::AccountLog)) holding only the
//!   account lock, which nothing a chat message needs ever takes; the state
//!   lock is taken briefly before, to check, and after, to publish. Holding
//!   the account lock from check to publish makes changes reach memory in
//!   the order they reach the file.
//! - **A name being registered is reserved** from the check on, so no
//!   `LOGIN` can slip in between the write and the publish.
//! - **On a node of a cluster (`--redis`) accounts are the cluster's**:
//!   each method asks it, outside the lock, and the local ones stay empty.
//! - **A takeover is one critical section:** the old connection is closed
//!   with `BYE logged-in-elsewhere` and dropped (everybody else hears
//!   `INFO <name> disconnected`), then the new one is admitted (`INFO <name>
//!   connected`): no line can come between, and each notice goes out once.

use std::io;
use std::sync::Arc;

use super::{connected_notice, Hub, Me};
use crate::delivery::{Claims, Farewell, Outbox};
use crate::protocol::{ErrorCode, Username};
use crate::support::sync;

/// Which change [`Hub::set_password`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `REGISTER`: the name becomes registered.
    Register,
    /// `PASSWORD`: a registered name gets a new record.
    Password,
}

/// Why an account change did not happen.
#[derive(Debug)]
pub enum AccountError {
    /// Refused, with the code to answer.
    Refused(ErrorCode),
    /// The accounts file could not be written (answered `ERR storage-failed`).
    Storage(io::Error),
}

impl From<ErrorCode> for AccountError {
    fn from(code: ErrorCode) -> AccountError {
        AccountError::Refused(code)
    }
}

impl Hub {
    /// The password record of `name`, if it is registered: a copy, for the
    /// caller to verify a password against without any lock. On a node of
    /// a cluster, the cluster's (`ERR unavailable` without it).
    pub fn password_record(&self, name: &Username) -> Result<Option<String>, ErrorCode> {
        let state = self.lock();
        if let Some(cluster) = state.cluster() {
            drop(state);
            return cluster.password_record(name);
        }
        Ok(state
            .accounts
            .password_record(&name.folded())
            .map(str::to_owned))
    }

    /// Logs `name` in after `AUTH` checked its password against `record`: a
    /// connection that holds the name now is closed with `BYE
    /// logged-in-elsewhere` and dropped first. The new user gets `OK`. On
    /// one server this cannot fail; a cluster may refuse
    /// ([`Cluster::take_over`](super::Cluster::take_over)).
    pub fn take_over(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        record: &str,
        claims: &Claims,
    ) -> Result<(), ErrorCode> {
        let notice = connected_notice(name);
        let mut state = self.lock();
        if let Some(cluster) = state.cluster() {
            drop(state);
            return cluster.take_over(name, outbox, record);
        }
        if let Some(old) = state.users.get(name) {
            // The farewell first: its session, woken by the drop, then finds
            // its connection ending and handles nothing more.
            claims.close(&old.outbox, Farewell::TakenOver);
            state.drop_users(vec![name.clone()], claims);
        }
        state.admit(name, outbox, &notice, claims);
        Ok(())
    }

    /// Stores `password_record` (made by the caller) for the name this
    /// connection holds: written and fsynced before this returns `Ok`.
    /// [`Change::Register`] needs a name nobody registered
    /// (`ERR already-registered`), [`Change::Password`] a registered one
    /// (`ERR not-registered`).
    pub fn set_password(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        password_record: String,
        change: Change,
    ) -> Result<(), AccountError> {
        // Taken and let go of before the account lock (see the lock order).
        let cluster = self.lock().cluster();
        if let Some(cluster) = cluster {
            // In Redis, atomically; nothing is written here.
            let me = Me { name, outbox };
            return Ok(cluster.set_password(me, &password_record, change)?);
        }
        let mut log = sync::lock(&self.account_log);
        {
            let mut state = self.lock();
            if !state.holds(Me { name, outbox }) {
                return Err(ErrorCode::NotLoggedIn.into());
            }
            match (change, state.is_reserved(name)) {
                (Change::Register, true) => return Err(ErrorCode::AlreadyRegistered.into()),
                (Change::Password, false) => return Err(ErrorCode::NotRegistered.into()),
                (Change::Register, false) => {
                    state.registering.insert(name.clone());
                }
                // Only registered names here: a registration holds the
                // account lock throughout, so none is half done now.
                (Change::Password, true) => {}
            }
        }
        let key = name.folded();
        let written = log.append(&key, &password_record);
        let mut state = self.lock();
        state.registering.remove(name);
        written.map_err(AccountError::Storage)?;
        state.accounts.set(key, password_record);
        Ok(())
    }
}
