//! The SQLite backend: one database file in WAL mode, written by the daemon, read beside
//! it by the query tools.
//!
//! - `open.rs`: opening (pragmas, migrations, the read-only schema check), size limit.
//! - `tx.rs`: write transactions and the retry of busy ones.
//! - `writes.rs`: begin, identity, stage, complete, interrupted recovery.
//! - `rows.rs`: embedded migrations, table row to [`crate::AttemptRow`].
//! - `query.rs`, `stats.rs`: reads.
//! - `chain.rs`: the chain head and stored values; `verify.rs`: chain walk and integrity.
//! - `synthetic.rs`: bulk insert of synthetic rows; `tamper.rs`: a rewrite with the chain
//!   recomputed, as someone with write access does it (tests, tamper drills).
//! - `serials.rs`: serial numbers per MAC and the blocks leased from the central record.
//! - `mark.rs`: the begun-attempt mark that tells forged `running` rows apart.
//! - `files.rs`: the file on disk (regular files only, modes, group, the filename SQLite
//!   gets, how a read-only store opens it); `wal.rs`: WAL mode required, `-wal`/`-shm` kept.
//! - `error.rs`: SQLite result codes to [`crate::AuditError`].

mod chain;
pub(crate) mod error;
mod files;
mod mark;
mod open;
mod query;
mod rows;
mod serials;
mod stats;
mod synthetic;
pub mod tamper;
pub(crate) mod tx;
mod verify;
mod wal;
mod writes;

use std::path::{Path, PathBuf};
use std::time::Instant;

use sqlx::sqlite::SqlitePool;

use crate::anchor::Anchor;
use crate::backend::{AuditBackend, BoxFuture};
use crate::chain::ChainHead;
use crate::error::{AuditError, Result};
use crate::integrity::IntegrityReport;
use crate::model::{AttemptId, AttemptRow, ClosedRunning, Completion, Identity, NewAttempt};
use crate::options::StoreOptions;
use crate::query::AttemptFilter;
use crate::serial::{SerialAllocation, SerialSource};
use crate::stats::Stats;
use crate::synthetic::{SyntheticSpec, SyntheticSummary};
use crate::time::Timestamp;
use crate::verify::ChainReport;

pub(crate) use rows::MIGRATOR;

/// An audit log in an SQLite file. Open it with [`SqliteBackend::open`] (the daemon) or
/// [`SqliteBackend::open_read_only`] (query tools), or through
/// [`crate::AuditStore::open_sqlite`], which wraps it in the store handle.
#[derive(Debug)]
pub struct SqliteBackend {
    path: PathBuf,
    /// `path` as text, for messages.
    location: String,
    writer: SqlitePool,
    reader: SqlitePool,
    opts: StoreOptions,
    /// Opened with [`SqliteBackend::open_read_only`]: every write is refused up front.
    read_only: bool,
}

impl SqliteBackend {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn read_only_err(&self) -> AuditError {
        AuditError::ReadOnly { location: self.location.clone() }
    }

    pub(crate) fn sql_err(&self, e: sqlx::Error) -> AuditError {
        error::classify(&self.location, 0, e)
    }

    pub(crate) fn sql_err_since(&self, started: Instant, e: sqlx::Error) -> AuditError {
        error::classify(&self.location, elapsed_ms(started), e)
    }
}

pub(crate) fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

impl AuditBackend for SqliteBackend {
    fn location(&self) -> &str {
        &self.location
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn begin_attempt<'a>(&'a self, new: &'a NewAttempt) -> BoxFuture<'a, Result<AttemptId>> {
        Box::pin(self.insert_running(new))
    }

    fn update_identity<'a>(
        &'a self,
        id: AttemptId,
        identity: &'a Identity,
    ) -> BoxFuture<'a, Result<Option<AttemptId>>> {
        Box::pin(self.write_identity(id, identity))
    }

    fn set_stage<'a>(&'a self, id: AttemptId, stage: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write_stage(id, stage))
    }

    fn set_image<'a>(&'a self, id: AttemptId, name: &'a str, sha256: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write_image(id, name, sha256))
    }

    fn complete_attempt<'a>(&'a self, id: AttemptId, completion: &'a Completion) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write_completion(id, completion))
    }

    fn close_interrupted(&self, now: Timestamp) -> BoxFuture<'_, Result<ClosedRunning>> {
        Box::pin(self.close_running(now))
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
        Box::pin(self.walk_chain(anchors))
    }

    fn chained_rows(&self, after_seq: i64, limit: u32) -> BoxFuture<'_, Result<Vec<crate::verify::ChainRow>>> {
        Box::pin(self.read_chained(after_seq, limit))
    }

    fn integrity_check(&self) -> BoxFuture<'_, Result<IntegrityReport>> {
        Box::pin(self.check_integrity())
    }

    fn set_max_db_bytes(&self, limit: Option<u64>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.apply_size_limit(limit))
    }

    fn insert_synthetic<'a>(&'a self, spec: &'a SyntheticSpec) -> BoxFuture<'a, Result<SyntheticSummary>> {
        Box::pin(self.bulk_insert(spec))
    }

    fn allocate_serial<'a>(
        &'a self,
        id: AttemptId,
        mac: &'a str,
        source: SerialSource,
    ) -> BoxFuture<'a, Result<SerialAllocation>> {
        Box::pin(self.write_serial(id, mac, source))
    }

    fn adopt_serial<'a>(&'a self, mac: &'a str, number: u64) -> BoxFuture<'a, Result<SerialAllocation>> {
        Box::pin(self.write_adopted_serial(mac, number))
    }

    fn add_serial_lease(&self, first: u64, last: u64) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write_lease(first, last))
    }

    fn serial_lease_left(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.read_lease_left())
    }

    fn record_provision<'a>(
        &'a self,
        id: AttemptId,
        serial: Option<&'a str>,
        provision: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write_provision(id, serial, provision))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            self.reader.close().await;
            self.writer.close().await;
        })
    }
}
