//! Synthetic rows straight into the central record, for the line's scale benchmark: a
//! million rows through [`CentralLink::send`](super::CentralLink::send) (one checked
//! insert per row) would take longer than the figures it is meant to measure.
//!
//! The rows are [`SyntheticRows`] chained exactly as a station chains them, so every
//! station's chain verifies centrally afterwards. They go in with multi-row `UNNEST`
//! inserts, in one transaction per station, with the chain-checking insert trigger
//! switched off inside that transaction (the table stays locked against every other
//! writer while it is off) and the station's `chain_heads` row written at the end, as the
//! trigger would have left it. Only the record's owner may do this; a station's role is
//! refused by the database.

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Connection, Row};

use super::connect::CentralUrl;
use super::error::classify;
use super::rows::{column_kind, Kind};
use crate::chain::{row_hash, Value, CHAIN_COLUMNS, GENESIS_HASH, PREV_HASH_INDEX};
use crate::error::{AuditError, Result};
use crate::model::AttemptId;
use crate::synthetic::{SyntheticRows, SyntheticSpec, SyntheticSummary};

/// Rows per `INSERT … SELECT FROM UNNEST(…)`.
const ROWS_PER_STATEMENT: usize = 5_000;

/// Inserts `spec.count` synthetic rows of station `spec.station_id` after the end of its
/// chain in the central record at `url` (a role that owns the schema).
pub async fn load_synthetic(url: &CentralUrl, spec: &SyntheticSpec) -> Result<SyntheticSummary> {
    let location = url.location().to_owned();
    let err = |e: sqlx::Error| classify(&location, e);
    let pool = url.pool(1);
    let mut conn = pool.acquire().await.map_err(err)?.detach();
    let mut tx = conn.begin().await.map_err(err)?;
    sqlx::query("ALTER TABLE attempts DISABLE TRIGGER attempts_accept").execute(&mut *tx).await.map_err(err)?;
    let head = sqlx::query("SELECT last_seq, last_hash FROM chain_heads WHERE station_id = $1")
        .bind(&spec.station_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
    let (mut seq, mut prev): (i64, String) = match head {
        Some(r) => (r.try_get(0).map_err(err)?, r.try_get(1).map_err(err)?),
        None => (0, GENESIS_HASH.to_owned()),
    };
    let max_id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM attempts WHERE station_id = $1")
        .bind(&spec.station_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
    let mut next_id = max_id.unwrap_or(0) + 1;
    let mut gen = SyntheticRows::new(spec);
    let mut summary =
        SyntheticSummary { inserted: 0, first_id: None, last_id: None, first_started: None, last_started: None };
    let sql = insert_sql();
    while summary.inserted < spec.count {
        let n = (spec.count - summary.inserted).min(ROWS_PER_STATEMENT as u64) as usize;
        let mut columns = Columns::new();
        for _ in 0..n {
            let mut values = gen.next_row(next_id);
            values[PREV_HASH_INDEX] = Value::Text(prev.clone());
            let hash = row_hash(&values).expect("a synthetic row (chain version 1) always hashes");
            seq += 1;
            values.push(Value::Int(seq));
            values.push(Value::Text(hash.clone()));
            columns.push(&values).map_err(AuditError::Invalid)?;
            if summary.first_id.is_none() {
                summary.first_id = Some(AttemptId(next_id));
                summary.first_started = gen.last_started();
            }
            prev = hash;
            next_id += 1;
        }
        sqlx::query_with(sqlx::AssertSqlSafe(sql.clone()), columns.arguments().map_err(AuditError::Invalid)?)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        summary.inserted += n as u64;
    }
    summary.last_id = summary.first_id.map(|_| AttemptId(next_id - 1));
    summary.last_started = gen.last_started();
    sqlx::query(
        "INSERT INTO chain_heads (station_id, last_seq, last_hash, last_attempt_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (station_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash, \
         last_attempt_id = EXCLUDED.last_attempt_id",
    )
    .bind(&spec.station_id)
    .bind(seq)
    .bind(&prev)
    .bind(next_id - 1)
    .execute(&mut *tx)
    .await
    .map_err(err)?;
    sqlx::query("ALTER TABLE attempts ENABLE TRIGGER attempts_accept").execute(&mut *tx).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    let _ = conn.close().await;
    Ok(summary)
}

/// The multi-row insert: every hashed column, `seq`, `row_hash`, each from an array.
fn insert_sql() -> String {
    let mut names: Vec<&str> = CHAIN_COLUMNS.to_vec();
    names.extend(["seq", "row_hash"]);
    let arrays: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ty = match kind(c) {
                Kind::Int => "BIGINT",
                Kind::Text => "TEXT",
            };
            format!("${}::{ty}[]", i + 1)
        })
        .collect();
    format!("INSERT INTO attempts ({}) SELECT * FROM UNNEST({})", names.join(", "), arrays.join(", "))
}

fn kind(column: &str) -> Kind {
    match column {
        "seq" => Kind::Int,
        "row_hash" => Kind::Text,
        c => column_kind(c).unwrap_or(Kind::Text),
    }
}

/// One array per column, filled row by row.
enum Column {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
}

struct Columns(Vec<Column>);

impl Columns {
    fn new() -> Columns {
        let names = CHAIN_COLUMNS.iter().copied().chain(["seq", "row_hash"]);
        Columns(
            names
                .map(|c| match kind(c) {
                    Kind::Int => Column::Int(Vec::new()),
                    Kind::Text => Column::Text(Vec::new()),
                })
                .collect(),
        )
    }

    fn push(&mut self, values: &[Value]) -> std::result::Result<(), String> {
        for (column, value) in self.0.iter_mut().zip(values) {
            match (column, value) {
                (Column::Int(v), Value::Int(i)) => v.push(Some(*i)),
                (Column::Int(v), Value::Null) => v.push(None),
                (Column::Text(v), Value::Text(t)) => v.push(Some(t.clone())),
                (Column::Text(v), Value::Null) => v.push(None),
                (_, other) => return Err(format!("synthetic value {other:?} does not fit its central column")),
            }
        }
        Ok(())
    }

    fn arguments(self) -> std::result::Result<PgArguments, String> {
        let mut args = PgArguments::default();
        for column in self.0 {
            match column {
                Column::Int(v) => args.add(v),
                Column::Text(v) => args.add(v),
            }
            .map_err(|e| e.to_string())?;
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_has_one_typed_array_per_column() {
        let sql = insert_sql();
        let n = CHAIN_COLUMNS.len() + 2;
        assert!(sql.contains(&format!("${n}::TEXT[]")) && !sql.contains(&format!("${}", n + 1)), "{sql}");
        assert!(sql.contains("$1::BIGINT[]") && sql.contains("$4::TEXT[]"), "id is an integer, station_id text: {sql}");
    }

    #[test]
    fn synthetic_rows_fit_the_central_columns() {
        let mut gen = SyntheticRows::new(&SyntheticSpec::new(200, 7));
        let mut columns = Columns::new();
        for id in 1..=200 {
            let mut values = gen.next_row(id);
            values[PREV_HASH_INDEX] = Value::Text(GENESIS_HASH.into());
            values.extend([Value::Int(id), Value::Text("h".into())]);
            columns.push(&values).unwrap();
        }
        assert!(columns.arguments().is_ok());
    }
}
