//! The payload of a message record in the log (inside the framing of
//! [`record`](super::record)).
//!
//! ```text
//! u8      kind: 1 = chat message, layout version 1
//! u64 LE  seq      (per room, from 1)
//! u64 LE  time_ms  (unix milliseconds, when the server received it)
//! str     room key     (the case-folded name the server looks rooms up by)
//! str     room display (the name as first spelled)
//! str     from
//! str     text
//! ```
//!
//! where `str` is a `u32 LE` byte length and that many bytes of UTF-8.
//!
//! Rule kept: [`parse`] returns `None`, never panics, for anything that is not
//! exactly one well-formed kind-1 payload (unknown kind, short, bad UTF-8,
//! trailing bytes). A later layout gets a new kind byte, so an older server
//! skips such records instead of misreading them.

use super::record;
use std::io;

/// The first byte of a version-1 chat message payload.
pub const KIND_MESSAGE_V1: u8 = 1;

/// Payload bytes other than the four strings.
const FIXED: usize = 1 + 8 + 8 + 4 * 4;

/// A message record's fields, borrowed from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub seq: u64,
    pub time_ms: u64,
    pub room_key: &'a str,
    pub room_display: &'a str,
    pub from: &'a str,
    pub text: &'a str,
}

/// The bytes on disk (framing included) of a message record whose room key
/// and display name take `room_bytes` together: `overhead + from + text`.
pub const fn record_overhead(room_bytes: usize) -> usize {
    record::HEADER_LEN + FIXED + room_bytes
}

/// Appends the whole record (framing and payload) for a message to `out`.
/// A message too long for one record is refused (`InvalidInput`) and `out`
/// is left as it was.
pub fn encode_record(m: &Parsed<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let strings = [m.room_key, m.room_display, m.from, m.text];
    let len = FIXED + strings.iter().map(|s| s.len()).sum::<usize>();
    if len > record::MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {len} bytes is longer than a record may be"),
        ));
    }
    out.reserve(record::encoded_len(len));
    record::encode_with(out, |out| {
        out.push(KIND_MESSAGE_V1);
        out.extend_from_slice(&m.seq.to_le_bytes());
        out.extend_from_slice(&m.time_ms.to_le_bytes());
        for s in strings {
            put_str(out, s);
        }
    })
}

/// Appends a `str` field: its `u32 LE` byte length, then its bytes. The
/// caller has checked that the payload fits a record, so the length fits.
pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The message in a record payload, or `None` if it is not a well-formed
/// version-1 message.
pub fn parse(payload: &[u8]) -> Option<Parsed<'_>> {
    let mut r = Reader(payload);
    if r.u8()? != KIND_MESSAGE_V1 {
        return None;
    }
    let parsed = Parsed {
        seq: r.u64()?,
        time_ms: r.u64()?,
        room_key: r.str()?,
        room_display: r.str()?,
        from: r.str()?,
        text: r.str()?,
    };
    r.0.is_empty().then_some(parsed)
}

/// Reads a payload's fields front to back; `None` once the bytes run out
/// (the accounts file's payloads use it too).
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(super) fn str(&mut self) -> Option<&'a str> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        std::str::from_utf8(self.take(usize::try_from(len).ok()?)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::Decoder;

    const SAMPLE: Parsed<'static> = Parsed {
        seq: 7,
        time_ms: 1_796_148_245_123,
        room_key: "#rust",
        room_display: "#Rust",
        from: "ann",
        text: "héllo wörld",
    };

    fn payload_of(m: &Parsed<'_>) -> Vec<u8> {
        let mut rec = Vec::new();
        encode_record(m, &mut rec).unwrap();
        let mut d = Decoder::new(&rec);
        let payload = d.next().unwrap().to_vec();
        assert_eq!((d.next(), d.offset()), (None, rec.len()));
        payload
    }

    #[test]
    fn round_trip() {
        let payload = payload_of(&SAMPLE);
        assert_eq!(parse(&payload), Some(SAMPLE));
        assert_eq!(payload[0], KIND_MESSAGE_V1);
        let size = record_overhead(SAMPLE.room_key.len() + SAMPLE.room_display.len())
            + SAMPLE.from.len()
            + SAMPLE.text.len();
        assert_eq!(record::encoded_len(payload.len()), size);
        let empty = Parsed {
            from: "",
            text: "",
            ..SAMPLE
        };
        assert_eq!(parse(&payload_of(&empty)), Some(empty));
    }

    #[test]
    fn rejects_malformed_payloads() {
        let good = payload_of(&SAMPLE);
        for cut in 0..good.len() {
            assert_eq!(parse(&good[..cut]), None, "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(parse(&longer), None);
        let mut kind = good.clone();
        kind[0] = 2;
        assert_eq!(parse(&kind), None);
        let mut utf8 = good.clone();
        let at = good.len() - 1;
        utf8[at] = 0xFF;
        assert_eq!(parse(&utf8), None);
        let mut huge = good.clone();
        huge[17..21].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&huge), None);
        // Every single-byte change either parses to something or is refused.
        for at in 0..good.len() {
            for byte in [0, 1, 0x7F, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[at] = byte;
                let _ = parse(&bad);
            }
        }
    }

    #[test]
    fn refuses_a_message_too_long_for_a_record() {
        let text = "x".repeat(record::MAX_PAYLOAD);
        let mut out = vec![1, 2];
        let long = Parsed {
            text: &text,
            ..SAMPLE
        };
        assert_eq!(
            encode_record(&long, &mut out).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(out, [1, 2]);
    }
}
