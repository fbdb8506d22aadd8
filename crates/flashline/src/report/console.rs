//! A board's console lines inside one log line: the last lines a failed boot check saw,
//! as the journal entry's message and the text log's line carry them.
//!
//! Console output is the board's: it may hold terminal escapes, carriage returns, bidi
//! overrides and replacement characters for bytes that were not UTF-8, and a board can
//! print lines as long as it likes. Each line is escaped (see [`crate::text`]), cut to
//! [`MAX_SHOWN`] characters, only the last [`LOG_LINES`] are kept, and they are joined by
//! an escaped newline (`\n`, two characters), so the entry stays one bounded line that
//! never drives a terminal or splits in the journal.

use crate::text::escape_for_terminal;

/// Console lines a log line carries (the audit row keeps up to `[boot] lines`).
pub const LOG_LINES: usize = 10;
/// Characters of one escaped console line shown; longer ones end in `…`.
pub const MAX_SHOWN: usize = 200;

/// The last console `lines`, escaped, cut and joined for one log line.
pub fn log_text(lines: &[String]) -> String {
    let last = &lines[lines.len().saturating_sub(LOG_LINES)..];
    let shown: Vec<String> = last
        .iter()
        .map(|line| {
            let escaped = escape_for_terminal(line);
            if escaped.chars().count() > MAX_SHOWN {
                let mut cut: String = escaped.chars().take(MAX_SHOWN - 1).collect();
                cut.push('…');
                cut
            } else {
                escaped.into_owned()
            }
        })
        .collect();
    shown.join("\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::needs_escape;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lines_are_escaped_cut_and_joined() {
        let long = "x".repeat(MAX_SHOWN + 50);
        let cut = format!("{}…", "x".repeat(MAX_SHOWN - 1));
        let cases: Vec<(Vec<String>, String)> = vec![
            (lines(&[]), String::new()),
            (lines(&["I (305) cpu_start: Starting scheduler."]), "I (305) cpu_start: Starting scheduler.".into()),
            (lines(&["ets Jun  8 2016", "rst:0x1"]), "ets Jun  8 2016\\nrst:0x1".into()),
            // A terminal title, a colour, a bidi override and a bare carriage return.
            (
                lines(&["\u{1b}]0;pwned\u{7}\u{1b}[31mE\u{202e}x\ry"]),
                "\\x1b]0;pwned\\x07\\x1b[31mE\\u{202e}x\\ry".into(),
            ),
            // Bytes that were not UTF-8 arrive as replacement characters: shown as they are.
            (lines(&["bad \u{fffd}\u{fffd} bytes"]), "bad \u{fffd}\u{fffd} bytes".into()),
            (vec![long], cut),
            // Escapes count after escaping: 100 ESC are 400 characters shown, cut to 200.
            (
                vec!["\u{1b}".repeat(100)],
                format!("{}…", "\\x1b".repeat(50).chars().take(MAX_SHOWN - 1).collect::<String>()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(log_text(&input), want, "{input:?}");
        }
    }

    #[test]
    fn only_the_last_lines_are_kept_and_the_text_stays_one_safe_line() {
        let many: Vec<String> = (0..LOG_LINES + 5).map(|k| format!("line {k}\u{1b}[0m\n\u{9b}")).collect();
        let text = log_text(&many);
        assert_eq!(text.split("\\n").filter(|l| l.starts_with("line ")).count(), LOG_LINES, "{text}");
        assert!(text.starts_with("line 5"), "{text}");
        assert!(!text.chars().any(needs_escape), "{text:?}");
        assert!(text.chars().count() <= LOG_LINES * (MAX_SHOWN + 2), "{}", text.len());
    }
}
