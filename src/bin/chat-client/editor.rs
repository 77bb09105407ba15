//! The input line as a pure state machine: [`Key`]s in, a buffer and a cursor
//! out, with this session's history of submitted lines and Tab completion.
//! No terminal in sight: it is unit-tested key by key.
//!
//! The rules kept: the cursor is always on a cluster boundary of the buffer
//! (see [`crate::width`]), so no edit ever splits a character, an accent from
//! its letter, or an emoji sequence; and while a password is typed
//! ([`Editor::set_hidden`]) nothing of it reaches the history, Up and Down
//! recall nothing into it, and the line being typed before waits aside.

use crate::keys::Key;
use crate::width::{next_boundary, prev_boundary};

/// At most this many submitted lines are remembered for Up and Down.
const MAX_HISTORY: usize = 500;

/// The longest buffer kept, in bytes; typing or pasting beyond it is ignored
/// (the server's limit is far lower, and is said when the line is sent).
pub const MAX_BUFFER: usize = 64 * 1024;

/// What a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pressed {
    /// The buffer or the cursor may have changed: redraw the line.
    Edited,
    /// Enter: this line was submitted, and the buffer is empty again.
    Submitted(String),
    /// Not an editing key: the caller decides.
    Other,
}

/// The input line.
#[derive(Debug, Default)]
pub struct Editor {
    buffer: String,
    /// A byte index into `buffer`, on a cluster boundary.
    cursor: usize,
    /// Lines submitted, oldest first.
    history: Vec<String>,
    /// While browsing with Up and Down: which history entry is shown, and the
    /// line that was being typed before.
    browsing: Option<(usize, String)>,
    /// While a password is typed: the line (and cursor) that was being typed
    /// before, given back afterwards.
    hidden: Option<(String, usize)>,
}

