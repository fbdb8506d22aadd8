//! Where the demo keeps its audit database, and the guard that it never replaces a
//! database it did not make.
//!
//! Without `--db` every run gets a fresh directory under the system's temporary directory
//! (kept afterwards, so `flashline log --db …` works on it). With `--db PATH` an existing
//! file is replaced (or, with `--keep-db`, added to) only when it is a flashline audit
//! database whose every row comes from the demo station (`station = "demo"`): a real
//! line's database, or any other file, is refused.

use std::path::{Path, PathBuf};

use flashline_audit::{AttemptFilter, AuditStore};

/// Station id of the demo's config, its mark in every row it writes.
pub const DEMO_STATION: &str = "demo";

/// Rows read to check that a database is the demo's.
const CHECKED_ROWS: u32 = 10_000;

/// The database for this run: `given`, checked, or a new one in a fresh directory.
pub async fn choose(given: Option<&Path>, keep: bool) -> Result<PathBuf, String> {
    let Some(given) = given else {
        let dir = tempfile::Builder::new()
            .prefix("flashline-demo-")
            .tempdir()
            .map_err(|e| format!("cannot create a directory for the demo database: {e}"))?
            .keep();
        return Ok(dir.join("audit.db"));
    };
    let db = std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf());
    if db.exists() {
        ensure_demo_database(&db).await?;
        if !keep {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = db.clone().into_os_string();
                p.push(suffix);
                let p = PathBuf::from(p);
                if p.exists() {
                    std::fs::remove_file(&p)
                        .map_err(|e| format!("cannot replace the demo database {}: {e}", p.display()))?;
                }
            }
        }
    }
    Ok(db)
}

/// `Ok` when `db` is an audit database holding only the demo's rows.
async fn ensure_demo_database(db: &Path) -> Result<(), String> {
    let refuse = |why: String| {
        format!(
            "{} {why}: the demo only replaces its own databases; name a new file with --db, or leave --db \
             out for a fresh temporary one",
            db.display()
        )
    };
    let store = AuditStore::open_read_only(db)
        .await
        .map_err(|e| refuse(format!("exists and is not a flashline audit database ({e})")))?;
    let rows = store.query(&AttemptFilter::all().limit(CHECKED_ROWS)).await;
    store.close().await;
    let rows = rows.map_err(|e| refuse(format!("cannot be read ({e})")))?;
    match rows.iter().find(|r| r.station_id != DEMO_STATION) {
        Some(r) => Err(refuse(format!("holds attempts of station '{}', not of the demo", r.station_id))),
        None if rows.len() as u32 == CHECKED_ROWS => {
            Err(refuse(format!("holds more than {CHECKED_ROWS} attempts, more than a demo makes")))
        }
        None => Ok(()),
    }
}
