//! Walking the hash chain and naming what was changed.
//!
//! Rows are read in `seq` order in batches, with one row of look-ahead. For each row the
//! verifier knows the hash the row should link to (the anchor: the previous accepted
//! row's `row_hash`) and checks two things: its content still hashes to its `row_hash`,
//! and its `prev_hash` is the anchor. The combination tells what happened:
//!
//! | content | link | look-ahead                 | finding                                  |
//! |---------|------|----------------------------|------------------------------------------|
//! | any     | any  | next row links to anchor   | [`ChainProblem::Inserted`] (skipped)     |
//! | ok      | bad  | seq jumps over a gap       | [`ChainProblem::Deleted`]                |
//! | ok      | bad  | no gap                     | [`ChainProblem::Rewritten`] (previous row changed and re-hashed) |
//! | bad     | any  |                            | [`ChainProblem::Edited`]                 |
//!
//! After an edited row the next link is not judged (its successor committed to the
//! original hash, which is unknown), so one edit gives one finding. At the end the last
//! row is compared with `chain_head`, which catches deleted or appended newest rows.

use std::collections::VecDeque;
use std::fmt;

use serde::Serialize;
use sqlx::Row;

use crate::chain::{self, ChainHead, Value, CHAIN_COLUMNS, GENESIS_HASH, PREV_HASH_INDEX};
use crate::error::Result;
use crate::store::AuditStore;

/// Rows read per batch while walking the chain.
const BATCH: i64 = 5_000;

/// One finding of [`AuditStore::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The row's fields were changed after completion: they no longer hash to `row_hash`.
    Edited { seq: i64, id: i64 },
    /// A row that the store never chained: its neighbours link past it.
    Inserted { seq: i64, id: i64 },
    /// Rows are missing between two chained rows (`missing` of them, by `seq`).
    Deleted { after_seq: i64, after_id: Option<i64>, before_seq: i64, before_id: i64, missing: i64 },
    /// The row at `seq` was changed and its hash recomputed: its successor `next_seq`
    /// recorded a different hash for it.
    Rewritten { seq: i64, id: Option<i64>, next_seq: i64, next_id: i64 },
    /// A chained row appended after the recorded chain head (not by the store).
    AfterHead { seq: i64, id: i64 },
    /// The newest rows are gone: the chain ends at `last_seq` but the head says `head_seq`.
    TailDeleted { last_seq: i64, head_seq: i64, head_attempt_id: Option<i64> },
    /// The head's attempt exists but with a different hash (changed and re-hashed), or the
    /// head record itself was edited.
    HeadMismatch { head_seq: i64, head_hash: String, last_seq: i64, last_hash: String },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ChainProblem::*;
        match self {
            Edited { seq, id } => write!(f, "seq {seq} (attempt #{id}): fields were edited after completion"),
            Inserted { seq, id } => {
                write!(f, "seq {seq} (attempt #{id}): row was inserted by hand, its neighbours link past it")
            }
            Deleted { after_seq, before_seq, before_id, missing, .. } => write!(
                f,
                "{missing} row(s) deleted between seq {after_seq} and seq {before_seq} (attempt #{before_id})"
            ),
            Rewritten { seq, id, next_seq, .. } => write!(
                f,
                "seq {seq} (attempt {}): row was changed and its hash recomputed; seq {next_seq} recorded another hash for it",
                id.map_or("?".into(), |i| format!("#{i}"))
            ),
            AfterHead { seq, id } => {
                write!(f, "seq {seq} (attempt #{id}): row was appended after the recorded chain head")
            }
            TailDeleted { last_seq, head_seq, .. } => {
                write!(f, "newest row(s) deleted: chain ends at seq {last_seq}, head records seq {head_seq}")
            }
            HeadMismatch { head_seq, last_seq, .. } => write!(
                f,
                "chain head (seq {head_seq}) does not match the last row (seq {last_seq}): it was changed and re-hashed, or the head was edited"
            ),
        }
    }
}

/// Result of [`AuditStore::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Chained (completed) rows read.
    pub rows_checked: u64,
    pub head: ChainHead,
    pub problems: Vec<ChainProblem>,
}

