//! Opening an SQLite audit database (daemon and query tools) and its size limit.
//!
//! What is on disk (file kind, modes, the filename SQLite gets) is `files.rs`'s job; WAL
//! mode and its kept files are `wal.rs`'s.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::files::{self, ReadMode};
use super::{elapsed_ms, error, wal, SqliteBackend, MIGRATOR};
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
        SqliteBackend::open_on_vfs(path, opts, None).await
    }

    /// [`SqliteBackend::open`] on a named SQLite VFS (`None`: SQLite's default).
    async fn open_on_vfs(path: &Path, opts: StoreOptions, vfs: Option<&'static str>) -> Result<SqliteBackend> {
        let path = path.to_path_buf();
        let location = path.display().to_string();
        files::prepare_for_writer(&path, &location)?;
        let mut connect = connect_options(&files::sqlite_filename(&path, &location)?, &opts);
        if let Some(vfs) = vfs {
            connect = connect.vfs(vfs);
        }
        let started = Instant::now();
        // Generous acquire timeout: every writer call waits its turn for the one connection,
        // and each turn can itself wait up to busy_timeout for another process.
        let acquire = (opts.busy_timeout * 4).max(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(acquire)
            .after_connect(|conn, _| Box::pin(wal::keep_wal_files(conn)))
            .connect_with(connect.clone())
            .await
            .map_err(|e| error::classify(&location, elapsed_ms(started), e))?;

        // WAL needs shared memory, which some network file systems refuse; SQLite then
        // silently stays in its rollback journal. Refuse before migrating anything.
        let mode: String = match sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&writer).await {
            Ok(mode) => mode,
            Err(e) => {
                writer.close().await;
                return Err(error::classify(&location, 0, e));
            }
        };
        if let Err(e) = wal::require_wal(&location, &mode) {
            writer.close().await;
            return Err(e);
        }
        MIGRATOR.run(&writer).await.map_err(|e| error::classify_migrate(&location, e))?;
        files::align_sidecars(&path, &location)?;

        let reader = SqlitePoolOptions::new()
            .max_connections(opts.read_connections.max(1))
            .min_connections(0)
            .acquire_timeout(acquire)
            .after_connect(|conn, _| Box::pin(wal::keep_wal_files(conn)))
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
    ///   of the file (journal mode, page size) are left alone.
    /// - Needs only read access to the file, its `-wal`/`-shm` files and its directory (a
    ///   member of the database's group), and creates no file: when `-wal` and `-shm` exist
    ///   (the daemon keeps them, running or not) SQLite uses them, mapping `-shm` read-only
    ///   if it may not write it; when there is no WAL content and no `-shm`, no connection
    ///   has the file open and it is read as `immutable` (see `files::ReadMode`).
    /// - Refuses a path that is not a regular file ([`AuditError::NotAFile`]).
    pub async fn open_read_only(path: &Path) -> Result<SqliteBackend> {
        let path = path.to_path_buf();
        let location = path.display().to_string();
        let opts = StoreOptions::default();
        if files::regular_file(&path, &location)?.is_none() {
            return Err(AuditError::Missing { location });
        }
        let immutable = files::read_mode_of(&path)? == ReadMode::Immutable;
        let connect = SqliteConnectOptions::new()
            .filename(files::sqlite_filename(&path, &location)?)
            .read_only(true)
            .immutable(immutable)
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
        let connect = connect_options(&files::sqlite_filename(&self.path, &self.location)?, &opts);
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

    /// SQLite's `unix-dotfile` VFS has no shared memory, like a file system that cannot map
    /// `-shm`: `journal_mode=WAL` leaves the file in its rollback journal.
    #[tokio::test]
    async fn a_database_that_cannot_be_put_in_wal_mode_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let err = SqliteBackend::open_on_vfs(&path, StoreOptions::default(), Some("unix-dotfile")).await.unwrap_err();
        match &err {
            AuditError::NotWal { location, journal_mode } => {
                assert_eq!(location, &path.display().to_string());
                assert_ne!(journal_mode.to_ascii_lowercase(), "wal");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("local disk"), "{err}");
        // Nothing was migrated into it: it is not mistaken for an audit database later.
        let n: i64 = {
            let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path)).await.unwrap();
            let n = sqlx::query_scalar("SELECT count(*) FROM sqlite_master").fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        };
        assert_eq!(n, 0);
        // The same file on the default VFS opens.
        let ok = SqliteBackend::open(&path, StoreOptions::default()).await.unwrap();
        ok.writer.close().await;
        ok.reader.close().await;
    }

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
