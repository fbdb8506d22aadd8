//! Bulk synthetic data: deterministic, chained, queryable.

use super::Fixture;
use crate::common::*;
use flashline_audit::synthetic::{insert_synthetic_with, synthetic_mac, SyntheticSpec};
use flashline_audit::{insert_synthetic, AttemptFilter, AttemptResult};

pub async fn synthetic_rows_are_valid_chained_and_deterministic<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let summary = insert_synthetic(&store, 5_000, 42).await.unwrap();
    assert_eq!(summary.inserted, 5_000);
    assert_eq!(summary.first_id.unwrap().0, 1);
    assert_eq!(summary.last_id.unwrap().0, 5_000);

    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 5_000);

    let all = store.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(all.len(), 5_000);
    let fails = all.iter().filter(|r| r.result == AttemptResult::Fail).count();
    assert!((50..300).contains(&fails), "~3% fail, got {fails}");
    let rework: Vec<_> = all.iter().filter(|r| r.rework).collect();
    assert!(!rework.is_empty());
    for r in &rework {
        let first = store.get(r.rework_of.unwrap()).await.unwrap();
        assert_eq!(first.mac, r.mac, "rework_of points at the same board");
        assert!(first.id < r.id);
    }
    // The lookup a benchmark does.
    let mac = rework[0].mac.clone().unwrap();
    let mut expected: Vec<i64> =
        all.iter().filter(|r| r.mac.as_deref() == Some(mac.as_str())).map(|r| r.id.0).collect();
    assert!(expected.len() >= 2);
    let hits = store.query(&AttemptFilter::all().mac(&mac)).await.unwrap();
    let mut got: Vec<i64> = hits.iter().map(|r| r.id.0).collect();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected);
    // Row i's MAC is synthetic_mac(seed, i) unless it is rework or never identified.
    let plain = all.iter().find(|r| r.id.0 == 101).unwrap();
    if plain.mac.is_some() && !plain.rework {
        assert_eq!(plain.mac.as_deref(), Some(synthetic_mac(42, 100).as_str()));
    }

    // Same seed, same rows: the chain heads agree.
    let f2 = F::new().await;
    let store2 = f2.open().await;
    let mut spec = SyntheticSpec::new(5_000, 42);
    spec.batch = 777; // batch size must not change the data
    insert_synthetic_with(&store2, &spec).await.unwrap();
    assert_eq!(store2.verify_chain().await.unwrap().head, report.head);

    // Normal writes continue the chain after synthetic rows.
    record(&store, "A1", at(0), Some(&synthetic_mac(42, 7)), pass()).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    let last = store.query(&AttemptFilter::all().mac(synthetic_mac(42, 7))).await.unwrap();
    assert!(last.iter().any(|r| r.rework), "a real attempt on a synthetic board is rework");
}

pub async fn stats_over_synthetic_days_add_up<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let mut spec = SyntheticSpec::new(3_000, 9);
    spec.spacing_ms = 60_000; // 50 hours
    insert_synthetic_with(&store, &spec).await.unwrap();
    let day = spec.start;
    let stats = store.stats(day, day.add_ms(24 * HOUR)).await.unwrap();
    let rows = store.query(&AttemptFilter::all().since(day).until(day.add_ms(24 * HOUR))).await.unwrap();
    assert_eq!(stats.total.total as usize, rows.len());
    assert_eq!(stats.per_hour.len(), 24);
    assert_eq!(stats.per_slot.len(), 16);
    assert_eq!(stats.per_slot.iter().map(|s| s.counts.total).sum::<u64>(), stats.total.total);
    assert_eq!(stats.per_hour.iter().map(|h| h.counts.total).sum::<u64>(), stats.total.total);
    let pass = rows.iter().filter(|r| r.result == AttemptResult::Pass).count() as u64;
    assert_eq!(stats.total.pass, pass);
}
