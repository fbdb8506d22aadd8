//! Opening the database and the write paths: begin, identify, complete, recover.
//!
//! All writes go through one connection (a pool of size one) and each runs in a
//! `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a transaction never
//! has to upgrade a read lock half-way (which SQLite answers with an immediate SQLITE_BUSY
//! that no busy timeout can wait out), and the chain head is read and advanced atomically.
//! Reads use a separate pool and run beside the writer thanks to WAL.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection};

use crate::chain::{self, Value};
use crate::error::{AuditError, Result};
use crate::mac::normalize_mac;
use crate::model::{
    normalize_sha256, AttemptId, AttemptResult, AttemptRow, Completion, Failure, Identity, NewAttempt, StageTimings,
    INTERRUPTED_REASON,
};
use crate::options::{max_pages, Durability, StoreOptions, PAGE_SIZE};
use crate::schema::{decode_row, MIGRATOR, ROW_COLUMNS};
use crate::time::Timestamp;

/// The audit log of one station.
#[derive(Debug, Clone)]
pub struct AuditStore {
    pub(crate) path: PathBuf,
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    pub(crate) opts: StoreOptions,
    /// Opened with [`AuditStore::open_read_only`]: every write is refused up front.
    pub(crate) read_only: bool,
}

/// Error inside a write transaction: either from SQLite (classified, maybe retried) or a
/// decision of the store (returned as is).
pub(crate) enum TxError {
    Sql(sqlx::Error),
    Audit(AuditError),
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<AuditError> for TxError {
    fn from(e: AuditError) -> Self {
        TxError::Audit(e)
    }
}

/// A `BEGIN IMMEDIATE` transaction on the writer connection, managed by hand rather than
/// with `sqlx::Transaction`: when SQLite rolls a transaction back by itself (it does on
/// SQLITE_FULL and some I/O errors), sqlx's own bookkeeping still believes it is open and
/// refuses every later `BEGIN` on that connection. Here a failed `ROLLBACK` ("no
/// transaction is active") is harmless, and a transaction abandoned half-way (the caller's
/// future was dropped) closes its connection, which makes SQLite roll it back, instead of
/// handing an open transaction to the next writer.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
}

impl WriteTx {
    pub(crate) async fn begin(pool: &SqlitePool) -> Result<WriteTx, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        Ok(WriteTx { conn: Some(conn) })
    }

    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let conn = self.conn.as_mut().expect("open transaction");
        match sqlx::query("COMMIT").execute(&mut **conn).await {
            Ok(_) => {
                self.conn = None;
                Ok(())
            }
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    pub(crate) async fn rollback(mut self) {
        if let Some(mut conn) = self.conn.take() {
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                // Already rolled back by SQLite: nothing to do. Anything else: do not reuse.
                if !e.to_string().contains("no transaction is active") {
                    tracing::warn!(error = %e, "rollback failed; closing the writer connection");
                    drop(conn.detach());
                }
            }
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("open transaction")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("open transaction")
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Abandoned mid-transaction: closing the connection rolls it back.
            drop(conn.detach());
        }
    }
}

/// Runs `$body` in a [`WriteTx`] named `$tx` and commits. SQLITE_BUSY is retried until
/// `busy_timeout` has passed: SQLite's busy handler covers waiting for a lock, this loop
/// covers the BUSY variants it does not wait for (a stale WAL snapshot, recovery by
/// another process).
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:block) => {{
        let store: &AuditStore = $store;
        let started = ::std::time::Instant::now();
        let deadline = started + store.opts.busy_timeout;
        let mut backoff = ::std::time::Duration::from_millis(2);
        if store.read_only {
            Err(store.read_only_err())
        } else {
            loop {
                let attempt: ::std::result::Result<_, $crate::store::TxError> = async {
                    #[allow(unused_mut)]
                    let mut $tx = $crate::store::WriteTx::begin(&store.writer).await?;
                    let out: ::std::result::Result<_, $crate::store::TxError> = async { Ok($body) }.await;
                    match out {
                        Ok(v) => {
                            $tx.commit().await?;
                            Ok(v)
                        }
                        Err(e) => {
                            $tx.rollback().await;
                            Err(e)
                        }
                    }
                }
                .await;
                match attempt {
                    Ok(v) => break Ok(v),
                    Err($crate::store::TxError::Audit(e)) => break Err(e),
                    Err($crate::store::TxError::Sql(e)) => {
                        if $crate::error::AuditError::is_busy(&e) && ::std::time::Instant::now() < deadline {
                            ::tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(::std::time::Duration::from_millis(100));
                            continue;
                        }
                        break Err(store.sql_err_since(started, e));
                    }
                }
            }
        }
    }};
}
pub(crate) use write_tx;

