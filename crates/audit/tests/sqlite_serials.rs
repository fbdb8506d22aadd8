//! Serial numbers per MAC in the station's file, and chain version 2 over the serial and
//! provisioning columns: allocation under concurrent stores on one file, leased blocks,
//! and tampering with the new columns.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use flashline_audit::{
    AuditError, AuditStore, ChainProblem, NvsRecord, ProvisionRecord, SerialAllocation, SerialSource,
};
use sqlx::Executor;

fn mac(station: usize, board: usize) -> String {
    format!("24:0A:C4:{station:02X}:{:02X}:{:02X}", board / 256, board % 256)
}

fn provision() -> ProvisionRecord {
    ProvisionRecord { nvs: Some(NvsRecord { offset: 0x9000, size: 0x6000, sha256: sha(0x5a) }) }
}

/// One provisioned attempt: begin, identify, allocate, record, complete.
async fn provisioned(store: &AuditStore, mac: &str, source: SerialSource) -> Result<SerialAllocation, AuditError> {
    let id = store.begin_attempt(new_attempt("A1")).await?;
    store.update_identity(id, &identity(mac)).await?;
    let got = match store.allocate_serial(id, mac, source).await {
        Ok(got) => got,
        Err(e) => {
            store.complete_attempt(id, flashline_audit::Completion::fail("provision", e.to_string())).await?;
            return Err(e);
        }
    };
    let serial = format!("FL-{:06}", got.number);
    store.record_provision(id, Some(&serial), Some(&provision())).await?;
    store.complete_attempt(id, pass()).await?;
    Ok(got)
}

/// Eight stores on one file (eight stations sharing a database, each with its own
/// connections) allocate for their own boards and for each other's at once: every MAC
/// gets one number, no number goes to two MACs, and with no aborted attempt the numbers
/// are exactly start.. start + MACs - 1 (no gaps).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_stores_on_one_file_never_share_a_number() {
    let db = test_db();
    open(&db.path).await.close().await;
    const STATIONS: usize = 8;
    const BOARDS: usize = 20;
    let mut tasks = Vec::new();
    for s in 0..STATIONS {
        let path = db.path.clone();
        tasks.push(tokio::spawn(async move {
            let store = open(&path).await;
            let mut got = Vec::new();
            for b in 0..BOARDS {
                // Its own board, then the board the next station flashes at the same time
                // (the same MAC on two stations: one number).
                for m in [mac(s, b), mac((s + 1) % STATIONS, b)] {
                    let a = provisioned(&store, &m, SerialSource::Local { start: 1000 }).await.unwrap();
                    got.push((m, a.number));
                }
            }
            store.close().await;
            got
        }));
    }
    let mut by_mac: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for t in tasks {
        for (m, n) in t.await.unwrap() {
            by_mac.entry(m).or_default().insert(n);
        }
    }
    assert_eq!(by_mac.len(), STATIONS * BOARDS);
    let numbers: BTreeSet<u64> = by_mac
        .iter()
        .map(|(m, ns)| {
            assert_eq!(ns.len(), 1, "{m} got several numbers: {ns:?}");
            *ns.first().unwrap()
        })
        .collect();
    assert_eq!(numbers.len(), by_mac.len(), "a number went to two MACs");
    assert_eq!(numbers, (1000..1000 + (STATIONS * BOARDS) as u64).collect(), "gaps without aborted attempts");

    let store = open(&db.path).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, (STATIONS * BOARDS * 2) as u64);
    let rows = store.query(&flashline_audit::AttemptFilter::all().serial("FL-001000")).await.unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.serial.as_deref() == Some("FL-001000")));
    assert_eq!(rows[0].provision, Some(provision()));
}

/// A re-flash keeps the number; the counter never goes below the configured start and
/// never back (a start lowered in the config does not reuse numbers).
#[tokio::test]
async fn a_mac_keeps_its_number_and_numbers_never_repeat() {
    let db = test_db();
    let store = open(&db.path).await;
    let local = |start| SerialSource::Local { start };
    assert_eq!(provisioned(&store, &mac(0, 1), local(5)).await.unwrap(), SerialAllocation { number: 5, new: true });
    assert_eq!(provisioned(&store, &mac(0, 1), local(5)).await.unwrap(), SerialAllocation { number: 5, new: false });
    assert_eq!(provisioned(&store, &mac(0, 2), local(1)).await.unwrap().number, 6);
    assert_eq!(provisioned(&store, &mac(0, 3), local(100)).await.unwrap().number, 100);
    assert_eq!(provisioned(&store, &mac(0, 2), local(100)).await.unwrap(), SerialAllocation { number: 6, new: false });
}

