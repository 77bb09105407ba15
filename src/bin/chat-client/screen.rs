//! The terminal's picture: messages scroll in the rows above, the input line
//! stays on the bottom row. Pure: it writes escape sequences into a buffer
//! the caller sends to the terminal, so it is tested without one.
//!
//! The rules kept: incoming lines are only ever written inside the scrolling
//! region (every row but the last), and the input line is redrawn whole on
//! its own row afterwards, so a message never splices into what is being
//! typed; the input line never wraps (it scrolls sideways to keep the cursor
//! in view), so its height is always one row whatever the width; and a
//! resize or Ctrl-L redraws everything from the lines kept here, row by row,
//! without clearing the screen into the terminal's scrollback.

use std::collections::VecDeque;

use crate::width::{char_width, next_boundary, width};

/// Lines kept for redrawing after a resize: more than any screen is tall.
const KEPT: usize = 500;

pub struct Screen {
    cols: usize,
    rows: usize,
    /// The last lines shown, oldest first.
    kept: VecDeque<String>,
    /// Rows of the message area in use, until it is full.
    used: usize,
    /// The input line's first visible column (sideways scrolling).
    scroll: usize,
    out: Vec<u8>,
}

/// The columns `line` takes once its colour codes (`ESC [ … m`) are skipped.
fn visible_width(line: &str) -> usize {
    let mut total = 0;
    let mut in_escape = false;
    for c in line.chars() {
        match c {
            '\x1b' => in_escape = true,
            c if in_escape => in_escape = !c.is_ascii_alphabetic(),
            c => total += char_width(c),
        }
    }
    total
}

impl Screen {
    pub fn new(cols: u16, rows: u16) -> Screen {
        let mut screen = Screen {
            cols: 0,
            rows: 0,
            kept: VecDeque::new(),
            used: 0,
            scroll: 0,
            out: Vec::new(),
        };
        screen.set_size(cols, rows);
        screen
    }

    fn set_size(&mut self, cols: u16, rows: u16) {
        // A screen smaller than this cannot show both parts; it still never panics.
        self.cols = usize::from(cols).max(8);
        self.rows = usize::from(rows).max(3);
    }

    /// Rows for messages: all but the last.
    fn area(&self) -> usize {
        self.rows - 1
    }

    fn rows_of(&self, line: &str) -> usize {
        visible_width(line).div_ceil(self.cols).max(1)
    }

    fn put(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    fn go(&mut self, row: usize, col: usize) {
        self.put(&format!("\x1b[{row};{col}H"));
    }

    /// What to send to the terminal now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Draws everything afresh: after starting, a resize, Ctrl-L, or a stop.
    pub fn redraw(&mut self) {
        self.put("\x1b[?25l\x1b[r");
        for row in 1..=self.rows {
            self.go(row, 1);
            self.put("\x1b[2K");
        }
        self.put(&format!("\x1b[1;{}r", self.area()));
        // The newest lines that fit, printed from the top.
        let mut rows = 0;
        let mut first = self.kept.len();
        while first > 0 {
            let height = self.rows_of(&self.kept[first - 1]);
            if rows + height > self.area() {
                break;
            }
            rows += height;
            first -= 1;
        }
        self.used = 0;
        let lines: Vec<String> = self.kept.iter().skip(first).cloned().collect();
        for line in &lines {
            self.write_line(line);
        }
    }

    /// The window changed size: redraw for the new one.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.set_size(cols, rows);
        self.redraw();
    }

    /// Shows one more line above the input line.
    pub fn print(&mut self, line: &str) {
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(line.to_string());
        self.put("\x1b[?25l");
        self.write_line(line);
    }

    fn write_line(&mut self, line: &str) {
        let line = line.replace('\t', "    ");
        if self.used < self.area() {
            self.go(self.used + 1, 1);
            self.used = (self.used + self.rows_of(&line)).min(self.area());
        } else {
            // The bottom of the scrolling region: a new line scrolls it up.
            self.go(self.area(), 1);
            self.put("\n");
        }
        self.put(&line);
        self.put("\x1b[0m");
    }

