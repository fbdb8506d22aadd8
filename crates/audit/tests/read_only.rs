//! `open_read_only` (query tools beside the daemon), `set_stage` and the schema 1 -> 2
//! upgrade.

mod common;

use std::path::Path;

use common::*;
use flashline_audit::{
    insert_synthetic, AttemptFilter, AttemptId, AttemptResult, AuditError, AuditStore, Completion, INTERRUPTED_REASON,
    UNKNOWN_STAGE,
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
    exec("DELETE FROM _sqlx_migrations WHERE version = 2").execute(&mut raw).await.unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Schema { found: Some(1), expected: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("older flashline"), "{err}");

    exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
          SELECT 2, 'current stage', 1, (SELECT checksum FROM _sqlx_migrations WHERE version = 1), 0",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");

    exec("UPDATE _sqlx_migrations SET version = 99 WHERE version = 2").execute(&mut raw).await.unwrap();
    let err = AuditStore::open_read_only(&db.path).await.unwrap_err();
    assert!(matches!(err, AuditError::Schema { found: Some(99), expected: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("newer flashline"), "{err}");
}

#[tokio::test]
async fn a_read_only_store_refuses_every_write_and_leaves_the_file_alone() {
    let db = test_db();
    let store = open(&db.path).await;
    let done = record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    let running = store.begin_attempt(new_attempt("A2")).await.unwrap();
    store.set_stage(running, "write").await.unwrap();
    store.close().await;
    let before = snapshot(&db.path);

    let ro = AuditStore::open_read_only(&db.path).await.unwrap();
    let refused = |r: Result<(), AuditError>, what: &str| {
        assert!(matches!(r, Err(AuditError::ReadOnly { .. })), "{what}: {r:?}");
    };
    refused(ro.begin_attempt(new_attempt("A3")).await.map(drop), "begin_attempt");
    refused(ro.update_identity(running, &identity("AA:BB:CC:DD:EE:02")).await.map(drop), "update_identity");
    refused(ro.set_stage(running, "verify").await, "set_stage");
    refused(ro.complete_attempt(running, pass()).await, "complete_attempt");
    refused(ro.close_interrupted().await.map(drop), "close_interrupted");
    refused(ro.set_max_db_bytes(Some(1 << 20)).await, "set_max_db_bytes");
    refused(insert_synthetic(&ro, 10, 1).await.map(drop), "insert_synthetic");

    // Every read works.
    assert_eq!(ro.query(&AttemptFilter::all()).await.unwrap().len(), 2);
    assert_eq!(ro.get(done).await.unwrap().result, AttemptResult::Pass);
    let still = ro.get(running).await.unwrap();
    assert_eq!((still.result, still.current_stage.as_deref()), (AttemptResult::Running, Some("write")));
    assert!(ro.verify_chain().await.unwrap().is_valid());
    assert_eq!(ro.stats(at(-HOUR), at(HOUR)).await.unwrap().total.total, 1);
    assert!(ro.integrity_check().await.unwrap().ok);
    ro.close().await;

    assert!(snapshot(&db.path) == before, "the database file was changed by a read-only store");
    let store = open(&db.path).await;
    assert_eq!(store.get(running).await.unwrap().result, AttemptResult::Running);
}

/// A query tool beside a live daemon: it sees what the daemon committed (still in the WAL),
/// does not disturb it, and never closes the daemon's running jobs.
#[tokio::test]
async fn reads_run_beside_a_live_writer() {
    let db = test_db();
    let daemon = open(&db.path).await;
    let first = record(&daemon, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    let live = daemon.begin_attempt(new_attempt("A2")).await.unwrap();
    daemon.set_stage(live, "erase").await.unwrap();

    let tool = AuditStore::open_read_only(&db.path).await.unwrap();
    let rows = tool.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [live, first]);
    assert_eq!(rows[0].current_stage.as_deref(), Some("erase"));

    // The daemon keeps writing while the tool holds its connections open.
    daemon.set_stage(live, "write").await.unwrap();
    daemon.update_identity(live, &identity("AA:BB:CC:DD:EE:02")).await.unwrap();
    daemon.complete_attempt(live, Completion::fail("write", "timeout")).await.unwrap();
    let row = tool.get(live).await.unwrap();
    assert_eq!((row.result, row.current_stage), (AttemptResult::Fail, None));
    assert!(tool.verify_chain().await.unwrap().is_valid());
    tool.close().await;
    assert!(daemon.verify_chain().await.unwrap().is_valid());
}

#[tokio::test]
async fn the_stage_of_a_running_row_ends_up_in_its_interrupted_record() {
    let db = test_db();
    let store = open(&db.path).await;
    let staged = store.begin_attempt(new_attempt("A1")).await.unwrap();
    assert_eq!(store.get(staged).await.unwrap().current_stage, None);
    for stage in ["connect", "identify", "erase", " write "] {
        store.set_stage(staged, stage).await.unwrap();
    }
    assert_eq!(store.get(staged).await.unwrap().current_stage.as_deref(), Some("write"));
    let unstaged = store.begin_attempt(new_attempt("A2")).await.unwrap();
    let passed = store.begin_attempt(new_attempt("A3")).await.unwrap();
    store.set_stage(passed, "verify").await.unwrap();
    store.complete_attempt(passed, pass()).await.unwrap();
    store.close().await;

    // The daemon died; the next start closes what it left.
    let store = open(&db.path).await;
    assert_eq!(store.close_interrupted().await.unwrap(), 2);
    let row = store.get(staged).await.unwrap();
    assert_eq!(row.result, AttemptResult::Interrupted);
    assert_eq!(row.failure_stage.as_deref(), Some("write"), "interrupted during write");
    assert_eq!(row.failure_reason.as_deref(), Some(INTERRUPTED_REASON));
    assert_eq!(row.current_stage, None, "completion clears the live stage");
    let row = store.get(unstaged).await.unwrap();
    assert_eq!(row.failure_stage.as_deref(), Some(UNKNOWN_STAGE));
    let row = store.get(passed).await.unwrap();
    assert_eq!((row.result, row.failure_stage, row.current_stage), (AttemptResult::Pass, None, None));
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 3);
}

