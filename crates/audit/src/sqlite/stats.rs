//! Statistics in SQLite: one grouped query reads `(started_at_ms, slot, result)` from the
//! covering index `idx_attempts_started`; the table itself is not touched.

use sqlx::Row;

use super::SqliteBackend;
use crate::error::Result;
use crate::model::AttemptResult;
use crate::stats::{Stats, StatsGroup, STATS_GROUP_MS};
use crate::time::Timestamp;

impl SqliteBackend {
    pub(crate) async fn read_stats(&self, since: Timestamp, until: Timestamp) -> Result<Stats> {
        let rows = sqlx::query(
            "SELECT slot, started_at_ms / 900000 AS quarter, result, COUNT(*) AS n \
             FROM attempts INDEXED BY idx_attempts_started \
             WHERE started_at_ms >= ? AND started_at_ms < ? \
             GROUP BY slot, quarter, result",
        )
        .bind(since.as_unix_ms())
        .bind(until.as_unix_ms())
        .fetch_all(&self.reader)
        .await
        .map_err(|e| self.sql_err(e))?;

        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let slot: String = row.try_get(0).map_err(|e| self.sql_err(e))?;
            let quarter: i64 = row.try_get(1).map_err(|e| self.sql_err(e))?;
            let result: String = row.try_get(2).map_err(|e| self.sql_err(e))?;
            let n: i64 = row.try_get(3).map_err(|e| self.sql_err(e))?;
            // The CHECK constraint admits only the four known values.
            let Ok(result) = result.parse::<AttemptResult>() else { continue };
            groups.push(StatsGroup {
                slot,
                quarter: Timestamp::from_unix_ms(quarter * STATS_GROUP_MS),
                result,
                count: n as u64,
            });
        }
        Ok(Stats::from_groups(since, until, groups))
    }
}
