//! Statistics centrally: one grouped query, the arithmetic in [`Stats::from_groups`].
//!
//! Scoped to one station (`--station`), slots are that station's slot names, as on the
//! station. Across stations a slot is `STATION/SLOT`, since every station has its own A1.

use sqlx::Row;

use super::PgBackend;
use crate::error::Result;
use crate::model::AttemptResult;
use crate::stats::{Stats, StatsGroup, STATS_GROUP_MS};
use crate::time::Timestamp;

impl PgBackend {
    pub(crate) async fn read_stats(&self, since: Timestamp, until: Timestamp) -> Result<Stats> {
        let rows = sqlx::query(
            "SELECT CASE WHEN $3::TEXT IS NULL THEN station_id || '/' || slot ELSE slot END AS slot_key, \
             started_at_ms / 900000 AS quarter, result, COUNT(*)::BIGINT AS n \
             FROM attempts \
             WHERE started_at_ms >= $1 AND started_at_ms < $2 AND ($3::TEXT IS NULL OR station_id = $3) \
             GROUP BY slot_key, quarter, result",
        )
        .bind(since.as_unix_ms())
        .bind(until.as_unix_ms())
        .bind(self.station.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql_err(e))?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let slot: String = row.try_get(0).map_err(|e| self.sql_err(e))?;
            let quarter: i64 = row.try_get(1).map_err(|e| self.sql_err(e))?;
            let result: String = row.try_get(2).map_err(|e| self.sql_err(e))?;
            let n: i64 = row.try_get(3).map_err(|e| self.sql_err(e))?;
            // The CHECK constraint admits only completed results.
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
