//! Message text between IRC's conventions and the line protocol's: CTCP
//! `ACTION` (`/me`), mIRC formatting codes, and pieces that fit a line.
//!
//! Rules kept: `\x01ACTION waves\x01` from an IRC client is the text
//! `/me waves` for everybody, and any text starting with `/me ` reaches IRC
//! clients as an `ACTION` (a line user's `/me` shows as one in irssi); other
//! CTCP requests and replies are dropped, since only IRC clients could
//! answer them; formatting codes (bold, colours…) are removed rather than
//! shown as U+FFFD to the other fronts. Splitting never cuts a character.

use std::borrow::Cow;

/// What marks an action in the line protocol's text.
pub const ACTION_PREFIX: &str = "/me ";

const CTCP: char = '\x01';

/// The line-protocol text of an IRC client's message text; `None` for a
/// CTCP request or reply other than `ACTION`, which is not relayed.
pub fn from_irc(text: &str) -> Option<Cow<'_, str>> {
    let Some(ctcp) = text.strip_prefix(CTCP) else {
        return Some(strip_formatting(text));
    };
    let ctcp = ctcp.strip_suffix(CTCP).unwrap_or(ctcp);
    let action = ctcp.strip_prefix("ACTION ")?;
    Some(Cow::Owned(format!(
        "{ACTION_PREFIX}{}",
        strip_formatting(action)
    )))
}

/// The IRC text of a line-protocol message: an `ACTION` for `/me …`.
pub fn to_irc(text: &str) -> (bool, &str) {
    match text.strip_prefix(ACTION_PREFIX) {
        Some(action) => (true, action),
        None => (false, text),
    }
}

/// `text` without mIRC's formatting codes: `^B` bold, `^C` colour with its
/// optional `fg[,bg]` digits, `^D` hex colour with its `RRGGBB[,RRGGBB]`,
/// `^O` reset, `^Q` monospace, `^V` reverse, `^]` italic, `^^` strike-through
/// and `^_` underline.
pub fn strip_formatting(text: &str) -> Cow<'_, str> {
    let is_code = |c: char| {
        matches!(
            c,
            '\x02' | '\x03' | '\x04' | '\x0f' | '\x11' | '\x16' | '\x1d' | '\x1e' | '\x1f'
        )
    };
    if !text.contains(is_code) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let colour_digit: fn(&char) -> bool = match c {
            '\x03' => |c| c.is_ascii_digit(),
            '\x04' => |c| c.is_ascii_hexdigit(),
            c if is_code(c) => continue,
            c => {
                out.push(c);
                continue;
            }
        };
        let width = if c == '\x03' { 2 } else { 6 };
        let take = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n = 0;
            while n < width && chars.next_if(colour_digit).is_some() {
                n += 1;
            }
            n
        };
        if take(&mut chars) > 0 {
            let mut ahead = chars.clone();
            if ahead.next() == Some(',') && ahead.peek().is_some_and(colour_digit) {
                chars.next();
                take(&mut chars);
            }
        }
    }
    Cow::Owned(out)
}

/// `text` in pieces of at most `max` bytes (at least one character each),
/// cut only between characters; no piece is empty.
pub fn split(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = max.clamp(1, rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, after) = rest.split_at(end);
        rest = after;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_both_ways_and_other_ctcp_dropped() {
        assert_eq!(
            from_irc("\x01ACTION waves\x01").as_deref(),
            Some("/me waves")
        );
        assert_eq!(from_irc("\x01ACTION waves").as_deref(), Some("/me waves"));
        assert_eq!(from_irc("\x01VERSION\x01"), None);
        assert_eq!(from_irc("\x01PING 123\x01"), None);
        assert_eq!(from_irc("plain").as_deref(), Some("plain"));
        assert_eq!(to_irc("/me waves"), (true, "waves"));
        assert_eq!(to_irc("/mean"), (false, "/mean"));
    }

    #[test]
    fn formatting_codes_are_removed_and_text_kept() {
        assert_eq!(
            strip_formatting("\x02bold\x02 \x1ditalic\x0f"),
            "bold italic"
        );
        assert_eq!(
            strip_formatting("\x0304red\x03 \x034,12on blue\x03"),
            "red on blue"
        );
        assert_eq!(strip_formatting("\x03,5comma stays"), ",5comma stays");
        assert_eq!(strip_formatting("\x0312,x"), ",x");
        assert_eq!(strip_formatting("\x04FF0000,00FF00hex"), "hex");
        assert_eq!(strip_formatting("\x031234"), "34");
        assert!(matches!(strip_formatting("héllo"), Cow::Borrowed(_)));
    }

    #[test]
    fn pieces_fit_and_never_cut_a_character() {
        let text = "héllo wörld 🌍🌍🌍 done";
        for max in 1..=text.len() + 1 {
            let pieces: Vec<&str> = split(text, max).collect();
            assert_eq!(pieces.concat(), text, "max {max}");
            for piece in &pieces {
                assert!(!piece.is_empty());
                assert!(piece.len() <= max.max(4), "max {max}: {piece:?}");
            }
        }
        assert_eq!(split("", 10).count(), 0);
    }
}
