//! The record framing of every file the project writes (the message log now,
//! accounts later): a file is a sequence of records, each
//!
//! ```text
//! u32 LE  payload length  (1 ..= MAX_PAYLOAD)
//! u32 LE  CRC-32 of the payload
//! payload
//! ```
//!
//! Rule kept: a reader accepts exactly the longest prefix of intact records
//! and stops at the first record that is torn (the bytes end inside it) or
//! corrupt (a length of 0 or above [`MAX_PAYLOAD`], or a checksum mismatch),
//! reporting the byte offset where the intact prefix ends so the owner can
//! truncate the file there and append again. Decoding never panics, whatever
//! the bytes. A zero length counts as corrupt so that a run of zero bytes (what
//! some file systems leave after a crash) is never read as records.

use super::crc32::crc32;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};

/// Bytes before the payload: length and checksum.
pub const HEADER_LEN: usize = 8;

/// The longest payload a record may have; a header claiming more is corrupt.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// The bytes a record with a payload of `payload_len` bytes takes on disk.
pub const fn encoded_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len
}

/// Appends the record for `payload` to `out` (tests build logs with it).
#[cfg(test)]
pub fn encode(payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    encode_with(out, |out| out.extend_from_slice(payload))
}

/// Appends one record whose payload `write_payload` appends in place (no
/// copy), then fills in its length and checksum. A payload that is empty or
/// longer than [`MAX_PAYLOAD`] would read back as corrupt, so it is refused
/// (`InvalidInput`) and `out` is left as it was.
pub fn encode_with(out: &mut Vec<u8>, write_payload: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    write_payload(out);
    let payload_start = start + HEADER_LEN;
    let len = out.len() - payload_start;
    if len == 0 || len > MAX_PAYLOAD {
        out.truncate(start);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("record payload of {len} bytes (must be 1..={MAX_PAYLOAD})"),
        ));
    }
    let crc = out.get(payload_start..).map_or(0, crc32);
    let mut header = [0; HEADER_LEN];
    header[..4].copy_from_slice(&(len as u32).to_le_bytes());
    header[4..].copy_from_slice(&crc.to_le_bytes());
    if let Some(slot) = out.get_mut(start..payload_start) {
        slot.copy_from_slice(&header);
    }
    Ok(())
}

/// Why decoding stopped before the end of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The bytes end inside a record (a write cut short, or more to read).
    Torn,
    /// A record's length is impossible or its checksum does not match.
    Corrupt,
}

/// The intact payloads at the start of a byte slice, in order.
///
/// After iteration, [`offset`](Decoder::offset) is where the intact prefix
/// ends and [`stop`](Decoder::stop) says why the rest (if any) was not read.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    stop: Option<Stop>,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder {
            buf,
            pos: 0,
            stop: None,
        }
    }

    /// The end of the intact records yielded so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Why decoding stopped early; `None` while going, or at a clean end.
    pub fn stop(&self) -> Option<Stop> {
        self.stop
    }
}

impl<'a> Iterator for Decoder<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.stop.is_some() {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return None;
        }
        let (Some(len), Some(crc)) = (le_u32(rest, 0), le_u32(rest, 4)) else {
            self.stop = Some(Stop::Torn);
            return None;
        };
        let len = len as usize;
        if len == 0 || len > MAX_PAYLOAD {
            self.stop = Some(Stop::Corrupt);
            return None;
        }
        let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
            self.stop = Some(Stop::Torn);
            return None;
        };
        if crc32(payload) != crc {
            self.stop = Some(Stop::Corrupt);
            return None;
        }
        self.pos += HEADER_LEN + len;
        Some(payload)
    }
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Where the intact prefix ends (bytes from the start of the stream).
    pub intact: u64,
    /// Why reading stopped before the end of the stream, if it did.
    pub stop: Option<Stop>,
}

