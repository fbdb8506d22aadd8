//! Every station's chain, walked centrally with the station's own verifier
//! ([`ChainWalker`]) against the head the central record accepted (`chain_heads`, written
//! only by the insert trigger), on one snapshot.

use sqlx::{PgConnection, Row};

use super::rows::{chain_column_list, read_chain_row};
use super::PgBackend;
use crate::backend::StationChainReport;
use crate::chain::{ChainHead, GENESIS_HASH};
use crate::error::{AuditError, Result};
use crate::verify::{ChainReport, ChainWalker};

/// Rows read per batch while walking a chain.
const BATCH: i64 = 5_000;

impl PgBackend {
    /// The stations whose chains to walk: the scoped one, else every station that has a
    /// head or a row.
    async fn stations(&self, conn: &mut PgConnection) -> Result<Vec<String>> {
        if let Some(s) = &self.station {
            return Ok(vec![s.clone()]);
        }
        sqlx::query_scalar(
            "SELECT station_id FROM chain_heads UNION SELECT DISTINCT station_id FROM attempts ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.sql_err(e))
    }

    async fn head_of(&self, conn: &mut PgConnection, station: &str) -> Result<ChainHead> {
        let row = sqlx::query("SELECT last_seq, last_hash, last_attempt_id FROM chain_heads WHERE station_id = $1")
            .bind(station)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.sql_err(e))?;
        match row {
            None => Ok(ChainHead { last_seq: 0, last_hash: GENESIS_HASH.to_owned(), last_attempt_id: None }),
            Some(r) => Ok(ChainHead {
                last_seq: r.try_get(0).map_err(|e| self.sql_err(e))?,
                last_hash: r.try_get(1).map_err(|e| self.sql_err(e))?,
                last_attempt_id: r.try_get(2).map_err(|e| self.sql_err(e))?,
            }),
        }
    }

    async fn walk_one(&self, conn: &mut PgConnection, station: &str) -> Result<ChainReport> {
        let head = self.head_of(conn, station).await?;
        let sql = format!(
            "SELECT a.seq, a.row_hash, {} FROM attempts a WHERE a.station_id = $1 AND a.seq > $2 ORDER BY a.seq LIMIT $3",
            chain_column_list()
        );
        let mut walker = ChainWalker::new(head);
        let mut fetched_to = i64::MIN;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(station)
                .bind(fetched_to)
                .bind(BATCH)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| self.sql_err(e))?;
            for r in &rows {
                let row = read_chain_row(r).map_err(|e| self.sql_err(e))?;
                fetched_to = row.seq;
                walker.push(row);
            }
            if (rows.len() as i64) < BATCH {
                break;
            }
        }
        Ok(walker.finish())
    }

    /// Walks the chain of each station (the scoped one, or all) on one snapshot.
    pub(crate) async fn walk_chains(&self) -> Result<Vec<StationChainReport>> {
        let mut tx = self.pool.begin().await.map_err(|e| self.sql_err(e))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql_err(e))?;
        let mut out = Vec::new();
        for station in self.stations(&mut tx).await? {
            let report = self.walk_one(&mut tx, &station).await?;
            out.push(StationChainReport { station: Some(station), report });
        }
        Ok(out)
    }

    /// The one chain this handle speaks about: the scoped station's, or the only
    /// station's. With several stations and no scope, says to pick one.
    pub(crate) async fn walk_chain(&self) -> Result<ChainReport> {
        let mut all = self.walk_chains().await?;
        match all.len() {
            0 => Ok(ChainReport {
                rows_checked: 0,
                anchors_checked: 0,
                head: ChainHead { last_seq: 0, last_hash: GENESIS_HASH.to_owned(), last_attempt_id: None },
                problems: Vec::new(),
            }),
            1 => Ok(all.remove(0).report),
            _ => Err(self.several_stations()),
        }
    }

    pub(crate) async fn read_chain_head(&self) -> Result<ChainHead> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.sql_err(e))?;
        let stations = self.stations(&mut conn).await?;
        match stations.as_slice() {
            [] => Ok(ChainHead { last_seq: 0, last_hash: GENESIS_HASH.to_owned(), last_attempt_id: None }),
            [one] => self.head_of(&mut conn, one).await,
            _ => Err(self.several_stations()),
        }
    }

    fn several_stations(&self) -> AuditError {
        AuditError::Invalid(format!(
            "central audit database {} holds several stations' chains; name one with --station \
             (`flashline log verify` without --station checks every station)",
            self.location
        ))
    }
}
