//! Password records: what the accounts store instead of a password.
//!
//! A record is one line of ASCII,
//! `pbkdf2-sha256$<iterations>$<salt>$<hash>`, where salt and hash are in
//! standard base64 with padding and the hash is the 32-byte PBKDF2-HMAC-SHA-256
//! of the password (see [`super::pbkdf2`]). [`hash_password`] makes one with a
//! fresh random salt; [`verify_password`] checks a password against one.
//!
//! Records are parsed as untrusted input: any string gives a [`BadRecord`] or
//! an answer, never a panic, and a record can't ask for more than
//! [`MAX_ITERATIONS`] rounds or a hash of other than 32 bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};

use super::pbkdf2::pbkdf2_hmac_sha256;
use super::sha256::DIGEST_LEN;
use crate::support::base64;

/// The first field of every record.
pub const SCHEME: &str = "pbkdf2-sha256";

/// The most iterations a record may ask for: at about 1.8 million rounds per
/// second (see [`pbkdf2_hmac_sha256`]), some 5.5 seconds of one core.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Bytes of random salt in each new record.
pub const SALT_LEN: usize = 16;

/// Bytes of hash in every record: one SHA-256 output, the most PBKDF2 gives
/// for the cost of one block (a longer hash would cost the server, not an
/// attacker).
pub const HASH_LEN: usize = DIGEST_LEN;

/// Why a stored string is not a password record. It says which field is wrong,
/// never what the field held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRecord {
    /// Not four fields separated by `$`.
    FieldCount,
    /// The first field is not [`SCHEME`].
    Scheme,
    /// The iteration count is not a decimal number from 1 to [`MAX_ITERATIONS`].
    Iterations,
    /// The salt is not canonical base64 of at least one byte.
    Salt,
    /// The hash is not canonical base64 of exactly [`HASH_LEN`] bytes.
    Hash,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = match self {
            BadRecord::FieldCount => "is not four fields separated by '$'",
            BadRecord::Scheme => "does not start with \"pbkdf2-sha256\"",
            BadRecord::Iterations => "has an iteration count that is not from 1 to 10,000,000",
            BadRecord::Salt => "has a salt that is not base64 of at least one byte",
            BadRecord::Hash => "has a hash that is not base64 of 32 bytes",
        };
        write!(f, "password record {problem}")
    }
}

impl std::error::Error for BadRecord {}

/// A new record for `password`: `iterations` rounds of PBKDF2 over a
/// [`SALT_LEN`]-byte salt from `/dev/urandom`.
///
/// Fails if `iterations` is 0 or over [`MAX_ITERATIONS`] (kind
/// `InvalidInput`: [`verify_password`] would refuse the record), or if the
/// random bytes can't be read.
pub fn hash_password(password: &[u8], iterations: u32) -> io::Result<String> {
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "iteration count not from 1 to 10,000,000",
        ));
    }
    let salt = random_bytes(SALT_LEN)?;
    Ok(record(password, iterations, &salt))
}

/// The record for `password` with this salt and iteration count.
fn record(password: &[u8], iterations: u32, salt: &[u8]) -> String {
    let mut hash = [0u8; HASH_LEN];
    pbkdf2_hmac_sha256(password, salt, iterations, &mut hash);
    format!(
        "{SCHEME}${iterations}${}${}",
        base64::encode(salt),
        base64::encode(&hash)
    )
}

/// Whether `password` is the one `stored` was made from; an error if `stored`
/// is not a well-formed record.
///
/// The hashes are compared in constant time. Costs as many PBKDF2 rounds as
/// the record names, at most [`MAX_ITERATIONS`].
pub fn verify_password(password: &[u8], stored: &str) -> Result<bool, BadRecord> {
    let record = parse(stored)?;
    let mut hash = [0u8; HASH_LEN];
    pbkdf2_hmac_sha256(password, &record.salt, record.iterations, &mut hash);
    Ok(constant_time_eq(&hash, &record.hash))
}

/// Whether `stored` is a well-formed record, without running the KDF (for
/// checking records as they are loaded).
pub fn check_record(stored: &str) -> Result<(), BadRecord> {
    parse(stored).map(|_| ())
}

