//! Many jobs at once: every row present exactly once, the chain valid.

use std::collections::HashSet;

use super::Fixture;
use crate::common::*;
use flashline_audit::{AttemptFilter, AttemptResult, Completion};

pub async fn sixty_four_parallel_jobs_each_get_exactly_one_completed_row<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let slot = format!("S{}", i % 16);
            let id = store.begin_attempt(new_attempt(&slot)).await.unwrap();
            store
                .update_identity(id, &identity(&format!("AA:BB:CC:00:{:02X}:{:02X}", i / 256, i % 256)))
                .await
                .unwrap();
            // Vary the work so completions interleave differently from starts.
            tokio::time::sleep(std::time::Duration::from_millis(u64::from((i * 7) % 13))).await;
            let c =
                if i % 5 == 0 { Completion::fail("write", format!("job {i}: timeout, \"no ack\"")) } else { pass() };
            store.complete_attempt(id, c).await.unwrap();
            (i, id)
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        let (_, id) = t.await.unwrap();
        assert!(ids.insert(id), "id {id} handed out twice");
    }

    let rows = store.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(rows.len(), 64);
    assert_eq!(rows.iter().map(|r| r.id).collect::<HashSet<_>>(), ids);
    assert!(rows.iter().all(|r| r.result != AttemptResult::Running));
    assert_eq!(rows.iter().filter(|r| r.result == AttemptResult::Fail).count(), 13);
    let macs: HashSet<_> = rows.iter().map(|r| r.mac.clone().unwrap()).collect();
    assert_eq!(macs.len(), 64);
    assert!(rows.iter().all(|r| !r.rework));
    let mut seqs: Vec<i64> = rows.iter().map(|r| r.seq.unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>(), "seq is dense and unique");

    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 64);
    assert!(store.integrity_check().await.unwrap().ok);
}

pub async fn verifying_while_jobs_complete_sees_a_consistent_chain<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                record(&store, "A1", at(i * MIN), None, pass()).await;
            }
        })
    };
    for _ in 0..10 {
        let report = store.verify_chain().await.unwrap();
        assert!(report.is_valid(), "{:?}", report.problems);
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert_eq!(store.verify_chain().await.unwrap().rows_checked, 40);
}