/// Reads a stream of records (e.g. a whole file) in pieces, handing each
/// intact payload to `each`, until the end or the first torn or corrupt
/// record. Memory use is one piece plus one record, whatever the file size.
pub fn scan<R: Read>(mut reader: R, mut each: impl FnMut(&[u8])) -> io::Result<Scanned> {
    const PIECE: usize = 256 * 1024;
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0u64;
    loop {
        let start = buf.len();
        buf.resize(start + PIECE, 0);
        let n = loop {
            match reader.read(buf.get_mut(start..).unwrap_or(&mut [])) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        buf.truncate(start + n);
        let eof = n == 0;
        let mut decoder = Decoder::new(&buf);
        for payload in &mut decoder {
            each(payload);
        }
        let used = decoder.offset();
        match decoder.stop() {
            Some(Stop::Corrupt) => {
                return Ok(Scanned {
                    intact: base + used as u64,
                    stop: Some(Stop::Corrupt),
                })
            }
            Some(Stop::Torn) if eof => {
                return Ok(Scanned {
                    intact: base + used as u64,
                    stop: Some(Stop::Torn),
                })
            }
            None if eof => {
                return Ok(Scanned {
                    intact: base + used as u64,
                    stop: None,
                })
            }
            _ => {}
        }
        buf.drain(..used);
        base += used as u64;
    }
}

/// What [`recover_file`] found: where the intact records end, and the bytes
/// after them it cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    pub intact: u64,
    pub cut: u64,
}

/// Reads a whole file of records from its start, handing each intact payload
/// to `each`, then cuts off a torn or corrupt tail and fsyncs the cut, so
/// that appends can go on at [`Recovery::intact`]. What every file the store
/// opens does first.
pub fn recover_file(file: &File, each: impl FnMut(&[u8])) -> io::Result<Recovery> {
    let file_len = file.metadata()?.len();
    let scanned = scan(file, each)?;
    let cut = file_len.saturating_sub(scanned.intact);
    if cut > 0 {
        file.set_len(scanned.intact)?;
        file.sync_all()?;
    }
    Ok(Recovery {
        intact: scanned.intact,
        cut,
    })
}

