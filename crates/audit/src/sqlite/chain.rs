//! Chain persistence in SQLite: the `chain_head` table and the hashed values of a row read
//! exactly as stored.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, TypeInfo, ValueRef};

use super::SqliteBackend;
use crate::chain::{ChainHead, Value, CHAIN_COLUMNS};
use crate::error::Result;

/// SQL list of [`CHAIN_COLUMNS`].
pub(crate) fn column_list() -> String {
    CHAIN_COLUMNS.join(", ")
}

/// Reads [`CHAIN_COLUMNS`] from `row`, starting at column index `offset`, exactly as
/// stored (storage class included), so a hand-edited value of the wrong type still hashes.
pub(crate) fn read_values(row: &SqliteRow, offset: usize) -> Result<Vec<Value>, sqlx::Error> {
    read_classed(row, offset, CHAIN_COLUMNS.len())
}

/// Reads `count` columns from `offset` on by their storage class.
pub(crate) fn read_classed(row: &SqliteRow, offset: usize, count: usize) -> Result<Vec<Value>, sqlx::Error> {
    (offset..offset + count)
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let class = raw.type_info().name().to_owned();
            Ok(match class.as_str() {
                "INTEGER" => Value::Int(row.try_get_unchecked(i)?),
                "REAL" => Value::Real(row.try_get_unchecked(i)?),
                "BLOB" => Value::Blob(row.try_get_unchecked(i)?),
                _ => Value::Text(row.try_get_unchecked(i)?),
            })
        })
        .collect()
}

pub(crate) async fn read_head(conn: &mut SqliteConnection) -> Result<ChainHead, sqlx::Error> {
    let row = sqlx::query("SELECT last_seq, last_hash, last_attempt_id FROM chain_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    Ok(ChainHead { last_seq: row.try_get(0)?, last_hash: row.try_get(1)?, last_attempt_id: row.try_get(2)? })
}

pub(crate) async fn write_head(conn: &mut SqliteConnection, head: &ChainHead) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chain_head SET last_seq = ?, last_hash = ?, last_attempt_id = ? WHERE id = 1")
        .bind(head.last_seq)
        .bind(&head.last_hash)
        .bind(head.last_attempt_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl SqliteBackend {
    pub(crate) async fn read_chain_head(&self) -> Result<ChainHead> {
        let mut conn = self.reader.acquire().await.map_err(|e| self.sql_err(e))?;
        read_head(&mut conn).await.map_err(|e| self.sql_err(e))
    }
}