impl ChainReport {
    /// No finding.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

struct ChainRow {
    seq: i64,
    id: i64,
    row_hash: Option<String>,
    values: Vec<Value>,
}

impl ChainRow {
    fn prev_hash(&self) -> Option<&str> {
        self.values[PREV_HASH_INDEX].as_text()
    }
}

impl AuditStore {
    /// Walks the whole chain; see the module docs for what each finding means. Reads run on
    /// a snapshot-consistent read transaction so concurrent completions do not confuse it.
    pub async fn verify_chain(&self) -> Result<ChainReport> {
        let mut tx = self.reader.begin().await.map_err(|e| self.sql_err(e))?;
        let head = chain::read_head(&mut tx).await.map_err(|e| self.sql_err(e))?;
        let sql = format!(
            "SELECT seq, row_hash, {} FROM attempts WHERE seq > ? AND seq IS NOT NULL ORDER BY seq LIMIT ?",
            chain::chain_column_list()
        );
        let mut buf: VecDeque<ChainRow> = VecDeque::new();
        let mut fetched_to = i64::MIN;
        let mut exhausted = false;

        let mut problems = Vec::new();
        let mut checked = 0u64;
        // Hash the next row must link to; None right after an edited row (unknown).
        let mut anchor: Option<String> = Some(GENESIS_HASH.to_owned());
        let (mut anchor_seq, mut anchor_id) = (0i64, None::<i64>);
        let mut seen_head = head.last_seq == 0;
        let mut after_head: Vec<(i64, i64)> = Vec::new();
        let mut head_id_hash: Option<Option<String>> = None;

        loop {
            if buf.len() < 2 && !exhausted {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(fetched_to)
                    .bind(BATCH)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| self.sql_err(e))?;
                exhausted = (rows.len() as i64) < BATCH;
                for r in &rows {
                    let seq: i64 = r.try_get(0).map_err(|e| self.sql_err(e))?;
                    let row_hash: Option<String> = r.try_get_unchecked(1).ok().flatten();
                    let values = chain::read_values(r, 2).map_err(|e| self.sql_err(e))?;
                    let id = match values[0] {
                        Value::Int(i) => i,
                        _ => -1,
                    };
                    fetched_to = seq;
                    buf.push_back(ChainRow { seq, id, row_hash, values });
                }
                continue;
            }
            let Some(r) = buf.pop_front() else { break };
            checked += 1;
            let content_ok = r.row_hash.as_deref() == Some(chain::row_hash(&r.values).as_str());
            let link_ok = anchor.as_deref().is_none_or(|a| r.prev_hash() == Some(a));
            // The next row links to this row's predecessor: this row was never part of the
            // chain, however well it hashes or links itself.
            let next_skips_it = anchor.is_some() && buf.front().is_some_and(|n| n.prev_hash() == anchor.as_deref());
            if next_skips_it {
                problems.push(ChainProblem::Inserted { seq: r.seq, id: r.id });
                continue;
            }
            if !link_ok {
                if !content_ok {
                    problems.push(ChainProblem::Edited { seq: r.seq, id: r.id });
                } else if r.seq > anchor_seq + 1 {
                    problems.push(ChainProblem::Deleted {
                        after_seq: anchor_seq,
                        after_id: anchor_id,
                        before_seq: r.seq,
                        before_id: r.id,
                        missing: r.seq - anchor_seq - 1,
                    });
                } else {
                    problems.push(ChainProblem::Rewritten {
                        seq: anchor_seq,
                        id: anchor_id,
                        next_seq: r.seq,
                        next_id: r.id,
                    });
                }
            } else if !content_ok {
                problems.push(ChainProblem::Edited { seq: r.seq, id: r.id });
            }

            if seen_head {
                after_head.push((r.seq, r.id));
            }
            if head.last_attempt_id == Some(r.id) {
                head_id_hash = Some(r.row_hash.clone());
            }
            if r.row_hash.as_deref() == Some(head.last_hash.as_str()) {
                seen_head = true;
                after_head.clear();
            }
            anchor = if content_ok { r.row_hash.clone() } else { None };
            anchor_seq = r.seq;
            anchor_id = Some(r.id);
        }
        drop(tx);

