//! Pass/fail counts and yield per slot and per hour.
//!
//! Yield is `pass / (pass + fail)`: the share of boards the line judged that were good.
//! `interrupted` (the daemon stopped, the board was never judged) and `running` are
//! counted but left out of the yield, so a daemon crash does not look like bad boards.
//!
//! A backend counts attempts grouped by (slot, UTC hour, result) in one query and hands
//! the groups to [`Stats::from_groups`], which does the arithmetic the same way for every
//! backend.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::AttemptResult;
use crate::time::Timestamp;

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
}

/// How many attempts of one slot, started in one UTC hour, ended with one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsGroup {
    pub slot: String,
    /// Any time within the hour; only the hour counts.
    pub hour: Timestamp,
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
        for g in groups {
            total.add(g.result, g.count);
            per_slot.entry(g.slot).or_default().add(g.result, g.count);
            per_hour.entry(g.hour.start_of_hour()).or_default().add(g.result, g.count);
        }
        Stats {
            since,
            until,
            total,
            per_slot: per_slot.into_iter().map(|(slot, counts)| SlotStats { slot, counts }).collect(),
            per_hour: per_hour.into_iter().map(|(hour, counts)| HourStats { hour, counts }).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(slot: &str, hour_ms: i64, result: AttemptResult, count: u64) -> StatsGroup {
        StatsGroup { slot: slot.into(), hour: Timestamp::from_unix_ms(hour_ms), result, count }
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
