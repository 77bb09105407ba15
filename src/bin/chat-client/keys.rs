//! The keyboard's bytes as keys: UTF-8 text, control keys and the escape
//! sequences terminals send for arrows, Home, End and Delete.
//!
//! The rule kept: an escape sequence this decoder does not know is swallowed
//! whole, never turned into text, so `\x1b[1;5Q` or a function key cannot end
//! up in a message. Sequences and characters may be split across reads: the
//! decoder keeps the unfinished part (a few bytes, bounded).

/// One key press, or a run of text (typed or pasted) between control keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Text(String),
    Enter,
    Tab,
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    /// Ctrl and a letter not listed above, lower case: `Ctrl('w')`.
    Ctrl(char),
}

/// An escape sequence longer than this is not one a terminal sends for a key.
const MAX_SEQUENCE: usize = 32;

/// Turns bytes into [`Key`]s, across reads.
#[derive(Debug, Default)]
pub struct Decoder {
    /// An unfinished escape sequence, `ESC` included.
    sequence: Vec<u8>,
    /// The first bytes of an unfinished UTF-8 character.
    partial: Vec<u8>,
    /// Skipping the rest of a CSI sequence too long to be a key's.
    swallowing: bool,
}

impl Decoder {
    /// The keys in `bytes`, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        let mut keys = Vec::new();
        let mut text = String::new();
        for &byte in bytes {
            if self.swallowing {
                self.swallowing = (0x20..=0x3f).contains(&byte);
                continue;
            }
            if !self.sequence.is_empty() {
                self.sequence.push(byte);
                if let Some(done) = self.sequence_done() {
                    self.swallowing = self.sequence.len() > MAX_SEQUENCE + 1
                        && self.sequence.get(1) == Some(&b'[')
                        && (0x20..=0x3f).contains(&byte);
                    self.sequence.clear();
                    if let Some(key) = done {
                        flush_text(&mut text, &mut keys);
                        keys.push(key);
                    }
                }
                continue;
            }
            if byte >= 0x80 {
                self.push_utf8(byte, &mut text);
                continue;
            }
            self.partial.clear();
            match byte {
                0x1b => self.sequence.push(byte),
                0x20..=0x7e => text.push(char::from(byte)),
                control => {
                    if let Some(key) = control_key(control) {
                        flush_text(&mut text, &mut keys);
                        keys.push(key);
                    }
                }
            }
        }
        flush_text(&mut text, &mut keys);
        keys
    }

    /// Whether an escape sequence is unfinished: a lone `ESC` (the Escape key)
    /// is only known to be one when nothing follows it for a moment.
    pub fn pending(&self) -> bool {
        !self.sequence.is_empty()
    }

    /// Nothing followed: the unfinished sequence was the Escape key, ignored.
    pub fn timed_out(&mut self) {
        self.sequence.clear();
    }

    fn push_utf8(&mut self, byte: u8, text: &mut String) {
        if byte & 0xc0 != 0x80 {
            // A new lead byte drops whatever was unfinished.
            self.partial.clear();
        } else if self.partial.is_empty() {
            return; // a stray continuation byte
        }
        self.partial.push(byte);
        match std::str::from_utf8(&self.partial) {
            Ok(done) => {
                text.extend(done.chars().filter(|c| !c.is_control()));
                self.partial.clear();
            }
            Err(err) if err.error_len().is_some() || self.partial.len() >= 4 => {
                self.partial.clear();
            }
            Err(_) => {}
        }
    }

    /// `Some(key)` once the sequence is complete (`Some(None)` for one that is
    /// not a key we know); `None` while it goes on.
    fn sequence_done(&self) -> Option<Option<Key>> {
        let seq = &self.sequence[1..];
        let (&last, body) = seq.split_last()?;
        if seq.len() > MAX_SEQUENCE {
            return Some(None);
        }
        match body.first() {
            // ESC alone followed by something: Alt and a key, ignored.
            None if last != b'[' && last != b'O' => Some(None),
            None => None,
            // SS3: ESC O and one letter.
            Some(b'O') => Some(match last {
                b'A' => Some(Key::Up),
                b'B' => Some(Key::Down),
                b'C' => Some(Key::Right),
                b'D' => Some(Key::Left),
                b'H' => Some(Key::Home),
                b'F' => Some(Key::End),
                _ => None,
            }),
            // CSI: parameters and intermediates, then a final byte 0x40-0x7e.
            Some(b'[') if (0x40..=0x7e).contains(&last) => Some(csi_key(&body[1..], last)),
            Some(b'[') if (0x20..=0x3f).contains(&last) => None,
            // Anything else is not a key sequence: dropped at its first odd byte.
            _ => Some(None),
        }
    }
}

