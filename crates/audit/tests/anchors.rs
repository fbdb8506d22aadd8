//! Finding a chain that was rewritten and recomputed, with heads recorded outside the
//! database (anchors), and `running` rows that no daemon began.

mod common;

use common::*;
use flashline_audit::sqlite::tamper::edit_and_recompute;
use flashline_audit::{Anchor, AttemptResult, ChainProblem, FORGED_RUNNING_REASON, INTERRUPTED_REASON};

/// The head as an anchor written at this moment.
async fn anchor_now(store: &flashline_audit::AuditStore, line: usize) -> Anchor {
    let head = store.chain_head().await.unwrap();
    Anchor { seq: head.last_seq, hash: head.last_hash, database: None, source: format!("line {line}") }
}

#[tokio::test]
async fn a_recomputed_chain_passes_plain_verify_and_fails_against_the_anchors() {
    let db = test_db();
    let store = open(&db.path).await;
    let ids = five(&store).await;
    let anchors = vec![anchor_now(&store, 1).await];
    // Two more rows after the anchor.
    record(&store, "A2", at(10 * MIN), Some("AA:BB:CC:DD:02:01"), pass()).await;
    let mut anchors = anchors;
    anchors.push(anchor_now(&store, 2).await);
    assert!(store.verify_chain_with_anchors(&anchors).await.unwrap().is_valid(), "untouched");

    // The failure (seq 3) turned into a pass, everything after it recomputed.
    let sql = format!(
        "UPDATE attempts SET result = 'pass', failure_stage = NULL, failure_reason = NULL WHERE id = {}",
        ids[2].0
    );
    edit_and_recompute(&db.path, &sql, 3).await.unwrap();
    assert_eq!(store.get(ids[2]).await.unwrap().result, AttemptResult::Pass);

    // Documented limit: the database alone cannot tell.
    assert!(store.verify_chain().await.unwrap().is_valid(), "plain verify passes a recomputed chain");

    let report = store.verify_chain_with_anchors(&anchors).await.unwrap();
    assert_eq!(report.anchors_checked, 2);
    match report.problems.as_slice() {
        [ChainProblem::AnchorMismatch { seq: 5, id: Some(id), later: 1, source, .. }] => {
            assert_eq!((*id, source.as_str()), (ids[4].0, "line 1"))
        }
        other => panic!("{other:?}"),
    }
    let msg = report.problems[0].to_string();
    assert!(msg.contains("seq 5") && msg.contains("line 1") && msg.contains("rewritten"), "{msg}");
}

#[tokio::test]
async fn a_deleted_row_with_a_recomputed_chain_is_caught_by_an_anchor() {
    let db = test_db();
    let store = open(&db.path).await;
    let ids = five(&store).await;
    let anchors = vec![anchor_now(&store, 7).await];
    // The newest row deleted and the head rewound to the row before: plain verify passes.
    edit_and_recompute(&db.path, &format!("DELETE FROM attempts WHERE id = {}", ids[4].0), 5).await.unwrap();
    assert!(store.verify_chain().await.unwrap().is_valid());
    let report = store.verify_chain_with_anchors(&anchors).await.unwrap();
    assert_eq!(
        report.problems,
        vec![ChainProblem::AnchorBeyondChain { seq: 5, last_seq: 4, source: "line 7".into(), later: 0 }]
    );
}

#[tokio::test]
async fn a_running_row_no_daemon_began_is_closed_as_suspect() {
    let db = test_db();
    let store = open(&db.path).await;
    five(&store).await;
    // A daemon began this one and died.
    let left = store.begin_attempt(new_attempt("A1")).await.unwrap();
    store.set_stage(left, "write").await.unwrap();
    store.close().await;

    // While no daemon runs, a plausible running row is inserted by hand.
    let mut raw = raw(&db.path).await;
    let forged: i64 = sqlx::query_scalar(
        "INSERT INTO attempts (started_at_ms, station_id, slot, port, image_name, image_sha256, result, current_stage) \
         SELECT started_at_ms, station_id, 'A2', port, image_name, image_sha256, 'running', 'write' FROM attempts \
         WHERE id = ? RETURNING id",
    )
    .bind(left.0)
    .fetch_one(&mut raw)
    .await
    .unwrap();
    drop(raw);

    let store = open(&db.path).await;
    let closed = store.close_left_running().await.unwrap();
    assert_eq!(closed.interrupted, vec![left]);
    assert_eq!(closed.suspect, vec![flashline_audit::AttemptId(forged)]);
    let row = store.get(flashline_audit::AttemptId(forged)).await.unwrap();
    assert_eq!(row.result, AttemptResult::Interrupted);
    assert_eq!(row.failure_reason.as_deref(), Some(FORGED_RUNNING_REASON));
    let row = store.get(left).await.unwrap();
    assert_eq!(row.failure_reason.as_deref(), Some(INTERRUPTED_REASON));
    assert!(store.verify_chain().await.unwrap().is_valid(), "both are chained, each with its reason");

    // Rows begun by the store after that are the daemon's again.
    let next = store.begin_attempt(new_attempt("A1")).await.unwrap();
    assert!(next.0 > forged);
    assert_eq!(store.close_left_running().await.unwrap().interrupted, vec![next]);
}
