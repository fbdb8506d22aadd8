//! Showing text that came from outside (config values, file names, manifest contents) on a
//! terminal or in a log without letting it drive the terminal.
//!
//! A station id like `"line\e]0;pwned\a"` or a slot name with `\e[31m` would otherwise
//! retitle the operator's terminal, recolour the live view or hide the rest of an error
//! message; a right-to-left override (U+202E) makes `gnp.bin` read as `nib.png`. Everything
//! echoed from input goes through [`Escaped`] (or [`escape_for_terminal`]): C0 controls,
//! DEL, C1 controls and the Unicode bidirectional controls are written as visible escapes
//! (`\x1b`, `\u{202e}`), everything else is shown as it is.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::path::Path;

/// Whether `c` must not reach a terminal as it is: C0 controls (tab and newline
/// included, messages are one line), DEL, C1 controls, the bidirectional marks, embeddings,
/// overrides and isolates, and the Unicode line and paragraph separators.
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `s` with every character of [`needs_escape`] written as an escape; borrowed when there
/// is nothing to escape.
pub fn escape_for_terminal(s: &str) -> Cow<'_, str> {
    if s.chars().any(needs_escape) {
        Cow::Owned(Escaped(s).to_string())
    } else {
        Cow::Borrowed(s)
    }
}

/// Displays `T` with the characters of [`needs_escape`] escaped.
///
/// `Escaped(&name)`, `Escaped(path.display())`, `Escaped(&error)`: anything `Display`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{}", self.0)
    }
}

/// A path, escaped for display (file names may hold anything but `/` and NUL).
pub fn escaped_path(path: &Path) -> Escaped<std::path::Display<'_>> {
    Escaped(path.display())
}

/// Forwards text to the formatter, escaping on the way.
struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(needs_escape) {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().expect("find returned a char boundary");
            match c {
                '\t' => self.0.write_str("\\t")?,
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                c if u32::from(c) <= 0x7f => write!(self.0, "\\x{:02x}", u32::from(c))?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_a_terminal() {
        let cases = [
            ("plain", "plain"),
            ("A\u{1b}[31mRED", "A\\x1b[31mRED"),
            ("line\u{1b}]0;pwned\u{7}", "line\\x1b]0;pwned\\x07"),
            ("tab\there\nnext\rback", "tab\\there\\nnext\\rback"),
            ("nul\u{0}del\u{7f}", "nul\\x00del\\x7f"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("app\u{202e}nib.png", "app\\u{202e}nib.png"),
            ("iso\u{2066}x\u{2069}", "iso\\u{2066}x\\u{2069}"),
            ("mark\u{200f}\u{61c}", "mark\\u{200f}\\u{61c}"),
            ("sep\u{2028}", "sep\\u{2028}"),
            ("é ü 漢字 \\ '\"", "é ü 漢字 \\ '\""),
            ("\u{a0}nbsp", "\u{a0}nbsp"),
        ];
        for (input, shown) in cases {
            assert_eq!(escape_for_terminal(input), shown, "{input:?}");
            assert_eq!(Escaped(input).to_string(), shown, "{input:?}");
            assert!(!escape_for_terminal(input).chars().any(needs_escape), "{input:?}");
        }
        assert!(matches!(escape_for_terminal("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_char_that_needs_escaping_is_escaped() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let shown = Escaped(c).to_string();
            assert!(!shown.chars().any(needs_escape), "U+{:04X}", u32::from(c));
            assert_eq!(shown == c.to_string(), !needs_escape(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn wraps_any_display() {
        assert_eq!(escaped_path(Path::new("/srv/a\u{1b}b.bin")).to_string(), "/srv/a\\x1bb.bin");
        assert_eq!(format!("[{}]", Escaped(format_args!("{}-{}", "x\u{7}", 1))), "[x\\x07-1]");
    }
}
