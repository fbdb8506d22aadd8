//! The hash chain names edited and deleted rows, found by editing the database behind the
//! store's back as someone covering up a failure would.

use super::Fixture;
use crate::common::*;
use flashline_audit::{AttemptFilter, ChainProblem, Completion, GENESIS_HASH};

pub async fn an_untouched_chain_verifies<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    assert!(store.verify_chain().await.unwrap().is_valid(), "empty chain");
    five(&store).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 5);
    assert_eq!(report.head.last_seq, 5);
}

pub async fn the_head_is_the_last_completed_row<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let empty = store.chain_head().await.unwrap();
    assert_eq!((empty.last_seq, empty.last_hash.as_str(), empty.last_attempt_id), (0, GENESIS_HASH, None));

    let ids = five(&store).await;
    let running = store.begin_attempt(new_attempt("A2")).await.unwrap();
    let head = store.chain_head().await.unwrap();
    let last = store.get(ids[4]).await.unwrap();
    assert_eq!(head.last_seq, 5);
    assert_eq!(Some(head.last_hash.clone()), last.row_hash);
    assert_eq!(head.last_attempt_id, Some(ids[4].0), "a running row is not chained");
    // Each row links to the one completed before it.
    for pair in ids.windows(2) {
        let (a, b) = (store.get(pair[0]).await.unwrap(), store.get(pair[1]).await.unwrap());
        assert_eq!(b.prev_hash, a.row_hash);
        assert_eq!(b.seq, a.seq.map(|s| s + 1));
    }
    assert_eq!(store.verify_chain().await.unwrap().head, head);

    store.complete_attempt(running, pass()).await.unwrap();
    let next = store.chain_head().await.unwrap();
    assert_eq!((next.last_seq, next.last_attempt_id), (6, Some(running.0)));
    assert_eq!(store.get(running).await.unwrap().prev_hash, Some(head.last_hash));
}

pub async fn an_edited_field_is_named_by_seq_and_id<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let ids = five(&store).await;
    // Turn the failure into a pass.
    f.tamper(&format!(
        "UPDATE attempts SET result = 'pass', failure_stage = NULL, failure_reason = NULL WHERE id = {}",
        ids[2].0
    ))
    .await;
    assert_eq!(problems(&store).await, vec![ChainProblem::Edited { seq: 3, id: ids[2].0 }]);
}

pub async fn a_deleted_row_is_named_with_its_neighbours<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let ids = five(&store).await;
    f.tamper(&format!("DELETE FROM attempts WHERE id = {}", ids[2].0)).await;
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

pub async fn deleting_the_newest_rows_is_caught_by_the_head<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let ids = five(&store).await;
    f.tamper(&format!("DELETE FROM attempts WHERE id >= {}", ids[3].0)).await;
    assert_eq!(
        problems(&store).await,
        vec![ChainProblem::TailDeleted { last_seq: 3, head_seq: 5, head_attempt_id: Some(ids[4].0) }]
    );
}

pub async fn a_valid_chain_stays_valid_after_more_completions_and_recovery<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    five(&store).await;
    let open_id = store.begin_attempt(new_attempt("B1")).await.unwrap();
    drop(store);
    let store = f.open().await;
    assert_eq!(store.close_interrupted().await.unwrap(), 1);
    record(&store, "B2", at(10 * MIN), None, pass()).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 7);
    assert_eq!(store.get(open_id).await.unwrap().seq, Some(6));
    let check = store.integrity_check().await.unwrap();
    assert!(check.ok, "{:?}", check.messages);
}

/// Builds `n` attempts, completes them out of start order (rotated, then reversed),
/// tampers with the row at chain position `victim` in one of four ways, and returns the
/// findings plus the victim's (seq, id).
async fn tamper<F: Fixture>(n: usize, rotate: usize, victim: usize, kind: u8) -> (Vec<ChainProblem>, i64, i64) {
    let f = F::new().await;
    let store = f.open().await;
    let mut ids = Vec::new();
    for i in 0..n {
        let mut a = new_attempt("A1");
        a.started_at = Some(at(i as i64 * MIN));
        ids.push(store.begin_attempt(a).await.unwrap());
    }
    let mut order = ids.clone();
    order.rotate_left(rotate % n);
    order.reverse();
    for (k, id) in order.iter().enumerate() {
        let c = if k % 3 == 0 { Completion::fail("erase", format!("r{k}, \"x\"")) } else { pass() };
        store.complete_attempt(*id, c).await.unwrap();
    }
    assert!(store.verify_chain().await.unwrap().is_valid());
    let seq = (victim % n) as i64 + 1;
    let rows = store.query(&AttemptFilter::all()).await.unwrap();
    let id = rows.iter().find(|r| r.seq == Some(seq)).expect("a row at every seq").id.0;
    let sql = match kind {
        0 => format!("UPDATE attempts SET failure_reason = 'edited' WHERE id = {id}"),
        1 => format!("DELETE FROM attempts WHERE id = {id}"),
        2 => format!("UPDATE attempts SET started_at_ms = started_at_ms + 1000 WHERE id = {id}"),
        _ => format!("UPDATE attempts SET bytes_written = bytes_written + 1 WHERE id = {id}"),
    };
    f.tamper(&sql).await;
    (store.verify_chain().await.unwrap().problems, seq, id)
}

/// Any single edit or deletion, anywhere in chains of different lengths and completion
/// orders, gives exactly one finding naming the row. The cases are a fixed spread
/// (every kind, first/middle/last victim), so a failure reproduces.
pub async fn any_single_tamper_is_reported_precisely<F: Fixture>() {
    let cases = [(2, 0), (3, 1), (5, 3), (8, 2)];
    for (n, rotate) in cases {
        for kind in 0u8..4 {
            for victim in [0, n / 2, n - 1] {
                let (problems, seq, id) = tamper::<F>(n, rotate, victim, kind).await;
                let case = format!("n={n} rotate={rotate} victim={victim} kind={kind}");
                let n = n as i64;
                match kind {
                    1 if seq == n => assert_eq!(
                        problems,
                        vec![ChainProblem::TailDeleted { last_seq: n - 1, head_seq: n, head_attempt_id: Some(id) }],
                        "{case}"
                    ),
                    1 => match problems.as_slice() {
                        [ChainProblem::Deleted { after_seq, before_seq, missing, .. }] => {
                            assert_eq!((*after_seq, *before_seq, *missing), (seq - 1, seq + 1, 1), "{case}");
                        }
                        other => panic!("{case}: expected one Deleted, got {other:?}"),
                    },
                    _ => assert_eq!(problems, vec![ChainProblem::Edited { seq, id }], "{case}"),
                }
            }
        }
    }
}
