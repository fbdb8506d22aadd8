//! The SQLite file itself: what `open_sqlite_read_only` refuses (missing file, not an
//! audit database, older or newer schema), that it never writes the file, the schema
//! 1 -> 2 upgrade, and a daemon process killed mid-job.

mod common;

use std::path::Path;

use common::*;
use flashline_audit::{
    AttemptFilter, AttemptId, AttemptResult, AuditError, AuditStore, Completion, INTERRUPTED_REASON,
};

/// Bytes and modification time of a file.
fn snapshot(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (std::fs::read(path).unwrap(), std::fs::metadata(path).unwrap().modified().unwrap())
}

#[tokio::test]
async fn a_missing_file_is_reported_and_not_created() {
    let db = test_db();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Missing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&db.path.display().to_string()) && msg.contains("does not exist"), "{msg}");
    assert!(!db.path.exists());
    assert_eq!(std::fs::read_dir(db.dir.path()).unwrap().count(), 0, "nothing created next to it either");
}

#[tokio::test]
async fn files_that_are_not_audit_databases_are_refused() {
    let db = test_db();
    std::fs::write(&db.path, b"").unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Schema { found: None, .. }), "{err:?}");
    assert!(err.to_string().contains("not a flashline audit database"), "{err}");

    std::fs::write(&db.path, b"this is a text file, not SQLite, and long enough to have a header....").unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn schema_older_newer_or_changed_is_named() {
    let db = test_db();
    let store = open(&db.path).await;
    record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    store.close().await;
    let ro = AuditStore::open_read_only(&db.path).await.expect("current schema opens");
    assert!(ro.is_read_only());
    ro.close().await;

    let mut raw = raw(&db.path).await;
    let exec = |sql: &'static str| sqlx::query(sql);
    exec("DELETE FROM _sqlx_migrations WHERE version = 5").execute(&mut raw).await.unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Schema { found: Some(4), expected: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("older flashline"), "{err}");

    exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
          SELECT 5, 'boot', 1, (SELECT checksum FROM _sqlx_migrations WHERE version = 1), 0",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");

    exec("UPDATE _sqlx_migrations SET version = 99 WHERE version = 5").execute(&mut raw).await.unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Schema { found: Some(99), expected: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("newer flashline"), "{err}");
}

/// The database file is never written by a read-only store, whatever is asked of it.
#[tokio::test]
async fn a_read_only_store_leaves_the_file_alone() {
    let db = test_db();
    let store = open(&db.path).await;
    record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    let running = store.begin_attempt(new_attempt("A2")).await.unwrap();
    store.set_stage(running, "write").await.unwrap();
    store.close().await;
    let before = snapshot(&db.path);

    let ro = AuditStore::open_sqlite_read_only(&db.path).await.unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.location(), db.path.display().to_string());
    assert!(ro.begin_attempt(new_attempt("A3")).await.is_err());
    assert!(ro.complete_attempt(running, pass()).await.is_err());
    assert!(ro.close_interrupted().await.is_err());
    assert!(ro.set_max_db_bytes(Some(1 << 20)).await.is_err());
    assert_eq!(ro.query(&AttemptFilter::all()).await.unwrap().len(), 2);
    assert!(ro.verify_chain().await.unwrap().is_valid());
    assert!(ro.integrity_check().await.unwrap().ok);
    ro.close().await;
    assert!(snapshot(&db.path) == before, "the database file was changed by a read-only store");
}

/// The schema holds the invariant too: a completed row cannot carry a live stage.
#[tokio::test]
async fn a_check_constraint_keeps_completed_rows_without_a_live_stage() {
    let db = test_db();
    let store = open(&db.path).await;
    let id = store.begin_attempt(new_attempt("A1")).await.unwrap();
    store.set_stage(id, "write").await.unwrap();
    store.complete_attempt(id, Completion::fail("write", "no reply")).await.unwrap();
    let mut raw = raw(&db.path).await;
    let r = sqlx::query("UPDATE attempts SET current_stage = 'verify' WHERE id = ?").bind(id.0).execute(&mut raw).await;
    assert!(r.unwrap_err().to_string().contains("CHECK"));
    assert!(store.verify_chain().await.unwrap().is_valid());
}

