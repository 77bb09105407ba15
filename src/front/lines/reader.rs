//! Reading a client's byte stream as lines, with bounded memory whatever it sends.
//!
//! [`LineReader`] splits the stream on `\n`. A line longer than the limit is
//! reported once as [`Next::TooLong`] and the rest of it, however long, is
//! skipped without being stored. Telnet's in-band commands (`IAC …`, e.g. the
//! `FF F4 FF FD 06` telnet sends for Ctrl-C) are removed from the stream before
//! splitting: byte `0xFF` never occurs in UTF-8 text, so nothing a person typed
//! is lost. Option requests are politely refused (`DO x` → `WONT x`, `WILL x` →
//! `DONT x`), which is what makes telnet's Ctrl-C come back to life instead of
//! waiting forever for an answer.

use std::io::{self, Read};

/// How much is read from the socket at a time. Lines longer than this are
/// assembled in a separate buffer that grows only as far as the line limit.
const READ_CHUNK: usize = 1024;

/// After a read that filled the whole chunk, the session's flush point is
/// skipped while more bytes are ready to read, at most this many times in a
/// row: a client that sends a burst gets it all handled before the replies
/// and broadcasts go out, so that every recipient gets the burst's lines in a
/// few `send`s rather than one per chunk (and lines from others ride along),
/// while a client that never stops sending still has them flushed every
/// 16 KiB of input.
const MAX_SKIPPED_FLUSHES: u32 = 15;

/// At most this many telnet reply bytes wait to be sent; a client that spams
/// option requests gets no more answers than that between two reads.
const MAX_TELNET_REPLY: usize = 64;

/// The length of one telnet refusal (`IAC WONT x`, `IAC DONT x`).
const REFUSAL_LEN: usize = 3;

/// What the transport has for the session next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// One line, without its `\n` (not yet checked for UTF-8).
    Line(&'a [u8]),
    /// A line over the limit; the rest of it is skipped.
    TooLong,
    /// Bytes the transport must send back as they are (one telnet refusal).
    Reply(Vec<u8>),
    /// The peer closed its side.
    Closed,
}

/// Splits a stream into bounded lines. See the module documentation.
pub struct LineReader<R> {
    inner: R,
    chunk: Box<[u8]>,
    /// The unread part of `chunk` is `chunk[start..end]`.
    start: usize,
    end: usize,
    /// The current line when it spans more than one read.
    partial: Vec<u8>,
    /// Whether `partial` holds a line already returned, to clear on the next call.
    returned_partial: bool,
    /// Whether we are skipping the rest of an over-long line.
    skipping: bool,
    /// Whether the last read filled the whole chunk (more may be waiting).
    last_read_full: bool,
    /// Flush points skipped in a row since (see [`MAX_SKIPPED_FLUSHES`]).
    skipped_flushes: u32,
    max_line: usize,
    telnet: TelnetFilter,
}

