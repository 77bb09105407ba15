//! User and room names: what a valid name is, and why `Alice` and `alice` (or
//! `#Rust` and `#rust`) are one.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::ErrorCode;

/// The longest name a user may take, in characters (all of them ASCII). A
/// room name has this many after its `#`.
pub const MAX_NAME_LEN: usize = 32;

/// The room every logged-in user is in, always.
pub const LOBBY: &str = "#lobby";

/// Whether `name` is 1–32 characters of `A-Z a-z 0-9 _ . -`.
fn is_valid_name(name: &str) -> bool {
    let valid_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(valid_char)
}

/// An ASCII name that keeps its spelling (shown to everybody) but compares and
/// hashes case-insensitively.
#[derive(Clone, Debug)]
struct Folded(String);

impl PartialEq for Folded {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Folded {}

impl Hash for Folded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

/// A validated user name: 1–32 characters of `A-Z a-z 0-9 _ . -`.
///
/// It keeps the spelling the user registered with (shown to everybody), but
/// compares and hashes case-insensitively, so `Alice` and `alice` are the same
/// key in the hub and a DM to `ALICE` finds her.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(Folded);

impl Username {
    /// Validates `name`, or says why it is not a name.
    pub fn parse(name: &str) -> Result<Username, ErrorCode> {
        if !is_valid_name(name) {
            return Err(ErrorCode::InvalidUsername);
        }
        Ok(Username(Folded(name.to_string())))
    }

    /// The name as the user spelled it at login.
    pub fn as_str(&self) -> &str {
        &self.0 .0
    }

    /// The case-folded form, used to sort lists of names the way people read them.
    pub fn folded(&self) -> String {
        self.0 .0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated room name: `#` then 1–32 characters of `A-Z a-z 0-9 _ . -`,
/// compared case-insensitively (`#Rust` is `#rust`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoomName(Folded);

impl RoomName {
    /// Validates `name`, or refuses it with `ERR invalid-room`.
    pub fn parse(name: &str) -> Result<RoomName, ErrorCode> {
        match name.strip_prefix('#') {
            Some(rest) if is_valid_name(rest) => Ok(RoomName(Folded(name.to_string()))),
            _ => Err(ErrorCode::InvalidRoom),
        }
    }

    /// The lobby, `#lobby`.
    pub fn lobby() -> RoomName {
        RoomName(Folded(LOBBY.to_string()))
    }

    /// Whether this is the lobby (in any spelling).
    pub fn is_lobby(&self) -> bool {
        self.0 .0.eq_ignore_ascii_case(LOBBY)
    }

    /// The name as spelled, `#` included.
    pub fn as_str(&self) -> &str {
        &self.0 .0
    }

    /// The case-folded form: the key rooms are stored and sorted under.
    pub fn folded(&self) -> String {
        self.0 .0.to_ascii_lowercase()
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
