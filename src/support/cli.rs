//! A tiny command-line flag parser shared by the three binaries.
//!
//! We take no crates, and the binaries only need long flags with values
//! (`--port 4000` or `--port=4000`) and a few switches (`--help`, `--raw`), so
//! this is a cursor over the arguments rather than a declarative framework:
//! each binary matches on [`Args::next_flag`] and pulls typed values with
//! [`Args::value`]. Errors are sentences meant for the person at the terminal.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

/// A command-line mistake, explained in words. Binaries print it with their usage
/// and exit with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// The error for a flag the binary does not know.
    pub fn unknown(flag: &str) -> Self {
        CliError(format!("unknown option '{flag}'"))
    }
}

/// A cursor over command-line arguments (without the program name).
#[derive(Debug)]
pub struct Args {
    rest: VecDeque<String>,
    /// The value given inline as `--flag=value`, waiting for [`Args::value`].
    inline_value: Option<String>,
}

impl Args {
    /// Wraps the arguments, e.g. `Args::new(std::env::args().skip(1))`.
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        Args {
            rest: args.into_iter().collect(),
            inline_value: None,
        }
    }

    /// The next flag name (e.g. `--port`), or `None` at the end. A positional
    /// argument is an error, and so is a `--flag=value` whose value was not taken.
    pub fn next_flag(&mut self) -> Result<Option<String>, CliError> {
        if let Some(value) = self.inline_value.take() {
            return Err(CliError(format!("unexpected value '{value}'")));
        }
        let Some(arg) = self.rest.pop_front() else {
            return Ok(None);
        };
        if !arg.starts_with('-') || arg == "-" {
            return Err(CliError(format!("unexpected argument '{arg}'")));
        }
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                self.inline_value = Some(value.to_string());
                Ok(Some(flag.to_string()))
            }
            _ => Ok(Some(arg)),
        }
    }

    /// The value of `flag`, parsed as `T`: the inline `=value` or the next argument.
    pub fn value<T: FromStr>(&mut self, flag: &str) -> Result<T, CliError> {
        let raw = match self.inline_value.take() {
            Some(value) => value,
            None => self
                .rest
                .pop_front()
                .ok_or_else(|| CliError(format!("option '{flag}' needs a value")))?,
        };
        raw.parse()
            .map_err(|_| CliError(format!("invalid value '{raw}' for option '{flag}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_with_separate_and_inline_values() {
        let mut a = args(&["--port", "4000", "--bind=::1", "--raw"]);
        assert_eq!(a.next_flag().unwrap().as_deref(), Some("--port"));
        assert_eq!(a.value::<u16>("--port").unwrap(), 4000);
        assert_eq!(a.next_flag().unwrap().as_deref(), Some("--bind"));
        assert_eq!(a.value::<String>("--bind").unwrap(), "::1");
        assert_eq!(a.next_flag().unwrap().as_deref(), Some("--raw"));
        assert_eq!(a.next_flag().unwrap(), None);
    }

    #[test]
    fn errors_are_sentences() {
        let mut a = args(&["--port"]);
        a.next_flag().unwrap();
        assert_eq!(
            a.value::<u16>("--port").unwrap_err().0,
            "option '--port' needs a value"
        );
        let mut a = args(&["--port", "http"]);
        a.next_flag().unwrap();
        assert_eq!(
            a.value::<u16>("--port").unwrap_err().0,
            "invalid value 'http' for option '--port'"
        );
        assert_eq!(
            args(&["stray"]).next_flag().unwrap_err().0,
            "unexpected argument 'stray'"
        );
        let mut a = args(&["--raw=yes"]);
        a.next_flag().unwrap();
        assert_eq!(a.next_flag().unwrap_err().0, "unexpected value 'yes'");
        assert_eq!(
            CliError::unknown("--nope").to_string(),
            "unknown option '--nope'"
        );
    }
}
