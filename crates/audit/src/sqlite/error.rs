//! SQLite result codes to [`AuditError`] variants: the only place that knows them.
//!
//! sqlx reports the extended result code as decimal text; the primary code is its low
//! byte (<https://www.sqlite.org/rescode.html>).

use crate::error::{AuditError, BoxError};

const SQLITE_PERM: i32 = 3;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_NOTADB: i32 = 26;

/// What a primary result code means to flashline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Locked,
    Full,
    Corrupt,
    Io,
    Access,
}

fn fault_of(primary: i32) -> Option<Fault> {
    match primary {
        SQLITE_BUSY | SQLITE_LOCKED => Some(Fault::Locked),
        SQLITE_FULL => Some(Fault::Full),
        SQLITE_CORRUPT | SQLITE_NOTADB => Some(Fault::Corrupt),
        SQLITE_IOERR => Some(Fault::Io),
        SQLITE_CANTOPEN | SQLITE_PERM | SQLITE_READONLY => Some(Fault::Access),
        _ => None,
    }
}

fn fault_error(fault: Fault, location: &str, waited_ms: u64, source: BoxError) -> AuditError {
    let location = location.to_owned();
    match fault {
        Fault::Locked => AuditError::Locked { location, waited_ms, source },
        Fault::Full => AuditError::DiskFull { location, source },
        Fault::Corrupt => AuditError::Corrupt { location, source },
        Fault::Io => AuditError::Io { location, source },
        Fault::Access => AuditError::Access { location, source },
    }
}

/// Classifies a sqlx error by SQLite result code. `waited_ms` is the busy wait that
/// preceded a `Locked` error.
pub(crate) fn classify(location: &str, waited_ms: u64, err: sqlx::Error) -> AuditError {
    if let Some(fault) = primary_code(&err).and_then(fault_of) {
        return fault_error(fault, location, waited_ms, Box::new(err));
    }
    match err {
        // All connections busy for longer than the acquire timeout: the single writer is
        // stuck waiting for a lock held elsewhere.
        sqlx::Error::PoolTimedOut => fault_error(Fault::Locked, location, waited_ms, Box::new(err)),
        sqlx::Error::Io(_) => fault_error(Fault::Io, location, waited_ms, Box::new(err)),
        err => AuditError::Backend { location: location.to_owned(), source: Box::new(err) },
    }
}

/// Classifies a migration error: a lock or full disk during migration is the same fault as
/// during a write; anything else is a `Migration` error.
pub(crate) fn classify_migrate(location: &str, err: sqlx::migrate::MigrateError) -> AuditError {
    use sqlx::migrate::MigrateError;
    let fault = match &err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => primary_code(e).and_then(fault_of),
        _ => None,
    };
    match fault {
        Some(fault) => fault_error(fault, location, 0, Box::new(err)),
        None => AuditError::Migration { location: location.to_owned(), source: Box::new(err) },
    }
}

/// SQLITE_BUSY in any form: worth another try while the busy deadline lasts.
pub(crate) fn is_busy(err: &sqlx::Error) -> bool {
    primary_code(err).and_then(fault_of) == Some(Fault::Locked)
}

/// The primary SQLite result code of a database error.
fn primary_code(err: &sqlx::Error) -> Option<i32> {
    let db = err.as_database_error()?;
    let code: i32 = db.code()?.parse().ok()?;
    Some(code & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_codes_map_to_flashline_faults() {
        // Extended codes share the primary code in the low byte.
        let table = [
            (5, Some(Fault::Locked)),
            (5 | (3 << 8), Some(Fault::Locked)), // SQLITE_BUSY_TIMEOUT
            (6, Some(Fault::Locked)),
            (13, Some(Fault::Full)),
            (11, Some(Fault::Corrupt)),
            (26, Some(Fault::Corrupt)),
            (10, Some(Fault::Io)),
            (10 | (4 << 8), Some(Fault::Io)), // SQLITE_IOERR_SHORT_READ
            (14, Some(Fault::Access)),
            (3, Some(Fault::Access)),
            (8, Some(Fault::Access)),
            (1, None),
            (19, None), // SQLITE_CONSTRAINT: a bug, not a storage fault
        ];
        for (code, want) in table {
            assert_eq!(fault_of(code & 0xff), want, "code {code}");
        }
    }

    #[test]
    fn unclassified_errors_are_backend_errors_and_pool_timeouts_are_locks() {
        assert!(matches!(classify("db", 0, sqlx::Error::RowNotFound), AuditError::Backend { .. }));
        let e = classify("db", 7, sqlx::Error::PoolTimedOut);
        assert!(matches!(e, AuditError::Locked { waited_ms: 7, .. }), "{e:?}");
        assert!(e.is_retryable());
    }
}
