//! Storage faults come back as typed errors, and the store works again once they clear.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flashline_audit::{AttemptFilter, AttemptResult, AuditError, AuditStore, Completion, StoreOptions};
use sqlx::Executor;

#[tokio::test]
async fn a_write_lock_held_elsewhere_gives_locked_after_the_busy_timeout_then_recovers() {
    let db = test_db();
    let busy = Duration::from_millis(400);
    let store = AuditStore::open(&db.path, StoreOptions::default().busy_timeout(busy)).await.unwrap();
    let before = record(&store, "A1", at(0), None, pass()).await;
    let running = store.begin_attempt(new_attempt("A2")).await.unwrap();

    // Another process (say, an sqlite3 shell) takes the write lock and sits on it.
    let mut other = raw(&db.path).await;
    other.execute("BEGIN EXCLUSIVE").await.unwrap();

    let t = Instant::now();
    let err = store.begin_attempt(new_attempt("A3")).await.unwrap_err();
    let waited = t.elapsed();
    assert!(matches!(err, AuditError::Locked { .. }), "{err:?}");
    assert!(err.is_storage_fault() && err.is_retryable());
    assert!(waited >= busy, "gave up after {waited:?}, before the busy timeout");
    assert!(waited < busy * 5, "waited {waited:?}");
    assert!(err.to_string().contains("audit.db"), "message names the file: {err}");

    let err = store.complete_attempt(running, pass()).await.unwrap_err();
    assert!(matches!(err, AuditError::Locked { .. }), "{err:?}");
    // Readers are not blocked by a writer in WAL mode.
    assert_eq!(store.get(before).await.unwrap().result, AttemptResult::Pass);

    other.execute("ROLLBACK").await.unwrap();
    store.complete_attempt(running, pass()).await.unwrap();
    let id = store.begin_attempt(new_attempt("A3")).await.unwrap();
    store.complete_attempt(id, pass()).await.unwrap();
    assert_eq!(store.query(&AttemptFilter::all()).await.unwrap().len(), 3);
    assert!(store.verify_chain().await.unwrap().is_valid());
}

#[tokio::test]
async fn a_lock_released_within_the_busy_timeout_is_waited_out() {
    let db = test_db();
    let store = AuditStore::open(&db.path, StoreOptions::default().busy_timeout(Duration::from_secs(5))).await.unwrap();
    let mut other = raw(&db.path).await;
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.execute("COMMIT").await.unwrap();
    });
    let t = Instant::now();
    let id = store.begin_attempt(new_attempt("A1")).await.expect("retried within busy timeout");
    assert!(t.elapsed() >= Duration::from_millis(250), "should have waited for the lock");
    release.await.unwrap();
    store.complete_attempt(id, pass()).await.unwrap();
}

#[tokio::test]
async fn a_full_database_gives_disk_full_keeps_recorded_rows_and_recovers_when_the_limit_is_raised() {
    let db = test_db();
    let opts = options().max_db_bytes(Some(160 * 1024));
    let store = AuditStore::open(&db.path, opts).await.unwrap();
    let reason = "x,\"y\"".repeat(300); // 1.5 KB per row: fills pages quickly
    let mut recorded = Vec::new();
    let mut full = None;
    for i in 0..10_000 {
        let id = match store.begin_attempt(new_attempt("A1")).await {
            Ok(id) => id,
            Err(e) => {
                full = Some((e, None));
                break;
            }
        };
        match store.complete_attempt(id, Completion::fail("write", format!("{i} {reason}"))).await {
            Ok(()) => recorded.push(id),
            Err(e) => {
                full = Some((e, Some(id)));
                break;
            }
        }
    }
    let (err, stuck) = full.expect("the size limit was never reached");
    assert!(matches!(err, AuditError::DiskFull { .. }), "{err:?}");
    assert!(err.is_storage_fault() && err.is_retryable());
    assert!(err.to_string().contains("max_db_bytes"), "{err}");
    assert!(recorded.len() > 5, "only {} rows fit", recorded.len());

    // Still full: the next write fails the same way, nothing recorded is lost.
    let again = store.begin_attempt(new_attempt("A1")).await;
    if let Err(e) = &again {
        assert!(matches!(e, AuditError::DiskFull { .. }), "{e:?}");
    }
    let rows = store.query(&AttemptFilter::all().result(AttemptResult::Fail)).await.unwrap();
    assert_eq!(rows.len(), recorded.len());
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked as usize, recorded.len());
    assert!(store.integrity_check().await.unwrap().ok);

    // The operator frees space: raise the limit, and the stuck job completes.
    store.set_max_db_bytes(None).await.unwrap();
    if let Some(id) = stuck {
        store.complete_attempt(id, pass()).await.unwrap();
    }
    if let Ok(id) = again {
        store.complete_attempt(id, pass()).await.unwrap();
    }
    for _ in 0..20 {
        record(&store, "A2", at(0), None, Completion::fail("write", reason.clone())).await;
    }
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert!(store.query(&AttemptFilter::all().result(AttemptResult::Running)).await.unwrap().is_empty());
    assert!(store.integrity_check().await.unwrap().ok);
    store.close().await;

    // A new process with the old limit (now below the file size) cannot grow the file:
    // the first write that needs a new page fails the same way.
    let store = AuditStore::open(&db.path, options().max_db_bytes(Some(160 * 1024))).await.unwrap();
    let mut err = None;
    for _ in 0..50 {
        let id = match store.begin_attempt(new_attempt("A1")).await {
            Ok(id) => id,
            Err(e) => {
                err = Some(e);
                break;
            }
        };
        if let Err(e) = store.complete_attempt(id, Completion::fail("write", reason.clone())).await {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("limit below the file size must stop growth");
    assert!(matches!(err, AuditError::DiskFull { .. }), "{err:?}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_corrupt() {
    let db = test_db();
    std::fs::write(&db.path, vec![0x5a; 8192]).unwrap();
    let err = AuditStore::open(&db.path, options()).await.unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("audit.db"));
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_is_an_access_error() {
    let db = test_db();
    std::fs::write(db.dir.path().join("file"), b"").unwrap();
    let err = AuditStore::open(db.dir.path().join("file/dir/audit.db"), options()).await.unwrap_err();
    assert!(matches!(err, AuditError::Access { .. }), "{err:?}");
    assert!(err.is_storage_fault());
}
