//! Reading attempts: one row by id, and [`AttemptFilter`] as SQL.

use super::rows::ROW_COLUMNS;
use super::SqliteBackend;
use crate::decode::decode_row;
use crate::error::{AuditError, Result};
use crate::model::{AttemptId, AttemptRow};
use crate::query::{AttemptFilter, ImageMatch};

/// A bound value of the generated WHERE clause.
#[derive(Debug, PartialEq)]
enum Arg {
    Int(i64),
    Text(String),
}

/// Builds the SQL and its arguments for a normalised filter. Only fixed fragments with `?`
/// placeholders are put into the text; every user value is bound.
fn build(filter: &AttemptFilter) -> (String, Vec<Arg>) {
    let mut clauses: Vec<&'static str> = Vec::new();
    let mut args = Vec::new();
    if let Some(mac) = &filter.mac {
        clauses.push("mac = ?");
        args.push(Arg::Text(mac.clone()));
    }
    if let Some(station) = &filter.station {
        clauses.push("station_id = ?");
        args.push(Arg::Text(station.clone()));
    }
    if let Some(serial) = &filter.serial {
        clauses.push("serial = ?");
        args.push(Arg::Text(serial.clone()));
    }
    if let Some(slot) = &filter.slot {
        clauses.push("slot = ?");
        args.push(Arg::Text(slot.clone()));
    }
    if let Some(result) = filter.result {
        clauses.push("result = ?");
        args.push(Arg::Text(result.as_str().into()));
    }
    if let Some(since) = filter.since {
        clauses.push("started_at_ms >= ?");
        args.push(Arg::Int(since.as_unix_ms()));
    }
    if let Some(until) = filter.until {
        clauses.push("started_at_ms < ?");
        args.push(Arg::Int(until.as_unix_ms()));
    }
    match filter.image_match() {
        Some(ImageMatch::NameOrShaPrefix { name, sha_prefix }) => {
            // GLOB on a BINARY column with a literal prefix is a range scan of the index.
            // The prefix is hex only, so it holds no GLOB metacharacters.
            clauses.push("(image_name = ? OR image_sha256 GLOB ?)");
            args.push(Arg::Text(name));
            args.push(Arg::Text(format!("{sha_prefix}*")));
        }
        Some(ImageMatch::Name(name)) => {
            clauses.push("image_name = ?");
            args.push(Arg::Text(name));
        }
        None => {}
    }
    let mut sql = format!("SELECT {ROW_COLUMNS} FROM attempts");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(" ORDER BY started_at_ms DESC, id DESC");
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        args.push(Arg::Int(i64::from(limit)));
    }
    (sql, args)
}

impl SqliteBackend {
    pub(crate) async fn read_rows(&self, filter: &AttemptFilter) -> Result<Vec<AttemptRow>> {
        let (sql, args) = build(filter);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Int(i) => q.bind(i),
                Arg::Text(s) => q.bind(s),
            };
        }
        let rows = q.fetch_all(&self.reader).await.map_err(|e| self.sql_err(e))?;
        rows.iter().map(|r| decode_row(&self.location, r)).collect()
    }

    pub(crate) async fn read_row(&self, id: AttemptId) -> Result<AttemptRow> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM attempts WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| self.sql_err(e))?
            .ok_or_else(|| AuditError::NotFound { location: self.location.clone(), id })?;
        decode_row(&self.location, &row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_selects_everything_newest_first() {
        let (sql, args) = build(&AttemptFilter::all());
        assert!(!sql.contains("WHERE"));
        assert!(sql.ends_with("ORDER BY started_at_ms DESC, id DESC"));
        assert!(args.is_empty());
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let f = AttemptFilter::all().slot("A1' OR 1=1 --").image("golden v2; DROP TABLE attempts").limit(3);
        let (sql, args) = build(&f);
        assert!(!sql.contains("OR 1=1") && !sql.contains("DROP"));
        assert_eq!(args.len(), 3);
    }

    #[test]
    fn a_sha_prefix_becomes_a_lowercase_glob_beside_the_name() {
        let (sql, args) = build(&AttemptFilter::all().image("CDCD"));
        assert!(sql.contains("(image_name = ? OR image_sha256 GLOB ?)"), "{sql}");
        assert_eq!(args, vec![Arg::Text("CDCD".into()), Arg::Text("cdcd*".into())]);
    }
}
