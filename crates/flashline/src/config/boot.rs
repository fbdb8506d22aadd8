//! `[boot]`: the post-flash boot check. After the final reset into the application the
//! pipeline listens on the board's console for `pattern` (the app's self-test line)
//! within `timeout`; `fail_pattern` (a panic, an abort) fails early, and the last `lines`
//! console lines go into the audit row. Patterns are regular expressions (the `regex`
//! crate's syntax); one that does not compile stops `config check` and the start, with
//! the character it fails at.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::types::Baud;
use super::{ConfigError, Ctx};

/// Console lines kept when the config does not say.
pub const DEFAULT_LINES: usize = 20;
/// Most console lines a row keeps.
pub const MAX_LINES: usize = 200;
/// How long the check waits for the pattern when the config does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest and longest `timeout` accepted.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest pattern accepted (a pattern is one line of a self-test, not a program).
const MAX_PATTERN: usize = 1024;

/// A compiled pattern; equal when written the same.
#[derive(Debug, Clone)]
pub struct BootPattern(pub regex::Regex);

impl PartialEq for BootPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl BootPattern {
    /// Compiles `pattern`; the error names the character it fails at and why.
    pub fn new(pattern: &str) -> Result<BootPattern, String> {
        if pattern.is_empty() {
            return Err("the pattern is empty: it would match any line".into());
        }
        if pattern.len() > MAX_PATTERN {
            return Err(format!("the pattern is {} bytes long (at most {MAX_PATTERN})", pattern.len()));
        }
        if let Err(e) = regex_syntax::ast::parse::Parser::new().parse(pattern) {
            let at = pattern[..e.span().start.offset].chars().count() + 1;
            return Err(format!("not a valid regular expression: {} at character {at} of the pattern", e.kind()));
        }
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map(BootPattern)
            .map_err(|e| format!("not a valid regular expression: {}", first_line(&e.to_string())))
    }

    pub fn is_match(&self, line: &str) -> bool {
        self.0.is_match(line)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

fn first_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s)
}

/// The validated `[boot]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct BootConfig {
    pub pattern: BootPattern,
    pub fail_pattern: Option<BootPattern>,
    pub timeout: Duration,
    /// Console baud (the app's; the board's USB-Serial/JTAG ignores it).
    pub baud: u32,
    /// Last console lines kept for the row.
    pub lines: usize,
}

/// `[boot]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBoot {
    pattern: Spanned<String>,
    #[serde(default)]
    fail_pattern: Option<Spanned<String>>,
    #[serde(default)]
    timeout: Option<Spanned<TimeoutValue>>,
    #[serde(default)]
    baud: Option<Baud>,
    #[serde(default)]
    lines: Option<Spanned<usize>>,
}

/// `timeout = 10` (seconds) or `timeout = "1500ms"` / `"10s"` / `"2m"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TimeoutValue {
    Seconds(u64),
    Text(String),
}

/// Parses "1500ms", "10s", "2.5s", "2m" (a bare number: seconds).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).map_or((s, ""), |i| s.split_at(i));
    let v: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => v / 1000.0,
        "" | "s" => v,
        "m" | "min" => v * 60.0,
        _ => return None,
    };
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

