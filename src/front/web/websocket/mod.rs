//! The WebSocket protocol (RFC 6455), server side, over any byte stream: the
//! handshake's accept key, framing what the server sends, and reading what a
//! browser sends as whole, checked messages.
//!
//! Only what a chat needs is accepted: text messages (possibly fragmented),
//! pings, pongs and close. Anything else ends the connection with the status
//! the RFC asks for: a broken frame (unmasked, reserved bits, unknown opcode,
//! oversized or fragmented control frame, continuation out of place) with
//! [`PROTOCOL_ERROR`], a binary message with [`UNSUPPORTED_DATA`], text that is
//! not UTF-8 with [`INVALID_PAYLOAD`], and a message longer than the limit
//! with [`MESSAGE_TOO_BIG`] — decided from the frame header, before any of the
//! payload is read or memory reserved for it.
//!
//! The server never fragments or masks (RFC 6455 §5.1): each frame it sends is
//! whole, and each protocol line it sends becomes one text frame.

use std::io::{self, Read};

use crate::support::base64;
use crate::support::sha1::sha1;

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const HANDSHAKE_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Close status: the peer broke the framing rules.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Close status: a normal closure.
pub const NORMAL: u16 = 1000;
/// Close status: the server is going away (stopping).
pub const GOING_AWAY: u16 = 1001;
/// Close status: the endpoint broke a policy (here: it read too slowly).
pub const POLICY_VIOLATION: u16 = 1008;
/// Close status: a kind of message we do not accept (binary).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Close status: a text message that is not UTF-8 (or a close reason that is not).
pub const INVALID_PAYLOAD: u16 = 1007;
/// Close status: a message longer than the limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;

/// The longest payload of a control frame (ping, pong, close).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// How much is read from the stream at a time.
const READ_CHUNK: usize = 4096;

/// A message buffer grown past this by a long message is given back afterwards,
/// so idle connections stay small.
const KEEP_MESSAGE_BYTES: usize = 1024;

/// The `Sec-WebSocket-Accept` value answering a client's `Sec-WebSocket-Key`.
pub fn accept_key(client_key: &str) -> String {
    let mut keyed = String::with_capacity(client_key.len() + HANDSHAKE_GUID.len());
    keyed.push_str(client_key);
    keyed.push_str(HANDSHAKE_GUID);
    base64::encode(&sha1(keyed.as_bytes()))
}

/// The kind of a frame (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// Appends one whole, unmasked frame (as a server sends them) to `out`.
pub fn encode_frame(opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
    const FIN: u8 = 0x80;
    out.push(FIN | opcode as u8);
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame carrying `status` (and no reason text) to `out`.
pub fn encode_close(status: u16, out: &mut Vec<u8>) {
    encode_frame(Opcode::Close, &status.to_be_bytes(), out);
}

/// Appends protocol lines (each ending in `\n`, as the server formats them) as
/// one text frame per line, without the `\n`.
pub fn encode_lines(lines: &[u8], out: &mut Vec<u8>) {
    for line in lines.split_inclusive(|&b| b == b'\n') {
        encode_frame(Opcode::Text, line.strip_suffix(b"\n").unwrap_or(line), out);
    }
}

/// What the client sent next, as read by [`MessageReader::read_next`].
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole text message, checked to be UTF-8 and within the limit.
    Text(&'a str),
    /// A ping: answer with a pong frame carrying the same payload.
    Ping(&'a [u8]),
    /// A pong (unsolicited or not); nothing to do but count it as activity.
    Pong,
    /// The client closed, with its status code if it gave one. Answer with a
    /// close frame and hang up.
    Close(Option<u16>),
    /// The client broke the protocol: send a close frame with this status and
    /// hang up.
    Violation(u16),
    /// The stream ended without a close frame (possibly mid-frame).
    Ended,
}

/// The frame being read: its header, and how far into its payload we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    /// Payload bytes not read yet.
    remaining: usize,
    /// Payload bytes read so far (where the mask continues).
    done: usize,
}

/// A frame header, as far as the bytes at hand tell.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    /// More bytes are needed.
    Incomplete,
    /// A valid header, `len` bytes long.
    Complete { frame: Frame, len: usize },
    /// A header no client may send; close with this status.
    Violation(u16),
}

