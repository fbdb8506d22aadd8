//! Every filter, and the statistics on a dataset whose numbers are known.

use super::Fixture;
use crate::common::*;
use flashline_audit::{AttemptFilter, AttemptResult, AuditStore, Completion, NewAttempt, Timestamp};

/// Dataset (times after T0 = 2026-11-22T00:00Z):
///
/// | # | start     | slot | image        | mac | result      |
/// |---|-----------|------|--------------|-----|-------------|
/// | 1 | 08:00     | A1   | golden-v1/ab | M1  | pass        |
/// | 2 | 08:10     | A2   | golden-v1/ab | M2  | fail        |
/// | 3 | 08:20     | A1   | golden-v1/ab | M3  | pass        |
/// | 4 | 09:05     | A2   | golden-v2/cd | M2  | pass (rework) |
/// | 5 | 09:15     | A1   | golden-v2/cd | M4  | fail        |
/// | 6 | 09:30     | A3   | golden-v2/cd | -   | interrupted |
/// | 7 | 10:00     | A3   | golden-v2/cd | M5  | running     |
/// | 8 | day-1 23:00 | A1 | golden-v1/ab | M6  | pass (yesterday) |
async fn dataset(store: &AuditStore) -> Vec<flashline_audit::AttemptId> {
    let m = |n: u8| format!("AA:BB:CC:00:00:{n:02X}");
    let v2 = |mut a: NewAttempt| {
        a.image_name = "golden-v2.bin".into();
        a.image_sha256 = sha(0xcd);
        a
    };
    let mut ids = Vec::new();
    let add = |slot: &str, start: i64, mac: Option<String>, image2: bool, completion: Option<Completion>| {
        let store = store.clone();
        let slot = slot.to_owned();
        async move {
            let mut a = new_attempt(&slot);
            if image2 {
                a = v2(a);
            }
            a.started_at = Some(at(start));
            let id = store.begin_attempt(a).await.unwrap();
            if let Some(mac) = mac {
                store.update_identity(id, &identity(&mac)).await.unwrap();
            }
            if let Some(c) = completion {
                store.complete_attempt(id, c.ended_at(at(start + MIN))).await.unwrap();
            }
            id
        }
    };
    let interrupted = {
        let mut c = Completion::fail("write", "daemon shutdown");
        c.result = AttemptResult::Interrupted;
        c
    };
    ids.push(add("A1", 8 * HOUR, Some(m(1)), false, Some(pass())).await);
    ids.push(add("A2", 8 * HOUR + 10 * MIN, Some(m(2)), false, Some(Completion::fail("write", "timeout"))).await);
    ids.push(add("A1", 8 * HOUR + 20 * MIN, Some(m(3)), false, Some(pass())).await);
    ids.push(add("A2", 9 * HOUR + 5 * MIN, Some(m(2)), true, Some(pass())).await);
    ids.push(add("A1", 9 * HOUR + 15 * MIN, Some(m(4)), true, Some(Completion::fail("verify", "md5"))).await);
    ids.push(add("A3", 9 * HOUR + 30 * MIN, None, true, Some(interrupted)).await);
    ids.push(add("A3", 10 * HOUR, Some(m(5)), true, None).await);
    ids.push(add("A1", -HOUR, Some(m(6)), false, Some(pass())).await);
    ids
}

fn ids_of(rows: &[flashline_audit::AttemptRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id.0).collect()
}