impl AuditStore {
    /// Opens (creating if needed) the database at `path`, applies the pragmas and brings the
    /// schema up to date.
    ///
    /// Pragmas: `journal_mode=WAL` (readers never block the writer), `synchronous=FULL` by
    /// default (see [`Durability`]), `busy_timeout`, `foreign_keys=ON`, `page_size=4096`
    /// and `max_page_count` from `max_db_bytes`.
    ///
    /// Opening does not close rows left `running`: only the daemon knows that no job of its
    /// own is in flight, so it calls [`AuditStore::close_interrupted`] once at start.
    pub async fn open(path: impl AsRef<Path>, opts: StoreOptions) -> Result<AuditStore> {
        let path = path.as_ref().to_path_buf();
        let connect = connect_options(&path, &opts);
        let started = Instant::now();
        // Generous acquire timeout: every writer call waits its turn for the one connection,
        // and each turn can itself wait up to busy_timeout for another process.
        let acquire = (opts.busy_timeout * 4).max(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(acquire)
            .connect_with(connect.clone())
            .await
            .map_err(|e| AuditError::from_sqlx(&path, elapsed_ms(started), e))?;
        MIGRATOR.run(&writer).await.map_err(|e| AuditError::from_migrate(&path, e))?;

        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&writer)
            .await
            .map_err(|e| AuditError::from_sqlx(&path, 0, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // WAL needs shared memory; some network file systems refuse it. The store still
            // works (rollback journal), but queries then block writes.
            tracing::warn!(path = %path.display(), journal_mode = %mode, "audit database is not in WAL mode");
        }

        let reader = SqlitePoolOptions::new()
            .max_connections(opts.read_connections.max(1))
            .min_connections(0)
            .acquire_timeout(acquire)
            .connect_with(connect)
            .await
            .map_err(|e| AuditError::from_sqlx(&path, 0, e))?;
        tracing::debug!(path = %path.display(), "audit store open");
        Ok(AuditStore { path, writer, reader, opts, read_only: false })
    }

    /// Opens an existing database for queries only: `query`, `get`, `stats`,
    /// `verify_chain`, `integrity_check`, `chain_head`. For tools that run beside the
    /// daemon (`flashline log`, `flashline stats`).
    ///
    /// - Never creates the file: a missing file is [`AuditError::Missing`].
    /// - Never migrates: the file's applied migrations must be exactly this build's
    ///   (versions and checksums), otherwise [`AuditError::Schema`] says whether the file is
    ///   older (start this version's daemon once, it migrates) or newer (use the newer
    ///   flashline) than this build.
    /// - Connections are opened with `SQLITE_OPEN_READONLY`, so SQLite itself refuses any
    ///   write, and every write method of the store fails up front with
    ///   [`AuditError::ReadOnly`]. In particular it can never run
    ///   [`AuditStore::close_interrupted`] and close a live daemon's jobs.
    /// - Safe while the daemon writes: in WAL mode a reader sees the last committed state
    ///   (including the WAL) and neither blocks the writer nor is blocked by it. The pragmas
    ///   of the file (journal mode, page size) are left alone. SQLite may create the `-wal`
    ///   and `-shm` files next to the database if they do not exist (it needs them to read a
    ///   WAL database); the database file itself is never written.
    pub async fn open_read_only(path: impl AsRef<Path>) -> Result<AuditStore> {
        let path = path.as_ref().to_path_buf();
        let opts = StoreOptions::default();
        match path.try_exists() {
            Ok(true) => {}
            Ok(false) => return Err(AuditError::Missing { path }),
            // Cannot even look (a directory without search permission): let SQLite report it.
            Err(_) => {}
        }
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(opts.busy_timeout);
        let started = Instant::now();
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.read_connections.max(1))
            .min_connections(0)
            .acquire_timeout((opts.busy_timeout * 4).max(Duration::from_secs(30)))
            .connect_with(connect)
            .await
            .map_err(|e| AuditError::from_sqlx(&path, elapsed_ms(started), e))?;
        if let Err(e) = check_schema(&path, &reader).await {
            reader.close().await;
            return Err(e);
        }
        tracing::debug!(path = %path.display(), "audit store open (read-only)");
        Ok(AuditStore { path, writer: reader.clone(), reader, opts, read_only: true })
    }

