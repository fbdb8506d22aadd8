//! The central PostgreSQL audit record: every station's completed rows, forwarded from its
//! local SQLite log, with each station's hash chain intact.
//!
//! - `connect.rs`: the URL, the password kept apart, TLS through `sslmode`.
//! - `admin.rs`: the schema (`migrations/central/`), the station roles.
//! - `link.rs`: a station's side: its high-water mark and the in-order insert.
//! - `rows.rs`: central columns, row decoding, hashed values as stored.
//! - `query.rs`, `stats.rs`, `verify.rs`: the reading backend ([`PgBackend`]).
//! - `line.rs`: one summary per station for the line view ([`LineReader`]).
//! - `synthetic.rs`: synthetic chained rows in bulk, for the scale benchmark.
//! - `error.rs`: SQLSTATE codes to [`crate::AuditError`] and [`CentralError`].
//!
//! The reading backend is read-only for [`crate::AuditStore`]: rows arrive only through a
//! station's [`CentralLink`], which the database itself holds to its own station's rows and
//! to a chain that continues the recorded one.

mod admin;
mod connect;
mod error;
mod line;
mod link;
mod query;
mod rows;
mod serials;
mod stats;
mod synthetic;
mod verify;

use sqlx::PgPool;

use crate::anchor::Anchor;
use crate::backend::{AuditBackend, BoxFuture, StationChainReport};
use crate::chain::ChainHead;
use crate::error::{AuditError, Result};
use crate::integrity::IntegrityReport;
use crate::model::{AttemptId, AttemptRow, ClosedRunning, Completion, Identity, NewAttempt};
use crate::query::AttemptFilter;
use crate::stats::Stats;
use crate::synthetic::{SyntheticSpec, SyntheticSummary};
use crate::time::Timestamp;
use crate::verify::{ChainReport, ChainRow};

pub use admin::{add_station, check_station_role_name, init_schema, StationRole};
pub use connect::{is_postgres_url, read_password_file, CentralUrl, CONNECT_TIMEOUT};
pub use error::CentralError;
pub use line::{LineReader, StationSummary};
pub use link::{CentralLink, Forwarded};
pub use synthetic::load_synthetic;

/// The central schema version this build reads and writes (the newest file of
/// `migrations/central/`).
pub const SCHEMA_VERSION: i64 = 4;

/// The central record, for queries (`flashline log|stats --db postgres://...`).
#[derive(Debug)]
pub struct PgBackend {
    pool: PgPool,
    location: String,
    /// Only this station's rows (`--station`).
    station: Option<String>,
}

impl PgBackend {
    /// Opens the central record for reading, optionally scoped to one station; checks the
    /// server answers and the schema is there.
    pub async fn open(url: &CentralUrl, station: Option<String>) -> Result<PgBackend> {
        let backend = PgBackend { pool: url.pool(4), location: url.location().to_owned(), station };
        sqlx::query("SELECT 1 FROM attempts LIMIT 0").execute(&backend.pool).await.map_err(|e| backend.sql_err(e))?;
        Ok(backend)
    }

    pub(crate) fn sql_err(&self, e: sqlx::Error) -> AuditError {
        error::classify(&self.location, e)
    }

    fn read_only(&self) -> AuditError {
        AuditError::ReadOnly { location: self.location.clone() }
    }

    async fn rows_after(&self, after_seq: i64, limit: u32) -> Result<Vec<ChainRow>> {
        let Some(station) = &self.station else {
            return Err(AuditError::Invalid("reading chained rows centrally needs a station (--station)".into()));
        };
        let sql = format!(
            "SELECT a.seq, a.row_hash, {} FROM attempts a WHERE a.station_id = $1 AND a.seq > $2 ORDER BY a.seq LIMIT $3",
            rows::chain_column_list()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(station)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql_err(e))?;
        rows.iter().map(|r| rows::read_chain_row(r).map_err(|e| self.sql_err(e))).collect()
    }

    /// Each station's recorded head names a row that is there with that hash.
    async fn check_heads(&self) -> Result<IntegrityReport> {
        let missing: Vec<(String, i64)> = sqlx::query_as(
            "SELECT h.station_id, h.last_seq FROM chain_heads h WHERE ($1::TEXT IS NULL OR h.station_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.station_id = h.station_id \
             AND a.seq = h.last_seq AND a.row_hash = h.last_hash) ORDER BY 1",
        )
        .bind(self.station.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql_err(e))?;
        if missing.is_empty() {
            return Ok(IntegrityReport { ok: true, messages: vec!["ok".into()] });
        }
        let messages = missing
            .into_iter()
            .map(|(s, seq)| format!("station {s}: head row seq {seq} is missing or changed"))
            .collect();
        Ok(IntegrityReport { ok: false, messages })
    }
}

impl AuditBackend for PgBackend {
    fn location(&self) -> &str {
        &self.location
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn begin_attempt<'a>(&'a self, _: &'a NewAttempt) -> BoxFuture<'a, Result<AttemptId>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn update_identity<'a>(&'a self, _: AttemptId, _: &'a Identity) -> BoxFuture<'a, Result<Option<AttemptId>>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn set_stage<'a>(&'a self, _: AttemptId, _: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn set_image<'a>(&'a self, _: AttemptId, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn complete_attempt<'a>(&'a self, _: AttemptId, _: &'a Completion) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn close_interrupted(&self, _: Timestamp) -> BoxFuture<'_, Result<ClosedRunning>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn get(&self, id: AttemptId) -> BoxFuture<'_, Result<AttemptRow>> {
        Box::pin(self.read_row(id))
    }

    fn query<'a>(&'a self, filter: &'a AttemptFilter) -> BoxFuture<'a, Result<Vec<AttemptRow>>> {
        Box::pin(self.read_rows(filter))
    }

    fn stats(&self, since: Timestamp, until: Timestamp) -> BoxFuture<'_, Result<Stats>> {
        Box::pin(self.read_stats(since, until))
    }

    fn chain_head(&self) -> BoxFuture<'_, Result<ChainHead>> {
        Box::pin(self.read_chain_head())
    }

    fn verify_chain<'a>(&'a self, anchors: &'a [Anchor]) -> BoxFuture<'a, Result<ChainReport>> {
        Box::pin(async move {
            if !anchors.is_empty() {
                // Anchors come from a station's own log and speak about its own file.
                return Err(AuditError::Invalid(
                    "chain anchors check a station's own audit file; the central record keeps each station's chain"
                        .into(),
                ));
            }
            self.walk_chain().await
        })
    }

    fn verify_chains(&self) -> BoxFuture<'_, Result<Vec<StationChainReport>>> {
        Box::pin(self.walk_chains())
    }

    fn chained_rows(&self, after_seq: i64, limit: u32) -> BoxFuture<'_, Result<Vec<ChainRow>>> {
        Box::pin(self.rows_after(after_seq, limit))
    }

    fn integrity_check(&self) -> BoxFuture<'_, Result<IntegrityReport>> {
        Box::pin(self.check_heads())
    }

    fn set_max_db_bytes(&self, _: Option<u64>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn insert_synthetic<'a>(&'a self, _: &'a SyntheticSpec) -> BoxFuture<'a, Result<SyntheticSummary>> {
        Box::pin(async { Err(self.read_only()) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.pool.close())
    }
}