/// A parsed record.
struct Record {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(stored: &str) -> Result<Record, BadRecord> {
    let mut fields = stored.split('$');
    let (Some(scheme), Some(iterations), Some(salt), Some(hash), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(BadRecord::FieldCount);
    };
    if scheme != SCHEME {
        return Err(BadRecord::Scheme);
    }
    // Digits only: `str::parse` would also take a leading `+`.
    if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadRecord::Iterations);
    }
    let iterations = match iterations.parse::<u32>() {
        Ok(n) if (1..=MAX_ITERATIONS).contains(&n) => n,
        _ => return Err(BadRecord::Iterations),
    };
    let salt = match base64::decode(salt) {
        Some(salt) if !salt.is_empty() => salt,
        _ => return Err(BadRecord::Salt),
    };
    let hash = match base64::decode(hash) {
        Some(hash) if hash.len() == HASH_LEN => hash,
        _ => return Err(BadRecord::Hash),
    };
    Ok(Record {
        iterations,
        salt,
        hash,
    })
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only,
/// not on where they first differ: every byte is looked at, with no early exit.
///
/// Lengths are not secret here (a record's hash is always [`HASH_LEN`] bytes),
/// so unequal lengths return `false` at once. `black_box` keeps the optimiser
/// from turning the loop back into one that stops at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    difference == 0
}

