//! Points in time on the command line (`--since`, `--until`).
//!
//! | spelling | meaning |
//! |---|---|
//! | `2026-11-22T08:00:00Z`, `2026-11-22T09:00:00.5+01:00` | that instant (RFC 3339, offset required) |
//! | `2026-11-22` | midnight UTC at the start of that day |
//! | `now` | the time the command started |
//! | `today`, `yesterday` | midnight UTC at the start of the current / previous UTC day |
//! | `90s`, `30m`, `24h`, `7d`, `2w` | that long before now (seconds, minutes, hours, days, weeks) |
//!
//! Days are UTC days, like every time in the audit log. For a local day give the offset:
//! `--since 2026-11-22T00:00:00+08:00 --until 2026-11-23T00:00:00+08:00`.

use std::fmt;
use std::str::FromStr;

use flashline_audit::Timestamp;

const SECOND_MS: i64 = 1_000;
const DAY_MS: i64 = 86_400_000;

/// A time as given on the command line, resolved against one `now` per command run so that
/// `--since 24h --until now` is exactly 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(Timestamp),
    Now,
    Today,
    Yesterday,
    /// Milliseconds before now.
    Ago(i64),
}

impl When {
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            When::At(t) => t,
            When::Now => now,
            When::Today => now.start_of_day(),
            When::Yesterday => now.start_of_day().add_ms(-DAY_MS),
            When::Ago(ms) => now.add_ms(-ms),
        }
    }
}

impl FromStr for When {
    type Err = String;

    fn from_str(s: &str) -> Result<When, String> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "now" => return Ok(When::Now),
            "today" => return Ok(When::Today),
            "yesterday" => return Ok(When::Yesterday),
            _ => {}
        }
        if let Some(ms) = age_ms(t) {
            return ms.map(When::Ago);
        }
        Timestamp::parse_rfc3339(t).map(When::At).map_err(|_| {
            format!(
                "'{s}' is not a time: use RFC 3339 (2026-11-22T08:00:00Z), a date (2026-11-22, midnight UTC), \
                 now, today, yesterday, or an age like 90m, 24h, 7d"
            )
        })
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::At(t) => write!(f, "{t}"),
            When::Now => f.write_str("now"),
            When::Today => f.write_str("today"),
            When::Yesterday => f.write_str("yesterday"),
            When::Ago(ms) => write!(f, "{}s ago", ms / SECOND_MS),
        }
    }
}

/// `None` when `s` is not of the form DIGITS UNIT; `Some(Err)` when it is but too large.
fn age_ms(s: &str) -> Option<Result<i64, String>> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let per: i64 = match unit.to_ascii_lowercase() {
        's' => SECOND_MS,
        'm' => 60 * SECOND_MS,
        'h' => 3_600 * SECOND_MS,
        'd' => DAY_MS,
        'w' => 7 * DAY_MS,
        _ => return None,
    };
    Some(
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per))
            .filter(|ms| *ms <= 100 * 366 * DAY_MS)
            .ok_or_else(|| format!("'{s}' is too far back (at most 100 years)")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_resolves() {
        let now = Timestamp::parse_rfc3339("2026-11-22T13:45:00Z").unwrap();
        let at = |s: &str| s.parse::<When>().unwrap().resolve(now).to_string();
        assert_eq!(at("2026-11-20T08:00:00+01:00"), "2026-11-20T07:00:00.000Z");
        assert_eq!(at("2026-11-20"), "2026-11-20T00:00:00.000Z");
        assert_eq!(at("now"), "2026-11-22T13:45:00.000Z");
        assert_eq!(at("Today"), "2026-11-22T00:00:00.000Z");
        assert_eq!(at("yesterday"), "2026-11-21T00:00:00.000Z");
        assert_eq!(at("90s"), "2026-11-22T13:43:30.000Z");
        assert_eq!(at("30m"), "2026-11-22T13:15:00.000Z");
        assert_eq!(at("24h"), "2026-11-21T13:45:00.000Z");
        assert_eq!(at("7d"), "2026-11-15T13:45:00.000Z");
        assert_eq!(at("2w"), "2026-11-08T13:45:00.000Z");
    }

    #[test]
    fn nonsense_is_refused_with_the_accepted_forms() {
        for bad in ["", "h", "7", "7y", "-7d", "2026-11-22T08:00:00", "last week", "99999999999999d"] {
            let e = bad.parse::<When>().unwrap_err();
            assert!(e.contains(bad.trim()), "{bad}: {e}");
        }
        assert!("x".parse::<When>().unwrap_err().contains("24h"));
    }
}