fn flush_text(text: &mut String, keys: &mut Vec<Key>) {
    if !text.is_empty() {
        keys.push(Key::Text(std::mem::take(text)));
    }
}

/// A CSI sequence's key: its parameters and its final byte. Modifiers
/// (`1;5C` for Ctrl-Right) are accepted and ignored.
fn csi_key(params: &[u8], last: u8) -> Option<Key> {
    let first_param = params.split(|&b| b == b';').next().unwrap_or(&[]);
    match (last, first_param) {
        (b'A', _) => Some(Key::Up),
        (b'B', _) => Some(Key::Down),
        (b'C', _) => Some(Key::Right),
        (b'D', _) => Some(Key::Left),
        (b'H', _) => Some(Key::Home),
        (b'F', _) => Some(Key::End),
        (b'~', b"1" | b"7") => Some(Key::Home),
        (b'~', b"4" | b"8") => Some(Key::End),
        (b'~', b"3") => Some(Key::Delete),
        _ => None,
    }
}

/// The key for a control byte, if it is one the client uses.
fn control_key(byte: u8) -> Option<Key> {
    match byte {
        b'\r' | b'\n' => Some(Key::Enter),
        b'\t' => Some(Key::Tab),
        0x08 | 0x7f => Some(Key::Backspace),
        0x01..=0x1a => Some(Key::Ctrl(char::from(b'a' + byte - 1))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        Decoder::default().feed(bytes)
    }

    fn text(s: &str) -> Key {
        Key::Text(s.into())
    }

    #[test]
    fn text_and_control_keys() {
        assert_eq!(keys(b"hi\x7f\r"), [text("hi"), Key::Backspace, Key::Enter]);
        assert_eq!(
            keys(b"\x01\x05\x17\x15\x0b\x04\x03\x0c\x1a\t"),
            [
                Key::Ctrl('a'),
                Key::Ctrl('e'),
                Key::Ctrl('w'),
                Key::Ctrl('u'),
                Key::Ctrl('k'),
                Key::Ctrl('d'),
                Key::Ctrl('c'),
                Key::Ctrl('l'),
                Key::Ctrl('z'),
                Key::Tab
            ]
        );
        // A paste of two lines is two lines.
        assert_eq!(
            keys(b"one\r\ntwo\r"),
            [text("one"), Key::Enter, Key::Enter, text("two"), Key::Enter]
        );
    }

    #[test]
    fn arrows_home_end_delete_in_every_spelling() {
        assert_eq!(
            keys(b"\x1b[A\x1b[B\x1b[C\x1b[D\x1bOA\x1bOD"),
            [
                Key::Up,
                Key::Down,
                Key::Right,
                Key::Left,
                Key::Up,
                Key::Left
            ]
        );
        assert_eq!(
            keys(b"\x1b[H\x1b[F\x1b[1~\x1b[4~\x1b[7~\x1b[8~\x1bOH\x1bOF\x1b[3~"),
            [
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Delete
            ]
        );
        assert_eq!(keys(b"\x1b[1;5C"), [Key::Right]);
    }

    #[test]
    fn unknown_sequences_are_swallowed_never_typed() {
        assert_eq!(keys(b"a\x1b[15~b"), [text("ab")]);
        assert_eq!(keys(b"\x1b[200~x"), [text("x")]);
        assert_eq!(keys(b"\x1bOPz"), [text("z")]);
        assert_eq!(keys(b"\x1bbx"), [text("x")], "Alt-b");
        let long: Vec<u8> = [b"\x1b[".as_slice(), &[b'1'; 40], b"A"].concat();
        assert_eq!(
            keys(&long),
            [],
            "an over-long sequence is swallowed to its end"
        );
        assert!(!keys(b"\x1b[31m").iter().any(|k| matches!(k, Key::Text(_))));
    }

    #[test]
    fn sequences_and_characters_split_across_reads() {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.feed(b"\x1b"), []);
        assert!(decoder.pending());
        assert_eq!(decoder.feed(b"["), []);
        assert_eq!(decoder.feed(b"D"), [Key::Left]);
        let heart = "é日🎉".as_bytes();
        let mut got = Vec::new();
        for byte in heart {
            got.extend(decoder.feed(&[*byte]));
        }
        assert_eq!(got, [text("é"), text("日"), text("🎉")]);
        // The Escape key alone: nothing, once it is known to be alone.
        decoder.feed(b"\x1b");
        decoder.timed_out();
        assert_eq!(decoder.feed(b"x"), [text("x")]);
        // Broken UTF-8 is dropped, the rest kept.
        assert_eq!(decoder.feed(b"\xffa\xe6\x97b"), [text("ab")]);
    }
}