/// Parses a frame header from the start of `bytes`. Rejects what is wrong
/// regardless of context as early as the bytes allow (an unmasked frame is
/// refused from its second byte); `max_payload` bounds a data frame's length.
fn parse_header(bytes: &[u8], max_payload: usize) -> Header {
    let [first, second, ..] = *bytes else {
        return Header::Incomplete;
    };
    let fin = first & 0x80 != 0;
    let reserved = first & 0x70;
    let Some(opcode) = Opcode::from_bits(first & 0x0F) else {
        return Header::Violation(PROTOCOL_ERROR);
    };
    let masked = second & 0x80 != 0;
    let short_len = second & 0x7F;
    if reserved != 0 || !masked {
        return Header::Violation(PROTOCOL_ERROR);
    }
    if opcode.is_control() && (!fin || usize::from(short_len) > MAX_CONTROL_PAYLOAD) {
        return Header::Violation(PROTOCOL_ERROR);
    }
    let extra_len = match short_len {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header_len = 2 + extra_len + 4;
    let Some(rest) = bytes.get(2..header_len) else {
        return Header::Incomplete;
    };
    let (len_bytes, mask) = rest.split_at(extra_len);
    let declared = match *len_bytes {
        [] => u64::from(short_len),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => return Header::Incomplete,
    };
    if declared >> 63 != 0 {
        // The most significant bit of a 64-bit length must be 0.
        return Header::Violation(PROTOCOL_ERROR);
    }
    let limit = if opcode.is_control() {
        MAX_CONTROL_PAYLOAD
    } else {
        max_payload
    };
    let remaining = match usize::try_from(declared) {
        Ok(len) if len <= limit => len,
        _ => return Header::Violation(MESSAGE_TOO_BIG),
    };
    let mut mask_key = [0; 4];
    mask_key.copy_from_slice(mask);
    Header::Complete {
        frame: Frame {
            fin,
            opcode,
            mask: mask_key,
            remaining,
            done: 0,
        },
        len: header_len,
    }
}

/// Reads a client's frames and returns whole messages, in bounded memory.
///
/// Read errors, including a read timeout (`WouldBlock` / `TimedOut`), are
/// passed through unchanged, and the reader keeps its place: calling
/// [`MessageReader::read_next`] again after a timeout carries on mid-header or
/// mid-payload. So an idle timeout is the caller's policy, not the reader's.
pub struct MessageReader<R> {
    inner: R,
    buf: Box<[u8]>,
    /// The unread part of `buf` is `buf[start..end]`.
    start: usize,
    end: usize,
    max_message: usize,
    /// The frame whose payload is being read, once its header is in.
    frame: Option<Frame>,
    /// The text message being assembled, across its fragments.
    message: Vec<u8>,
    /// Whether a fragmented message has begun and not finished.
    in_message: bool,
    /// Whether `message` was returned, to be cleared on the next call.
    returned_message: bool,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: usize,
}

impl<R: Read> MessageReader<R> {
    /// A reader accepting text messages of at most `max_message` bytes.
    pub fn new(inner: R, max_message: usize) -> Self {
        MessageReader {
            inner,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            max_message,
            frame: None,
            message: Vec::new(),
            in_message: false,
            returned_message: false,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
        }
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next message or event. After [`Event::Close`], [`Event::Violation`]
    /// or [`Event::Ended`] the connection is over and the caller stops reading.
    #[cfg(test)]
    pub fn read_next(&mut self) -> io::Result<Event<'_>> {
        self.read_next_or_wait(&mut || {})
    }

    /// The next message or event, as `read_next` gives it, calling `before_wait` each time it
    /// is about to read from the stream, which may wait for the peer.
    pub fn read_next_or_wait(&mut self, before_wait: &mut dyn FnMut()) -> io::Result<Event<'_>> {
        if std::mem::take(&mut self.returned_message) {
            self.message.clear();
            if self.message.capacity() > KEEP_MESSAGE_BYTES {
                self.message = Vec::new();
            }
        }
        loop {
            let mut frame = match self.frame {
                Some(frame) => frame,
                None => match self.start_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => {
                        if !self.fill(before_wait)? {
                            return Ok(Event::Ended);
                        }
                        continue;
                    }
                    Err(status) => return Ok(Event::Violation(status)),
                },
            };
            if frame.remaining > 0 {
                if self.start == self.end && !self.fill(before_wait)? {
                    return Ok(Event::Ended);
                }
                self.take_payload(&mut frame);
                self.frame = Some(frame);
                continue;
            }
            self.frame = None;
            if frame.opcode.is_control() {
                return Ok(self.control_event(frame.opcode));
            }
            if frame.fin {
                self.in_message = false;
                self.returned_message = true;
                return Ok(match std::str::from_utf8(&self.message) {
                    Ok(text) => Event::Text(text),
                    Err(_) => Event::Violation(INVALID_PAYLOAD),
                });
            }
        }
    }

    /// Parses the next frame header from the buffer and checks it against the
    /// message in progress. `Ok(None)` means more bytes are needed.
    fn start_frame(&mut self) -> Result<Option<Frame>, u16> {
        let room = self.max_message.saturating_sub(self.message.len());
        let (frame, len) = match parse_header(&self.buf[self.start..self.end], room) {
            Header::Incomplete => return Ok(None),
            Header::Violation(status) => return Err(status),
            Header::Complete { frame, len } => (frame, len),
        };
        match frame.opcode {
            Opcode::Ping | Opcode::Pong | Opcode::Close => self.control_len = 0,
            Opcode::Continuation if !self.in_message => return Err(PROTOCOL_ERROR),
            Opcode::Text | Opcode::Binary if self.in_message => return Err(PROTOCOL_ERROR),
            Opcode::Binary => return Err(UNSUPPORTED_DATA),
            Opcode::Text | Opcode::Continuation => {
                self.in_message = true;
                self.message.reserve_exact(frame.remaining);
            }
        }
        self.start += len;
        self.frame = Some(frame);
        Ok(Some(frame))
    }

    /// Unmasks what the buffer holds of the frame's payload and stores it.
    fn take_payload(&mut self, frame: &mut Frame) {
        let n = frame.remaining.min(self.end - self.start);
        let chunk = &mut self.buf[self.start..self.start + n];
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte ^= frame.mask[(frame.done + i) % 4];
        }
        if frame.opcode.is_control() {
            // Bounded: parse_header refused control payloads over 125 bytes.
            self.control[self.control_len..self.control_len + n].copy_from_slice(chunk);
            self.control_len += n;
        } else {
            self.message.extend_from_slice(chunk);
        }
        self.start += n;
        frame.remaining -= n;
        frame.done += n;
    }

    fn control_event(&self, opcode: Opcode) -> Event<'_> {
        let payload = &self.control[..self.control_len];
        match opcode {
            Opcode::Ping => Event::Ping(payload),
            Opcode::Pong => Event::Pong,
            _ => close_event(payload),
        }
    }

    /// Reads more bytes into the buffer (making room first); `false` at end of
    /// stream.
    fn fill(&mut self, before_wait: &mut dyn FnMut()) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            before_wait();
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// Understands a close frame's payload: empty, or a status code and a UTF-8
/// reason (RFC 6455 §5.5.1).
fn close_event(payload: &[u8]) -> Event<'_> {
    match *payload {
        [] => Event::Close(None),
        [high, low, ref reason @ ..] => {
            let status = u16::from_be_bytes([high, low]);
            if !is_valid_close_status(status) {
                Event::Violation(PROTOCOL_ERROR)
            } else if std::str::from_utf8(reason).is_err() {
                Event::Violation(INVALID_PAYLOAD)
            } else {
                Event::Close(Some(status))
            }
        }
        [_] => Event::Violation(PROTOCOL_ERROR),
    }
}

/// Whether a peer may send this close status (RFC 6455 §7.4 and the IANA
/// registry): 1004–1006 and 1015 are reserved for reporting, never sent.
fn is_valid_close_status(status: u16) -> bool {
    matches!(status, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests;
