//! A station's side of the central record: read its high-water mark, send its chained rows
//! in order. The database holds the station to its own rows (row-level security) and to a
//! chain that continues the recorded one (insert trigger); a row already held with the
//! same hash is skipped, so a resend after a lost acknowledgement stores nothing twice.

use sqlx::{PgPool, Row};

use super::connect::CentralUrl;
use super::error::{classify_central, CentralError};
use super::rows::{column_kind, Kind};
use crate::chain::{ChainHead, Value, CHAIN_COLUMNS, GENESIS_HASH};
use crate::forwarded::FORWARDED_COLUMNS;
use crate::verify::ChainRow;

/// A station's connection to the central record (lazy: made on first use, remade after an
/// outage).
#[derive(Debug, Clone)]
pub struct CentralLink {
    pub(super) pool: PgPool,
    location: String,
    user: String,
    station: String,
}

/// What one [`CentralLink::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    /// Rows newly stored.
    pub inserted: u64,
    /// Rows the record already held (resent).
    pub skipped: u64,
    /// `seq` of the last row sent.
    pub last_seq: i64,
}

impl CentralLink {
    /// A link for station `station` through `url` (whose role should be named `station`).
    pub fn new(url: &CentralUrl, station: &str) -> CentralLink {
        CentralLink {
            pool: url.pool(1),
            location: url.location().to_owned(),
            user: url.user().to_owned(),
            station: station.to_owned(),
        }
    }

    /// The database, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub(super) fn err(&self, e: sqlx::Error) -> CentralError {
        classify_central(&self.location, &self.user, &self.station, e)
    }

    /// The end of this station's chain as the central record holds it (genesis when it
    /// holds nothing yet).
    pub async fn head(&self) -> Result<ChainHead, CentralError> {
        let row = sqlx::query("SELECT last_seq, last_hash, last_attempt_id FROM chain_heads WHERE station_id = $1")
            .bind(&self.station)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(match row {
            None => ChainHead { last_seq: 0, last_hash: GENESIS_HASH.to_owned(), last_attempt_id: None },
            Some(r) => ChainHead {
                last_seq: r.try_get(0).map_err(|e| self.err(e))?,
                last_hash: r.try_get(1).map_err(|e| self.err(e))?,
                last_attempt_id: r.try_get(2).map_err(|e| self.err(e))?,
            },
        })
    }

    /// Stores `rows` (consecutive, ascending `seq`) in one transaction: all or none.
    pub async fn send(&self, rows: &[ChainRow]) -> Result<Forwarded, CentralError> {
        let sql = insert_sql();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let mut done = Forwarded { inserted: 0, skipped: 0, last_seq: 0 };
        for row in rows {
            let station = row.values.get(3).and_then(Value::as_text);
            if station != Some(self.station.as_str()) {
                return Err(CentralError::Unforwardable {
                    seq: row.seq,
                    detail: format!(
                        "it belongs to station {:?}, this station is '{}' (was the station id changed?)",
                        station.unwrap_or("?"),
                        self.station
                    ),
                });
            }
            if row.values.len() != CHAIN_COLUMNS.len() || row.forwarded.len() != FORWARDED_COLUMNS.len() {
                return Err(CentralError::Unforwardable {
                    seq: row.seq,
                    detail: "it was read without all of its columns (a chain walk's row, not the local log's)".into(),
                });
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            let columns = CHAIN_COLUMNS.iter().chain(FORWARDED_COLUMNS.iter());
            for (column, value) in columns.zip(row.values.iter().chain(&row.forwarded)) {
                let kind = column_kind(column).ok_or_else(|| CentralError::Unforwardable {
                    seq: row.seq,
                    detail: format!("the central schema has no column {column}: update the central database"),
                })?;
                q = match (kind, value) {
                    (Kind::Int, Value::Null) => q.bind(None::<i64>),
                    (Kind::Text, Value::Null) => q.bind(None::<String>),
                    (Kind::Int, Value::Int(i)) => q.bind(*i),
                    (Kind::Text, Value::Text(t)) => q.bind(t.clone()),
                    (_, other) => {
                        return Err(CentralError::Unforwardable {
                            seq: row.seq,
                            detail: format!("column {column} holds {other:?}, which its central column cannot store"),
                        })
                    }
                };
            }
            let result = q.bind(row.seq).bind(row.row_hash.clone()).execute(&mut *tx).await.map_err(|e| self.err(e))?;
            if result.rows_affected() == 1 {
                done.inserted += 1;
            } else {
                done.skipped += 1;
            }
            done.last_seq = row.seq;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(done)
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The insert of one row: the hashed columns, the forwarded ones, then `seq` and
/// `row_hash`, in the order [`CentralLink::send`] binds them.
fn insert_sql() -> String {
    let columns = CHAIN_COLUMNS.iter().chain(FORWARDED_COLUMNS.iter()).copied().collect::<Vec<_>>();
    let params: Vec<String> = (1..=columns.len() + 2).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO attempts ({}, seq, row_hash) VALUES ({}) ON CONFLICT (station_id, seq) DO NOTHING",
        columns.join(", "),
        params.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_names_every_hashed_and_forwarded_column_and_skips_conflicts() {
        let sql = insert_sql();
        for c in CHAIN_COLUMNS.iter().chain(FORWARDED_COLUMNS.iter()) {
            assert!(sql.contains(c), "{c}");
        }
        let last = CHAIN_COLUMNS.len() + FORWARDED_COLUMNS.len() + 2;
        assert!(sql.contains(&format!("${last})")) && sql.ends_with("DO NOTHING"), "{sql}");
        assert!(!sql.contains(&format!("${}", last + 1)), "{sql}");
    }
}
