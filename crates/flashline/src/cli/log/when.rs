//! Points in time on the command line (`--since`, `--until`).
//!
//! | spelling | meaning |
//! |---|---|
//! | `2026-11-22T08:00:00Z`, `2026-11-22T09:00:00.5+01:00` | that instant (RFC 3339) |
//! | `2026-11-22T08:00`, `2026-11-22 08:00:00` | that time on the station's clock |
//! | `2026-11-22` | the start of that day on the station's clock |
//! | `now` | the time the command started |
//! | `today`, `yesterday` | the start of the current / previous day on the station's clock |
//! | `90s`, `30m`, `24h`, `7d`, `2w` | that long before now (seconds, minutes, hours, days, weeks) |
//!
//! The station's clock is the system time zone (`TZ`, else `/etc/localtime`), or UTC with
//! `--utc`. A day there is not always 24 hours: on a daylight-saving day in New York,
//! `today` starts at 00:00 local and `yesterday` is 23 or 25 hours long. Parsing and the
//! calendar are `jiff`'s, with the system tz database.

use std::fmt;
use std::str::FromStr;

use flashline_audit::{from_jiff, to_jiff, TimeZone, Timestamp};
use jiff::civil::{Date, DateTime};

const SECOND_MS: i64 = 1_000;
const DAY_MS: i64 = 86_400_000;

/// A time as given on the command line, resolved against one `now` per command run so that
/// `--since 24h --until now` is exactly 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(Timestamp),
    /// A wall-clock time in the station's zone.
    Local(DateTime),
    /// The start of a day in the station's zone.
    Day(Date),
    Now,
    Today,
    Yesterday,
    /// Milliseconds before now.
    Ago(i64),
}