/// With leases, numbers come only from the leased blocks, lowest first; an empty lease
/// is a clear error and the attempt is still recorded; a MAC known centrally is adopted.
#[tokio::test]
async fn leased_numbers_come_from_the_blocks_only() {
    let db = test_db();
    let store = open(&db.path).await;
    store.add_serial_lease(500, 501).await.unwrap();
    store.add_serial_lease(200, 200).await.unwrap();
    assert_eq!(store.serial_lease_left().await.unwrap(), 3);
    let mut got = Vec::new();
    for b in 0..3 {
        got.push(provisioned(&store, &mac(1, b), SerialSource::Leased).await.unwrap().number);
    }
    assert_eq!(got, [200, 500, 501]);
    assert_eq!(store.serial_lease_left().await.unwrap(), 0);
    let err = provisioned(&store, &mac(1, 9), SerialSource::Leased).await.unwrap_err();
    assert!(matches!(err, AuditError::SerialsExhausted { .. }) && err.to_string().contains("central"), "{err}");
    // Known already: no number needed.
    assert_eq!(provisioned(&store, &mac(1, 0), SerialSource::Leased).await.unwrap().number, 200);
    assert_eq!(store.adopt_serial(&mac(1, 7), 77).await.unwrap(), SerialAllocation { number: 77, new: true });
    assert_eq!(provisioned(&store, &mac(1, 7), SerialSource::Leased).await.unwrap().number, 77);
    assert_eq!(store.adopt_serial(&mac(1, 0), 999).await.unwrap(), SerialAllocation { number: 200, new: false });
    assert!(store.verify_chain().await.unwrap().problems.is_empty());
}

/// The serial and provisioning columns are hashed (chain version 2): a forged serial or
/// NVS hash, or a row's version changed by hand, is an edited row. Version 1 rows (as a
/// database before this version holds them) keep verifying, and a serial slipped into one
/// is an edit too.
#[tokio::test]
async fn the_serial_and_provision_columns_are_chained() {
    let edits = [
        "serial = 'FL-999999'",
        "serial = NULL",
        "provision = replace(provision, '5a5a', '5a5b')",
        "provision = NULL",
        "chain_version = 1",
        "chain_version = NULL",
    ];
    for edit in edits {
        let db = test_db();
        let store = open(&db.path).await;
        let mut seqs = Vec::new();
        for b in 0..3 {
            provisioned(&store, &mac(2, b), SerialSource::Local { start: 1 }).await.unwrap();
            seqs.push(b as i64 + 1);
        }
        assert!(problems(&store).await.is_empty());
        let mut raw = raw(&db.path).await;
        raw.execute(sqlx::AssertSqlSafe(format!("UPDATE attempts SET {edit} WHERE seq = 2"))).await.unwrap();
        let found = problems(&store).await;
        assert!(matches!(found.as_slice(), [ChainProblem::Edited { seq: 2, .. }]), "{edit}: {found:?}");
    }

    // Rows of version 1: written, then turned into what a version 1 daemon left (NULL
    // version, nothing in the new columns) with the chain recomputed the version 1 way.
    let db = test_db();
    let store = open(&db.path).await;
    five(&store).await;
    flashline_audit::sqlite::tamper::edit_and_recompute(
        &db.path,
        "UPDATE attempts SET chain_version = NULL, serial = NULL, provision = NULL",
        1,
    )
    .await
    .unwrap();
    assert!(problems(&store).await.is_empty(), "version 1 rows verify");
    provisioned(&store, &mac(3, 0), SerialSource::Local { start: 1 }).await.unwrap();
    assert!(problems(&store).await.is_empty(), "a version 2 row after version 1 rows verifies");
    let mut raw = raw(&db.path).await;
    raw.execute("UPDATE attempts SET serial = 'FL-000042' WHERE seq = 3").await.unwrap();
    let found = problems(&store).await;
    assert!(matches!(found.as_slice(), [ChainProblem::Edited { seq: 3, .. }]), "{found:?}");
}