    /// Whether this store was opened with [`AuditStore::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes all connections (checkpointing the WAL into the database file). Dropping the
    /// store without calling this is safe: committed rows are in the WAL.
    pub async fn close(self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Changes the size limit at run time (e.g. after the operator freed space or raised
    /// the limit). A limit below the current size keeps the file at its current size.
    pub async fn set_max_db_bytes(&self, limit: Option<u64>) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_err());
        }
        let pages = max_pages(limit);
        let mut opts = self.opts.clone();
        opts.max_db_bytes = limit;
        // New connections get the new limit; the open writer connection gets it now.
        let connect = connect_options(&self.path, &opts);
        self.writer.set_connect_options(connect.clone());
        self.reader.set_connect_options(connect);
        let mut conn = self.writer.acquire().await.map_err(|e| self.sql_err(e))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
            .execute(&mut *conn)
            .await
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// Records the start of a job: inserts a `running` row and returns its id.
    pub async fn begin_attempt(&self, new: NewAttempt) -> Result<AttemptId> {
        for (field, value) in
            [("station_id", &new.station_id), ("slot", &new.slot), ("port", &new.port), ("image_name", &new.image_name)]
        {
            if value.trim().is_empty() {
                return Err(AuditError::Invalid(format!("{field} must not be empty")));
            }
        }
        let sha = normalize_sha256(&new.image_sha256).map_err(AuditError::Invalid)?;
        let started_at = new.started_at.unwrap_or_else(Timestamp::now);
        let usb = new.usb.as_ref();
        write_tx!(self, |tx| {
            let done = sqlx::query(
                "INSERT INTO attempts (started_at_ms, station_id, slot, port, usb_vid, usb_pid, usb_serial, \
                 image_name, image_sha256, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
            )
            .bind(started_at.as_unix_ms())
            .bind(&new.station_id)
            .bind(&new.slot)
            .bind(&new.port)
            .bind(usb.map(|u| i64::from(u.vid)))
            .bind(usb.map(|u| i64::from(u.pid)))
            .bind(usb.and_then(|u| u.serial.as_deref()))
            .bind(&new.image_name)
            .bind(&sha)
            .execute(&mut *tx)
            .await?;
            AttemptId(done.last_insert_rowid())
        })
    }

