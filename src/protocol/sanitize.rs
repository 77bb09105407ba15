//! Text from one client made safe to show on another's terminal.

use std::borrow::Cow;

/// Makes text from one client safe to show on another's terminal: every control
/// character except TAB (C0, DEL, C1, and therefore every escape sequence) is
/// replaced by U+FFFD, so readers can see that something was there but nothing
/// can move their cursor or clear their screen. So are the bidirectional
/// embeddings, overrides and isolates (`U+202E txt.exe` would show reversed)
/// and the line and paragraph separators, which break lines in a page.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && c != '\t') || is_layout_control(c);
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if unsafe_char(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

/// Invisible characters that rearrange or break the text around them: U+202A–
/// U+202E (bidi embeddings and overrides), U+2066–U+2069 (bidi isolates),
/// U+2028 and U+2029 (line and paragraph separators). The zero-width joiner
/// (U+200D) is not one of them: emoji sequences need it.
fn is_layout_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_line_separators_are_replaced_but_joiners_kept() {
        // `look: U+202E txt.exe` would show as `look: exe.txt`.
        assert_eq!(sanitize("look: \u{202E}txt.exe"), "look: \u{FFFD}txt.exe");
        let bidi = "\u{202A}\u{202B}\u{202C}\u{202D}\u{202E}\u{2066}\u{2067}\u{2068}\u{2069}";
        assert_eq!(sanitize(bidi), "\u{FFFD}".repeat(9));
        assert_eq!(sanitize("one\u{2028}two\u{2029}"), "one\u{FFFD}two\u{FFFD}");
        // Their neighbours are ordinary text.
        assert_eq!(
            sanitize("\u{2027}\u{202F}\u{2070}"),
            "\u{2027}\u{202F}\u{2070}"
        );
        // The zero-width joiner builds emoji sequences: it stays.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert!(matches!(sanitize(family), Cow::Borrowed(_)));
    }
}