pub async fn every_filter_selects_exactly_its_rows_newest_first<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let ids = dataset(&store).await;
    let id = |n: usize| ids[n - 1].0;
    let q = |f: AttemptFilter| {
        let store = store.clone();
        async move { ids_of(&store.query(&f).await.unwrap()) }
    };

    assert_eq!(q(AttemptFilter::all()).await, vec![id(7), id(6), id(5), id(4), id(3), id(2), id(1), id(8)]);
    // MAC: any spelling, exact match.
    assert_eq!(q(AttemptFilter::all().mac("aa-bb-cc-00-00-02")).await, vec![id(4), id(2)]);
    assert_eq!(q(AttemptFilter::all().mac("AA:BB:CC:00:00:99")).await, Vec::<i64>::new());
    // Slot.
    assert_eq!(q(AttemptFilter::all().slot("A1")).await, vec![id(5), id(3), id(1), id(8)]);
    assert_eq!(q(AttemptFilter::all().slot("A")).await, Vec::<i64>::new(), "slot is exact, not a prefix");
    // Result.
    assert_eq!(q(AttemptFilter::all().result(AttemptResult::Pass)).await, vec![id(4), id(3), id(1), id(8)]);
    assert_eq!(q(AttemptFilter::all().result(AttemptResult::Fail)).await, vec![id(5), id(2)]);
    assert_eq!(q(AttemptFilter::all().result(AttemptResult::Interrupted)).await, vec![id(6)]);
    assert_eq!(q(AttemptFilter::all().result(AttemptResult::Running)).await, vec![id(7)]);
    // Time: since inclusive, until exclusive.
    assert_eq!(q(AttemptFilter::all().since(at(9 * HOUR + 15 * MIN))).await, vec![id(7), id(6), id(5)]);
    assert_eq!(q(AttemptFilter::all().until(at(8 * HOUR + 10 * MIN))).await, vec![id(1), id(8)]);
    let today = AttemptFilter::all().since(at(0)).until(at(24 * HOUR));
    assert_eq!(q(today.clone()).await.len(), 7);
    // "Which boards failed today?"
    assert_eq!(q(today.clone().result(AttemptResult::Fail)).await, vec![id(5), id(2)]);
    // Image by name, by SHA-256 prefix (any case), and an unknown one.
    assert_eq!(q(AttemptFilter::all().image("golden-v2.bin")).await, vec![id(7), id(6), id(5), id(4)]);
    assert_eq!(q(AttemptFilter::all().image("CDCDCD")).await, vec![id(7), id(6), id(5), id(4)]);
    assert_eq!(q(AttemptFilter::all().image(sha(0xab))).await, vec![id(3), id(2), id(1), id(8)]);
    assert_eq!(q(AttemptFilter::all().image("golden")).await, Vec::<i64>::new());
    assert_eq!(q(AttemptFilter::all().image("abc")).await, Vec::<i64>::new(), "3 digits is not a sha prefix");
    // Limit keeps the newest.
    assert_eq!(q(AttemptFilter::all().limit(2)).await, vec![id(7), id(6)]);
    assert_eq!(q(AttemptFilter::all().slot("A1").limit(1)).await, vec![id(5)]);
    // Combined.
    assert_eq!(
        q(AttemptFilter::all().slot("A2").image("golden-v1.bin").result(AttemptResult::Fail).since(at(0))).await,
        vec![id(2)]
    );
    // Rework shows in the rows.
    let rows = store.query(&AttemptFilter::all().mac("AA:BB:CC:00:00:02")).await.unwrap();
    assert!(rows[0].rework && !rows[1].rework);
}

pub async fn stats_count_per_slot_and_per_hour<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    dataset(&store).await;
    let stats = store.stats(at(0), at(24 * HOUR)).await.unwrap();

    let t = &stats.total;
    assert_eq!((t.total, t.pass, t.fail, t.interrupted, t.running), (7, 3, 2, 1, 1));
    assert_eq!(t.yield_ratio, Some(3.0 / 5.0), "interrupted and running are not judged");

    let slots: Vec<(&str, u64, u64, u64, u64, u64)> = stats
        .per_slot
        .iter()
        .map(|s| {
            (s.slot.as_str(), s.counts.total, s.counts.pass, s.counts.fail, s.counts.interrupted, s.counts.running)
        })
        .collect();
    assert_eq!(slots, vec![("A1", 3, 2, 1, 0, 0), ("A2", 2, 1, 1, 0, 0), ("A3", 2, 0, 0, 1, 1)]);
    assert_eq!(stats.per_slot[0].counts.yield_ratio, Some(2.0 / 3.0));
    assert_eq!(stats.per_slot[1].counts.yield_ratio, Some(0.5));
    assert_eq!(stats.per_slot[2].counts.yield_ratio, None);

    let hours: Vec<(String, u64, u64, u64)> =
        stats.per_hour.iter().map(|h| (h.hour.to_string(), h.counts.total, h.counts.pass, h.counts.fail)).collect();
    assert_eq!(
        hours,
        vec![
            ("2026-11-22T08:00:00.000Z".to_string(), 3, 2, 1),
            ("2026-11-22T09:00:00.000Z".to_string(), 3, 1, 1),
            ("2026-11-22T10:00:00.000Z".to_string(), 1, 0, 0),
        ]
    );

    // The station's clock in UTC+5:30: local hours start at hh:30 UTC, so the backend's
    // groups must be finer than UTC hours.
    let kolkata = flashline_audit::TimeZone::get("Asia/Kolkata").expect("tz database has Asia/Kolkata");
    let local: Vec<(String, u64)> =
        stats.in_zone(&kolkata).per_hour.iter().map(|h| (h.hour.to_string(), h.counts.total)).collect();
    assert_eq!(
        local,
        vec![
            ("2026-11-22T13:00:00.000+05:30".to_string(), 3),
            ("2026-11-22T14:00:00.000+05:30".to_string(), 2),
            ("2026-11-22T15:00:00.000+05:30".to_string(), 2),
        ]
    );

    // Window edges: [08:10, 09:05) holds #2 and #3 only.
    let narrow = store.stats(at(8 * HOUR + 10 * MIN), at(9 * HOUR + 5 * MIN)).await.unwrap();
    assert_eq!((narrow.total.total, narrow.total.pass, narrow.total.fail), (2, 1, 1));
    // An empty window.
    let empty = store.stats(Timestamp::from_unix_ms(0), Timestamp::from_unix_ms(1)).await.unwrap();
    assert_eq!(empty.total.total, 0);
    assert!(empty.per_slot.is_empty() && empty.per_hour.is_empty());
    assert_eq!(empty.total.yield_ratio, None);
}