    /// Records what the identify stage learned. Detects rework: when the MAC is already in
    /// another row, the attempt is flagged and the first such attempt is returned.
    pub async fn update_identity(&self, id: AttemptId, identity: &Identity) -> Result<Option<AttemptId>> {
        let mac = normalize_mac(&identity.mac).map_err(AuditError::Invalid)?;
        if identity.chip.trim().is_empty() {
            return Err(AuditError::Invalid("chip must not be empty".into()));
        }
        write_tx!(self, |tx| {
            self.require_running(&mut tx, id).await?;
            // Any other row with this MAC, earlier or still running in a parallel slot: the
            // board has been on the line before. The first attempt is the one to look at.
            let first: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM attempts WHERE mac = ? AND id <> ?")
                .bind(&mac)
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE attempts SET mac = ?, chip = ?, chip_revision = ?, flash_id = ?, flash_size = ?, \
                 rework = ?, rework_of = ? WHERE id = ?",
            )
            .bind(&mac)
            .bind(&identity.chip)
            .bind(identity.chip_revision.as_deref())
            .bind(identity.flash_id.map(i64::from))
            .bind(identity.flash_size.map(|s| s as i64))
            .bind(i64::from(first.is_some()))
            .bind(first)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            first.map(AttemptId)
        })
    }

    /// Records the stage a running attempt has just entered (`connect`, `identify`,
    /// `write`, ...), so that a row left `running` by a daemon that died is closed as
    /// "interrupted during write" rather than "unknown" ([`AuditStore::close_interrupted`]).
    ///
    /// One `UPDATE` of the `current_stage` column in its own write transaction (one commit,
    /// so one fsync with [`Durability::Full`]); call it at each stage change, not per
    /// progress event. The column is live progress only: it is not hashed, and completing
    /// the row clears it (the outcome's stage is `failure_stage`). A storage fault here
    /// does not endanger the row; the daemon may log it and carry on with the job.
    ///
    /// Fails with `NotFound` for an unknown id and `AlreadyCompleted` for a completed row.
    pub async fn set_stage(&self, id: AttemptId, stage: &str) -> Result<()> {
        let stage = stage.trim();
        if stage.is_empty() || stage.len() > MAX_STAGE_LEN {
            return Err(AuditError::Invalid(format!("stage name '{stage}' must be 1 to {MAX_STAGE_LEN} bytes long")));
        }
        write_tx!(self, |tx| {
            let done = sqlx::query("UPDATE attempts SET current_stage = ? WHERE id = ? AND result = 'running'")
                .bind(stage)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                // Not running: say why (unknown id, or already completed).
                self.require_running(&mut tx, id).await?;
            }
        })
    }

    /// Records the end of a job and appends the row to the hash chain, in one transaction.
    /// A row is completed exactly once: a second call fails with `AlreadyCompleted`.
    pub async fn complete_attempt(&self, id: AttemptId, completion: Completion) -> Result<()> {
        completion.validate().map_err(AuditError::Invalid)?;
        write_tx!(self, |tx| {
            self.require_running(&mut tx, id).await?;
            self.seal(&mut tx, id, &completion).await?;
        })
    }

    /// Closes every row left `running` by a daemon that died, as `interrupted` with the
    /// reason [`INTERRUPTED_REASON`]; returns how many. The failure stage is the last stage
    /// recorded with [`AuditStore::set_stage`] ("interrupted during write"), or
    /// [`UNKNOWN_STAGE`] when none was. Call once at daemon start, before any job begins,
    /// never from a tool that runs beside the daemon (a read-only store refuses it).
    pub async fn close_interrupted(&self) -> Result<u64> {
        let now = Timestamp::now();
        let n = write_tx!(self, |tx| {
            let running: Vec<(i64, Option<String>)> =
                sqlx::query_as("SELECT id, current_stage FROM attempts WHERE result = 'running' ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await?;
            for (id, stage) in &running {
                // What the dead daemon knew is gone; record only what is certain.
                let stage = stage.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or(UNKNOWN_STAGE);
                let completion = Completion {
                    result: AttemptResult::Interrupted,
                    failure: Some(Failure { stage: stage.into(), reason: INTERRUPTED_REASON.into() }),
                    bytes_written: 0,
                    verify_method: None,
                    stage_timings: StageTimings::new(),
                    skipped_regions: Vec::new(),
                    ended_at: Some(now),
                };
                self.seal(&mut tx, AttemptId(*id), &completion).await?;
            }
            running.len() as u64
        })?;
        if n > 0 {
            tracing::warn!(path = %self.path.display(), rows = n, "closed attempts left running as interrupted");
        }
        Ok(n)
    }

    /// One attempt by id.
    pub async fn get(&self, id: AttemptId) -> Result<AttemptRow> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM attempts WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| self.sql_err(e))?
            .ok_or_else(|| AuditError::NotFound { path: self.path.clone(), id })?;
        decode_row(&self.path, &row)
    }

    /// `PRAGMA integrity_check`: SQLite's own check of b-trees, indexes and constraints.
    pub async fn integrity_check(&self) -> Result<IntegrityReport> {
        let messages: Vec<String> =
            sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&self.reader).await.map_err(|e| self.sql_err(e))?;
        let ok = messages.len() == 1 && messages[0] == "ok";
        Ok(IntegrityReport { ok, messages })
    }

    /// Fails unless `id` exists and is `running`.
    async fn require_running(&self, conn: &mut SqliteConnection, id: AttemptId) -> Result<(), TxError> {
        let result: Option<String> = sqlx::query_scalar("SELECT result FROM attempts WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?;
        match result.as_deref().map(AttemptResult::from_str) {
            None => Err(AuditError::NotFound { path: self.path.clone(), id }.into()),
            Some(Ok(AttemptResult::Running)) => Ok(()),
            Some(Ok(result)) => Err(AuditError::AlreadyCompleted { path: self.path.clone(), id, result }.into()),
            Some(Err(detail)) => {
                Err(AuditError::Decode { path: self.path.clone(), id: id.0, column: "result", detail }.into())
            }
        }
    }

    /// Writes the completion fields and the chain position of a running row. Must run in a
    /// write transaction. The hash is computed over the final stored values, then checked
    /// against a re-read of the row, so a completed row always verifies.
    async fn seal(&self, conn: &mut SqliteConnection, id: AttemptId, c: &Completion) -> Result<(), TxError> {
        let head = chain::read_head(conn).await?;
        let sql = format!("SELECT {} FROM attempts WHERE id = ?", chain::chain_column_list());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id.0).fetch_one(&mut *conn).await?;
        let mut values = chain::read_values(&row, 0)?;

        let ended_at = c.ended_at.unwrap_or_else(Timestamp::now);
        let skipped = serde_json::to_string(&c.skipped_regions).expect("skipped regions serialise");
        let timings = serde_json::to_string(&c.stage_timings).expect("stage timings serialise");
        let failure = c.failure.as_ref();
        let bytes_written = i64::try_from(c.bytes_written)
            .map_err(|_| AuditError::Invalid(format!("bytes_written {} is out of range", c.bytes_written)))?;
        let set = [
            ("ended_at_ms", Value::Int(ended_at.as_unix_ms())),
            ("result", Value::Text(c.result.as_str().into())),
            ("failure_stage", Value::opt_text(failure.map(|f| f.stage.as_str()))),
            ("failure_reason", Value::opt_text(failure.map(|f| f.reason.as_str()))),
            ("bytes_written", Value::Int(bytes_written)),
            ("verify_method", Value::opt_text(c.verify_method.as_deref())),
            ("skipped_regions", Value::Text(skipped.clone())),
            ("stage_timings", Value::Text(timings.clone())),
            ("prev_hash", Value::Text(head.last_hash.clone())),
        ];
        for (col, v) in &set {
            let i = chain::CHAIN_COLUMNS.iter().position(|c| c == col).expect("known chain column");
            values[i] = v.clone();
        }
        let hash = chain::row_hash(&values);
        let seq = head.last_seq + 1;

        sqlx::query(
            "UPDATE attempts SET ended_at_ms = ?, result = ?, failure_stage = ?, failure_reason = ?, \
             bytes_written = ?, verify_method = ?, skipped_regions = ?, stage_timings = ?, \
             seq = ?, prev_hash = ?, row_hash = ?, current_stage = NULL WHERE id = ?",
        )
        .bind(ended_at.as_unix_ms())
        .bind(c.result.as_str())
        .bind(failure.map(|f| f.stage.as_str()))
        .bind(failure.map(|f| f.reason.as_str()))
        .bind(bytes_written)
        .bind(c.verify_method.as_deref())
        .bind(&skipped)
        .bind(&timings)
        .bind(seq)
        .bind(&head.last_hash)
        .bind(&hash)
        .bind(id.0)
        .execute(&mut *conn)
        .await?;

        let stored = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_one(&mut *conn).await?;
        if chain::row_hash(&chain::read_values(&stored, 0)?) != hash {
            // Only a change in how values are stored could cause this; refuse to write a row
            // that would not verify rather than record a false tamper alarm.
            return Err(AuditError::Invalid(format!(
                "attempt {id}: stored values differ from the hashed ones; nothing was written"
            ))
            .into());
        }
        chain::write_head(conn, &chain::ChainHead { last_seq: seq, last_hash: hash, last_attempt_id: Some(id.0) })
            .await?;
        Ok(())
    }

    pub(crate) fn read_only_err(&self) -> AuditError {
        AuditError::ReadOnly { path: self.path.clone() }
    }

    pub(crate) fn sql_err(&self, e: sqlx::Error) -> AuditError {
        AuditError::from_sqlx(&self.path, 0, e)
    }

    pub(crate) fn sql_err_since(&self, started: Instant, e: sqlx::Error) -> AuditError {
        AuditError::from_sqlx(&self.path, elapsed_ms(started), e)
    }
}

