//! Reading attempts centrally: [`AttemptFilter`] as PostgreSQL, one row by id.

use super::rows::ROW_COLUMNS;
use super::PgBackend;
use crate::decode::decode_row;
use crate::error::{AuditError, Result};
use crate::model::{AttemptId, AttemptRow};
use crate::query::{AttemptFilter, ImageMatch};

/// A bound value of the generated WHERE clause.
#[derive(Debug, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// Builds the SQL and its arguments for a normalised filter; `$n` placeholders only, every
/// user value bound.
pub(crate) fn build(filter: &AttemptFilter) -> (String, Vec<Arg>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args = Vec::new();
    let mut push = |clause: &str, arg: Arg, clauses: &mut Vec<String>| {
        args.push(arg);
        clauses.push(clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(station) = &filter.station {
        push("a.station_id = ?", Arg::Text(station.clone()), &mut clauses);
    }
    if let Some(mac) = &filter.mac {
        push("a.mac = ?", Arg::Text(mac.clone()), &mut clauses);
    }
    if let Some(serial) = &filter.serial {
        push("a.serial = ?", Arg::Text(serial.clone()), &mut clauses);
    }
    if let Some(slot) = &filter.slot {
        push("a.slot = ?", Arg::Text(slot.clone()), &mut clauses);
    }
    if let Some(result) = filter.result {
        push("a.result = ?", Arg::Text(result.as_str().into()), &mut clauses);
    }
    if let Some(since) = filter.since {
        push("a.started_at_ms >= ?", Arg::Int(since.as_unix_ms()), &mut clauses);
    }
    if let Some(until) = filter.until {
        push("a.started_at_ms < ?", Arg::Int(until.as_unix_ms()), &mut clauses);
    }
    match filter.image_match() {
        Some(ImageMatch::NameOrShaPrefix { name, sha_prefix }) => {
            // The prefix is hex only, so it holds no LIKE metacharacters.
            push("a.image_name = ?", Arg::Text(name), &mut clauses);
            let name_clause = clauses.pop().unwrap_or_default();
            push("a.image_sha256 LIKE ?", Arg::Text(format!("{sha_prefix}%")), &mut clauses);
            let sha_clause = clauses.pop().unwrap_or_default();
            clauses.push(format!("({name_clause} OR {sha_clause})"));
        }
        Some(ImageMatch::Name(name)) => push("a.image_name = ?", Arg::Text(name), &mut clauses),
        None => {}
    }
    let mut sql = format!("SELECT {ROW_COLUMNS} FROM attempts a");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(" ORDER BY a.started_at_ms DESC, a.id DESC, a.station_id DESC");
    if let Some(limit) = filter.limit {
        args.push(Arg::Int(i64::from(limit)));
        sql.push_str(&format!(" LIMIT ${}", args.len()));
    }
    (sql, args)
}

impl PgBackend {
    pub(crate) async fn read_rows(&self, filter: &AttemptFilter) -> Result<Vec<AttemptRow>> {
        let mut filter = filter.clone();
        if filter.station.is_none() {
            filter.station = self.station.clone();
        }
        let (sql, args) = build(&filter);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Int(i) => q.bind(i),
                Arg::Text(s) => q.bind(s),
            };
        }
        let rows = q.fetch_all(&self.pool).await.map_err(|e| self.sql_err(e))?;
        rows.iter().map(|r| decode_row(&self.location, r)).collect()
    }

    /// One row by the station's attempt id: within the scoped station, or the only
    /// station that has this id.
    pub(crate) async fn read_row(&self, id: AttemptId) -> Result<AttemptRow> {
        let sql =
            format!("SELECT {ROW_COLUMNS} FROM attempts a WHERE a.id = $1 AND ($2::TEXT IS NULL OR a.station_id = $2)");
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .bind(self.station.as_deref())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql_err(e))?;
        let mut rows = found.iter().map(|r| decode_row(&self.location, r)).collect::<Result<Vec<_>>>()?;
        match rows.len() {
            0 => Err(AuditError::NotFound { location: self.location.clone(), id }),
            1 => Ok(rows.remove(0)),
            _ => Err(AuditError::Invalid(format!(
                "attempt {id} exists at several stations ({}); name one with --station",
                rows.iter().map(|r| r.station_id.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_and_values_bound_never_spliced() {
        let f = AttemptFilter::all().station("line-2").slot("A1' OR 1=1 --").image("CDCD").limit(3);
        let (sql, args) = build(&f);
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert!(sql.contains("a.station_id = $1") && sql.contains("a.slot = $2"), "{sql}");
        assert!(sql.contains("(a.image_name = $3 OR a.image_sha256 LIKE $4)"), "{sql}");
        assert!(sql.ends_with("LIMIT $5"), "{sql}");
        assert_eq!(args[3], Arg::Text("cdcd%".into()));
    }

    #[test]
    fn empty_filter_selects_everything_newest_first() {
        let (sql, args) = build(&AttemptFilter::all());
        assert!(!sql.contains("FROM attempts a WHERE") && args.is_empty());
        assert!(sql.contains("ORDER BY a.started_at_ms DESC, a.id DESC"));
    }
}
