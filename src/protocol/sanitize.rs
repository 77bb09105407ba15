//! Text from one client made safe to show on another's terminal.

use std::borrow::Cow;

/// Makes text from one client safe to show on another's terminal: every control
/// character except TAB (C0, DEL, C1, and therefore every escape sequence) is
/// replaced by U+FFFD, so readers can see that something was there but nothing
/// can move their cursor or clear their screen.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if unsafe_char(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}