        if seen_head {
            problems.extend(after_head.into_iter().map(|(seq, id)| ChainProblem::AfterHead { seq, id }));
        } else if head_id_hash.is_some() {
            problems.push(ChainProblem::HeadMismatch {
                head_seq: head.last_seq,
                head_hash: head.last_hash.clone(),
                last_seq: anchor_seq,
                last_hash: anchor.clone().unwrap_or_default(),
            });
        } else {
            problems.push(ChainProblem::TailDeleted {
                last_seq: anchor_seq,
                head_seq: head.last_seq,
                head_attempt_id: head.last_attempt_id,
            });
        }
        debug_assert_eq!(CHAIN_COLUMNS.len(), PREV_HASH_INDEX + 1);
        Ok(ChainReport { rows_checked: checked, head, problems })
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{ConnectOptions, Row};

    use super::*;
    use crate::model::{Completion, NewAttempt};
    use crate::options::StoreOptions;

    /// Someone who knows the hash definition changes a row and recomputes its hash: the row
    /// itself verifies, but its successor recorded the old hash.
    #[tokio::test]
    async fn a_changed_and_rehashed_row_is_named_through_its_successor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = AuditStore::open(&path, StoreOptions::default()).await.unwrap();
        let mut ids = Vec::new();
        for slot in ["A1", "A2", "A3"] {
            let id = store
                .begin_attempt(NewAttempt {
                    station_id: "s".into(),
                    slot: slot.into(),
                    port: "p".into(),
                    usb: None,
                    image_name: "i".into(),
                    image_sha256: "ab".repeat(32),
                    started_at: None,
                })
                .await
                .unwrap();
            store.complete_attempt(id, Completion::fail("write", "timeout")).await.unwrap();
            ids.push(id.0);
        }

        let mut raw = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await.unwrap();
        sqlx::query("UPDATE attempts SET result = 'pass', failure_stage = NULL, failure_reason = NULL WHERE id = ?")
            .bind(ids[1])
            .execute(&mut raw)
            .await
            .unwrap();
        let sql = format!("SELECT {} FROM attempts WHERE id = ?", chain::chain_column_list());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ids[1]).fetch_one(&mut raw).await.unwrap();
        let rehashed = chain::row_hash(&chain::read_values(&row, 0).unwrap());
        sqlx::query("UPDATE attempts SET row_hash = ? WHERE id = ?")
            .bind(&rehashed)
            .bind(ids[1])
            .execute(&mut raw)
            .await
            .unwrap();
        let stored: String = sqlx::query("SELECT row_hash FROM attempts WHERE id = ?")
            .bind(ids[1])
            .fetch_one(&mut raw)
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, rehashed);

        let report = store.verify_chain().await.unwrap();
        assert_eq!(
            report.problems,
            vec![ChainProblem::Rewritten { seq: 2, id: Some(ids[1]), next_seq: 3, next_id: ids[2] }]
        );
    }

    /// Rewriting the newest row and its hash leaves no successor to notice; the head does.
    #[tokio::test]
    async fn a_rehashed_newest_row_is_caught_by_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = AuditStore::open(&path, StoreOptions::default()).await.unwrap();
        let id = store
            .begin_attempt(NewAttempt {
                station_id: "s".into(),
                slot: "A1".into(),
                port: "p".into(),
                usb: None,
                image_name: "i".into(),
                image_sha256: "ab".repeat(32),
                started_at: None,
            })
            .await
            .unwrap();
        store.complete_attempt(id, Completion::fail("write", "timeout")).await.unwrap();
        let mut raw = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await.unwrap();
        sqlx::query("UPDATE attempts SET failure_reason = 'cable' WHERE id = ?")
            .bind(id.0)
            .execute(&mut raw)
            .await
            .unwrap();
        let sql = format!("SELECT {} FROM attempts WHERE id = ?", chain::chain_column_list());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_one(&mut raw).await.unwrap();
        let rehashed = chain::row_hash(&chain::read_values(&row, 0).unwrap());
        sqlx::query("UPDATE attempts SET row_hash = ? WHERE id = ?")
            .bind(&rehashed)
            .bind(id.0)
            .execute(&mut raw)
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        assert!(
            matches!(report.problems.as_slice(), [ChainProblem::HeadMismatch { head_seq: 1, last_seq: 1, .. }]),
            "{:?}",
            report.problems
        );
    }
}
