//! The one error type of the audit store.
//!
//! Storage faults (locked, full, corrupt, I/O) get their own variants because the daemon
//! reacts to them differently from a programming mistake: it stops starting new jobs,
//! shows the operator why, and resumes when the fault clears. Every message names the
//! database file and says what to do about it.

use std::path::{Path, PathBuf};

use crate::model::{AttemptId, AttemptResult};

/// Result alias for the audit store.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

// Primary SQLite result codes (the low byte of an extended code).
// https://www.sqlite.org/rescode.html
const SQLITE_PERM: i32 = 3;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_NOTADB: i32 = 26;

/// Everything that can go wrong in the audit store.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: another process (or a stuck
    /// transaction) holds the write lock.
    #[error(
        "audit database {path} is locked by another connection (waited {waited_ms} ms); \
         close other programs writing to it (sqlite3 shell, backup job) and retry: {source}"
    )]
    Locked { path: PathBuf, waited_ms: u64, source: sqlx::Error },

    /// SQLITE_FULL: the disk is full, or the configured size limit (`max_db_bytes`) is
    /// reached. Rows already recorded are intact.
    #[error(
        "audit database {path} is full (disk out of space or the configured size limit reached); \
         free disk space or raise the limit (max_db_bytes; database_max_size in flashline's station \
         config, applied on reload), already recorded rows are intact: {source}"
    )]
    DiskFull { path: PathBuf, source: sqlx::Error },

    /// SQLITE_CORRUPT / SQLITE_NOTADB: the file is damaged or not a database at all.
    #[error(
        "audit database {path} is corrupt or not an SQLite database; stop the daemon, keep a copy \
         of the file (and its -wal/-shm files) for analysis and start with a new file: {source}"
    )]
    Corrupt { path: PathBuf, source: sqlx::Error },

    /// SQLITE_IOERR (any extended code): the operating system failed a read, write or sync.
    #[error("I/O error on audit database {path}; check the disk (dmesg, mount state, permissions): {source}")]
    Io { path: PathBuf, source: sqlx::Error },

    /// SQLITE_CANTOPEN / SQLITE_PERM / SQLITE_READONLY: the file or its directory cannot be
    /// opened or written.
    #[error(
        "cannot open or write audit database {path}; check that the directory exists and is \
         writable by the daemon's user (the -wal and -shm files are created next to it): {source}"
    )]
    Access { path: PathBuf, source: sqlx::Error },

    /// The embedded migrations could not be applied (e.g. the file was written by a newer
    /// flashline, or an applied migration was changed).
    #[error("cannot bring the schema of audit database {path} up to date; use the flashline version that wrote it or a new file: {source}")]
    Migration { path: PathBuf, source: sqlx::migrate::MigrateError },

    /// [`crate::AuditStore::open_read_only`]: there is no file at `path` (a query tool never
    /// creates one).
    #[error(
        "audit database {path} does not exist; check the path (--db, or `database` in the station \
         config); the daemon creates the file on its first start"
    )]
    Missing { path: PathBuf },

    /// [`crate::AuditStore::open_read_only`]: the file's schema is not the one this build
    /// reads (older or newer flashline, not an audit database, failed migration). `found`
    /// is the highest applied migration, `expected` this build's latest.
    #[error(
        "audit database {path} has schema version {}, this flashline reads version {expected}: {detail}",
        found.map_or_else(|| "none".to_string(), |v| v.to_string())
    )]
    Schema { path: PathBuf, found: Option<i64>, expected: i64, detail: String },

    /// A write was attempted on a store opened with
    /// [`crate::AuditStore::open_read_only`].
    #[error("audit database {path} is open read-only (query tool); only the daemon's store writes to it")]
    ReadOnly { path: PathBuf },

    /// Any other database error (a bug or an unexpected SQLite condition).
    #[error("audit database {path}: {source}")]
    Database { path: PathBuf, source: sqlx::Error },

    /// The attempt id does not exist in this database.
    #[error("attempt {id} does not exist in audit database {path}")]
    NotFound { path: PathBuf, id: AttemptId },

    /// The attempt was already completed; a row is completed exactly once.
    #[error("attempt {id} in audit database {path} is already completed as '{result}'; it cannot be changed")]
    AlreadyCompleted { path: PathBuf, id: AttemptId, result: AttemptResult },

    /// The caller passed data the store refuses to record (e.g. completing as `running`).
    #[error("invalid audit record: {0}")]
    Invalid(String),

    /// A stored value could not be decoded (e.g. hand-edited JSON in a column).
    #[error("audit database {path}: attempt {id} has an unreadable {column}: {detail}")]
    Decode { path: PathBuf, id: i64, column: &'static str, detail: String },
}