#[tokio::test]
async fn set_stage_only_touches_running_rows() {
    let db = test_db();
    let store = open(&db.path).await;
    let id = store.begin_attempt(new_attempt("A1")).await.unwrap();
    for bad in ["", "   ", &"x".repeat(flashline_audit::MAX_STAGE_LEN + 1)] {
        let r = store.set_stage(id, bad).await;
        assert!(matches!(r, Err(AuditError::Invalid(_))), "{bad:?}: {r:?}");
    }
    let r = store.set_stage(AttemptId(999), "write").await;
    assert!(matches!(r, Err(AuditError::NotFound { .. })), "{r:?}");
    store.set_stage(id, "write").await.unwrap();
    store.complete_attempt(id, Completion::fail("write", "no reply")).await.unwrap();
    let r = store.set_stage(id, "verify").await;
    assert!(matches!(r, Err(AuditError::AlreadyCompleted { result: AttemptResult::Fail, .. })), "{r:?}");
    let row = store.get(id).await.unwrap();
    assert_eq!((row.failure_stage.as_deref(), row.current_stage), (Some("write"), None));

    // The schema holds the invariant too: a completed row cannot carry a live stage.
    let mut raw = raw(&db.path).await;
    let r = sqlx::query("UPDATE attempts SET current_stage = 'verify' WHERE id = ?").bind(id.0).execute(&mut raw).await;
    assert!(r.unwrap_err().to_string().contains("CHECK"));
    assert!(store.verify_chain().await.unwrap().is_valid());
}

/// A database of schema 1 (migration 0001 only) is refused by query tools, upgraded by
/// the daemon's `open`, and its chained rows keep verifying (the new column is not hashed).
#[tokio::test]
async fn a_schema_1_database_is_upgraded_and_its_chain_still_verifies() {
    // Rows chained by this build, copied column by column (all but current_stage) into a
    // file that has only migration 0001: exactly what a schema-1 store left behind.
    let source = test_db();
    let store = open(&source.path).await;
    record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    record(&store, "A2", at(MIN), Some("AA:BB:CC:DD:EE:02"), Completion::fail("write", "timeout")).await;
    store.close().await;

    let db = test_db();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    std::fs::File::create(&db.path).unwrap();
    let mut conn = raw(&db.path).await;
    migrator.run_to(1, &mut conn).await.unwrap();
    let columns = format!("{}, seq, row_hash", flashline_audit::chain::CHAIN_COLUMNS.join(", "));
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
    assert!(matches!(err, AuditError::Schema { found: Some(1), expected: 2, .. }), "{err:?}");
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