/// A database of schema 1 (migration 0001 only) is refused by query tools, upgraded by
/// the daemon's `open`, and its chained rows keep verifying (chain version 1: the later
/// columns are not hashed for them).
#[tokio::test]
async fn a_schema_1_database_is_upgraded_and_its_chain_still_verifies() {
    // Rows chained by this build, copied column by column (all but current_stage) into a
    // file that has only migration 0001: exactly what a schema-1 store left behind.
    let source = test_db();
    let store = open(&source.path).await;
    record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    record(&store, "A2", at(MIN), Some("AA:BB:CC:DD:EE:02"), Completion::fail("write", "timeout")).await;
    store.close().await;
    // As a schema-1 store chained them: version 1.
    flashline_audit::sqlite::tamper::edit_and_recompute(&source.path, "UPDATE attempts SET chain_version = NULL", 1)
        .await
        .unwrap();

    let db = test_db();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    std::fs::File::create(&db.path).unwrap();
    let mut conn = raw(&db.path).await;
    migrator.run_to(1, &mut conn).await.unwrap();
    let v1 = &flashline_audit::chain::CHAIN_COLUMNS[..=flashline_audit::chain::PREV_HASH_INDEX];
    let columns = format!("{}, seq, row_hash", v1.join(", "));
    sqlx::query(sqlx::AssertSqlSafe(format!("ATTACH DATABASE '{}' AS src", source.path.display())))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO attempts ({columns}) SELECT {columns} FROM src.attempts")))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE chain_head SET (last_seq, last_hash, last_attempt_id) = \
         (SELECT last_seq, last_hash, last_attempt_id FROM src.chain_head)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);

    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Schema { found: Some(1), expected: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("older flashline"), "{err}");

    let store = open(&db.path).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 2);
    record(&store, "A3", at(2 * MIN), Some("AA:BB:CC:DD:EE:03"), pass()).await;
    store.close().await;
    let ro = AuditStore::open_read_only(&db.path).await.unwrap();
    assert_eq!(ro.query(&AttemptFilter::all()).await.unwrap().len(), 3);
    let report = ro.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 3);
}

/// Set for the child process of the test below; names its database.
const ABORT_CHILD_DB: &str = "FLASHLINE_AUDIT_ABORT_CHILD_DB";

/// Not a test of its own: the "daemon" the test below runs in a child process and kills.
#[tokio::test]
#[ignore = "run as a child process by a_daemon_process_killed_mid_job_..."]
async fn abort_child() {
    let Ok(path) = std::env::var(ABORT_CHILD_DB) else { return };
    let store = open(std::path::Path::new(&path)).await;
    record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:40"), pass()).await;
    let id = store.begin_attempt(new_attempt("A2")).await.unwrap();
    store.update_identity(id, &identity("AA:BB:CC:DD:EE:41")).await.unwrap();
    use std::io::Write;
    println!("RUNNING_ID={}", id.0);
    std::io::stdout().flush().unwrap();
    // Power cut / SIGKILL stand-in: no destructor, no close, no checkpoint.
    std::process::abort();
}

#[tokio::test]
async fn a_daemon_process_killed_mid_job_leaves_a_row_that_the_next_start_closes() {
    let db = test_db();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["abort_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(ABORT_CHILD_DB, &db.path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child must die");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id: i64 = stdout
        .lines()
        .find_map(|l| l.split("RUNNING_ID=").nth(1))
        .unwrap_or_else(|| panic!("child output: {stdout}"))
        .trim()
        .parse()
        .unwrap();

    let store = open(&db.path).await;
    let row = store.get(AttemptId(id)).await.unwrap();
    assert_eq!(row.result, AttemptResult::Running);
    assert_eq!(row.mac.as_deref(), Some("AA:BB:CC:DD:EE:41"), "identity committed before the crash survives");
    assert_eq!(store.close_interrupted().await.unwrap(), 1);
    let row = store.get(AttemptId(id)).await.unwrap();
    assert_eq!(row.result, AttemptResult::Interrupted);
    assert_eq!(row.failure_reason.as_deref(), Some(INTERRUPTED_REASON));
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 2);
    assert!(store.integrity_check().await.unwrap().ok);
}
