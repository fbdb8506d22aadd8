//! Opening an SQLite audit database (daemon and query tools) and its size limit.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{elapsed_ms, error, SqliteBackend, MIGRATOR};
use crate::error::{AuditError, Result};
use crate::options::{Durability, StoreOptions};

/// Page size the store creates databases with; `max_db_bytes` is converted with it.
const PAGE_SIZE: u64 = 4096;

/// `max_page_count` for "no limit": SQLite's maximum (4294967294 pages).
const UNLIMITED_PAGES: u64 = 4_294_967_294;

fn max_pages(limit: Option<u64>) -> u64 {
    limit.map_or(UNLIMITED_PAGES, |b| (b / PAGE_SIZE).clamp(1, UNLIMITED_PAGES))
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path`, applies the pragmas and brings the
    /// schema up to date.
    ///
    /// Pragmas: `journal_mode=WAL` (readers never block the writer), `synchronous=FULL` by
    /// default (see [`Durability`]), `busy_timeout`, `foreign_keys=ON`, `page_size=4096`
    /// and `max_page_count` from `max_db_bytes`.
    ///
    /// Opening does not close rows left `running`: only the daemon knows that no job of its
    /// own is in flight, so it calls [`crate::AuditStore::close_interrupted`] once at start.
    pub async fn open(path: &Path, opts: StoreOptions) -> Result<SqliteBackend> {
        let path = path.to_path_buf();
        let location = path.display().to_string();
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
            .map_err(|e| error::classify(&location, elapsed_ms(started), e))?;
        MIGRATOR.run(&writer).await.map_err(|e| error::classify_migrate(&location, e))?;

        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&writer)
            .await
            .map_err(|e| error::classify(&location, 0, e))?;
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
            .map_err(|e| error::classify(&location, 0, e))?;
        tracing::debug!(path = %path.display(), "audit store open");
        Ok(SqliteBackend { path, location, writer, reader, opts, read_only: false })
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
    ///   [`crate::AuditStore::close_interrupted`] and close a live daemon's jobs.
    /// - Safe while the daemon writes: in WAL mode a reader sees the last committed state
    ///   (including the WAL) and neither blocks the writer nor is blocked by it. The pragmas
    ///   of the file (journal mode, page size) are left alone. SQLite may create the `-wal`
    ///   and `-shm` files next to the database if they do not exist (it needs them to read a
    ///   WAL database); the database file itself is never written.
    pub async fn open_read_only(path: &Path) -> Result<SqliteBackend> {
        let path = path.to_path_buf();
        let location = path.display().to_string();
        let opts = StoreOptions::default();
        match path.try_exists() {
            Ok(true) => {}
            Ok(false) => return Err(AuditError::Missing { location }),
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
            .map_err(|e| error::classify(&location, elapsed_ms(started), e))?;
        if let Err(e) = check_schema(&location, &reader).await {
            reader.close().await;
            return Err(e);
        }
        tracing::debug!(path = %path.display(), "audit store open (read-only)");
        Ok(SqliteBackend { path, location, writer: reader.clone(), reader, opts, read_only: true })
    }

    /// Changes the size limit at run time (e.g. after the operator freed space or raised
    /// the limit). A limit below the current size keeps the file at its current size.
    pub(crate) async fn apply_size_limit(&self, limit: Option<u64>) -> Result<()> {
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
async fn check_schema(location: &str, pool: &SqlitePool) -> Result<()> {
    let expected: Vec<(i64, Vec<u8>)> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect();
    let latest = expected.iter().map(|(v, _)| *v).max().unwrap_or(0);
    let schema_err = |found: Option<i64>, detail: String| AuditError::Schema {
        location: location.to_owned(),
        found,
        expected: latest,
        detail,
    };
    let has_history: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(pool)
            .await
            .map_err(|e| error::classify(location, 0, e))?;
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
            .map_err(|e| error::classify(location, 0, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits_become_whole_pages_of_at_least_one() {
        let table = [
            (None, UNLIMITED_PAGES),
            (Some(0), 1),
            (Some(4095), 1),
            (Some(8192), 2),
            (Some(u64::MAX), UNLIMITED_PAGES),
        ];
        for (limit, pages) in table {
            assert_eq!(max_pages(limit), pages, "{limit:?}");
        }
    }
}