/// Ends a recovery's log line with what was repaired, if anything:
/// `; skipped N unusable records` and `; cut N bytes of torn or corrupt tail`.
pub fn write_repairs(f: &mut fmt::Formatter<'_>, skipped: u64, cut: u64) -> fmt::Result {
    if skipped > 0 {
        write!(f, "; skipped {skipped} unusable records")?;
    }
    if cut > 0 {
        write!(f, "; cut {cut} bytes of torn or corrupt tail")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::rng::Rng;

    /// 1 to `max` random bytes.
    fn some(rng: &mut Rng, max: usize) -> Vec<u8> {
        let n = 1 + rng.below(max);
        rng.bytes(n)
    }

    fn records(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(p, &mut out).unwrap();
        }
        out
    }

    /// Decodes `buf` and checks what must hold for any input: the intact
    /// prefix is exactly the yielded records, re-encoded.
    fn decode_checked(buf: &[u8]) -> (Vec<Vec<u8>>, usize, Option<Stop>) {
        let mut d = Decoder::new(buf);
        let payloads: Vec<Vec<u8>> = d.by_ref().map(<[u8]>::to_vec).collect();
        let offset = d.offset();
        assert!(offset <= buf.len());
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        assert_eq!(records(&refs), buf[..offset]);
        assert_eq!(d.stop().is_none(), offset == buf.len());
        (payloads, offset, d.stop())
    }

    #[test]
    fn round_trip() {
        let payloads: Vec<&[u8]> = vec![b"a", b"hello", &[0u8; 300], b"\xff\x00"];
        let buf = records(&payloads);
        assert_eq!(
            buf.len(),
            payloads.iter().map(|p| encoded_len(p.len())).sum()
        );
        let (got, offset, stop) = decode_checked(&buf);
        assert_eq!(got, payloads);
        assert_eq!((offset, stop), (buf.len(), None));
        assert_eq!(decode_checked(&[]), (vec![], 0, None));
    }

    #[test]
    fn layout_is_length_crc_payload() {
        let buf = records(&[b"123456789"]);
        assert_eq!(buf[..4], 9u32.to_le_bytes());
        assert_eq!(buf[4..8], 0xCBF4_3926u32.to_le_bytes());
        assert_eq!(&buf[8..], b"123456789");
    }

    #[test]
    fn refuses_empty_and_too_long_payloads() {
        let mut out = vec![7];
        assert!(encode(b"", &mut out).is_err());
        assert!(encode(&vec![0; MAX_PAYLOAD + 1], &mut out).is_err());
        assert_eq!(out, [7]);
        encode(&vec![1; MAX_PAYLOAD], &mut out).unwrap();
        let (got, _, stop) = decode_checked(&out[1..]);
        assert_eq!((got.len(), stop), (1, None));
    }

    #[test]
    fn impossible_lengths_are_corrupt() {
        // Zeros (a zero length) and a length above the maximum.
        assert_eq!(decode_checked(&[0; 64]), (vec![], 0, Some(Stop::Corrupt)));
        let mut buf = records(&[b"ok"]);
        buf.extend_from_slice(&((MAX_PAYLOAD + 1) as u32).to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        let (got, offset, stop) = decode_checked(&buf);
        assert_eq!(got, [b"ok".to_vec()]);
        assert_eq!((offset, stop), (10, Some(Stop::Corrupt)));
    }

    #[test]
    fn torn_tail_at_every_offset() {
        let payloads: Vec<&[u8]> = vec![b"first", b"second record", b"third!"];
        let buf = records(&payloads);
        let ends = [13, 34, buf.len()];
        for cut in 0..=buf.len() {
            let (got, offset, stop) = decode_checked(&buf[..cut]);
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got.len(), whole, "cut at {cut}");
            assert_eq!(offset, if whole == 0 { 0 } else { ends[whole - 1] });
            let expected = if offset == cut {
                None
            } else {
                Some(Stop::Torn)
            };
            assert_eq!(stop, expected, "cut at {cut}");
        }
    }

    #[test]
    fn every_flipped_bit_stops_at_or_before_its_record() {
        let payloads: Vec<&[u8]> = vec![b"alpha", b"beta gamma", b"delta"];
        let buf = records(&payloads);
        let ends = [13, 31, buf.len()];
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let (got, offset, stop) = decode_checked(&bad);
            // The record holding the flipped bit and everything after are cut.
            let hit = ends.iter().position(|&e| bit / 8 < e).unwrap();
            assert_eq!(got.len(), hit, "bit {bit}");
            assert_eq!(
                got[..],
                payloads[..hit]
                    .iter()
                    .map(|p| p.to_vec())
                    .collect::<Vec<_>>()[..]
            );
            assert!(stop.is_some());
            assert_eq!(offset, if hit == 0 { 0 } else { ends[hit - 1] });
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
        for round in 0..2000 {
            let len = rng.below(200);
            let mut buf = rng.bytes(len);
            if round % 3 == 0 {
                // Plausible headers: small lengths, sometimes a right checksum.
                let mut framed = records(&[&some(&mut rng, 20)]);
                framed.extend_from_slice(&buf);
                buf = framed;
                let at = rng.below(buf.len());
                buf[at] = rng.below(16) as u8;
            }
            decode_checked(&buf);
        }
    }

    #[test]
    fn valid_records_then_garbage() {
        let mut rng = Rng::new(42);
        for _ in 0..300 {
            let payloads: Vec<Vec<u8>> = (0..rng.below(5)).map(|_| some(&mut rng, 40)).collect();
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut buf = records(&refs);
            let good = buf.len();
            let garbage = some(&mut rng, 30);
            buf.extend_from_slice(&garbage);
            let (got, offset, stop) = decode_checked(&buf);
            // Garbage can by chance frame a record only with a right checksum.
            assert!(got.len() >= payloads.len() && got[..payloads.len()] == payloads[..]);
            assert!(offset >= good);
            if got.len() == payloads.len() {
                assert_eq!((offset, stop.is_some()), (good, true));
            }
        }
    }

    /// A reader that hands out at most `step` bytes per read.
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn scan_matches_decoder_in_any_pieces() {
        let big = vec![5u8; 300 * 1024];
        let payloads: Vec<&[u8]> = vec![b"one", &big, b"three", &big[..1000]];
        let buf = records(&payloads);
        for cut in [buf.len(), buf.len() - 3, 20, 11, 0] {
            for step in [1, 7, 4096, usize::MAX] {
                if step == 1 && cut > 100 {
                    continue;
                }
                let data = &buf[..cut];
                let mut got = Vec::new();
                let scanned = scan(Dribble { data, step }, |p| got.push(p.to_vec())).unwrap();
                let (want, offset, stop) = decode_checked(data);
                assert_eq!(got, want);
                assert_eq!(
                    scanned,
                    Scanned {
                        intact: offset as u64,
                        stop
                    }
                );
            }
        }
        let mut bad = buf.clone();
        bad[20] ^= 1;
        let scanned = scan(&bad[..], |_| {}).unwrap();
        assert_eq!(
            scanned,
            Scanned {
                intact: 11,
                stop: Some(Stop::Corrupt)
            }
        );
    }
}
