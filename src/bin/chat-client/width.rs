//! How much room text takes on a terminal, and where the cursor may stop.
//!
//! The rule kept: the cursor only ever stops between *clusters*, a character
//! with the zero-width ones that follow it (combining accents, variation
//! selectors, skin tones, and whatever a zero-width joiner glues on), so that
//! Left, Backspace and Delete treat `é` (e + U+0301) or a family emoji as the
//! one thing a person sees. Widths are those terminals use: 2 columns for East
//! Asian wide characters and emoji, 0 for the zero-width ones, 1 otherwise.
//! An approximation of Unicode's tables that fits in a page, not a copy of them.

/// The columns `c` takes: 0, 1 or 2.
pub fn char_width(c: char) -> usize {
    if is_zero_width(c) {
        0
    } else if is_wide(c) {
        2
    } else {
        1
    }
}

/// The columns `text` takes.
pub fn width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// Characters drawn on top of the one before them.
fn is_zero_width(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'   // combining diacritical marks
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05BD}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0E31}' | '\u{0E34}'..='\u{0E3A}' | '\u{0E47}'..='\u{0E4E}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200B}'..='\u{200F}' // zero-width space, joiners, marks
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}' // skin tones
        | '\u{E0020}'..='\u{E007F}' // tags
        | '\u{E0100}'..='\u{E01EF}')
}

/// East Asian wide and fullwidth characters, and emoji.
fn is_wide(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{115F}'   // Hangul Jamo
        | '\u{231A}'..='\u{231B}' | '\u{23E9}'..='\u{23EC}' | '\u{23F0}' | '\u{23F3}'
        | '\u{25FD}'..='\u{25FE}' | '\u{2614}'..='\u{2615}' | '\u{2648}'..='\u{2653}'
        | '\u{267F}' | '\u{2693}' | '\u{26A1}' | '\u{26AA}'..='\u{26AB}'
        | '\u{26BD}'..='\u{26BE}' | '\u{26C4}'..='\u{26C5}' | '\u{26CE}' | '\u{26D4}'
        | '\u{26EA}' | '\u{26F2}'..='\u{26F3}' | '\u{26F5}' | '\u{26FA}' | '\u{26FD}'
        | '\u{2705}' | '\u{270A}'..='\u{270B}' | '\u{2728}' | '\u{274C}' | '\u{274E}'
        | '\u{2753}'..='\u{2755}' | '\u{2757}' | '\u{2795}'..='\u{2797}' | '\u{27B0}'
        | '\u{27BF}' | '\u{2B1B}'..='\u{2B1C}' | '\u{2B50}' | '\u{2B55}'
        | '\u{2E80}'..='\u{303E}' // CJK radicals, punctuation
        | '\u{3041}'..='\u{33FF}' // kana, CJK compatibility
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{A000}'..='\u{A4CF}' // Yi
        | '\u{AC00}'..='\u{D7A3}' // Hangul syllables
        | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
        | '\u{FE30}'..='\u{FE4F}'
        | '\u{FF00}'..='\u{FF60}' | '\u{FFE0}'..='\u{FFE6}' // fullwidth forms
        | '\u{1F004}' | '\u{1F0CF}' | '\u{1F18E}' | '\u{1F191}'..='\u{1F19A}'
        | '\u{1F200}'..='\u{1F251}'
        | '\u{1F300}'..='\u{1F64F}' // pictographs, emoticons
        | '\u{1F680}'..='\u{1F6FF}' // transport
        | '\u{1F7E0}'..='\u{1F7EB}'
        | '\u{1F90C}'..='\u{1F9FF}' // supplemental symbols
        | '\u{1FA70}'..='\u{1FAFF}'
        | '\u{20000}'..='\u{3FFFD}') // CJK extensions B and on
}

/// The byte index where the cluster that starts at `at` ends (`text.len()` at most).
pub fn next_boundary(text: &str, at: usize) -> usize {
    let mut chars = text.get(at..).unwrap_or("").char_indices().peekable();
    let Some((_, first)) = chars.next() else {
        return text.len();
    };
    let mut joined = first == '\u{200D}';
    while let Some(&(i, c)) = chars.peek() {
        if joined || is_zero_width(c) {
            joined = c == '\u{200D}';
            chars.next();
        } else {
            return at + i;
        }
    }
    text.len()
}

/// The byte index where the cluster that ends at `at` starts (0 at least).
pub fn prev_boundary(text: &str, at: usize) -> usize {
    let mut start = 0;
    while start < at {
        let next = next_boundary(text, start);
        if next >= at {
            return start;
        }
        start = next;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_of_what_people_type() {
        assert_eq!(width("hello"), 5);
        assert_eq!(width("日本語"), 6);
        assert_eq!(width("한국"), 4);
        assert_eq!(width("🎉"), 2);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(width("👍🏽"), 2);
        assert_eq!(width("ｆｕｌｌ"), 8);
    }

    #[test]
    fn clusters_are_stepped_over_whole() {
        let text = "ae\u{301}🎉👍🏽👨\u{200D}👩\u{200D}👧x";
        let mut stops = vec![0];
        while let Some(&last) = stops.last() {
            if last == text.len() {
                break;
            }
            stops.push(next_boundary(text, last));
        }
        let clusters: Vec<&str> = stops.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        assert_eq!(
            clusters,
            ["a", "e\u{301}", "🎉", "👍🏽", "👨\u{200D}👩\u{200D}👧", "x"]
        );
        for pair in stops.windows(2) {
            assert_eq!(prev_boundary(text, pair[1]), pair[0]);
        }
        assert_eq!(prev_boundary(text, 0), 0);
        assert_eq!(next_boundary(text, text.len()), text.len());
    }
}
