//! The cluster's Lua script (`cluster.lua`) from Rust: each operation's
//! arguments, sent as `EVALSHA` (the script's text only when Redis does not
//! have it cached: after a restart or `SCRIPT FLUSH`), and its reply read
//! back into Rust types.
//!
//! A reply is `[status, …]`: `ok` and the rest, an `ERR` code of the
//! protocol (the operation was refused), or `lost` (this node's lease is
//! gone: it must step down).

use super::redis::{Client, Error};
use super::resp::{Cmd, Value};
use super::stream::{Entry, StreamId};
use crate::protocol::ErrorCode;
use crate::support::sha1::sha1;

const TEXT: &str = include_str!("cluster.lua");

/// The script, and its SHA-1 for `EVALSHA`.
pub struct Script {
    sha: String,
}

/// What an operation came to.
#[derive(Debug)]
pub enum Outcome {
    /// Done; the rest of the reply.
    Done(Vec<Value>),
    /// Refused with this protocol error.
    Refused(ErrorCode),
    /// This node's lease is gone.
    Lost,
}

/// Why an operation could not be carried out at all.
#[derive(Debug)]
pub enum Failure {
    /// Redis could not be asked (see [`Error`]).
    Redis(Error),
    /// Redis answered something this node does not understand (a script of
    /// another version?).
    Reply(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Redis(err) => write!(f, "{err}"),
            Failure::Reply(why) => write!(f, "{why}"),
        }
    }
}

impl Script {
    pub fn new() -> Script {
        let sha = sha1(TEXT.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Script { sha }
    }

    /// Runs operation `op` with `args`.
    pub fn run(&self, client: &mut Client, op: &str, args: &[&[u8]]) -> Result<Outcome, Failure> {
        let command = |name: &str, script: &str| {
            args.iter()
                .fold(Cmd::new(name).arg(script).arg("0").arg(op), |cmd, arg| {
                    cmd.arg(*arg)
                })
        };
        let reply = match client.call(&command("EVALSHA", &self.sha)) {
            Err(Error::Reply(text)) if text.starts_with("NOSCRIPT") => {
                client.call(&command("EVAL", TEXT))
            }
            reply => reply,
        }
        .map_err(Failure::Redis)?;
        let unexpected = || Failure::Reply(format!("{op}: unexpected reply {reply}"));
        let Some((status, rest)) = reply.elements().and_then(<[Value]>::split_first) else {
            return Err(unexpected());
        };
        match status.text() {
            Some("ok") => Ok(Outcome::Done(rest.to_vec())),
            Some("lost") => Ok(Outcome::Lost),
            Some(code) => ErrorCode::parse(code)
                .map(Outcome::Refused)
                .ok_or_else(unexpected),
            None => Err(unexpected()),
        }
    }
}

/// The event id an operation returned (`ok <id>`), if it wrote one.
pub fn event_id(rest: &[Value]) -> Option<StreamId> {
    rest.first()?.text().and_then(StreamId::parse)
}

/// A list of strings (`WHO`'s names).
pub fn texts(value: &Value) -> Vec<String> {
    value
        .elements()
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item.text().map(str::to_owned))
        .collect()
}

/// A list of stream entries (`XRANGE`, `XREVRANGE`).
pub fn entries(value: &Value) -> Vec<Entry> {
    value
        .elements()
        .unwrap_or_default()
        .iter()
        .filter_map(Entry::from_value)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha_is_the_scripts() {
        let script = Script::new();
        assert_eq!(script.sha.len(), 40);
        assert!(script.sha.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn reply_helpers() {
        let bulk = |text: &str| Value::Bulk(text.as_bytes().to_vec());
        assert_eq!(event_id(&[bulk("5-1")]), StreamId::parse("5-1"));
        assert_eq!(event_id(&[bulk("")]), None);
        assert_eq!(event_id(&[]), None);
        assert_eq!(
            texts(&Value::Array(vec![bulk("a"), Value::Nil, bulk("b")])),
            ["a", "b"]
        );
        assert!(texts(&Value::Integer(3)).is_empty());
        assert!(entries(&Value::Nil).is_empty());
    }
}
