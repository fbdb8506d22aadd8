//! SQLite-only tampering: edits that need SQLite's typing (a value of another storage
//! class) or its schema (renumbering `seq`, forged rows), made with a plain SQLite
//! connection. The backend-neutral tamper cases are in `contract/chain.rs`.

mod common;

use common::*;
use flashline_audit::ChainProblem;
use sqlx::{Executor, Row};

#[tokio::test]
async fn each_column_edit_alone_is_detected() {
    let edits = [
        "started_at_ms = started_at_ms + 1",
        "ended_at_ms = ended_at_ms - 1",
        "station_id = 'other'",
        "slot = 'B9'",
        "port = 'x'",
        "usb_vid = 1",
        "usb_serial = 'S'",
        "chip = 'ESP32'",
        "chip_revision = NULL",
        "mac = 'AA:BB:CC:DD:01:7F'",
        "flash_id = 1",
        "flash_size = 1",
        "image_name = 'evil.bin'",
        "image_sha256 = 'ff'",
        "bytes_written = 0",
        "verify_method = 'none'",
        "rework = 1",
        "skipped_regions = '[ ]'",
        "stage_timings = '{}'",
        "row_hash = 'ff'",
        "slot = 1",
    ];
    for edit in edits {
        let db = test_db();
        let store = open(&db.path).await;
        let ids = five(&store).await;
        let mut raw = raw(&db.path).await;
        raw.execute(sqlx::AssertSqlSafe(format!("UPDATE attempts SET {edit} WHERE id = {}", ids[1].0))).await.unwrap();
        assert_eq!(problems(&store).await, vec![ChainProblem::Edited { seq: 2, id: ids[1].0 }], "{edit}");
    }
}

#[tokio::test]
async fn a_row_slipped_into_the_middle_is_named() {
    let db = test_db();
    let store = open(&db.path).await;
    let ids = five(&store).await;
    let mut raw = raw(&db.path).await;
    // Make room at seq 3 (two steps to keep seq unique), then copy row 2 as a forged pass
    // with a plausible link to seq 2.
    raw.execute("UPDATE attempts SET seq = -seq WHERE seq >= 3").await.unwrap();
    raw.execute("UPDATE attempts SET seq = 1 - seq WHERE seq < 0").await.unwrap();
    let row2 = sqlx::query("SELECT row_hash FROM attempts WHERE seq = 2").fetch_one(&mut raw).await.unwrap();
    let prev: String = row2.get(0);
    raw.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO attempts (started_at_ms, ended_at_ms, station_id, slot, port, image_name, image_sha256, \
         result, mac, seq, prev_hash, row_hash) \
         SELECT started_at_ms, ended_at_ms, station_id, slot, port, image_name, image_sha256, 'pass', \
         'AA:BB:CC:DD:01:99', 3, '{prev}', '{}' FROM attempts WHERE id = {}",
        "e".repeat(64),
        ids[0].0
    )))
    .await
    .unwrap();
    let forged: i64 = sqlx::query("SELECT id FROM attempts WHERE seq = 3").fetch_one(&mut raw).await.unwrap().get(0);
    assert_eq!(problems(&store).await, vec![ChainProblem::Inserted { seq: 3, id: forged }]);
}

#[tokio::test]
async fn a_row_appended_after_the_head_is_named() {
    let db = test_db();
    let store = open(&db.path).await;
    let ids = five(&store).await;
    let mut raw = raw(&db.path).await;
    let last: String =
        sqlx::query("SELECT row_hash FROM attempts WHERE seq = 5").fetch_one(&mut raw).await.unwrap().get(0);
    raw.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO attempts (started_at_ms, ended_at_ms, station_id, slot, port, image_name, image_sha256, \
         result, seq, prev_hash, row_hash) SELECT started_at_ms, ended_at_ms, station_id, slot, port, image_name, \
         image_sha256, 'pass', 6, '{last}', '{}' FROM attempts WHERE id = {}",
        "e".repeat(64),
        ids[0].0
    )))
    .await
    .unwrap();
    let forged: i64 = sqlx::query("SELECT id FROM attempts WHERE seq = 6").fetch_one(&mut raw).await.unwrap().get(0);
    let found = problems(&store).await;
    assert!(found.contains(&ChainProblem::AfterHead { seq: 6, id: forged }), "{found:?}");
}
