//! IRC's framing and message grammar, pure: bytes into bounded lines
//! ([`Framer`]), a line into its command and parameters ([`Message`]).
//!
//! Rules kept here: a line is at most [`MAX_LINE`] bytes counting its
//! `CR LF` (a bare `LF` ends a line too); a longer one is reported once as
//! [`Frame::TooLong`] and the rest of it skipped without being stored, so the
//! buffer never holds more than one line's worth beyond a read. Lines are
//! decoded as UTF-8 lossily (IRC clients still send Latin-1 and friends): a
//! byte that is not UTF-8 becomes U+FFFD, nothing is dropped. Tags (`@…`) and
//! a client's prefix (`:…`) are skipped: no capability that gives them a
//! meaning is offered.

/// The longest line a client may send, `CR LF` included (RFC 1459's 512).
pub const MAX_LINE: usize = 512;

/// What the byte stream holds next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One line, without its `CR LF` or `LF`.
    Line(Vec<u8>),
    /// A line over [`MAX_LINE`]; the rest of it is skipped.
    TooLong,
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes.
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// `buf[..start]` is consumed already.
    start: usize,
    /// Skipping the rest of an over-long line, already reported.
    skipping: bool,
}

impl Framer {
    /// Takes bytes read from the socket. Call only once [`Framer::next`] has
    /// returned `None`, so the buffer stays bounded.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole line or over-long report, or `None` until more bytes
    /// are fed.
    pub fn next(&mut self) -> Option<Frame> {
        loop {
            let unread = &self.buf[self.start..];
            match unread.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let line = &unread[..end];
                    self.start += end + 1;
                    if std::mem::take(&mut self.skipping) {
                        continue;
                    }
                    // `end` bytes before the LF: with CR LF that is 510 + 1.
                    if end >= MAX_LINE {
                        return Some(Frame::TooLong);
                    }
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    return Some(Frame::Line(line.to_vec()));
                }
                None => {
                    if unread.len() >= MAX_LINE {
                        self.start = self.buf.len();
                        if !std::mem::replace(&mut self.skipping, true) {
                            return Some(Frame::TooLong);
                        }
                    }
                    return None;
                }
            }
        }
    }
}

/// One message from a client: its command (as sent; compare it ignoring
/// case) and its parameters, the trailing one included.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub command: &'a str,
    pub params: Vec<&'a str>,
}

impl<'a> Message<'a> {
    /// Parses one decoded line; `None` when it holds no command (blank, or
    /// only tags and a prefix).
    pub fn parse(line: &'a str) -> Option<Message<'a>> {
        let mut rest = line.trim_start_matches(' ');
        // Tags, then a prefix: each is one word, and neither means anything here.
        for marker in ['@', ':'] {
            if rest.starts_with(marker) {
                rest = rest.split_once(' ').map_or("", |(_, after)| after);
                rest = rest.trim_start_matches(' ');
            }
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing);
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param);
            rest = after;
        }
        Some(Message { command, params })
    }

    /// The `i`th parameter, if it is there.
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params.get(i).copied()
    }
}

