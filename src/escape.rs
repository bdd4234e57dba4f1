//! Control characters made visible in text meant for a person.
//!
//! File names, archive member names, list names and labels are chosen by
//! whoever made the files or the lists, not by us. Printed raw on a
//! terminal, an ESC sequence can retitle the window (OSC 0), plant a link
//! (OSC 8) or move the cursor, a CR or a newline can forge a result line
//! ("MATCH ..." where there was none, or hide one), and the bidi overrides
//! make a name read in another order than it is stored (Trojan Source).
//! Every human-readable line therefore goes through [`escape`], which
//! renders such characters as escapes (`\x1b`, `\n`, `\u{202e}`). JSON
//! output is escaped by serde and keeps the exact text.
//!
//! A backslash is left as it is: the escapes only need to be inert, not
//! reversible (the exact name is in the JSON report, with `path_raw_hex`),
//! and doubling backslashes would garble the `{:?}`-quoted names that error
//! messages already carry.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Whether `c` must not reach a terminal as it is: the C0 controls, DEL,
/// the C1 controls (U+0080..U+009F, `char::is_control`), the bidi
/// embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069), and
/// the line and paragraph separators some viewers break lines at.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// `text` with every unsafe character (see the module documentation)
/// written as an escape: `\t`, `\n`, `\r`, `\x1b` (other ASCII controls and
/// DEL), `\u{9b}`, `\u{202e}` (the rest). Borrowed when nothing changes,
/// which is the common case.
pub fn escape(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(is_unsafe) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if !is_unsafe(c) => out.push(c),
            // Writing to a String cannot fail.
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// [`escape`] of anything displayable: a path's `display()`, an error, a
/// formatted message.
pub fn escape_display(x: impl fmt::Display) -> String {
    let s = x.to_string();
    match escape(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        let s = "tree/a.zip!/b c.jpg é 日本 \\x";
        assert!(matches!(escape(s), Cow::Borrowed(t) if t == s));
    }

    #[test]
    fn controls_and_bidi_become_visible() {
        assert_eq!(
            escape("a\x1b]0;pwned\x07b\nMATCH\r\t\x7f"),
            "a\\x1b]0;pwned\\x07b\\nMATCH\\r\\t\\x7f"
        );
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("gpj.\u{202e}exe"), "gpj.\\u{202e}exe");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(escape("a\u{2028}b"), "a\\u{2028}b");
        // Next to the unsafe ones, other characters are untouched.
        assert_eq!(escape("é\u{85}日"), "é\\u{85}日");
    }

    #[test]
    fn display_values() {
        let p = std::path::Path::new("dir/x\ny.jpg");
        assert_eq!(escape_display(p.display()), "dir/x\\ny.jpg");
        assert_eq!(escape_display(42), "42");
    }
}