/// `n` bytes from the kernel's random number generator, `/dev/urandom`.
pub fn random_bytes(n: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "password", salt "salt", 4096 rounds: the published PBKDF2-HMAC-SHA-256
    /// vector `c5e478d5...`, in record form.
    const PUBLISHED: &str =
        "pbkdf2-sha256$4096$c2FsdA==$xeR41ZKIyEGqUw22hFxMjZYok6ABzk4RpJY4c6qYE0o=";

    #[test]
    fn verifies_the_published_vector() {
        assert_eq!(record(b"password", 4096, b"salt"), PUBLISHED);
        assert_eq!(verify_password(b"password", PUBLISHED), Ok(true));
        assert_eq!(verify_password(b"Password", PUBLISHED), Ok(false));
        assert_eq!(verify_password(b"", PUBLISHED), Ok(false));
    }

    #[test]
    fn hash_then_verify() {
        let stored = hash_password(b"correct horse battery staple", 1000).unwrap();
        let fields: Vec<&str> = stored.split('$').collect();
        assert_eq!(fields.len(), 4, "{stored}");
        assert_eq!(fields[0], SCHEME);
        assert_eq!(fields[1], "1000");
        assert_eq!(base64::decode(fields[2]).unwrap().len(), SALT_LEN);
        assert_eq!(base64::decode(fields[3]).unwrap().len(), HASH_LEN);
        assert_eq!(
            verify_password(b"correct horse battery staple", &stored),
            Ok(true)
        );
        assert_eq!(
            verify_password(b"correct horse battery stapl", &stored),
            Ok(false)
        );
        // Passwords are bytes, not necessarily UTF-8.
        let stored = hash_password(&[0xff, 0x00, 0xfe], 1).unwrap();
        assert_eq!(verify_password(&[0xff, 0x00, 0xfe], &stored), Ok(true));
        assert_eq!(verify_password(&[0xff, 0x00], &stored), Ok(false));
    }

    #[test]
    fn each_record_gets_its_own_salt() {
        let a = hash_password(b"same", 1).unwrap();
        let b = hash_password(b"same", 1).unwrap();
        assert_ne!(a, b);
        assert_eq!(verify_password(b"same", &a), Ok(true));
        assert_eq!(verify_password(b"same", &b), Ok(true));
    }

    #[test]
    fn refuses_to_make_records_it_would_not_accept() {
        for iterations in [0, MAX_ITERATIONS + 1, u32::MAX] {
            let error = hash_password(b"pw", iterations).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{iterations}");
        }
    }

    #[test]
    fn random_bytes_are_random_enough() {
        assert!(random_bytes(0).unwrap().is_empty());
        let a = random_bytes(32).unwrap();
        let b = random_bytes(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn bad_records() {
        let hash = "xeR41ZKIyEGqUw22hFxMjZYok6ABzk4RpJY4c6qYE0o=";
        let with = |iterations: &str, salt: &str, hash: &str| {
            format!("pbkdf2-sha256${iterations}${salt}${hash}")
        };
        let cases = [
            (String::new(), BadRecord::FieldCount),
            ("$".to_string(), BadRecord::FieldCount),
            ("$$$$".to_string(), BadRecord::FieldCount),
            (
                "pbkdf2-sha256$4096$c2FsdA==".to_string(),
                BadRecord::FieldCount,
            ),
            (format!("{PUBLISHED}$"), BadRecord::FieldCount),
            (format!("{PUBLISHED}$extra"), BadRecord::FieldCount),
            (PUBLISHED.replace('$', "$$"), BadRecord::FieldCount),
            ("$$$".to_string(), BadRecord::Scheme),
            (PUBLISHED.replace("sha256", "sha1"), BadRecord::Scheme),
            (PUBLISHED.replace("pbkdf2", "PBKDF2"), BadRecord::Scheme),
            (format!(" {PUBLISHED}"), BadRecord::Scheme),
            (with("", "c2FsdA==", hash), BadRecord::Iterations),
            (with("0", "c2FsdA==", hash), BadRecord::Iterations),
            (with("000", "c2FsdA==", hash), BadRecord::Iterations),
            (with("+1", "c2FsdA==", hash), BadRecord::Iterations),
            (with("-1", "c2FsdA==", hash), BadRecord::Iterations),
            (with(" 1", "c2FsdA==", hash), BadRecord::Iterations),
            (with("1 ", "c2FsdA==", hash), BadRecord::Iterations),
            (with("1.0", "c2FsdA==", hash), BadRecord::Iterations),
            (with("1e3", "c2FsdA==", hash), BadRecord::Iterations),
            (with("0x10", "c2FsdA==", hash), BadRecord::Iterations),
            (with("١", "c2FsdA==", hash), BadRecord::Iterations),
            (with("10000001", "c2FsdA==", hash), BadRecord::Iterations),
            (with("4294967295", "c2FsdA==", hash), BadRecord::Iterations),
            (with("4294967296", "c2FsdA==", hash), BadRecord::Iterations),
            (
                with(&"9".repeat(1000), "c2FsdA==", hash),
                BadRecord::Iterations,
            ),
            (with("1", "", hash), BadRecord::Salt),
            (with("1", "c2FsdA", hash), BadRecord::Salt),
            (with("1", "c2FsdA=", hash), BadRecord::Salt),
            (with("1", "c2FsdB==", hash), BadRecord::Salt),
            (with("1", "c2Fs dA==", hash), BadRecord::Salt),
            (with("1", "c2FsdA==\n", hash), BadRecord::Salt),
            (with("1", "c2F-dA==", hash), BadRecord::Salt),
            (with("1", "c2FsdA==", ""), BadRecord::Hash),
            (with("1", "c2FsdA==", "AAAA"), BadRecord::Hash),
            (with("1", "c2FsdA==", &hash[..40]), BadRecord::Hash),
            (
                with("1", "c2FsdA==", &format!("{hash}AAAA")),
                BadRecord::Hash,
            ),
            (
                with("1", "c2FsdA==", &hash.replace('=', "")),
                BadRecord::Hash,
            ),
            (
                with("1", "c2FsdA==", &hash.replace('o', "é")),
                BadRecord::Hash,
            ),
        ];
        for (stored, expected) in cases {
            assert_eq!(
                verify_password(b"password", &stored),
                Err(expected),
                "{stored:?}"
            );
        }
    }

    #[test]
    fn check_record_agrees_with_verify() {
        assert_eq!(check_record(PUBLISHED), Ok(()));
        assert_eq!(
            check_record("pbkdf2-sha256$0$c2FsdA==$"),
            Err(BadRecord::Iterations)
        );
        assert_eq!(check_record(""), Err(BadRecord::FieldCount));
    }

    #[test]
    fn iterations_up_to_the_limit_parse() {
        let salt_and_hash = "c2FsdA==$xeR41ZKIyEGqUw22hFxMjZYok6ABzk4RpJY4c6qYE0o=";
        for (field, iterations) in [("1", 1), ("007", 7), ("10000000", MAX_ITERATIONS)] {
            let stored = format!("{SCHEME}${field}${salt_and_hash}");
            assert_eq!(parse(&stored).map(|r| r.iterations), Ok(iterations));
        }
    }

    #[test]
    fn no_damaged_record_verifies_or_panics() {
        // A record of one round, so each check is cheap: every truncation and
        // every one-character replacement must be refused, as an error or a
        // mismatch, and none may panic.
        let stored = record(b"pw", 1, b"0123456789abcdef");
        assert_eq!(verify_password(b"pw", &stored), Ok(true));
        for end in 0..stored.len() {
            assert_ne!(verify_password(b"pw", &stored[..end]), Ok(true), "{end}");
        }
        for at in 0..stored.len() {
            for c in ['$', '=', 'A', 'z', '0', '9', '+', '/', '-', ' ', '\0', 'é'] {
                let mut damaged = String::from(&stored[..at]);
                damaged.push(c);
                damaged.push_str(&stored[at + 1..]);
                if damaged != stored {
                    assert_ne!(verify_password(b"pw", &damaged), Ok(true), "{damaged:?}");
                }
            }
        }
    }

    #[test]
    fn bad_record_messages_hold_nothing_of_the_record() {
        let error = verify_password(b"hunter2", "pbkdf2-sha256$1$hunter2$hunter2").unwrap_err();
        assert_eq!(error, BadRecord::Salt);
        assert!(!format!("{error} {error:?}").contains("hunter2"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"bbc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