impl RawBoot {
    pub(super) fn validate(self, ctx: &Ctx) -> Result<BootConfig, ConfigError> {
        let pattern = compile(ctx, self.pattern, "[boot] pattern")?;
        let fail_pattern = self.fail_pattern.map(|p| compile(ctx, p, "[boot] fail_pattern")).transpose()?;
        let timeout = match self.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => {
                let span = t.span();
                let d = match t.into_inner() {
                    TimeoutValue::Seconds(n) => Some(Duration::from_secs(n)),
                    TimeoutValue::Text(s) => parse_duration(&s),
                };
                match d {
                    Some(d) if (MIN_TIMEOUT..=MAX_TIMEOUT).contains(&d) => d,
                    Some(d) => {
                        return ctx.err(
                            span,
                            "[boot] timeout",
                            format!("{d:?} is out of range ({MIN_TIMEOUT:?} to {MAX_TIMEOUT:?})"),
                        )
                    }
                    None => {
                        return ctx.err(
                            span,
                            "[boot] timeout",
                            "not a duration; write e.g. \"10s\", \"1500ms\", \"2m\" or a number of seconds",
                        )
                    }
                }
            }
        };
        let lines = match self.lines {
            None => DEFAULT_LINES,
            Some(n) if (1..=MAX_LINES).contains(n.get_ref()) => n.into_inner(),
            Some(n) => {
                return ctx.err(
                    n.span(),
                    "[boot] lines",
                    format!("{} is out of range (1 to {MAX_LINES} console lines)", n.get_ref()),
                )
            }
        };
        Ok(BootConfig { pattern, fail_pattern, timeout, baud: self.baud.map_or(115_200, |b| b.0), lines })
    }
}

fn compile(ctx: &Ctx, p: Spanned<String>, key: &str) -> Result<BootPattern, ConfigError> {
    let span = p.span();
    BootPattern::new(p.get_ref()).or_else(|e| ctx.err(span, key, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_base::parse;

    #[test]
    fn no_section_no_check_and_the_defaults() {
        assert_eq!(parse("").unwrap().boot, None);
        let b = parse("[boot]\npattern = 'self-test passed'\n").unwrap().boot.unwrap();
        assert_eq!((b.timeout, b.baud, b.lines, b.fail_pattern), (DEFAULT_TIMEOUT, 115_200, DEFAULT_LINES, None));
        assert!(b.pattern.is_match("I (310) app: self-test passed"));
    }

    #[test]
    fn every_key_is_read() {
        let b = parse(
            "[boot]\npattern = '^ready$'\nfail_pattern = 'Guru Meditation|abort\\(\\)'\ntimeout = \"1500ms\"\n\
             baud = 74880\nlines = 5\n",
        )
        .unwrap()
        .boot
        .unwrap();
        assert_eq!((b.timeout, b.baud, b.lines), (Duration::from_millis(1500), 74_880, 5));
        let fail = b.fail_pattern.unwrap();
        assert!(fail.is_match("abort() was called at PC 0x400d1234") && fail.is_match("Guru Meditation Error"));
        assert!(!fail.is_match("abort"));
        assert_eq!(
            parse("[boot]\npattern = 'x'\ntimeout = 3\n").unwrap().boot.unwrap().timeout,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn durations() {
        let cases = [
            ("10s", Some(10_000)),
            ("1500ms", Some(1500)),
            ("2m", Some(120_000)),
            ("2.5", Some(2500)),
            ("ten", None),
            ("5h", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).map(|d| d.as_millis() as u64), want, "{text}");
        }
    }

    #[test]
    fn bad_values_name_the_key_the_place_and_the_fix() {
        let cases = [
            (
                "[boot]\npattern = 'self-test (passed'\n",
                "t.toml:8:11: [boot] pattern: not a valid regular expression: unclosed group at character 11",
            ),
            (
                "[boot]\npattern = 'ok'\nfail_pattern = 'abort()|x{2,1}'\n",
                "[boot] fail_pattern: not a valid regular expression: invalid repetition count range",
            ),
            ("[boot]\npattern = ''\n", "[boot] pattern: the pattern is empty"),
            ("[boot]\npattern = 'ok'\ntimeout = \"soon\"\n", "[boot] timeout: not a duration"),
            ("[boot]\npattern = 'ok'\ntimeout = \"20ms\"\n", "[boot] timeout: 20ms is out of range"),
            ("[boot]\npattern = 'ok'\nlines = 0\n", "[boot] lines: 0 is out of range"),
            ("[boot]\npattern = 'ok'\nlines = 100000\n", "[boot] lines: 100000 is out of range"),
            ("[boot]\npattern = 'ok'\nbaud = 1\n", "baud 1 is out of range"),
            ("[boot]\npatern = 'ok'\n", "unknown field `patern`"),
            ("[boot]\ntimeout = 3\n", "missing field `pattern`"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