/// Result of [`AuditStore::integrity_check`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrityReport {
    pub ok: bool,
    /// SQLite's messages; `["ok"]` when healthy.
    pub messages: Vec<String>,
}

fn connect_options(path: &Path, opts: &StoreOptions) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(PAGE_SIZE as u32)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match opts.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(opts.busy_timeout)
        .foreign_keys(true)
        .pragma("max_page_count", max_pages(opts.max_db_bytes).to_string())
}

/// Fails unless the file's applied migrations are exactly the embedded ones.
async fn check_schema(path: &Path, pool: &SqlitePool) -> Result<()> {
    let expected: Vec<(i64, Vec<u8>)> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect();
    let latest = expected.iter().map(|(v, _)| *v).max().unwrap_or(0);
    let schema_err = |found: Option<i64>, detail: String| AuditError::Schema {
        path: path.to_path_buf(),
        found,
        expected: latest,
        detail,
    };
    let has_history: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(pool)
            .await
            .map_err(|e| AuditError::from_sqlx(path, 0, e))?;
    if has_history.is_none() {
        return Err(schema_err(
            None,
            "the file has no schema history: it is not a flashline audit database (or an empty SQLite file)".into(),
        ));
    }
    let applied: Vec<(i64, bool, Vec<u8>)> =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(|e| AuditError::from_sqlx(path, 0, e))?;
    let found = applied.iter().map(|(v, _, _)| *v).max();
    if let Some((v, _, _)) = applied.iter().find(|(_, ok, _)| !ok) {
        return Err(schema_err(
            found,
            format!("migration {v} failed half-way; start the daemon once to retry it, or restore a backup"),
        ));
    }
    if let Some((v, _, _)) = applied.iter().find(|(v, _, _)| !expected.iter().any(|(e, _)| e == v)) {
        return Err(schema_err(
            found,
            format!(
                "the file has migration {v}, unknown to this build: it was written by a newer flashline; \
                 query it with that version"
            ),
        ));
    }
    if let Some((v, _)) = expected.iter().find(|(e, _)| !applied.iter().any(|(v, _, _)| v == e)) {
        return Err(schema_err(
            found,
            format!(
                "the file lacks migration {v}: it was written by an older flashline; start this version's \
                 daemon once (it upgrades the file), or query it with the older flashline"
            ),
        ));
    }
    if let Some((v, _, _)) = applied.iter().find(|(v, _, sum)| expected.iter().any(|(e, s)| e == v && s != sum)) {
        return Err(schema_err(
            found,
            format!("migration {v} in the file differs from this build's (checksum mismatch); use the flashline that wrote it"),
        ));
    }
    Ok(())
}

/// Longest stage name [`AuditStore::set_stage`] takes.
pub const MAX_STAGE_LEN: usize = 64;

/// Failure stage of an interrupted row whose stage was never recorded.
pub const UNKNOWN_STAGE: &str = "unknown";

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}
