//! Pass/fail counts and yield per slot and per hour.
//!
//! Yield is `pass / (pass + fail)`: the share of boards the line judged that were good.
//! `interrupted` (the daemon stopped, the board was never judged) and `running` are
//! counted but left out of the yield, so a daemon crash does not look like bad boards.
//!
//! A backend counts attempts grouped by (slot, quarter hour, result) in one query and
//! hands the groups to [`Stats::from_groups`], which does the arithmetic the same way for
//! every backend. Quarter hours, not hours: a line in UTC+5:30 or UTC+5:45 has local hours
//! that start in the middle of a UTC hour, and [`Stats::in_zone`] folds the quarters into
//! the hours of the station's clock (daylight saving included) without asking the
//! database again.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::AttemptResult;
use crate::time::Timestamp;
use crate::zone::LocalTime;
use jiff::tz::TimeZone;

/// Width of the time groups a backend counts in: 15 minutes, the finest step of every
/// UTC offset in use.
pub const STATS_GROUP_MS: i64 = 900_000;

/// Attempts by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub total: u64,
    pub pass: u64,
    pub fail: u64,
    pub interrupted: u64,
    pub running: u64,
    /// `pass / (pass + fail)`, `None` when no attempt was judged.
    #[serde(rename = "yield")]
    pub yield_ratio: Option<f64>,
}

impl Counts {
    fn add(&mut self, result: AttemptResult, n: u64) {
        self.total += n;
        match result {
            AttemptResult::Pass => self.pass += n,
            AttemptResult::Fail => self.fail += n,
            AttemptResult::Interrupted => self.interrupted += n,
            AttemptResult::Running => self.running += n,
        }
        let judged = self.pass + self.fail;
        self.yield_ratio = (judged > 0).then(|| self.pass as f64 / judged as f64);
    }
}

