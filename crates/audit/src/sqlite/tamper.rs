//! What someone with write access to the database file can do without the store: change
//! a chained row and recompute every later hash and the head, so that the chain verifies
//! again. It exists so that the tests and a site's tamper drill show what the database
//! alone cannot detect and what the anchors outside it do ([`crate::anchor`]); the daemon
//! never calls it.

use std::path::Path;

use sqlx::{ConnectOptions, SqliteConnection};

use super::chain::{column_list, read_values};
use crate::chain::{row_hash, GENESIS_HASH};

/// Runs `update` (an SQL `UPDATE` or `DELETE` statement) on the database at `path`, then
/// recomputes the chain from sequence number `from_seq` on: each row's `prev_hash` and
/// `row_hash`, and the head, as the store would have written them.
pub async fn edit_and_recompute(path: &Path, update: &str, from_seq: i64) -> Result<(), sqlx::Error> {
    let mut conn: SqliteConnection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(update.to_owned())).execute(&mut conn).await?;
    let mut prev: String = if from_seq <= 1 {
        GENESIS_HASH.to_owned()
    } else {
        sqlx::query_scalar("SELECT row_hash FROM attempts WHERE seq = ?")
            .bind(from_seq - 1)
            .fetch_one(&mut conn)
            .await?
    };
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT seq, id FROM attempts WHERE seq >= ? ORDER BY seq")
        .bind(from_seq)
        .fetch_all(&mut conn)
        .await?;
    let (mut last_seq, mut last_id) = (from_seq - 1, None);
    let select = format!("SELECT {} FROM attempts WHERE id = ?", column_list());
    for (seq, id) in rows {
        sqlx::query("UPDATE attempts SET prev_hash = ? WHERE id = ?").bind(&prev).bind(id).execute(&mut conn).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(select.clone())).bind(id).fetch_one(&mut conn).await?;
        // A row no version hashes (edited into an impossible state) gets an empty hash.
        prev = row_hash(&read_values(&row, 0)?).unwrap_or_default();
        sqlx::query("UPDATE attempts SET row_hash = ? WHERE id = ?").bind(&prev).bind(id).execute(&mut conn).await?;
        (last_seq, last_id) = (seq, Some(id));
    }
    if last_id.is_none() && last_seq > 0 {
        last_id = sqlx::query_scalar("SELECT id FROM attempts WHERE seq = ?")
            .bind(last_seq)
            .fetch_optional(&mut conn)
            .await?;
    }
    sqlx::query("UPDATE chain_head SET last_seq = ?, last_hash = ?, last_attempt_id = ? WHERE id = 1")
        .bind(last_seq)
        .bind(&prev)
        .bind(last_id)
        .execute(&mut conn)
        .await?;
    Ok(())
}
