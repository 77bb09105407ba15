//! RESP, the Redis serialization protocol, pure: commands encoded as arrays of
//! bulk strings, and replies decoded incrementally from whatever pieces the
//! socket delivers.
//!
//! This client speaks RESP2 only: it never sends `HELLO 3`, so Redis answers
//! every command in RESP2 (simple strings, errors, integers, bulk strings,
//! arrays, and the nil bulk and nil array). None of RESP3's types is needed:
//! the cluster pulls from streams and uses no pub/sub pushes. A RESP3 type
//! byte is refused like any other garbage.
//!
//! Rules the decoder keeps, since a reply comes from a peer:
//! - **Bounded.** A bulk string longer than [`Limits::max_bulk`], an array of
//!   more than [`Limits::max_elements`], nesting deeper than
//!   [`Limits::max_depth`], a line (simple string, error, integer) longer than
//!   [`Limits::max_line`], or more than [`Limits::max_buffered`] bytes of one
//!   unfinished reply is an error, found from the header alone where it can
//!   be: a declared size never becomes an allocation.
//! - **Never a panic** on any bytes; an error leaves the decoder unusable (the
//!   stream is out of step), and the caller drops the connection.
//! - **Binary-safe**: a bulk string is its declared bytes, CR, LF and NUL
//!   included.
//! - **Incremental**: a reply split across reads at any offset decodes the
//!   same; an unfinished reply is not parsed again before enough bytes have
//!   arrived to possibly finish it (a big bulk string is not rescanned per
//!   read).

use std::fmt;

/// One decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`: a status line.
    Simple(String),
    /// `-ERR …`: Redis refused the command (the connection is still good).
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$5\r\nhello`: binary-safe bytes.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`: no value (a missing key, a `BLOCK` that timed out).
    Nil,
    /// `*2 …`: replies nested in any depth up to the limit.
    Array(Vec<Value>),
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(bytes) => Some(bytes),
            Value::Simple(text) => Some(text.as_bytes()),
            _ => None,
        }
    }

    /// A bulk or simple string as UTF-8 text.
    pub fn text(&self) -> Option<&str> {
        self.bytes()
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
    }

    /// An integer reply, or a string that spells one (Lua scripts return
    /// numbers as either).
    pub fn integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            other => other.text().and_then(|text| text.parse().ok()),
        }
    }

    /// The elements of an array (none for nil).
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            Value::Nil => Some(&[]),
            _ => None,
        }
    }
}

