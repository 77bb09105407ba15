//! The cryptography behind accounts: storing passwords so that a leaked store
//! does not give them away, and checking them at login.
//!
//! - [`sha256`](mod@sha256): SHA-256 (FIPS 180-4), one-shot or streaming.
//! - [`hmac`]: HMAC-SHA-256 (RFC 2104), a keyed hash.
//! - [`pbkdf2`]: PBKDF2-HMAC-SHA-256 (RFC 8018), which makes each password
//!   guess cost many thousands of hashes.
//! - [`password`]: the stored record, `pbkdf2-sha256$<iterations>$<salt>$<hash>`,
//!   [`hash_password`] to make one, [`verify_password`] to check a password
//!   against one, plus [`constant_time_eq`] and [`random_bytes`].
//!
//! Everything is written here, std only, and tested against published vectors
//! (FIPS 180-2 examples, RFC 4231, RFC 7914 §11).
//!
//! The rule for code that handles passwords, here and in its callers: a
//! password arrives as `&[u8]` (whatever bytes the client sent, not
//! necessarily UTF-8) and is never logged, formatted, or put in a panic or
//! error message. Nothing in this module implements `Debug` in a way that
//! shows a key or message, and nothing here panics on its input: a malformed
//! stored record is a [`BadRecord`], not a crash.

pub mod hmac;
pub mod password;
pub mod pbkdf2;
pub mod sha256;

pub use hmac::{hmac_sha256, HmacSha256};
pub use password::{
    check_record, constant_time_eq, hash_password, random_bytes, verify_password, BadRecord,
    MAX_ITERATIONS,
};
pub use pbkdf2::pbkdf2_hmac_sha256;
pub use sha256::{sha256, Sha256};