impl AuditError {
    /// Whether this is a storage fault that may clear by itself or by operator action
    /// (lock released, disk space freed, limit raised, disk remounted). The daemon should
    /// stop starting new jobs, show the error, and retry later.
    pub fn is_storage_fault(&self) -> bool {
        matches!(
            self,
            AuditError::Locked { .. } | AuditError::DiskFull { .. } | AuditError::Io { .. } | AuditError::Access { .. }
        )
    }

    /// Whether retrying the same call later can succeed without changing the call.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuditError::Locked { .. } | AuditError::DiskFull { .. } | AuditError::Io { .. })
    }

    /// Classifies a sqlx error by SQLite result code. `waited_ms` is the busy wait that
    /// preceded a `Locked` error.
    pub(crate) fn from_sqlx(path: &Path, waited_ms: u64, err: sqlx::Error) -> AuditError {
        let path = path.to_path_buf();
        match primary_code(&err) {
            Some(SQLITE_BUSY | SQLITE_LOCKED) => AuditError::Locked { path, waited_ms, source: err },
            Some(SQLITE_FULL) => AuditError::DiskFull { path, source: err },
            Some(SQLITE_CORRUPT | SQLITE_NOTADB) => AuditError::Corrupt { path, source: err },
            Some(SQLITE_IOERR) => AuditError::Io { path, source: err },
            Some(SQLITE_CANTOPEN | SQLITE_PERM | SQLITE_READONLY) => AuditError::Access { path, source: err },
            _ => match err {
                // All connections busy for longer than the acquire timeout: the single writer
                // is stuck waiting for a lock held elsewhere.
                sqlx::Error::PoolTimedOut => AuditError::Locked { path, waited_ms, source: err },
                sqlx::Error::Io(_) => AuditError::Io { path, source: err },
                err => AuditError::Database { path, source: err },
            },
        }
    }

    pub(crate) fn from_migrate(path: &Path, err: sqlx::migrate::MigrateError) -> AuditError {
        use sqlx::migrate::MigrateError;
        match err {
            // A lock or full disk during migration is the same fault as during a write.
            MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) if primary_code(&e).is_some() => {
                let classified = AuditError::from_sqlx(path, 0, e);
                match classified {
                    AuditError::Database { path, source } => {
                        AuditError::Migration { path, source: MigrateError::Execute(source) }
                    }
                    other => other,
                }
            }
            err => AuditError::Migration { path: path.to_path_buf(), source: err },
        }
    }

    /// SQLITE_BUSY in any form: worth another try while the busy deadline lasts.
    pub(crate) fn is_busy(err: &sqlx::Error) -> bool {
        matches!(primary_code(err), Some(SQLITE_BUSY | SQLITE_LOCKED))
    }
}

/// The primary SQLite result code of a database error (sqlx reports the extended code as
/// decimal text; the primary code is its low byte).
pub(crate) fn primary_code(err: &sqlx::Error) -> Option<i32> {
    let db = err.as_database_error()?;
    let code: i32 = db.code()?.parse().ok()?;
    Some(code & 0xff)
}