/// Shown the way `redis-cli` would, for error messages and logs; bulk bytes
/// that are not UTF-8 are shown lossily and long ones cut.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Simple(text) => write!(f, "{text}"),
            Value::Error(text) => write!(f, "(error) {text}"),
            Value::Integer(n) => write!(f, "(integer) {n}"),
            Value::Bulk(bytes) => {
                let shown = &bytes[..bytes.len().min(80)];
                write!(f, "{:?}", String::from_utf8_lossy(shown))?;
                if bytes.len() > shown.len() {
                    write!(f, "…({} bytes)", bytes.len())?;
                }
                Ok(())
            }
            Value::Nil => write!(f, "(nil)"),
            Value::Array(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A command: its name and arguments, each a binary-safe bulk string.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    args: Vec<Vec<u8>>,
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        Cmd {
            args: vec![name.as_bytes().to_vec()],
        }
    }

    /// Adds one argument (bytes, text or a number).
    pub fn arg(mut self, arg: impl Arg) -> Cmd {
        self.args.push(arg.to_bytes());
        self
    }

    /// Appends the command to `out` as RESP: `*<n>` then `$<len>` and the
    /// bytes of each argument.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'*');
        out.extend_from_slice(self.args.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        for arg in &self.args {
            out.push(b'$');
            out.extend_from_slice(arg.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The command's name, for error messages (arguments may be secrets).
    pub fn name(&self) -> String {
        self.args
            .first()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .unwrap_or_default()
    }
}

/// What can be a command argument.
pub trait Arg {
    fn to_bytes(&self) -> Vec<u8>;
}

impl Arg for &[u8] {
    fn to_bytes(&self) -> Vec<u8> {
        self.to_vec()
    }
}

impl Arg for &str {
    fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl Arg for &String {
    fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl Arg for u64 {
    fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl Arg for usize {
    fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

/// How much one reply may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bulk: usize,
    pub max_elements: usize,
    pub max_depth: usize,
    /// Bytes of a line (its type byte included, its CRLF not).
    pub max_line: usize,
    /// Bytes of one reply (or of several pipelined) waiting to be decoded.
    pub max_buffered: usize,
}

impl Default for Limits {
    /// Room for the largest reply the chat asks for (a history block of
    /// 1,000 long messages, an `XREAD` of 1,000 events) many times over.
    fn default() -> Limits {
        Limits {
            max_bulk: 16 << 20,
            max_elements: 1 << 20,
            max_depth: 16,
            max_line: 64 << 10,
            max_buffered: 64 << 20,
        }
    }
}

/// Why a reply could not be decoded: the peer is not speaking RESP2 as
/// expected, or its reply is over a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespError(pub String);

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad reply from redis: {}", self.0)
    }
}

impl std::error::Error for RespError {}

fn bad<T>(why: impl Into<String>) -> Result<T, RespError> {
    Err(RespError(why.into()))
}

/// Decodes replies from bytes fed in as they arrive.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the next reply starts in `buf`.
    start: usize,
    /// `buf` must reach this length before the unfinished reply can finish.
    need: usize,
    limits: Limits,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            need: 0,
            limits,
        }
    }

    /// Adds bytes read from the peer; more than [`Limits::max_buffered`]
    /// waiting is an error.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), RespError> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.need -= self.need.min(self.start);
            self.start = 0;
        }
        let waiting = self.buf.len() - self.start + bytes.len();
        if waiting > self.limits.max_buffered {
            return bad(format!(
                "more than {} bytes in one reply",
                self.limits.max_buffered
            ));
        }
        if self.start > 0 && self.buf.len() + bytes.len() > self.buf.capacity() {
            // Move the unfinished reply to the front rather than grow.
            self.buf.drain(..self.start);
            self.need -= self.need.min(self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete reply, `None` until enough bytes have been fed.
    pub fn next(&mut self) -> Result<Option<Value>, RespError> {
        if self.buf.len() < self.need || self.start == self.buf.len() {
            return Ok(None);
        }
        let mut parser = Parser {
            buf: &self.buf,
            pos: self.start,
            need: self.buf.len() + 1,
            limits: &self.limits,
        };
        match parser.value(0)? {
            Some(value) => {
                self.start = parser.pos;
                self.need = 0;
                Ok(Some(value))
            }
            None => {
                self.need = parser.need;
                Ok(None)
            }
        }
    }

    /// Bytes fed and not yet decoded.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// One attempt at decoding a reply from `buf[pos..]`.
struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Least length of `buf` with which the attempt could get further.
    need: usize,
    limits: &'a Limits,
}

impl<'a> Parser<'a> {
    fn value(&mut self, depth: usize) -> Result<Option<Value>, RespError> {
        let Some(line) = self.line()? else {
            return Ok(None);
        };
        let Some((&kind, rest)) = line.split_first() else {
            return bad("an empty line where a reply was expected");
        };
        let text = || String::from_utf8_lossy(rest).into_owned();
        Ok(Some(match kind {
            b'+' => Value::Simple(text()),
            b'-' => Value::Error(text()),
            b':' => Value::Integer(integer(rest)?),
            b'$' => {
                let Some(len) = length(rest, self.limits.max_bulk, "bulk string")? else {
                    return Ok(Some(Value::Nil));
                };
                let end = self.pos + len;
                if self.buf.len() < end + 2 {
                    self.need = end + 2;
                    return Ok(None);
                }
                if &self.buf[end..end + 2] != b"\r\n" {
                    return bad("a bulk string longer than its declared length");
                }
                let bytes = self.buf[self.pos..end].to_vec();
                self.pos = end + 2;
                Value::Bulk(bytes)
            }
            b'*' => {
                let Some(count) = length(rest, self.limits.max_elements, "array")? else {
                    return Ok(Some(Value::Nil));
                };
                if depth >= self.limits.max_depth {
                    return bad(format!(
                        "arrays nested deeper than {}",
                        self.limits.max_depth
                    ));
                }
                // Each element takes at least 3 bytes: never trust `count`
                // for an allocation.
                let mut items = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    match self.value(depth + 1)? {
                        Some(item) => items.push(item),
                        None => return Ok(None),
                    }
                }
                Value::Array(items)
            }
            other => return bad(format!("unknown reply type byte 0x{other:02x}")),
        }))
    }

    /// The next line without its CRLF, `None` if it has not all arrived.
    fn line(&mut self) -> Result<Option<&'a [u8]>, RespError> {
        let buf = self.buf;
        let rest = &buf[self.pos..];
        let window = &rest[..rest.len().min(self.limits.max_line + 2)];
        match window.windows(2).position(|pair| pair == b"\r\n") {
            Some(len) => {
                let line = &buf[self.pos..self.pos + len];
                self.pos += len + 2;
                Ok(Some(line))
            }
            None if window.len() >= self.limits.max_line + 2 => {
                bad(format!("a line longer than {} bytes", self.limits.max_line))
            }
            None => {
                self.need = self.buf.len() + 1;
                Ok(None)
            }
        }
    }
}

/// A bulk string's or array's declared length: `None` for `-1` (nil).
fn length(digits: &[u8], max: usize, what: &str) -> Result<Option<usize>, RespError> {
    match integer(digits)? {
        -1 => Ok(None),
        n if n < 0 => bad(format!("a negative {what} length ({n})")),
        n => match usize::try_from(n) {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => bad(format!("a {what} of {n}, over the limit of {max}")),
        },
    }
}

/// A RESP integer: an optional `-` and 1–19 digits, nothing else.
fn integer(digits: &[u8]) -> Result<i64, RespError> {
    let (negative, body) = match digits.split_first() {
        Some((b'-', body)) => (true, body),
        _ => (false, digits),
    };
    if body.is_empty() || !body.iter().all(u8::is_ascii_digit) {
        return bad(format!(
            "not an integer: {:?}",
            String::from_utf8_lossy(&digits[..digits.len().min(32)])
        ));
    }
    let mut n: i64 = 0;
    for &d in body {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(d - b'0')))
            .ok_or_else(|| RespError("an integer out of range".into()))?;
    }
    Ok(if negative { -n } else { n })
}

#[cfg(test)]
#[path = "resp_tests.rs"]
mod tests;
