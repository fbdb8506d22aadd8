//! Looking attempts up: "which boards failed today?", "when was AA:BB:.. flashed?".

use serde::{Deserialize, Serialize};

use crate::error::{AuditError, Result};
use crate::mac::normalize_mac;
use crate::model::{AttemptResult, AttemptRow};
use crate::schema::{decode_row, ROW_COLUMNS};
use crate::store::AuditStore;
use crate::time::Timestamp;

/// Which attempts to return. Every set field must match (AND). Results are newest first
/// (by start time, then id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptFilter {
    /// Exact MAC, any common spelling.
    pub mac: Option<String>,
    /// Exact slot name.
    pub slot: Option<String>,
    pub result: Option<AttemptResult>,
    /// Started at or after (inclusive).
    pub since: Option<Timestamp>,
    /// Started before (exclusive), so `since = day, until = day + 24 h` is exactly one day.
    pub until: Option<Timestamp>,
    /// Image name (exact), or a prefix of its SHA-256 (at least 4 hex digits, any case).
    pub image: Option<String>,
    /// At most this many rows (the newest); `None` returns all matches.
    pub limit: Option<u32>,
}

impl AttemptFilter {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    pub fn mac(mut self, mac: impl Into<String>) -> Self {
        self.mac = Some(mac.into());
        self
    }

    pub fn slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    pub fn result(mut self, result: AttemptResult) -> Self {
        self.result = Some(result);
        self
    }

    pub fn since(mut self, t: Timestamp) -> Self {
        self.since = Some(t);
        self
    }

    pub fn until(mut self, t: Timestamp) -> Self {
        self.until = Some(t);
        self
    }

    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }
}

/// A bound value of the generated WHERE clause.
enum Arg {
    Int(i64),
    Text(String),
}

/// Builds the SQL and its arguments. Only fixed fragments with `?` placeholders are put
/// into the text; every user value is bound.
fn build(filter: &AttemptFilter) -> Result<(String, Vec<Arg>)> {
    let mut clauses: Vec<&'static str> = Vec::new();
    let mut args = Vec::new();
    if let Some(mac) = &filter.mac {
        clauses.push("mac = ?");
        args.push(Arg::Text(normalize_mac(mac).map_err(AuditError::Invalid)?));
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
    if let Some(image) = &filter.image {
        let image = image.trim();
        let hex_prefix = (4..=64).contains(&image.len()) && image.bytes().all(|b| b.is_ascii_hexdigit());
        if hex_prefix {
            // GLOB on a BINARY column with a literal prefix is a range scan of the index.
            // The prefix is hex only, so it holds no GLOB metacharacters.
            clauses.push("(image_name = ? OR image_sha256 GLOB ?)");
            args.push(Arg::Text(image.into()));
            args.push(Arg::Text(format!("{}*", image.to_ascii_lowercase())));
        } else {
            clauses.push("image_name = ?");
            args.push(Arg::Text(image.into()));
        }
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
    Ok((sql, args))
}

impl AuditStore {
    /// Attempts matching `filter`, newest first.
    pub async fn query(&self, filter: &AttemptFilter) -> Result<Vec<AttemptRow>> {
        let (sql, args) = build(filter)?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Int(i) => q.bind(i),
                Arg::Text(s) => q.bind(s),
            };
        }
        let rows = q.fetch_all(&self.reader).await.map_err(|e| self.sql_err(e))?;
        rows.iter().map(|r| decode_row(&self.path, r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_selects_everything_newest_first() {
        let (sql, args) = build(&AttemptFilter::all()).unwrap();
        assert!(!sql.contains("WHERE"));
        assert!(sql.ends_with("ORDER BY started_at_ms DESC, id DESC"));
        assert!(args.is_empty());
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let f = AttemptFilter::all().slot("A1' OR 1=1 --").image("golden v2; DROP TABLE attempts").limit(3);
        let (sql, args) = build(&f).unwrap();
        assert!(!sql.contains("OR 1=1") && !sql.contains("DROP"));
        assert_eq!(args.len(), 3);
    }

    #[test]
    fn bad_mac_is_rejected_before_querying() {
        assert!(matches!(build(&AttemptFilter::all().mac("nope")), Err(AuditError::Invalid(_))));
    }
}