impl<R: Read> LineReader<R> {
    /// A reader returning lines of at most `max_line` bytes.
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            partial: Vec::new(),
            returned_partial: false,
            skipping: false,
            last_read_full: false,
            skipped_flushes: 0,
            max_line,
            telnet: TelnetFilter::default(),
        }
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next line or event. Read errors (including a read timeout) are passed
    /// through unchanged; calling again after a timeout carries on where it was.
    pub fn read_next(&mut self) -> io::Result<Next<'_>> {
        self.read_next_or_wait(&mut || {}, &|| false)
    }

    /// Like [`LineReader::read_next`], and calls `before_wait` each time it
    /// is about to read from the stream, which may wait for the peer; except
    /// right after a read that filled the whole chunk while `more_ready` says
    /// the next read would not wait (at most 15 times in a row, see `MAX_SKIPPED_FLUSHES`).
    pub fn read_next_or_wait(
        &mut self,
        before_wait: &mut dyn FnMut(),
        more_ready: &dyn Fn() -> bool,
    ) -> io::Result<Next<'_>> {
        if self.returned_partial {
            self.returned_partial = false;
            self.partial.clear();
            if self.partial.capacity() > READ_CHUNK {
                self.partial = Vec::new();
            }
        }
        loop {
            if !self.telnet.replies.is_empty() {
                // One refusal at a time: each is one request answered, which
                // the session's flood limit counts.
                let one = self.telnet.replies.len().min(REFUSAL_LEN);
                return Ok(Next::Reply(self.telnet.replies.drain(..one).collect()));
            }
            if self.start == self.end {
                let skip = self.last_read_full
                    && self.skipped_flushes < MAX_SKIPPED_FLUSHES
                    && more_ready();
                if skip {
                    self.skipped_flushes += 1;
                } else {
                    self.skipped_flushes = 0;
                    before_wait();
                }
                let n = self.inner.read(&mut self.chunk)?;
                self.last_read_full = n == self.chunk.len();
                if n == 0 {
                    return Ok(self.at_end_of_stream());
                }
                self.start = 0;
                self.end = self.telnet.filter(&mut self.chunk[..n]);
                continue;
            }
            let unread = &self.chunk[self.start..self.end];
            match unread.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line_start = self.start;
                    self.start += i + 1;
                    if std::mem::take(&mut self.skipping) {
                        continue;
                    }
                    if self.partial.len() + i > self.max_line {
                        self.partial.clear();
                        return Ok(Next::TooLong);
                    }
                    if self.partial.is_empty() {
                        return Ok(Next::Line(&self.chunk[line_start..line_start + i]));
                    }
                    self.partial
                        .extend_from_slice(&self.chunk[line_start..line_start + i]);
                    self.returned_partial = true;
                    return Ok(Next::Line(&self.partial));
                }
                None => {
                    let len = unread.len();
                    self.start = self.end;
                    if self.skipping {
                        continue;
                    }
                    if self.partial.len() + len > self.max_line {
                        self.partial.clear();
                        self.skipping = true;
                        return Ok(Next::TooLong);
                    }
                    self.partial
                        .extend_from_slice(&self.chunk[self.end - len..self.end]);
                }
            }
        }
    }

    /// At end of stream, a last line without `\n` still counts (someone pressed
    /// Ctrl-D mid-line in `nc`); after that, the stream is closed.
    fn at_end_of_stream(&mut self) -> Next<'_> {
        if self.skipping || self.partial.is_empty() {
            self.skipping = false;
            return Next::Closed;
        }
        self.returned_partial = true;
        Next::Line(&self.partial)
    }
}

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
enum TelnetState {
    #[default]
    Data,
    /// After `IAC`.
    Command,
    /// After `IAC WILL/WONT/DO/DONT`: the option byte comes next.
    Option(u8),
    /// Inside `IAC SB … IAC SE`.
    Subnegotiation,
    /// After `IAC` inside a subnegotiation.
    SubnegotiationIac,
}

/// Removes telnet commands from the byte stream, across reads.
#[derive(Default)]
struct TelnetFilter {
    state: TelnetState,
    replies: Vec<u8>,
}

