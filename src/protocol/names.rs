//! User names: what a valid name is, and why `Alice` and `alice` are one user.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::ErrorCode;

/// The longest name a user may take, in characters (all of them ASCII).
pub const MAX_NAME_LEN: usize = 32;

/// A validated user name: 1–32 characters of `A-Z a-z 0-9 _ . -`.
///
/// It keeps the spelling the user registered with (shown to everybody), but
/// compares and hashes case-insensitively, so `Alice` and `alice` are the same
/// key in the registry and a DM to `ALICE` finds her.
#[derive(Clone, Debug)]
pub struct Username(String);

impl Username {
    /// Validates `name`, or says why it is not a name.
    pub fn parse(name: &str) -> Result<Username, ErrorCode> {
        let valid_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(valid_char) {
            return Err(ErrorCode::InvalidUsername);
        }
        Ok(Username(name.to_string()))
    }

    /// The name as the user spelled it at login.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form, used to sort lists of names the way people read them.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for Username {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Username {}

impl Hash for Username {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
