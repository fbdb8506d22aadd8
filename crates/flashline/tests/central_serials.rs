//! Serial numbers of a line of stations sharing one central PostgreSQL record (a
//! throwaway cluster): eight stations allocate at once from blocks leased centrally and
//! never hand out the same number; a board moved to another station keeps its number; the
//! stations keep allocating from their leases while the server is down; the only unused
//! numbers are the rest of the leased blocks (the documented gap).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flashline::provision::SerialAllocator;
use flashline_audit::postgres::{add_station, init_schema, CentralLink, CentralUrl};
use flashline_audit::{AuditStore, Completion, Identity, NewAttempt, StoreOptions};
use flashline_testkit::pg::PgCluster;
use sqlx::Row;

const STATIONS: usize = 8;
const BOARDS: usize = 25;
const BLOCK: u64 = 10;

fn mac(station: usize, board: usize) -> String {
    format!("24:0A:C4:{station:02X}:{:02X}:{:02X}", board / 256, board % 256)
}

struct St {
    store: AuditStore,
    alloc: SerialAllocator,
}

/// One attempt of `mac` at station `s`: begin, identify, allocate, complete.
async fn allocate(st: &St, station: &str, mac: &str) -> u64 {
    let id = st
        .store
        .begin_attempt(NewAttempt {
            station_id: station.into(),
            slot: "A1".into(),
            port: "sim".into(),
            usb: None,
            image_name: "golden.bin".into(),
            image_sha256: "ab".repeat(32),
            started_at: None,
        })
        .await
        .unwrap();
    let identity =
        Identity { mac: mac.into(), chip: "ESP32".into(), chip_revision: None, flash_id: None, flash_size: None };
    st.store.update_identity(id, &identity).await.unwrap();
    let n = st.alloc.allocate(id, mac).await.unwrap_or_else(|e| panic!("{station} {mac}: {e}"));
    st.store.record_provision(id, Some(&format!("FL-{n:06}")), None).await.unwrap();
    st.store.complete_attempt(id, Completion::pass(0, "md5")).await.unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_stations_sharing_a_central_record_never_share_a_number() {
    let Some(mut pg) = PgCluster::start() else { return };
    let admin = CentralUrl::parse(&pg.admin_url(), None).unwrap();
    init_schema(&admin).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut stations = Vec::new();
    for s in 0..STATIONS {
        let name = format!("line-{s}");
        let role = add_station(&admin, &name).await.unwrap();
        let url = CentralUrl::parse(&pg.url(&name, &role.password), None).unwrap();
        let store = AuditStore::open(dir.path().join(format!("{name}.db")), StoreOptions::default()).await.unwrap();
        let alloc = SerialAllocator::leased(store.clone(), 1000, CentralLink::new(&url, &name), BLOCK);
        alloc.prime().await;
        stations.push((name, std::sync::Arc::new(St { store, alloc })));
    }

    // Phase 1: every station its own boards, all at once.
    let mut tasks = Vec::new();
    for (s, (name, st)) in stations.iter().enumerate() {
        let (name, st) = (name.clone(), st.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for b in 0..BOARDS {
                got.push((mac(s, b), allocate(&st, &name, &mac(s, b)).await));
            }
            got
        }));
    }
    let mut first: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        first.extend(t.await.unwrap());
    }
    let numbers: BTreeSet<u64> = first.values().copied().collect();
    assert_eq!(numbers.len(), STATIONS * BOARDS, "a number went to two boards");
    assert!(numbers.iter().all(|n| *n >= 1000));

    // The claims go to the central record after each allocation: wait for all of them.
    let reader = sqlx::PgPool::connect(&pg.admin_url()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM serial_numbers").fetch_one(&reader).await.unwrap();
        if n as usize == STATIONS * BOARDS {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{n} claims recorded centrally");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Phase 2: each station flashes two boards of the next station: they keep their numbers.
    for (s, (name, st)) in stations.iter().enumerate() {
        for b in 0..2 {
            let m = mac((s + 1) % STATIONS, b);
            assert_eq!(allocate(st, name, &m).await, first[&m], "{m} moved to {name}");
        }
    }

    // Every station's numbers come from blocks leased to it; blocks never overlap.
    let blocks: Vec<(String, i64, i64)> =
        sqlx::query("SELECT station_id, first, last FROM serial_blocks ORDER BY first")
            .fetch_all(&reader)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
    for w in blocks.windows(2) {
        assert!(w[0].2 < w[1].1, "blocks overlap: {w:?}");
    }
    for (s, _) in stations.iter().enumerate() {
        for b in 0..BOARDS {
            let n = first[&mac(s, b)] as i64;
            let owner = blocks.iter().find(|(_, f, l)| *f <= n && n <= *l).expect("in a leased block");
            assert_eq!(owner.0, format!("line-{s}"), "number {n}");
        }
    }
    reader.close().await;

    // Phase 3: the server goes down; every station allocates from what it holds.
    pg.stop();
    let mut outage = BTreeSet::new();
    for (s, (name, st)) in stations.iter().enumerate() {
        let left = st.store.serial_lease_left().await.unwrap();
        assert!(left >= 3, "{name} holds {left}");
        for b in 0..3 {
            assert!(outage.insert(allocate(st, name, &mac(s, 100 + b)).await), "duplicate during the outage");
        }
    }
    assert!(outage.is_disjoint(&numbers));

    // Gaps: exactly the numbers still leased and unused.
    let mut left_total = 0;
    for (_, st) in &stations {
        left_total += st.store.serial_lease_left().await.unwrap();
    }
    let leased: u64 = blocks.iter().map(|(_, f, l)| (l - f + 1) as u64).sum();
    let used = (numbers.len() + outage.len()) as u64;
    assert_eq!(leased, used + left_total, "every leased number is used or still held");
    pg.restart();
}