/// Counts of one slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotStats {
    pub slot: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Counts of one UTC hour (by start time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourStats {
    /// Start of the hour.
    pub hour: Timestamp,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Statistics of the attempts started in `[since, until)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub since: Timestamp,
    pub until: Timestamp,
    pub total: Counts,
    /// Sorted by slot name.
    pub per_slot: Vec<SlotStats>,
    /// Sorted by hour; hours without attempts are left out.
    pub per_hour: Vec<HourStats>,
    /// Counts per quarter hour (start), the material of [`Stats::in_zone`].
    #[serde(skip)]
    quarters: BTreeMap<Timestamp, Counts>,
}

/// Counts of one hour of the station's clock (by start time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalHourStats {
    /// Start of the local hour, with the zone's offset then.
    pub hour: LocalTime,
    #[serde(flatten)]
    pub counts: Counts,
}

/// [`Stats`] in a time zone: the range and the hours as the station's clock shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalStats {
    pub since: LocalTime,
    pub until: LocalTime,
    pub total: Counts,
    /// Sorted by slot name.
    pub per_slot: Vec<SlotStats>,
    /// Sorted by time; hours without attempts are left out. On the day daylight saving
    /// ends the repeated hour comes twice, once per offset.
    pub per_hour: Vec<LocalHourStats>,
}

/// How many attempts of one slot, started in one quarter hour (of UTC, i.e. aligned to
/// [`STATS_GROUP_MS`] since the epoch), ended with one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsGroup {
    pub slot: String,
    /// Any time within the quarter hour; only the quarter counts.
    pub quarter: Timestamp,
    pub result: AttemptResult,
    pub count: u64,
}

impl Stats {
    /// Statistics of `[since, until)` from grouped counts (in any order; a group may come
    /// more than once).
    pub fn from_groups(since: Timestamp, until: Timestamp, groups: impl IntoIterator<Item = StatsGroup>) -> Stats {
        let mut total = Counts::default();
        let mut per_slot: BTreeMap<String, Counts> = BTreeMap::new();
        let mut per_hour: BTreeMap<Timestamp, Counts> = BTreeMap::new();
        let mut quarters: BTreeMap<Timestamp, Counts> = BTreeMap::new();
        for g in groups {
            total.add(g.result, g.count);
            per_slot.entry(g.slot).or_default().add(g.result, g.count);
            per_hour.entry(g.quarter.start_of_hour()).or_default().add(g.result, g.count);
            let q = Timestamp::from_unix_ms(g.quarter.as_unix_ms().div_euclid(STATS_GROUP_MS) * STATS_GROUP_MS);
            quarters.entry(q).or_default().add(g.result, g.count);
        }
        Stats {
            since,
            until,
            total,
            per_slot: per_slot.into_iter().map(|(slot, counts)| SlotStats { slot, counts }).collect(),
            per_hour: per_hour.into_iter().map(|(hour, counts)| HourStats { hour, counts }).collect(),
            quarters,
        }
    }

    /// These statistics with hours of `tz`'s clock instead of UTC hours.
    pub fn in_zone(&self, tz: &TimeZone) -> LocalStats {
        let mut per_hour: BTreeMap<Timestamp, Counts> = BTreeMap::new();
        for (q, c) in &self.quarters {
            let hour = LocalTime::new(*q, tz).start_of_hour();
            let sum = per_hour.entry(hour).or_default();
            for (result, n) in [
                (AttemptResult::Pass, c.pass),
                (AttemptResult::Fail, c.fail),
                (AttemptResult::Interrupted, c.interrupted),
                (AttemptResult::Running, c.running),
            ] {
                if n > 0 {
                    sum.add(result, n);
                }
            }
        }
        LocalStats {
            since: LocalTime::new(self.since, tz),
            until: LocalTime::new(self.until, tz),
            total: self.total,
            per_slot: self.per_slot.clone(),
            per_hour: per_hour
                .into_iter()
                .map(|(hour, counts)| LocalHourStats { hour: LocalTime::new(hour, tz), counts })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(slot: &str, ms: i64, result: AttemptResult, count: u64) -> StatsGroup {
        StatsGroup { slot: slot.into(), quarter: Timestamp::from_unix_ms(ms), result, count }
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap_or_else(|e| panic!("tz database lacks {name}: {e}"))
    }

    fn at(s: &str) -> i64 {
        Timestamp::parse_rfc3339(s).unwrap().as_unix_ms()
    }

    /// (local hour start as shown, total) of `groups` in `tz`.
    fn local_hours(tz: &str, groups: Vec<StatsGroup>) -> Vec<(String, u64)> {
        let stats = Stats::from_groups(Timestamp::from_unix_ms(0), Timestamp::from_unix_ms(i64::MAX), groups);
        let local = stats.in_zone(&zone(tz));
        assert_eq!(local.total, stats.total);
        assert_eq!(local.per_hour.iter().map(|h| h.counts.total).sum::<u64>(), stats.total.total);
        local.per_hour.iter().map(|h| (h.hour.to_string(), h.counts.total)).collect()
    }

    #[test]
    fn local_hours_follow_the_station_clock() {
        use AttemptResult::*;
        let q = |s: &str, n| g("A1", at(s), Pass, n);
        // UTC+8: the UTC hour 16:00 is the local hour 00:00 of the next day.
        assert_eq!(
            local_hours("Asia/Shanghai", vec![q("2026-11-21T16:00:00Z", 1), q("2026-11-21T16:45:00Z", 2)]),
            vec![("2026-11-22T00:00:00.000+08:00".to_string(), 3)]
        );
        // UTC+5:30: one UTC hour splits over two local hours.
        assert_eq!(
            local_hours("Asia/Kolkata", vec![q("2026-11-22T00:00:00Z", 1), q("2026-11-22T00:30:00Z", 2)]),
            vec![("2026-11-22T05:00:00.000+05:30".to_string(), 1), ("2026-11-22T06:00:00.000+05:30".to_string(), 2)]
        );
        // New York, 2026-11-01: 01:00-02:00 runs twice (EDT, then EST); 2026-03-08 skips 02:00.
        assert_eq!(
            local_hours(
                "America/New_York",
                vec![q("2026-11-01T05:15:00Z", 1), q("2026-11-01T06:15:00Z", 2), q("2026-11-01T07:00:00Z", 4)]
            ),
            vec![
                ("2026-11-01T01:00:00.000-04:00".to_string(), 1),
                ("2026-11-01T01:00:00.000-05:00".to_string(), 2),
                ("2026-11-01T02:00:00.000-05:00".to_string(), 4)
            ]
        );
        assert_eq!(
            local_hours("America/New_York", vec![q("2026-03-08T06:59:00Z", 1), q("2026-03-08T07:00:00Z", 2)]),
            vec![("2026-03-08T01:00:00.000-05:00".to_string(), 1), ("2026-03-08T03:00:00.000-04:00".to_string(), 2)]
        );
    }

    #[test]
    fn utc_zone_keeps_the_utc_hours() {
        use AttemptResult::*;
        let h = 3_600_000;
        let stats = Stats::from_groups(
            Timestamp::from_unix_ms(0),
            Timestamp::from_unix_ms(5 * h),
            [g("A1", 10, Pass, 1), g("A1", 2 * h + 900_000, Fail, 2), g("B1", 2 * h + 5, Running, 1)],
        );
        let local = stats.in_zone(&TimeZone::UTC);
        let hours: Vec<(i64, u64, u64)> =
            local.per_hour.iter().map(|x| (x.hour.instant().as_unix_ms(), x.counts.total, x.counts.fail)).collect();
        let utc: Vec<(i64, u64, u64)> =
            stats.per_hour.iter().map(|x| (x.hour.as_unix_ms(), x.counts.total, x.counts.fail)).collect();
        assert_eq!(hours, utc);
        assert_eq!(local.since.to_string(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn groups_add_up_per_slot_and_hour_and_yield_ignores_unjudged_rows() {
        use AttemptResult::*;
        let h = 3_600_000;
        let stats = Stats::from_groups(
            Timestamp::from_unix_ms(0),
            Timestamp::from_unix_ms(3 * h),
            [
                g("B1", h + 5, Pass, 3),
                g("A1", 10, Fail, 1),
                g("A1", 20, Pass, 1),
                g("A1", h, Interrupted, 2),
                g("B1", h + 7, Running, 1),
                g("A1", 30, Pass, 2),
            ],
        );
        let t = stats.total;
        assert_eq!((t.total, t.pass, t.fail, t.interrupted, t.running), (10, 6, 1, 2, 1));
        assert_eq!(t.yield_ratio, Some(6.0 / 7.0));
        let slots: Vec<(&str, u64, Option<f64>)> =
            stats.per_slot.iter().map(|s| (s.slot.as_str(), s.counts.total, s.counts.yield_ratio)).collect();
        assert_eq!(slots, vec![("A1", 6, Some(0.75)), ("B1", 4, Some(1.0))]);
        let hours: Vec<(i64, u64)> = stats.per_hour.iter().map(|x| (x.hour.as_unix_ms(), x.counts.total)).collect();
        assert_eq!(hours, vec![(0, 4), (h, 6)]);
    }

    #[test]
    fn no_groups_no_yield() {
        let stats = Stats::from_groups(Timestamp::from_unix_ms(0), Timestamp::from_unix_ms(1), []);
        assert_eq!(stats.total, Counts::default());
        assert!(stats.per_slot.is_empty() && stats.per_hour.is_empty());
    }
}