impl When {
    /// The instant meant, with days and wall-clock times read in `tz`. A wall-clock time
    /// that the clock skips (daylight saving starts) is taken as the same time after the
    /// jump, a repeated one as its first occurrence.
    pub fn resolve(self, now: Timestamp, tz: &TimeZone) -> Result<Timestamp, String> {
        let out_of_range = || format!("'{self}' is out of the supported range (years 1..9999)");
        let day_start =
            |d: Date| d.to_zoned_datetime(tz.clone()).and_then(|z| z.start_of_day()).map(|z| from_jiff(z.timestamp()));
        let today = || to_jiff(now).map(|t| tz.to_datetime(t).date()).ok_or_else(out_of_range);
        match self {
            When::At(t) => Ok(t),
            When::Local(dt) => tz.to_zoned_datetime(dt).map(|z| from_jiff(z.timestamp())).map_err(|_| out_of_range()),
            When::Day(d) => day_start(d).map_err(|_| out_of_range()),
            When::Now => Ok(now),
            When::Today => day_start(today()?).map_err(|_| out_of_range()),
            When::Yesterday => today()?.yesterday().and_then(day_start).map_err(|_| out_of_range()),
            When::Ago(ms) => Ok(now.add_ms(-ms)),
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
        // An offset (or Z) makes it an instant; without one it is the station's clock.
        if let Ok(i) = t.parse::<jiff::Timestamp>() {
            return Ok(When::At(from_jiff(i)));
        }
        if t.len() == 10 {
            if let Ok(d) = t.parse::<Date>() {
                return Ok(When::Day(d));
            }
        }
        if t.len() > 10 {
            if let Ok(dt) = t.parse::<DateTime>() {
                return Ok(When::Local(dt));
            }
        }
        Err(format!(
            "'{s}' is not a time: use RFC 3339 (2026-11-22T08:00:00Z), a local time (2026-11-22T08:00), \
             a date (2026-11-22, its local midnight), now, today, yesterday, or an age like 90m, 24h, 7d"
        ))
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::At(t) => write!(f, "{t}"),
            When::Local(dt) => write!(f, "{dt}"),
            When::Day(d) => write!(f, "{d}"),
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

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap_or_else(|e| panic!("tz database lacks {name}: {e}"))
    }

    fn resolved(tz: &TimeZone, now: &str, s: &str) -> String {
        let now = Timestamp::parse_rfc3339(now).unwrap();
        s.parse::<When>().unwrap().resolve(now, tz).unwrap().to_string()
    }

    #[test]
    fn every_spelling_resolves_in_utc() {
        let utc = TimeZone::UTC;
        let at = |s: &str| resolved(&utc, "2026-11-22T13:45:00Z", s);
        assert_eq!(at("2026-11-20T08:00:00+01:00"), "2026-11-20T07:00:00.000Z");
        assert_eq!(at("2026-11-20T08:00:00.250Z"), "2026-11-20T08:00:00.250Z");
        assert_eq!(at("2026-11-20"), "2026-11-20T00:00:00.000Z");
        assert_eq!(at("2026-11-20T08:00"), "2026-11-20T08:00:00.000Z");
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
    fn days_and_wall_clock_times_are_the_station_zones() {
        // (zone, now, spelling, instant meant)
        let cases = [
            // UTC+8: at 06:00 local (22:00 UTC the day before) today began at 16:00 UTC.
            ("Asia/Shanghai", "2026-11-21T22:00:00Z", "today", "2026-11-21T16:00:00.000Z"),
            ("Asia/Shanghai", "2026-11-21T22:00:00Z", "yesterday", "2026-11-20T16:00:00.000Z"),
            ("Asia/Shanghai", "2026-11-21T22:00:00Z", "2026-11-22", "2026-11-21T16:00:00.000Z"),
            ("Asia/Shanghai", "2026-11-21T22:00:00Z", "2026-11-22T08:00", "2026-11-22T00:00:00.000Z"),
            // An explicit offset is an instant whatever the zone.
            ("Asia/Shanghai", "2026-11-21T22:00:00Z", "2026-11-22T08:00:00Z", "2026-11-22T08:00:00.000Z"),
            // UTC-5: at 23:00 local (04:00 UTC the next day) today is still the earlier day.
            ("America/New_York", "2026-11-23T04:00:00Z", "today", "2026-11-22T05:00:00.000Z"),
            ("America/New_York", "2026-11-23T04:00:00Z", "yesterday", "2026-11-21T05:00:00.000Z"),
            // New York's daylight saving ends 2026-11-01 (25-hour day) and starts
            // 2026-03-08 (23-hour day): midnights keep their own offsets.
            ("America/New_York", "2026-11-01T12:00:00Z", "today", "2026-11-01T04:00:00.000Z"),
            ("America/New_York", "2026-11-02T12:00:00Z", "yesterday", "2026-11-01T04:00:00.000Z"),
            ("America/New_York", "2026-11-02T12:00:00Z", "today", "2026-11-02T05:00:00.000Z"),
            ("America/New_York", "2026-03-08T12:00:00Z", "today", "2026-03-08T05:00:00.000Z"),
            ("America/New_York", "2026-03-09T12:00:00Z", "today", "2026-03-09T04:00:00.000Z"),
            // 02:30 does not exist on 2026-03-08: the same time after the jump, 03:30 EDT.
            ("America/New_York", "2026-03-09T12:00:00Z", "2026-03-08T02:30", "2026-03-08T07:30:00.000Z"),
        ];
        for (tz, now, s, want) in cases {
            assert_eq!(resolved(&zone(tz), now, s), want, "{tz} now={now} {s}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_the_accepted_forms() {
        for bad in ["", "h", "7", "7y", "-7d", "2026-11-22T25:00:00", "2026-02-30", "last week", "99999999999999d"] {
            let e = bad.parse::<When>().unwrap_err();
            assert!(e.contains(bad.trim()), "{bad}: {e}");
        }
        assert!("x".parse::<When>().unwrap_err().contains("24h"));
    }
}
