//! A password as a client sent it (`REGISTER`, `AUTH`, `PASSWORD`): where it
//! starts and ends on the line, and which lengths may be set.
//!
//! Rule kept: a [`Password`] never shows what it holds. Its `Debug` prints a
//! placeholder, it has no `Display`, and nothing here puts it in an error, so
//! a `{:?}` of a [`Command`](super::Command) (a test failure, a log line, a
//! panic) cannot leak one.

use std::fmt;

use super::ErrorCode;

/// The shortest password `REGISTER` and `PASSWORD` accept, in bytes of UTF-8.
pub const MIN_PASSWORD: usize = 8;

/// The longest password `REGISTER` and `PASSWORD` accept, in bytes of UTF-8.
pub const MAX_PASSWORD: usize = 128;

/// A password, borrowed from the client's line: every byte after the one
/// separating space, spaces and all, up to the end of the line without its
/// `\n` or `\r\n`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Password<'a>(&'a str);

impl<'a> Password<'a> {
    /// The password in `rest`, the rest of a line after its one separating
    /// space (or empty when there was none): only a line end is cut off.
    pub(super) fn from_rest(rest: &'a str) -> Password<'a> {
        let rest = rest.strip_suffix('\n').unwrap_or(rest);
        Password(rest.strip_suffix('\r').unwrap_or(rest))
    }

    /// The bytes to hash or check.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }

    /// Whether this password may be set: [`MIN_PASSWORD`] to
    /// [`MAX_PASSWORD`] bytes; otherwise `ERR weak-password`.
    pub fn check_length(&self) -> Result<(), ErrorCode> {
        if (MIN_PASSWORD..=MAX_PASSWORD).contains(&self.0.len()) {
            Ok(())
        } else {
            Err(ErrorCode::WeakPassword)
        }
    }
}

impl fmt::Debug for Password<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// Splits `line` (leading whitespace already trimmed) after its first word
/// and exactly one whitespace character: `(word, rest)`, the rest untouched.
pub(super) fn split_once_exact(line: &str) -> (&str, &str) {
    match line.char_indices().find(|(_, c)| c.is_whitespace()) {
        Some((i, c)) => (&line[..i], &line[i + c.len_utf8()..]),
        None => (line, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", Password::from_rest("hunter22 secret"));
        assert_eq!(shown, "Password(<hidden>)");
        assert!(!shown.contains("hunter"));
    }

    #[test]
    fn only_the_line_end_is_cut() {
        assert_eq!(Password::from_rest(" a b \r").as_bytes(), b" a b ");
        assert_eq!(Password::from_rest("x\r\n").as_bytes(), b"x");
        assert_eq!(Password::from_rest("x\t").as_bytes(), b"x\t");
        assert_eq!(Password::from_rest("").as_bytes(), b"");
    }

    #[test]
    fn lengths_are_bytes_of_utf8() {
        let ok = |s: &str| Password::from_rest(s).check_length();
        assert_eq!(ok("1234567"), Err(ErrorCode::WeakPassword));
        assert_eq!(ok("12345678"), Ok(()));
        // Four characters, eight bytes.
        assert_eq!(ok("éééé"), Ok(()));
        assert_eq!(ok("ééé"), Err(ErrorCode::WeakPassword));
        assert_eq!(ok(&"x".repeat(128)), Ok(()));
        assert_eq!(ok(&"x".repeat(129)), Err(ErrorCode::WeakPassword));
    }

    #[test]
    fn split_keeps_everything_after_one_separator() {
        assert_eq!(split_once_exact("AUTH  a b "), ("AUTH", " a b "));
        assert_eq!(split_once_exact("AUTH"), ("AUTH", ""));
        assert_eq!(split_once_exact("AUTH "), ("AUTH", ""));
        assert_eq!(split_once_exact("é\u{3000}x"), ("é", "x"));
    }
}
