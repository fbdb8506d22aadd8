//! Bulk insert of synthetic rows: multi-row `INSERT`s in transactions of
//! [`SyntheticSpec::batch`] rows, chained as they go.

use sqlx::Row;

use super::chain::{read_head, write_head};
use super::tx::write_tx;
use super::SqliteBackend;
use crate::chain::{row_hash, Value, CHAIN_COLUMNS, PREV_HASH_INDEX};
use crate::error::Result;
use crate::model::AttemptId;
use crate::synthetic::{SyntheticRows, SyntheticSpec, SyntheticSummary};

/// Statement size: 28 columns x 256 rows stays far below SQLite's 32766 parameters.
const ROWS_PER_STATEMENT: usize = 256;

impl SqliteBackend {
    pub(crate) async fn bulk_insert(&self, spec: &SyntheticSpec) -> Result<SyntheticSummary> {
        let store = self;
        let mut gen = SyntheticRows::new(spec);
        let mut summary =
            SyntheticSummary { inserted: 0, first_id: None, last_id: None, first_started: None, last_started: None };
        let columns = format!("{}, seq, row_hash", CHAIN_COLUMNS.join(", "));
        let placeholders = format!("({})", vec!["?"; CHAIN_COLUMNS.len() + 2].join(", "));

        while summary.inserted < spec.count {
            let in_batch = (spec.count - summary.inserted).min(spec.batch.max(1) as u64) as usize;
            let batch_gen = &mut gen;
            let (first, last) = write_tx!(store, |tx| {
                let mut head = read_head(&mut tx).await?;
                let max_id: Option<i64> =
                    sqlx::query("SELECT MAX(id) FROM attempts").fetch_one(&mut *tx).await?.try_get(0)?;
                let mut next_id = max_id.unwrap_or(0) + 1;
                let first_id = next_id;
                let mut left = in_batch;
                // A retried transaction must produce the same rows: generate from a copy.
                let mut g = batch_gen.clone();
                while left > 0 {
                    let k = left.min(ROWS_PER_STATEMENT);
                    let sql = format!(
                        "INSERT INTO attempts ({columns}) VALUES {}",
                        vec![placeholders.as_str(); k].join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for _ in 0..k {
                        let mut values = g.next_row(next_id);
                        values[PREV_HASH_INDEX] = Value::Text(head.last_hash.clone());
                        let hash = row_hash(&values).expect("synthetic rows are version 2");
                        head.last_seq += 1;
                        values.push(Value::Int(head.last_seq));
                        values.push(Value::Text(hash.clone()));
                        head.last_hash = hash;
                        head.last_attempt_id = Some(next_id);
                        next_id += 1;
                        for v in values {
                            q = match v {
                                Value::Null => q.bind(None::<i64>),
                                Value::Int(i) => q.bind(i),
                                Value::Text(s) => q.bind(s),
                                Value::Real(f) => q.bind(f),
                                Value::Blob(b) => q.bind(b),
                            };
                        }
                    }
                    q.execute(&mut *tx).await?;
                    left -= k;
                }
                write_head(&mut tx, &head).await?;
                *batch_gen = g;
                (first_id, next_id - 1)
            })?;
            summary.first_id.get_or_insert(AttemptId(first));
            summary.last_id = Some(AttemptId(last));
            summary.inserted += in_batch as u64;
        }
        summary.first_started = (spec.count > 0).then_some(spec.start);
        summary.last_started = gen.last_started();
        Ok(summary)
    }
}
