//! A password as the client holds it: typed at the hidden prompt, read from
//! `--password-file`, or accepted by the server, kept in memory only (never
//! written anywhere, never on the command line).
//!
//! The rule kept: a [`Secret`] never shows what it holds. Its `Debug` prints
//! a placeholder and it has no `Display`, so no notice, error or test
//! failure message can carry one; [`Secret::expose`] is called only where the
//! protocol line that carries it is made.

use std::fmt;
use std::io::Read;
use std::path::Path;

use chat::protocol::{MAX_PASSWORD, MIN_PASSWORD};

/// At most this much of a password file is read: far more than any
/// password's line, and a bound however big the file (or `/dev/zero`).
const MAX_FILE_READ: u64 = 1024;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A password as typed: only a line end is cut off, spaces are part of it.
    pub fn typed(line: &str) -> Secret {
        let line = line.strip_suffix('\n').unwrap_or(line);
        Secret(line.strip_suffix('\r').unwrap_or(line).to_string())
    }

    /// The first line of `path`, without its line end.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let shown = path.display();
        let mut text = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_FILE_READ).read_to_end(&mut text))
            .map_err(|err| {
                let why = match err.raw_os_error() {
                    Some(_) => err.kind().to_string(),
                    None => err.to_string(),
                };
                format!("cannot read --password-file {shown}: {why}")
            })?;
        let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let first = String::from_utf8(first.to_vec())
            .map_err(|_| format!("--password-file {shown}: its first line is not UTF-8"))?;
        let secret = Secret::typed(&first);
        match secret.length_problem() {
            Some(problem) => Err(format!("--password-file {shown}: {problem}")),
            None => Ok(secret),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Why the server would never take this password (8 to 128 bytes of
    /// UTF-8), or `None`: such a password is refused here, without sending it.
    pub fn length_problem(&self) -> Option<String> {
        let len = self.0.len();
        (!(MIN_PASSWORD..=MAX_PASSWORD).contains(&len)).then(|| {
            format!("a password is {MIN_PASSWORD} to {MAX_PASSWORD} bytes, and that one is {len}")
        })
    }

    /// The password itself, for the one protocol line that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_keeps_spaces_and_debug_hides() {
        assert_eq!(Secret::typed(" two words \r\n").expose(), " two words ");
        assert_eq!(
            format!("{:?}", Secret::typed("hunter22")),
            "Secret(<hidden>)"
        );
        assert!(Secret::typed("").is_empty());
        assert!(Secret::typed("short").length_problem().is_some());
        assert!(Secret::typed("long enough").length_problem().is_none());
        assert!(Secret::typed(&"é".repeat(65)).length_problem().is_some());
    }

    #[test]
    fn the_first_line_of_a_file() {
        let dir = std::env::temp_dir().join(format!("chat-client-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "correct horse\r\nsecond line\n").unwrap();
        assert_eq!(Secret::from_file(&file).unwrap().expose(), "correct horse");
        std::fs::write(&file, "short\n").unwrap();
        let err = Secret::from_file(&file).unwrap_err();
        assert!(
            err.contains("8 to 128 bytes") && !err.contains("short"),
            "{err}"
        );
        std::fs::write(&file, "x".repeat(5000)).unwrap();
        assert!(Secret::from_file(&file)
            .unwrap_err()
            .contains("8 to 128 bytes"));
        let missing = Secret::from_file(&dir.join("nope")).unwrap_err();
        assert!(missing.contains("not found"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
