//! The little JSON the crate writes by hand: string literals, escaped.

use std::fmt::Write as _;

/// `text` as a JSON string literal, quotes included.
pub fn string_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(
            string_literal("a \"b\" \\ c\n\u{1}é"),
            r#""a \"b\" \\ c\u000a\u0001é""#
        );
    }
}