impl TelnetFilter {
    /// Filters `buf` in place and returns how many bytes of data remain at its start.
    fn filter(&mut self, buf: &mut [u8]) -> usize {
        if self.state == TelnetState::Data && !buf.contains(&IAC) {
            return buf.len();
        }
        let mut kept = 0;
        for i in 0..buf.len() {
            let byte = buf[i];
            self.state = match (self.state, byte) {
                (TelnetState::Data, IAC) => TelnetState::Command,
                (TelnetState::Data, _) => {
                    buf[kept] = byte;
                    kept += 1;
                    TelnetState::Data
                }
                // `IAC IAC` is a literal 0xFF: keep it, so UTF-8 checking refuses the line.
                (TelnetState::Command, IAC) => {
                    buf[kept] = IAC;
                    kept += 1;
                    TelnetState::Data
                }
                (TelnetState::Command, WILL..=DONT) => TelnetState::Option(byte),
                (TelnetState::Command, SB) => TelnetState::Subnegotiation,
                (TelnetState::Command, _) => TelnetState::Data,
                (TelnetState::Option(verb), option) => {
                    let refusal = match verb {
                        DO => Some(WONT),
                        WILL => Some(DONT),
                        _ => None, // WONT / DONT: we are already off, nothing to say
                    };
                    if let Some(refusal) = refusal {
                        if self.replies.len() + REFUSAL_LEN <= MAX_TELNET_REPLY {
                            self.replies.extend_from_slice(&[IAC, refusal, option]);
                        }
                    }
                    TelnetState::Data
                }
                (TelnetState::Subnegotiation, IAC) => TelnetState::SubnegotiationIac,
                (TelnetState::Subnegotiation, _) => TelnetState::Subnegotiation,
                (TelnetState::SubnegotiationIac, SE) => TelnetState::Data,
                (TelnetState::SubnegotiationIac, _) => TelnetState::Subnegotiation,
            };
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_read_before_the_flush_point_but_not_forever() {
        // 40 chunks of lines, every read filling the chunk.
        let line = b"MSG 0123456789abcdef0123456789abcdef0123456789abcdef012345678\n";
        let data: Vec<u8> = line.iter().copied().cycle().take(40 * READ_CHUNK).collect();
        let count_flushes = |more_ready: bool| {
            let mut reader = LineReader::new(&data[..], 4096);
            let mut flushes = 0;
            let mut lines = 0;
            loop {
                match reader.read_next_or_wait(&mut || flushes += 1, &|| more_ready) {
                    Ok(Next::Line(_)) => lines += 1,
                    Ok(Next::Closed) => break,
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(
                lines,
                data.len().div_ceil(line.len()),
                "the last one unfinished"
            );
            flushes
        };
        // Flushed before the first read and once every 16 chunks; the read
        // that finds the end follows a full one (skipped), and after the last,
        // unfinished line is handed out, one more read finds the end again.
        assert_eq!(count_flushes(true), 1 + 2 + 1);
        // Nothing more ready: flushed before every read, as it may wait.
        assert_eq!(count_flushes(false), 40 + 2);
    }

    /// A reader that hands out its data in pieces of the given sizes.
    struct Pieces {
        data: Vec<u8>,
        sizes: Vec<usize>,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = if self.sizes.is_empty() {
                self.data.len()
            } else {
                self.sizes.remove(0)
            };
            let n = want.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data.drain(..n);
            Ok(n)
        }
    }

    fn events(data: &[u8], sizes: Vec<usize>, max_line: usize) -> Vec<String> {
        let mut reader = LineReader::new(
            Pieces {
                data: data.to_vec(),
                sizes,
            },
            max_line,
        );
        let mut out = Vec::new();
        for _ in 0..1000 {
            match reader.read_next().unwrap() {
                Next::Line(l) => out.push(format!("line {}", String::from_utf8_lossy(l))),
                Next::TooLong => out.push("too-long".into()),
                Next::Reply(r) => out.push(format!("reply {r:?}")),
                Next::Closed => return out,
            }
        }
        panic!("no end of stream");
    }

    #[test]
    fn lines_split_at_every_offset_come_out_whole() {
        let data = b"LOGIN alice\r\nMSG hi\n\nPING\n";
        for cut in 1..data.len() {
            let got = events(data, vec![cut, 1, 3, 100], 100);
            assert_eq!(
                got,
                ["line LOGIN alice\r", "line MSG hi", "line ", "line PING"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn last_line_without_newline_counts() {
        assert_eq!(events(b"a\nb", vec![], 10), ["line a", "line b"]);
    }

    #[test]
    fn long_lines_are_reported_once_and_skipped() {
        let mut data = vec![b'x'; 10_000];
        data.extend_from_slice(b"\nPING\n");
        assert_eq!(
            events(&data, vec![], 4096),
            ["too-long", "line PING"],
            "spanning reads"
        );
        assert_eq!(
            events(b"12345678901\nok\n", vec![], 10),
            ["too-long", "line ok"],
            "within one read"
        );
        assert_eq!(events(b"1234567890\n", vec![], 10), ["line 1234567890"]);
        let mut data = vec![b'y'; 5000];
        data.extend_from_slice(b"\n");
        assert_eq!(events(&data, vec![1000; 5], 4096), ["too-long"]);
    }

    #[test]
    fn partial_buffer_never_exceeds_the_limit() {
        let data = vec![b'z'; 1 << 20];
        let mut reader = LineReader::new(&data[..], 4096);
        assert_eq!(reader.read_next().unwrap(), Next::TooLong);
        assert_eq!(reader.read_next().unwrap(), Next::Closed);
        assert!(reader.partial.capacity() <= 4096 + READ_CHUNK);
    }

    #[test]
    fn telnet_commands_are_removed_and_refused() {
        // Ctrl-C in telnet: IAC IP, IAC DO TIMING-MARK.
        let data = b"MS\xff\xf4\xff\xfd\x06G hi\n";
        for cut in 1..data.len() {
            let got = events(data, vec![cut, 1, 100], 100);
            assert_eq!(got, ["reply [255, 252, 6]", "line MSG hi"], "cut at {cut}");
        }
        assert_eq!(
            events(
                b"\xff\xfb\x01\xff\xfe\x01a\xff\xfa\x18\x01\xff\xf0b\n",
                vec![],
                100
            ),
            ["reply [255, 254, 1]", "line ab"]
        );
        assert_eq!(events(b"a\xff\xffb\n", vec![], 100), ["line a\u{FFFD}b"]);
    }

    #[test]
    fn each_option_request_is_answered_on_its_own() {
        // Each answer is one event, so a flood of requests is counted as one.
        assert_eq!(
            events(b"\xff\xfd\x01\xff\xfd\x03\xff\xfb\x18ok\n", vec![], 100),
            [
                "reply [255, 252, 1]",
                "reply [255, 252, 3]",
                "reply [255, 254, 24]",
                "line ok"
            ]
        );
    }
}
