//! WAL mode as the store relies on it: required (never a silent fallback to a rollback
//! journal), and with its `-wal`/`-shm` files kept after the daemon stops.
//!
//! Group members read the database with read-only access to the file and its directory.
//! SQLite can read a WAL database that way only if the `-wal` and `-shm` files already
//! exist and are readable, or the file is opened `immutable` (see "Read-Only Databases" in
//! SQLite's WAL documentation). By default the last connection to close deletes both
//! files; `SQLITE_FCNTL_PERSIST_WAL` on every daemon connection keeps them, so a query
//! finds them whether the daemon runs or not and never has to create them.

use std::ffi::{c_int, c_void};

use sqlx::SqliteConnection;

use crate::error::{AuditError, Result};

/// Sets `SQLITE_FCNTL_PERSIST_WAL` on the main database of `conn`: when this connection
/// is the last to close, the `-wal` and `-shm` files stay.
pub(crate) async fn keep_wal_files(conn: &mut SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    let mut on: c_int = 1;
    // SAFETY: `db` is the open connection, locked for this call; "main" is a NUL-terminated
    // schema name; PERSIST_WAL takes a pointer to an int that lives across the call.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_file_control(
            db.as_ptr(),
            c"main".as_ptr(),
            libsqlite3_sys::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut c_int).cast::<c_void>(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Configuration(
            format!("SQLite refused to keep the -wal and -shm files (file control result {rc})").into(),
        ));
    }
    Ok(())
}

/// Fails unless `journal_mode` (what `PRAGMA journal_mode` reports) is WAL.
pub(crate) fn require_wal(location: &str, journal_mode: &str) -> Result<()> {
    if journal_mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(AuditError::NotWal { location: location.to_owned(), journal_mode: journal_mode.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wal_is_accepted() {
        for (mode, ok) in [("wal", true), ("WAL", true), ("delete", false), ("memory", false), ("truncate", false)] {
            let r = require_wal("/x/audit.db", mode);
            assert_eq!(r.is_ok(), ok, "{mode}");
            if let Err(e) = r {
                let msg = e.to_string();
                assert!(msg.contains("/x/audit.db") && msg.contains(mode) && msg.contains("local disk"), "{msg}");
            }
        }
    }
}