/// A line's text: UTF-8, with anything else replaced by U+FFFD.
pub fn decode(line: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of `data` fed in pieces of `size` bytes.
    fn frames(data: &[u8], size: usize) -> Vec<Frame> {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for piece in data.chunks(size) {
            framer.feed(piece);
            while let Some(frame) = framer.next() {
                out.push(frame);
            }
            assert!(framer.buf.len() <= MAX_LINE + size, "bounded buffer");
        }
        out
    }

    fn line(text: &str) -> Frame {
        Frame::Line(text.as_bytes().to_vec())
    }

    #[test]
    fn lines_split_at_every_offset_come_out_whole() {
        let data = b"CAP LS 302\r\nNICK alice\nUSER a 0 * :Alice A\r\n\r\nPING x\r\n";
        for size in 1..=data.len() {
            assert_eq!(
                frames(data, size),
                [
                    line("CAP LS 302"),
                    line("NICK alice"),
                    line("USER a 0 * :Alice A"),
                    line(""),
                    line("PING x"),
                ],
                "pieces of {size}"
            );
        }
    }

    #[test]
    fn a_line_of_512_bytes_with_its_crlf_passes_and_one_more_is_too_long() {
        let at_limit = format!("PING {}\r\n", "x".repeat(512 - 7));
        assert_eq!(at_limit.len(), 512);
        let over = format!("PING {}\r\n", "y".repeat(512 - 6));
        let mut data = at_limit.clone().into_bytes();
        data.extend_from_slice(over.as_bytes());
        data.extend_from_slice(b"PING after\r\n");
        for size in [1, 7, 100, 511, 512, 513, 4096] {
            assert_eq!(
                frames(&data, size),
                [
                    line(at_limit.trim_end()),
                    Frame::TooLong,
                    line("PING after")
                ],
                "pieces of {size}"
            );
        }
    }

    #[test]
    fn an_endless_line_is_reported_once_and_never_stored() {
        let mut framer = Framer::default();
        let mut reports = 0;
        for _ in 0..1000 {
            framer.feed(&[b'z'; 1024]);
            while let Some(frame) = framer.next() {
                assert_eq!(frame, Frame::TooLong);
                reports += 1;
            }
            assert!(framer.buf.len() <= MAX_LINE + 1024);
        }
        framer.feed(b"zz\r\nQUIT\r\n");
        assert_eq!(framer.next(), Some(line("QUIT")));
        assert_eq!(reports, 1);
    }

    fn parsed(text: &str) -> (String, Vec<String>) {
        let message = Message::parse(text).expect("a message");
        let params = message.params.iter().map(|p| p.to_string()).collect();
        (message.command.to_string(), params)
    }

    #[test]
    fn commands_params_and_trailing() {
        let p = |params: &[&str]| params.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parsed("PRIVMSG #rust :hello there "),
            ("PRIVMSG".into(), p(&["#rust", "hello there "]))
        );
        assert_eq!(
            parsed("USER alice 0 * :Alice Liddell"),
            ("USER".into(), p(&["alice", "0", "*", "Alice Liddell"]))
        );
        assert_eq!(
            parsed("join  #a,#b   key"),
            ("join".into(), p(&["#a,#b", "key"]))
        );
        assert_eq!(parsed("PING :"), ("PING".into(), p(&[""])));
        assert_eq!(parsed("CAP LIST"), ("CAP".into(), p(&["LIST"])));
        assert_eq!(parsed("QUIT"), ("QUIT".into(), p(&[])));
        assert_eq!(
            parsed("PRIVMSG x ::-)"),
            ("PRIVMSG".into(), p(&["x", ":-)"]))
        );
        assert_eq!(
            parsed("PRIVMSG x a:b"),
            ("PRIVMSG".into(), p(&["x", "a:b"]))
        );
    }

    #[test]
    fn tags_and_prefixes_are_skipped() {
        let p = |params: &[&str]| params.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parsed("@label=1;+draft/typing=active :alice!a@h PRIVMSG #x :hi"),
            ("PRIVMSG".into(), p(&["#x", "hi"]))
        );
        assert_eq!(parsed(":alice NICK bob"), ("NICK".into(), p(&["bob"])));
        assert_eq!(parsed("@a=b PING x"), ("PING".into(), p(&["x"])));
        for nothing in ["", "   ", "@tags", ":prefix", "@tags :prefix", "@t :p   "] {
            assert_eq!(Message::parse(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily_not_dropped() {
        let bytes = b"USER caf\xe9 0 * :Ren\xe9 L\xf6ffler";
        let text = decode(bytes);
        let message = Message::parse(&text).unwrap();
        assert_eq!(message.command, "USER");
        assert_eq!(
            message.params,
            ["caf\u{FFFD}", "0", "*", "Ren\u{FFFD} L\u{FFFD}ffler"]
        );
    }

    #[test]
    fn every_cut_of_a_line_parses_or_not_without_a_panic() {
        let text = "@t=1 :p PRIVMSG #é :héllo 🌍 :x";
        for (i, _) in text.char_indices() {
            let _ = Message::parse(&text[..i]);
            let _ = Message::parse(&text[i..]);
        }
    }
}
