//! The hash chain names edited, inserted and deleted rows, found by editing the file with
//! a plain SQLite connection as someone covering up a failure would.

mod common;

use common::*;
use flashline_audit::{AttemptId, AuditStore, ChainProblem, Completion};
use sqlx::{Executor, Row};

/// Five completed rows (seq 1..=5), ids in a vector.
async fn five(store: &AuditStore) -> Vec<AttemptId> {
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = if i == 2 { Completion::fail("write", "timeout, no \"ACK\"") } else { pass() };
        ids.push(record(store, "A1", at(i * MIN), Some(&format!("AA:BB:CC:DD:01:{i:02X}")), c).await);
    }
    ids
}

async fn problems(store: &AuditStore) -> Vec<ChainProblem> {
    store.verify_chain().await.unwrap().problems
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let db = test_db();
    let store = open(&db.path).await;
    assert!(store.verify_chain().await.unwrap().is_valid(), "empty chain");
    five(&store).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 5);
    assert_eq!(report.head.last_seq, 5);
}

#[tokio::test]
async fn an_edited_field_is_named_by_seq_and_id() {
    let db = test_db();
    let store = open(&db.path).await;
    let ids = five(&store).await;
    let mut raw = raw(&db.path).await;
    // Turn the failure into a pass.
    raw.execute(sqlx::AssertSqlSafe(format!(
        "UPDATE attempts SET result = 'pass', failure_stage = NULL, failure_reason = NULL WHERE id = {}",
        ids[2].0
    )))
    .await
    .unwrap();
    assert_eq!(problems(&store).await, vec![ChainProblem::Edited { seq: 3, id: ids[2].0 }]);
}

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
async fn a_deleted_row_is_named_with_its_neighbours() {
    let db = test_db();
    let store = open(&db.path).await;
    let ids = five(&store).await;
    let mut raw = raw(&db.path).await;
    raw.execute(sqlx::AssertSqlSafe(format!("DELETE FROM attempts WHERE id = {}", ids[2].0))).await.unwrap();
    assert_eq!(
        problems(&store).await,
        vec![ChainProblem::Deleted {
            after_seq: 2,
            after_id: Some(ids[1].0),
            before_seq: 4,
            before_id: ids[3].0,
            missing: 1
        }]
    );
}

#[tokio::test]
async fn deleting_the_newest_rows_is_caught_by_the_head() {
    let db = test_db();
    let store = open(&db.path).await;
    let ids = five(&store).await;
    let mut raw = raw(&db.path).await;
    raw.execute(sqlx::AssertSqlSafe(format!("DELETE FROM attempts WHERE id >= {}", ids[3].0))).await.unwrap();
    assert_eq!(
        problems(&store).await,
        vec![ChainProblem::TailDeleted { last_seq: 3, head_seq: 5, head_attempt_id: Some(ids[4].0) }]
    );
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

#[tokio::test]
async fn a_valid_chain_stays_valid_after_more_completions_and_recovery() {
    let db = test_db();
    let store = open(&db.path).await;
    five(&store).await;
    let open_id = store.begin_attempt(new_attempt("B1")).await.unwrap();
    drop(store);
    let store = open(&db.path).await;
    assert_eq!(store.close_interrupted().await.unwrap(), 1);
    record(&store, "B2", at(10 * MIN), None, pass()).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 7);
    assert_eq!(store.get(open_id).await.unwrap().seq, Some(6));
    let check = store.integrity_check().await.unwrap();
    assert!(check.ok, "{:?}", check.messages);
    assert_eq!(check.messages, vec!["ok".to_string()]);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// Builds `n` attempts, completes them in the order given by `order` (a permutation
    /// seed), tampers with the row at chain position `victim`, and returns the findings
    /// plus the victim's (seq, id) and the chain length.
    async fn tamper(n: usize, rotate: usize, victim: usize, kind: u8) -> (Vec<ChainProblem>, i64, i64) {
        let db = test_db();
        let store = open(&db.path).await;
        let mut ids = Vec::new();
        for i in 0..n {
            let mut a = new_attempt("A1");
            a.started_at = Some(at(i as i64 * MIN));
            ids.push(store.begin_attempt(a).await.unwrap());
        }
        // Complete out of start order.
        let mut order = ids.clone();
        order.rotate_left(rotate % n);
        order.reverse();
        for (k, id) in order.iter().enumerate() {
            let c = if k % 3 == 0 { Completion::fail("erase", format!("r{k}, \"x\"")) } else { pass() };
            store.complete_attempt(*id, c).await.unwrap();
        }
        assert!(store.verify_chain().await.unwrap().is_valid());
        let seq = (victim % n) as i64 + 1;
        let mut raw = raw(&db.path).await;
        let id: i64 =
            sqlx::query("SELECT id FROM attempts WHERE seq = ?").bind(seq).fetch_one(&mut raw).await.unwrap().get(0);
        let sql = match kind {
            0 => format!("UPDATE attempts SET failure_reason = 'edited' WHERE id = {id}"),
            1 => format!("DELETE FROM attempts WHERE id = {id}"),
            2 => format!("UPDATE attempts SET started_at_ms = started_at_ms + 1000 WHERE id = {id}"),
            _ => format!("UPDATE attempts SET bytes_written = bytes_written + 1 WHERE id = {id}"),
        };
        raw.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        (store.verify_chain().await.unwrap().problems, seq, id)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_single_tamper_is_reported_precisely(n in 2usize..9, rotate in 0usize..9, victim in 0usize..9, kind in 0u8..4) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (problems, seq, id) = rt.block_on(tamper(n, rotate, victim, kind));
            let n = n as i64;
            let expected = match kind {
                1 if seq == n => ChainProblem::TailDeleted { last_seq: n - 1, head_seq: n, head_attempt_id: Some(id) },
                1 => {
                    // Deleted: the finding names the neighbours by seq; ids are checked loosely.
                    prop_assert_eq!(problems.len(), 1, "{:?}", problems);
                    match &problems[0] {
                        ChainProblem::Deleted { after_seq, before_seq, missing, .. } => {
                            prop_assert_eq!((*after_seq, *before_seq, *missing), (seq - 1, seq + 1, 1));
                        }
                        other => prop_assert!(false, "expected Deleted, got {:?}", other),
                    }
                    return Ok(());
                }
                _ => ChainProblem::Edited { seq, id },
            };
            prop_assert_eq!(problems, vec![expected]);
        }
    }
}