impl Editor {
    pub fn buffer(&self) -> &str {
        &self.buffer
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Starts (or ends) typing a password: what the buffer held is put
    /// aside (or back), so neither is mixed with the other.
    pub fn set_hidden(&mut self, hidden: bool) {
        if hidden == self.hidden.is_some() {
            return;
        }
        self.browsing = None;
        let (buffer, cursor) = self.hidden.take().unwrap_or_default();
        let previous = (std::mem::replace(&mut self.buffer, buffer), self.cursor);
        self.cursor = cursor;
        if hidden {
            self.hidden = Some(previous);
        }
    }

    pub fn is_hidden(&self) -> bool {
        self.hidden.is_some()
    }

    /// Handles one key.
    pub fn press(&mut self, key: &Key) -> Pressed {
        match key {
            Key::Text(text) => self.insert(text),
            Key::Enter if self.hidden.is_some() => return Pressed::Submitted(self.take()),
            Key::Up | Key::Ctrl('p') | Key::Down | Key::Ctrl('n') if self.hidden.is_some() => {}
            Key::Enter => return Pressed::Submitted(self.submit()),
            Key::Left | Key::Ctrl('b') => self.cursor = prev_boundary(&self.buffer, self.cursor),
            Key::Right | Key::Ctrl('f') => self.cursor = next_boundary(&self.buffer, self.cursor),
            Key::Home | Key::Ctrl('a') => self.cursor = 0,
            Key::End | Key::Ctrl('e') => self.cursor = self.buffer.len(),
            Key::Backspace | Key::Ctrl('h') => {
                let start = prev_boundary(&self.buffer, self.cursor);
                self.remove(start, self.cursor);
            }
            Key::Delete => self.remove(self.cursor, next_boundary(&self.buffer, self.cursor)),
            Key::Ctrl('w') => self.remove(self.word_start(), self.cursor),
            Key::Ctrl('u') => self.remove(0, self.cursor),
            Key::Ctrl('k') => self.remove(self.cursor, self.buffer.len()),
            Key::Up | Key::Ctrl('p') => self.recall_older(),
            Key::Down | Key::Ctrl('n') => self.recall_newer(),
            _ => return Pressed::Other,
        }
        Pressed::Edited
    }

    /// Empties the buffer without remembering what it held: a password, or
    /// a line that carries one.
    pub fn take(&mut self) -> String {
        self.browsing = None;
        self.cursor = 0;
        std::mem::take(&mut self.buffer)
    }

    /// Empties the buffer, remembering what it held in the history.
    fn submit(&mut self) -> String {
        let line = self.take();
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == MAX_HISTORY {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        line
    }

    /// Puts `line` back for more editing (a line that could not be sent).
    pub fn restore(&mut self, line: String) {
        self.buffer = line;
        self.cursor = self.buffer.len();
    }

    fn insert(&mut self, text: &str) {
        let room = MAX_BUFFER.saturating_sub(self.buffer.len());
        let mut end = text.len().min(room);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.buffer.insert_str(self.cursor, &text[..end]);
        // After an accent typed on its own, the cursor must not stop inside
        // the cluster it joined.
        self.cursor = next_boundary(&self.buffer, prev_boundary(&self.buffer, self.cursor + end));
    }

    fn remove(&mut self, start: usize, end: usize) {
        if start < end {
            self.buffer.replace_range(start..end, "");
            self.cursor = start;
        }
    }

    /// Where the word before the cursor starts: spaces first, then the word.
    fn word_start(&self) -> usize {
        let before = &self.buffer[..self.cursor];
        let trimmed = before.trim_end();
        trimmed.rfind(char::is_whitespace).map_or(0, |i| {
            i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
        })
    }

    fn recall_older(&mut self) {
        let index = match &self.browsing {
            Some((0, _)) => return,
            Some((index, _)) => index - 1,
            None if self.history.is_empty() => return,
            None => {
                let draft = std::mem::take(&mut self.buffer);
                self.browsing = Some((self.history.len(), draft));
                self.history.len() - 1
            }
        };
        if let Some((shown, _)) = &mut self.browsing {
            *shown = index;
        }
        self.show(self.history.get(index).cloned().unwrap_or_default());
    }

    fn recall_newer(&mut self) {
        let Some((index, _)) = &self.browsing else {
            return;
        };
        let next = index + 1;
        if next >= self.history.len() {
            let draft = self.browsing.take().map(|(_, draft)| draft);
            self.show(draft.unwrap_or_default());
        } else {
            if let Some((shown, _)) = &mut self.browsing {
                *shown = next;
            }
            self.show(self.history.get(next).cloned().unwrap_or_default());
        }
    }

    fn show(&mut self, line: String) {
        self.buffer = line;
        self.cursor = self.buffer.len();
    }

    /// The word the cursor is at the end of, for completion, and whether it
    /// is the first word of the line.
    pub fn word_to_complete(&self) -> (&str, bool) {
        let start = self.word_start_no_spaces();
        (
            &self.buffer[start..self.cursor],
            self.buffer[..start].trim().is_empty(),
        )
    }

    fn word_start_no_spaces(&self) -> usize {
        self.buffer[..self.cursor]
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + 1)
    }

    /// Completes the word before the cursor from `candidates`: a single match
    /// is filled in with `suffix` after it; several extend the word to what
    /// they share, and are returned so the caller can list them.
    pub fn complete(&mut self, candidates: &[String], suffix: &str) -> Vec<String> {
        let (word, _) = self.word_to_complete();
        if word.is_empty() {
            return Vec::new();
        }
        let matching: Vec<String> = candidates
            .iter()
            .filter(|c| {
                c.get(..word.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(word))
            })
            .cloned()
            .collect();
        let start = self.word_start_no_spaces();
        match matching.as_slice() {
            [] => Vec::new(),
            [only] => {
                let filled = format!("{only}{suffix}");
                self.buffer.replace_range(start..self.cursor, &filled);
                self.cursor = start + filled.len();
                Vec::new()
            }
            [first, rest @ ..] => {
                let shared = rest.iter().fold(first.len(), |len, other| {
                    first
                        .bytes()
                        .zip(other.bytes())
                        .take(len)
                        .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                        .count()
                });
                let mut shared = shared.max(word.len());
                while !first.is_char_boundary(shared) {
                    shared -= 1;
                }
                self.buffer
                    .replace_range(start..self.cursor, &first[..shared]);
                self.cursor = start + shared;
                matching
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types `keys` into a fresh editor (with `history` already submitted)
    /// and returns the buffer with `|` at the cursor.
    fn after(history: &[&str], keys: &[Key]) -> String {
        let mut editor = Editor::default();
        for line in history {
            editor.press(&text(line));
            editor.press(&Key::Enter);
        }
        for key in keys {
            editor.press(key);
        }
        shown(&editor)
    }

    fn shown(editor: &Editor) -> String {
        let (before, after) = editor.buffer().split_at(editor.cursor());
        format!("{before}|{after}")
    }

    fn text(s: &str) -> Key {
        Key::Text(s.into())
    }

    #[test]
    fn typing_and_moving() {
        use Key::*;
        assert_eq!(after(&[], &[text("helo"), Left, text("l")]), "hell|o");
        assert_eq!(
            after(&[], &[text("world"), Home, text("hello ")]),
            "hello |world"
        );
        assert_eq!(after(&[], &[text("ab"), Ctrl('a'), Ctrl('e')]), "ab|");
        assert_eq!(
            after(&[], &[text("ab"), Home, Left, Right, Right, Right]),
            "ab|"
        );
        assert_eq!(after(&[], &[text("abc"), Left, Backspace]), "a|c");
        assert_eq!(after(&[], &[text("abc"), Home, Delete]), "|bc");
        assert_eq!(
            after(&[], &[text("abc"), Home, Backspace, End, Delete]),
            "abc|"
        );
    }

    #[test]
    fn killing_words_and_lines() {
        use Key::*;
        assert_eq!(after(&[], &[text("say hello  "), Ctrl('w')]), "say |");
        assert_eq!(
            after(&[], &[text("one two"), Left, Left, Ctrl('w')]),
            "one |wo"
        );
        assert_eq!(after(&[], &[text("one"), Ctrl('w'), Ctrl('w')]), "|");
        assert_eq!(
            after(&[], &[text("one two"), Left, Left, Left, Ctrl('u')]),
            "|two"
        );
        assert_eq!(after(&[], &[text("one two"), Home, Right, Ctrl('k')]), "o|");
    }

    #[test]
    fn enter_submits_and_remembers() {
        let mut editor = Editor::default();
        editor.press(&text("hi there"));
        editor.press(&Key::Left);
        assert_eq!(
            editor.press(&Key::Enter),
            Pressed::Submitted("hi there".into())
        );
        assert_eq!(shown(&editor), "|");
        assert_eq!(editor.press(&Key::Ctrl('l')), Pressed::Other);
        editor.restore("back".into());
        assert_eq!(shown(&editor), "back|");
    }

    #[test]
    fn up_and_down_walk_the_history_and_keep_the_draft() {
        use Key::*;
        assert_eq!(after(&["first", "second"], &[Up]), "second|");
        assert_eq!(after(&["first", "second"], &[Up, Up, Up]), "first|");
        assert_eq!(
            after(&["first", "second"], &[text("dra"), Up, Up, Down, Down]),
            "dra|"
        );
        assert_eq!(after(&["first", "second"], &[Up, Up, Down]), "second|");
        assert_eq!(after(&[], &[Up, Down, text("x")]), "x|");
        // Blank lines and repeats are not remembered twice.
        assert_eq!(after(&["a", "a", "  "], &[Up, Up]), "a|");
    }

    #[test]
    fn utf8_is_edited_by_what_people_see() {
        use Key::*;
        assert_eq!(after(&[], &[text("日本語"), Left, Backspace]), "日|語");
        assert_eq!(after(&[], &[text("a🎉b"), Left, Left, Delete]), "a|b");
        assert_eq!(
            after(&[], &[text("cafe\u{301}!"), Left, Backspace]),
            "caf|!"
        );
        assert_eq!(
            after(&[], &[text("👨\u{200D}👩\u{200D}👧"), Backspace]),
            "|"
        );
        assert_eq!(after(&[], &[text("e"), text("\u{301}"), Left]), "|e\u{301}");
        assert_eq!(after(&[], &[text("한국어 말"), Ctrl('w')]), "한국어 |");
    }

    #[test]
    fn a_hidden_line_is_kept_out_of_the_history_and_the_draft_waits() {
        use Key::*;
        let mut editor = Editor::default();
        editor.press(&text("said"));
        editor.press(&Enter);
        editor.press(&text("draft"));
        editor.set_hidden(true);
        assert!(editor.is_hidden());
        assert_eq!(shown(&editor), "|");
        editor.press(&Up);
        assert_eq!(shown(&editor), "|", "nothing recalled into a password");
        editor.press(&text("s3cret pw"));
        assert_eq!(editor.press(&Enter), Pressed::Submitted("s3cret pw".into()));
        editor.set_hidden(true);
        editor.set_hidden(false);
        assert_eq!(shown(&editor), "draft|");
        editor.take();
        editor.press(&Up);
        assert_eq!(
            shown(&editor),
            "said|",
            "the password is not in the history"
        );
        editor.press(&Up);
        assert_eq!(shown(&editor), "said|");
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut editor = Editor::default();
        editor.press(&text(&"x".repeat(MAX_BUFFER + 10)));
        editor.press(&text("é"));
        assert_eq!(editor.buffer().len(), MAX_BUFFER);
    }

    #[test]
    fn tab_completion() {
        let names: Vec<String> = ["alice", "alfred", "bob"].map(String::from).to_vec();
        let mut editor = Editor::default();
        editor.press(&text("b"));
        assert!(editor.complete(&names, ": ").is_empty());
        assert_eq!(shown(&editor), "bob: |");
        let mut editor = Editor::default();
        editor.press(&text("hi AL"));
        assert_eq!(editor.word_to_complete(), ("AL", false));
        assert_eq!(editor.complete(&names, " "), ["alice", "alfred"]);
        assert_eq!(shown(&editor), "hi al|");
        editor.press(&text("i"));
        editor.complete(&names, " ");
        assert_eq!(shown(&editor), "hi alice |");
        assert!(
            editor.complete(&names, " ").is_empty(),
            "nothing to complete"
        );
        assert_eq!(shown(&editor), "hi alice |");
    }
}
