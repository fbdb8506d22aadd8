//! The one error type of the audit store, in flashline's terms.
//!
//! Storage faults (locked, full, corrupt, I/O, access) get their own variants because the
//! daemon reacts to them differently from a programming mistake: it stops starting new
//! jobs, shows the operator why, and resumes when the fault clears. Every message names
//! the database (`location`: a file path, or a server address for a server backend) and
//! says what to do about it.
//!
//! No variant carries a type of a database driver: a backend maps its own error codes to
//! these variants (the SQLite mapping lives in the `sqlite` module) and keeps the driver's
//! error as the boxed `source`, so callers match on what happened, never on how a
//! particular database reported it.

use crate::model::{AttemptId, AttemptResult};

/// Result alias for the audit store.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// The underlying error a backend reports (driver error, I/O error), kept for the message
/// and for `std::error::Error::source`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the audit store.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Another connection holds the write lock and did not release it within the busy
    /// timeout (another process, or a stuck transaction).
    #[error(
        "audit database {location} is locked by another connection (waited {waited_ms} ms); \
         close other programs writing to it (database shell, backup job) and retry: {source}"
    )]
    Locked { location: String, waited_ms: u64, source: BoxError },

    /// The disk is full, or the configured size limit (`max_db_bytes`) is reached. Rows
    /// already recorded are intact.
    #[error(
        "audit database {location} is full (disk out of space or the configured size limit reached); \
         free disk space or raise the limit (max_db_bytes; database_max_size in flashline's station \
         config, applied on reload), already recorded rows are intact: {source}"
    )]
    DiskFull { location: String, source: BoxError },

    /// The database is damaged, or what is there is not a database at all.
    #[error(
        "audit database {location} is corrupt or not an audit database at all; stop the daemon, keep a \
         copy of it for analysis (for a file: with its -wal/-shm files) and start with a new one: {source}"
    )]
    Corrupt { location: String, source: BoxError },

    /// The operating system (or the connection to a database server) failed a read, write
    /// or sync.
    #[error("I/O error on audit database {location}; check the disk (dmesg, mount state, permissions): {source}")]
    Io { location: String, source: BoxError },

    /// The database cannot be opened or written: missing directory, permissions, refused
    /// login.
    #[error(
        "cannot open or write audit database {location}; check that it can be reached and written by \
         the daemon's user (for a file: the directory exists and is writable, the -wal and -shm files \
         are created next to it): {source}"
    )]
    Access { location: String, source: BoxError },

    /// The schema could not be brought up to date (e.g. the database was written by a
    /// newer flashline, or an applied migration was changed).
    #[error(
        "cannot bring the schema of audit database {location} up to date; use the flashline version \
         that wrote it or a new database: {source}"
    )]
    Migration { location: String, source: BoxError },

    /// The path names something other than a regular file (a symbolic link, directory,
    /// device, FIFO, socket): the store never follows or opens such a path, so a link
    /// planted where the database belongs cannot redirect the audit log.
    #[error(
        "audit database {location} is a {kind}, not a regular file; the store only opens a plain file: \
         point the path (--db, or `database` in the station config) at the file itself, or remove the \
         {kind} so the daemon creates the database there"
    )]
    NotAFile { location: String, kind: &'static str },

    /// The database could not be put in WAL mode (e.g. a file system without shared memory
    /// support, such as some network file systems). Without WAL, queries block the daemon's
    /// writes and read-only users cannot read beside it, so the store refuses the file.
    #[error(
        "audit database {location} cannot be put in WAL mode (it stays in journal mode '{journal_mode}'); \
         the file system probably lacks shared memory support (network file system?): keep the \
         database on a local disk, e.g. /var/lib/flashline"
    )]
    NotWal { location: String, journal_mode: String },

    /// A read-only store was asked to open a database that does not exist (a query tool
    /// never creates one).
    #[error(
        "audit database {location} does not exist; check the path (--db, or `database` in the station \
         config); the daemon creates the file on its first start"
    )]
    Missing { location: String },

    /// A read-only store found a schema that is not the one this build reads (older or
    /// newer flashline, not an audit database, failed migration). `found` is the highest
    /// applied migration, `expected` this build's latest.
    #[error(
        "audit database {location} has schema version {}, this flashline reads version {expected}: {detail}",
        found.map_or_else(|| "none".to_string(), |v| v.to_string())
    )]
    Schema { location: String, found: Option<i64>, expected: i64, detail: String },

    /// A write was attempted on a store opened read-only.
    #[error("audit database {location} is open read-only (query tool); only the daemon's store writes to it")]
    ReadOnly { location: String },

    /// Any other database error (a bug, or a condition the backend does not classify).
    #[error("audit database {location}: {source}")]
    Backend { location: String, source: BoxError },

    /// The attempt id does not exist in this database.
    #[error("attempt {id} does not exist in audit database {location}")]
    NotFound { location: String, id: AttemptId },

    /// The attempt was already completed; a row is completed exactly once.
    #[error("attempt {id} in audit database {location} is already completed as '{result}'; it cannot be changed")]
    AlreadyCompleted { location: String, id: AttemptId, result: AttemptResult },

    /// The caller passed data the store refuses to record (e.g. completing as `running`).
    #[error("invalid audit record: {0}")]
    Invalid(String),

    /// A station that takes its serial numbers from leased blocks has none left and the
    /// central record could not lease it more (see [`crate::SerialSource::Leased`]).
    #[error(
        "audit database {location} has no serial number left in the blocks leased from the central record; \
         restore the connection to the central database (the station leases a new block as soon as it \
         answers) or raise [provision] lease_block"
    )]
    SerialsExhausted { location: String },

    /// A stored value could not be decoded (e.g. hand-edited JSON in a column).
    #[error("audit database {location}: attempt {id} has an unreadable {column}: {detail}")]
    Decode { location: String, id: i64, column: &'static str, detail: String },
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

    /// The database the error is about, when it names one (every variant but `Invalid`).
    pub fn location(&self) -> Option<&str> {
        use AuditError::*;
        match self {
            Locked { location, .. }
            | DiskFull { location, .. }
            | Corrupt { location, .. }
            | Io { location, .. }
            | Access { location, .. }
            | Migration { location, .. }
            | Missing { location }
            | NotAFile { location, .. }
            | NotWal { location, .. }
            | Schema { location, .. }
            | ReadOnly { location }
            | Backend { location, .. }
            | NotFound { location, .. }
            | AlreadyCompleted { location, .. }
            | SerialsExhausted { location }
            | Decode { location, .. } => Some(location),
            Invalid(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> BoxError {
        "driver said no".into()
    }

    #[test]
    fn faults_and_retries_are_classified_by_variant() {
        let loc = || "db".to_string();
        let table: [(AuditError, bool, bool); 8] = [
            (AuditError::Locked { location: loc(), waited_ms: 5, source: source() }, true, true),
            (AuditError::DiskFull { location: loc(), source: source() }, true, true),
            (AuditError::Io { location: loc(), source: source() }, true, true),
            (AuditError::Access { location: loc(), source: source() }, true, false),
            (AuditError::Corrupt { location: loc(), source: source() }, false, false),
            (AuditError::Backend { location: loc(), source: source() }, false, false),
            (AuditError::ReadOnly { location: loc() }, false, false),
            (AuditError::Invalid("x".into()), false, false),
        ];
        for (e, fault, retry) in table {
            assert_eq!((e.is_storage_fault(), e.is_retryable()), (fault, retry), "{e:?}");
        }
    }

    #[test]
    fn messages_name_the_location_and_keep_the_source() {
        let e = AuditError::DiskFull { location: "/var/lib/x/audit.db".into(), source: source() };
        let msg = e.to_string();
        assert!(msg.contains("/var/lib/x/audit.db") && msg.contains("max_db_bytes") && msg.contains("driver said no"));
        assert_eq!(e.location(), Some("/var/lib/x/audit.db"));
        assert_eq!(std::error::Error::source(&e).map(ToString::to_string).as_deref(), Some("driver said no"));
        assert_eq!(AuditError::Invalid("x".into()).location(), None);
    }
}
