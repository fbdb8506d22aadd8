//! Checks of an SQLite audit database: the chain walk on one read snapshot, and SQLite's
//! own `PRAGMA integrity_check`.

use sqlx::Row;

use super::chain::{column_list, read_classed, read_head, read_values};
use super::SqliteBackend;
use crate::anchor::Anchor;
use crate::error::Result;
use crate::forwarded::FORWARDED_COLUMNS;
use crate::integrity::IntegrityReport;
use crate::verify::{ChainReport, ChainRow, ChainWalker};

/// Rows read per batch while walking the chain.
const BATCH: i64 = 5_000;

impl SqliteBackend {
    /// Feeds every chained row, in `seq` order, to a [`ChainWalker`]. Reads run on one
    /// snapshot-consistent read transaction so concurrent completions do not confuse it.
    pub(crate) async fn walk_chain(&self, anchors: &[Anchor]) -> Result<ChainReport> {
        let mut tx = self.reader.begin().await.map_err(|e| self.sql_err(e))?;
        let head = read_head(&mut tx).await.map_err(|e| self.sql_err(e))?;
        let sql = format!(
            "SELECT seq, row_hash, {} FROM attempts WHERE seq > ? AND seq IS NOT NULL ORDER BY seq LIMIT ?",
            column_list()
        );
        let mut walker = ChainWalker::new(head).with_anchors(anchors.to_vec());
        let mut fetched_to = i64::MIN;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(fetched_to)
                .bind(BATCH)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| self.sql_err(e))?;
            for r in &rows {
                let seq: i64 = r.try_get(0).map_err(|e| self.sql_err(e))?;
                let row_hash: Option<String> = r.try_get_unchecked(1).ok().flatten();
                let values = read_values(r, 2).map_err(|e| self.sql_err(e))?;
                fetched_to = seq;
                walker.push(ChainRow { seq, row_hash, values, forwarded: Vec::new() });
            }
            if (rows.len() as i64) < BATCH {
                break;
            }
        }
        drop(tx);
        Ok(walker.finish())
    }

    /// Chained rows after `after_seq`, in `seq` order, exactly as stored, with their
    /// forwarded columns.
    pub(crate) async fn read_chained(&self, after_seq: i64, limit: u32) -> Result<Vec<ChainRow>> {
        let sql = format!(
            "SELECT seq, row_hash, {}, {} FROM attempts WHERE seq > ? AND seq IS NOT NULL ORDER BY seq LIMIT ?",
            column_list(),
            FORWARDED_COLUMNS.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(|e| self.sql_err(e))?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get(0).map_err(|e| self.sql_err(e))?;
                let row_hash: Option<String> = r.try_get_unchecked(1).ok().flatten();
                let values = read_values(r, 2).map_err(|e| self.sql_err(e))?;
                let forwarded =
                    read_classed(r, 2 + values.len(), FORWARDED_COLUMNS.len()).map_err(|e| self.sql_err(e))?;
                Ok(ChainRow { seq, row_hash, values, forwarded })
            })
            .collect()
    }

    /// `PRAGMA integrity_check`: SQLite's own check of b-trees, indexes and constraints.
    pub(crate) async fn check_integrity(&self) -> Result<IntegrityReport> {
        let messages: Vec<String> =
            sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&self.reader).await.map_err(|e| self.sql_err(e))?;
        let ok = messages.len() == 1 && messages[0] == "ok";
        Ok(IntegrityReport { ok, messages })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sqlx::{ConnectOptions, SqliteConnection};

    use super::super::chain::{column_list, read_values};
    use crate::chain::row_hash;
    use crate::model::{AttemptId, Completion, NewAttempt};
    use crate::options::StoreOptions;
    use crate::verify::ChainProblem;
    use crate::AuditStore;

    /// A store with `n` failed attempts completed in order.
    async fn store_with(path: &Path, n: usize) -> (AuditStore, Vec<AttemptId>) {
        let store = AuditStore::open(path, StoreOptions::default()).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let new = NewAttempt {
                station_id: "s".into(),
                slot: format!("A{i}"),
                port: "p".into(),
                usb: None,
                image_name: "i".into(),
                image_sha256: "ab".repeat(32),
                started_at: None,
            };
            let id = store.begin_attempt(new).await.unwrap();
            store.complete_attempt(id, Completion::fail("write", "timeout")).await.unwrap();
            ids.push(id);
        }
        (store, ids)
    }

    /// Someone who knows the hash definition: applies `edit` to row `id` and stores the
    /// hash recomputed over the edited values (storage classes as SQLite keeps them).
    async fn edit_and_rehash(path: &Path, id: AttemptId, edit: &str) {
        let mut raw: SqliteConnection =
            sqlx::sqlite::SqliteConnectOptions::new().filename(path).connect().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE attempts SET {edit} WHERE id = ?")))
            .bind(id.0)
            .execute(&mut raw)
            .await
            .unwrap();
        let sql = format!("SELECT {} FROM attempts WHERE id = ?", column_list());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id.0).fetch_one(&mut raw).await.unwrap();
        let rehashed = row_hash(&read_values(&row, 0).unwrap()).unwrap();
        sqlx::query("UPDATE attempts SET row_hash = ? WHERE id = ?")
            .bind(&rehashed)
            .bind(id.0)
            .execute(&mut raw)
            .await
            .unwrap();
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_one(&mut raw).await.unwrap();
        assert_eq!(
            row_hash(&read_values(&row, 0).unwrap()).unwrap(),
            rehashed,
            "the edited row hashes to its stored hash"
        );
    }

    /// The row itself verifies, but its successor recorded the old hash.
    #[tokio::test]
    async fn a_changed_and_rehashed_row_is_named_through_its_successor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let (store, ids) = store_with(&path, 3).await;
        edit_and_rehash(&path, ids[1], "result = 'pass', failure_stage = NULL, failure_reason = NULL").await;
        let report = store.verify_chain().await.unwrap();
        assert_eq!(
            report.problems,
            vec![ChainProblem::Rewritten { seq: 2, id: Some(ids[1].0), next_seq: 3, next_id: ids[2].0 }]
        );
    }

    /// Rewriting the newest row and its hash leaves no successor to notice; the head does.
    #[tokio::test]
    async fn a_rehashed_newest_row_is_caught_by_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let (store, ids) = store_with(&path, 1).await;
        edit_and_rehash(&path, ids[0], "failure_reason = 'cable'").await;
        let report = store.verify_chain().await.unwrap();
        assert!(
            matches!(report.problems.as_slice(), [ChainProblem::HeadMismatch { head_seq: 1, last_seq: 1, .. }]),
            "{:?}",
            report.problems
        );
    }
}