    /// Draws the input line on the bottom row: `prompt`, then the part of
    /// `buffer` around `cursor` (a byte index) that fits, and puts the
    /// terminal's cursor there.
    pub fn draw_input(&mut self, prompt: &str, buffer: &str, cursor: usize) {
        // The last column stays empty: writing there would wrap.
        let room = self.cols - 1;
        let prompt: String = fit(prompt, room / 2);
        let text_room = room - width(&prompt);
        let cursor_col = width(buffer.get(..cursor).unwrap_or(buffer));
        if cursor_col < self.scroll {
            self.scroll = cursor_col.saturating_sub(text_room / 4);
        } else if cursor_col >= self.scroll + text_room {
            self.scroll = cursor_col + 1 - text_room;
        }
        let mut visible = String::new();
        let (mut col, mut at) = (0, 0);
        while at < buffer.len() {
            let next = next_boundary(buffer, at);
            let cluster = &buffer[at..next];
            let w = width(cluster);
            if col >= self.scroll && col + w <= self.scroll + text_room {
                visible.push_str(cluster);
            }
            col += w;
            at = next;
        }
        let row = self.rows;
        self.go(row, 1);
        self.put("\x1b[2K");
        self.put(&prompt);
        self.put(&visible);
        self.go(row, width(&prompt) + cursor_col - self.scroll + 1);
        self.put("\x1b[?25h");
    }

    /// Hands the terminal back: whole screen scrolling again, the cursor on
    /// the bottom row, cleared, for the shell's prompt.
    pub fn leave(&mut self) {
        self.put("\x1b[r\x1b[0m");
        self.go(self.rows, 1);
        self.put("\x1b[2K\x1b[?25h");
    }
}

/// The start of `text` that fits in `columns`.
fn fit(text: &str, columns: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|&c| {
            used += char_width(c);
            used <= columns
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(screen: &mut Screen) -> String {
        String::from_utf8(screen.take_output()).unwrap()
    }

    #[test]
    fn messages_fill_the_area_then_scroll_it_and_never_touch_the_input_row() {
        let mut screen = Screen::new(20, 4);
        screen.redraw();
        let start = output(&mut screen);
        assert!(start.contains("\x1b[1;3r"), "scrolling region: {start:?}");
        screen.print("one");
        assert!(output(&mut screen).contains("\x1b[1;1Hone"));
        screen.print("two");
        screen.print("three");
        assert!(output(&mut screen).ends_with("\x1b[3;1Hthree\x1b[0m"));
        screen.print("four");
        assert_eq!(output(&mut screen), "\x1b[?25l\x1b[3;1H\nfour\x1b[0m");
        // A long line takes its rows.
        let mut screen = Screen::new(10, 5);
        screen.print(&"x".repeat(25));
        screen.print("next");
        assert!(output(&mut screen).ends_with("\x1b[4;1Hnext\x1b[0m"));
    }

    #[test]
    fn the_input_line_scrolls_sideways_to_keep_the_cursor_in_view() {
        let mut screen = Screen::new(20, 5);
        screen.draw_input("> ", "hello", 5);
        assert_eq!(
            output(&mut screen),
            "\x1b[5;1H\x1b[2K> hello\x1b[5;8H\x1b[?25h"
        );
        let long = "abcdefghijklmnopqrstuvwxyz";
        screen.draw_input("> ", long, long.len());
        let drawn = output(&mut screen);
        assert!(drawn.contains("> klmnopqrstuvwxyz\x1b[5;19H"), "{drawn:?}");
        screen.draw_input("> ", long, 0);
        let drawn = output(&mut screen);
        assert!(drawn.contains("> abcdefghijklmnopq\x1b[5;3H"), "{drawn:?}");
        // Wide characters count two columns.
        screen.draw_input("> ", "日本", "日".len());
        assert!(output(&mut screen).ends_with("> 日本\x1b[5;5H\x1b[?25h"));
    }

    #[test]
    fn a_redraw_shows_the_newest_lines_that_fit() {
        let mut screen = Screen::new(20, 4);
        for line in ["a", "b", "c", "d"] {
            screen.print(line);
        }
        output(&mut screen);
        screen.resize(30, 3);
        let drawn = output(&mut screen);
        assert!(drawn.contains("\x1b[1;2r"));
        assert!(drawn.contains("c\x1b[0m") && drawn.contains("d\x1b[0m"));
        assert!(!drawn.contains("b\x1b[0m"), "{drawn:?}");
        assert_eq!(visible_width("\x1b[1m\x1b[31mbob\x1b[39m: 日\x1b[22m"), 7);
        screen.leave();
        assert!(output(&mut screen).starts_with("\x1b[r"));
    }
}
