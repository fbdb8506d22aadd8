//! Times for people on a line: instants shown in the station's time zone.
//!
//! The database keeps UTC milliseconds ([`Timestamp`]); an operator in UTC+8 means
//! 08:00 local when they say "8 o'clock". [`LocalTime`] pairs an instant with the offset
//! its zone had at that instant (taken from the system tz database by `jiff`, so daylight
//! saving and half-hour zones come out right) and prints RFC 3339 with that offset:
//! `2026-11-22T08:00:00.000+08:00`, or `…Z` when the zone is UTC itself.

use std::fmt;

use jiff::tz::{Offset, TimeZone};
use serde::{Serialize, Serializer};

use crate::time::Timestamp;

/// The zone a command shows and groups times in: the system's (`TZ`, `/etc/localtime`)
/// or, with `--utc`, UTC.
pub fn station_zone(utc: bool) -> TimeZone {
    if utc {
        TimeZone::UTC
    } else {
        TimeZone::system()
    }
}

/// An instant together with the offset of a time zone at that instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    at: Timestamp,
    offset: Offset,
    utc: bool,
}

impl LocalTime {
    /// `at` as seen in `tz`.
    pub fn new(at: Timestamp, tz: &TimeZone) -> LocalTime {
        let offset = to_jiff(at).map_or(Offset::UTC, |t| tz.to_offset(t));
        LocalTime { at, offset, utc: is_utc(tz) }
    }

    /// The instant.
    pub fn instant(self) -> Timestamp {
        self.at
    }

    /// The zone's offset from UTC at this instant, in seconds (east positive).
    pub fn offset_seconds(self) -> i32 {
        self.offset.seconds()
    }

    /// Start of the local hour containing this instant: exact in half-hour zones and in
    /// both runs of the hour that repeats when daylight saving ends, since it only strips
    /// the minutes and seconds shown on the local clock.
    pub fn start_of_hour(self) -> Timestamp {
        let local_ms = self.at.as_unix_ms() + i64::from(self.offset.seconds()) * 1000;
        self.at.add_ms(-local_ms.rem_euclid(3_600_000))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(t) = to_jiff(self.at) else {
            // Beyond year 9999: only the UTC rendering exists.
            return write!(f, "{}", self.at);
        };
        let dt = self.offset.to_datetime(t);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            self.at.as_unix_ms().rem_euclid(1000)
        )?;
        if self.utc {
            f.write_str("Z")
        } else {
            let s = self.offset.seconds();
            let sign = if s < 0 { '-' } else { '+' };
            let s = s.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", s / 3600, s / 60 % 60)
        }
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The jiff instant of `t` (`None` outside jiff's years -9999..=9999).
pub fn to_jiff(t: Timestamp) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(t.as_unix_ms()).ok()
}

/// `t` truncated to whole milliseconds.
pub fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    Timestamp::from_unix_ms(t.as_millisecond())
}

fn is_utc(tz: &TimeZone) -> bool {
    *tz == TimeZone::UTC || matches!(tz.iana_name(), Some("UTC" | "Etc/UTC" | "Etc/UCT" | "UCT" | "Zulu" | "Etc/Zulu"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap_or_else(|e| panic!("tz database lacks {name}: {e}"))
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn renders_with_the_offset_of_the_instant() {
        let cases = [
            ("UTC", "2026-11-22T00:00:00Z", "2026-11-22T00:00:00.000Z"),
            ("Asia/Shanghai", "2026-11-22T00:00:00Z", "2026-11-22T08:00:00.000+08:00"),
            ("America/New_York", "2026-11-22T12:00:00.250Z", "2026-11-22T07:00:00.250-05:00"),
            ("America/New_York", "2026-07-01T12:00:00Z", "2026-07-01T08:00:00.000-04:00"),
            ("Asia/Kolkata", "2026-11-22T00:00:00Z", "2026-11-22T05:30:00.000+05:30"),
            ("Asia/Kathmandu", "2026-11-22T00:00:00Z", "2026-11-22T05:45:00.000+05:45"),
            ("Europe/London", "2026-11-22T00:00:00Z", "2026-11-22T00:00:00.000+00:00"),
        ];
        for (tz, utc, shown) in cases {
            let l = LocalTime::new(at(utc), &zone(tz));
            assert_eq!(l.to_string(), shown, "{tz}");
            assert_eq!(at(shown), at(utc), "{tz}: the text names the same instant");
            assert_eq!(serde_json::to_value(l).unwrap(), serde_json::json!(shown));
        }
    }

    #[test]
    fn local_hours_start_on_the_local_clock() {
        let cases = [
            ("Asia/Kolkata", "2026-11-22T00:10:00Z", "2026-11-21T23:30:00Z"),
            ("Asia/Kolkata", "2026-11-22T00:40:00Z", "2026-11-22T00:30:00Z"),
            ("Asia/Kathmandu", "2026-11-22T00:20:00Z", "2026-11-22T00:15:00Z"),
            ("Asia/Shanghai", "2026-11-22T00:59:59Z", "2026-11-22T00:00:00Z"),
            // 2026-11-01 in New York: 01:xx happens twice, first at -04:00 then at -05:00.
            ("America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T05:00:00Z"),
            ("America/New_York", "2026-11-01T06:30:00Z", "2026-11-01T06:00:00Z"),
        ];
        for (tz, t, hour) in cases {
            assert_eq!(LocalTime::new(at(t), &zone(tz)).start_of_hour(), at(hour), "{tz} {t}");
        }
    }

    #[test]
    fn utc_flag_picks_utc() {
        assert_eq!(station_zone(true), TimeZone::UTC);
        assert_eq!(from_jiff(to_jiff(at("2026-11-22T00:00:00.123Z")).unwrap()), at("2026-11-22T00:00:00.123Z"));
    }
}
