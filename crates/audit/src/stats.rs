//! Pass/fail counts and yield per slot and per hour.
//!
//! Yield is `pass / (pass + fail)`: the share of boards the line judged that were good.
//! `interrupted` (the daemon stopped, the board was never judged) and `running` are
//! counted but left out of the yield, so a daemon crash does not look like bad boards.
//!
//! One grouped query reads `(started_at_ms, slot, result)` from the covering index
//! `idx_attempts_started`; the table itself is not touched.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::error::Result;
use crate::model::AttemptResult;
use crate::store::AuditStore;
use crate::time::{Timestamp, HOUR_MS};

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

impl AuditStore {
    /// Statistics of the attempts started at or after `since` and before `until`.
    pub async fn stats(&self, since: Timestamp, until: Timestamp) -> Result<Stats> {
        let rows = sqlx::query(
            "SELECT slot, started_at_ms / 3600000 AS hour, result, COUNT(*) AS n \
             FROM attempts INDEXED BY idx_attempts_started \
             WHERE started_at_ms >= ? AND started_at_ms < ? \
             GROUP BY slot, hour, result",
        )
        .bind(since.as_unix_ms())
        .bind(until.as_unix_ms())
        .fetch_all(&self.reader)
        .await
        .map_err(|e| self.sql_err(e))?;

        let mut total = Counts::default();
        let mut per_slot: BTreeMap<String, Counts> = BTreeMap::new();
        let mut per_hour: BTreeMap<i64, Counts> = BTreeMap::new();
        for row in rows {
            let slot: String = row.try_get(0).map_err(|e| self.sql_err(e))?;
            let hour: i64 = row.try_get(1).map_err(|e| self.sql_err(e))?;
            let result: String = row.try_get(2).map_err(|e| self.sql_err(e))?;
            let n: i64 = row.try_get(3).map_err(|e| self.sql_err(e))?;
            // The CHECK constraint admits only the four known values.
            let Ok(result) = result.parse::<AttemptResult>() else { continue };
            let n = n as u64;
            total.add(result, n);
            per_slot.entry(slot).or_default().add(result, n);
            per_hour.entry(hour).or_default().add(result, n);
        }
        Ok(Stats {
            since,
            until,
            total,
            per_slot: per_slot.into_iter().map(|(slot, counts)| SlotStats { slot, counts }).collect(),
            per_hour: per_hour
                .into_iter()
                .map(|(h, counts)| HourStats { hour: Timestamp::from_unix_ms(h * HOUR_MS), counts })
                .collect(),
        })
    }
}
