//! The line at a glance: one summary per station that has forwarded rows — how many rows,
//! the newest (when it started, ended, reached the central record) and the counts since a
//! given instant — in two queries however many rows the record holds (the newest row is
//! found through each station's chain head, not by scanning).
//!
//! The line view (`flashline serve --db postgres://…`) shows these beside each station's
//! last rows and failures, which [`crate::AuditStore`] answers.

use serde::Serialize;
use sqlx::{PgPool, Row};

use super::connect::CentralUrl;
use super::error;
use crate::error::{AuditError, Result};
use crate::time::Timestamp;

/// One station as the central record knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationSummary {
    pub station_id: String,
    /// Rows the record holds for it (its chain's length).
    pub rows: i64,
    /// Its newest row: when the attempt started and ended (station clock) and when the
    /// record stored it (server clock).
    pub newest_started: Option<Timestamp>,
    pub newest_ended: Option<Timestamp>,
    pub newest_received: Option<Timestamp>,
    /// Attempts that started since the instant asked for, by result.
    pub pass: u64,
    pub fail: u64,
    pub interrupted: u64,
}

/// Reads station summaries from the central record.
#[derive(Debug, Clone)]
pub struct LineReader {
    pool: PgPool,
    location: String,
}

impl LineReader {
    /// A reader through `url` (a role that may read every station: `flashline_reader` or
    /// the owner); lazy, so it fails on the first question, not here.
    pub fn new(url: &CentralUrl) -> LineReader {
        LineReader { pool: url.pool(2), location: url.location().to_owned() }
    }

    fn err(&self, e: sqlx::Error) -> AuditError {
        error::classify(&self.location, e)
    }

    /// Every station with rows, by id, with its counts of attempts started since `since`.
    pub async fn stations(&self, since: Timestamp) -> Result<Vec<StationSummary>> {
        let heads = sqlx::query(
            "SELECT h.station_id, h.last_seq, a.started_at_ms, a.ended_at_ms, \
             (EXTRACT(EPOCH FROM a.received_at) * 1000)::BIGINT \
             FROM chain_heads h LEFT JOIN attempts a ON a.station_id = h.station_id AND a.seq = h.last_seq \
             ORDER BY h.station_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(heads.len());
        for r in heads {
            let ms = |i: usize| -> Result<Option<Timestamp>> {
                Ok(r.try_get::<Option<i64>, _>(i).map_err(|e| self.err(e))?.map(Timestamp::from_unix_ms))
            };
            out.push(StationSummary {
                station_id: r.try_get(0).map_err(|e| self.err(e))?,
                rows: r.try_get(1).map_err(|e| self.err(e))?,
                newest_started: ms(2)?,
                newest_ended: ms(3)?,
                newest_received: ms(4)?,
                pass: 0,
                fail: 0,
                interrupted: 0,
            });
        }
        let counts = sqlx::query(
            "SELECT station_id, result, COUNT(*)::BIGINT FROM attempts WHERE started_at_ms >= $1 \
             GROUP BY station_id, result",
        )
        .bind(since.as_unix_ms())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        for r in counts {
            let station: String = r.try_get(0).map_err(|e| self.err(e))?;
            let result: String = r.try_get(1).map_err(|e| self.err(e))?;
            let n = u64::try_from(r.try_get::<i64, _>(2).map_err(|e| self.err(e))?).unwrap_or(0);
            let Some(s) = out.iter_mut().find(|s| s.station_id == station) else { continue };
            match result.as_str() {
                "pass" => s.pass += n,
                "fail" => s.fail += n,
                _ => s.interrupted += n,
            }
        }
        Ok(out)
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
