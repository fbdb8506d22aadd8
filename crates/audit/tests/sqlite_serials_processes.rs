//! Serial allocation by eight OS processes on one SQLite file: eight stations sharing a
//! database, each its own process with its own connections and its own busy waits (what
//! `sqlite_serials.rs` cannot show with eight stores in one process, where a lock held by
//! one handle is seen through the same process's file locks).
//!
//! Each child is this test binary running the ignored `serial_child` test. It allocates
//! for its own boards and for some of its neighbour's at the same time as the neighbour,
//! aborts some attempts before the number (no number spent) and fails some after it (the
//! number stays the board's), and re-flashes one board. The parent then reads what every
//! child was given and what the file holds: one number per MAC, no number twice, the
//! numbers dense from the start (the serial rule leaves no gap here: a failed attempt
//! keeps its number, an attempt aborted before allocation takes none), and the chain
//! verifies.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::child::{assert_child_passed, test_command};
use common::*;
use flashline_audit::{AuditStore, Completion, NvsRecord, ProvisionRecord, SerialSource, StoreOptions};

const CHILD_DB: &str = "FLASHLINE_SERIALS_CHILD_DB";
const CHILD_INDEX: &str = "FLASHLINE_SERIALS_CHILD_INDEX";
const PROCESSES: usize = 8;
const BOARDS: usize = 16;
const START: u64 = 1000;

fn mac(station: usize, board: usize) -> String {
    format!("30:AE:A4:{station:02X}:{:02X}:{:02X}", board / 256, board % 256)
}

/// What process `s` does with its board `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Allocated and passed.
    Pass,
    /// Aborted after identify, before a number was asked for (the operator pulled it).
    AbortBeforeNumber,
    /// Allocated, then the attempt failed: the number stays the board's.
    FailAfterNumber,
}

fn plan(board: usize) -> Plan {
    match board % 5 {
        3 => Plan::AbortBeforeNumber,
        4 => Plan::FailAfterNumber,
        _ => Plan::Pass,
    }
}

/// The MACs process `s` provisions, in order: each own board, and every even board of
/// the next process (flashed on both stations at once: one number).
fn work(s: usize) -> Vec<(String, Plan)> {
    let mut out = Vec::new();
    for b in 0..BOARDS {
        out.push((mac(s, b), plan(b)));
        if b % 2 == 0 {
            out.push((mac((s + 1) % PROCESSES, b), Plan::Pass));
        }
    }
    // A re-flash of the first board: the same number back.
    out.push((mac(s, 0), Plan::Pass));
    out
}

/// Every MAC that ends up with a number.
fn numbered_macs() -> BTreeSet<String> {
    (0..PROCESSES).flat_map(work).filter(|(_, p)| *p != Plan::AbortBeforeNumber).map(|(m, _)| m).collect()
}

fn provision() -> ProvisionRecord {
    ProvisionRecord { nvs: Some(NvsRecord { offset: 0x9000, size: 0x6000, sha256: sha(0x5a) }) }
}

/// Generous busy waits: eight processes on two loaded cores can queue for the write lock
/// for seconds; a wait that runs out would be an error and fail the test for load alone.
fn child_options() -> StoreOptions {
    StoreOptions::default().busy_timeout(Duration::from_secs(60))
}

/// One child: waits for the parent's go (so all eight run at once), then provisions its
/// list and prints `SERIAL mac number new` per allocation.
#[tokio::test]
#[ignore = "run by every_mac_one_number_across_eight_processes as a child process"]
async fn serial_child() {
    let (Ok(db), Ok(index)) = (std::env::var(CHILD_DB), std::env::var(CHILD_INDEX)) else { return };
    let db = PathBuf::from(db);
    let s: usize = index.parse().unwrap();
    let go = db.with_extension("go");
    let waiting = Instant::now();
    while !go.exists() {
        assert!(waiting.elapsed() < Duration::from_secs(120), "no go from the parent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let store = AuditStore::open(&db, child_options()).await.expect("open store");
    for (i, (m, p)) in work(s).into_iter().enumerate() {
        let mut a = new_attempt(&format!("P{s}"));
        a.port = format!("1-{s}.{i}");
        let id = store.begin_attempt(a).await.expect("begin");
        store.update_identity(id, &identity(&m)).await.expect("identify");
        if p == Plan::AbortBeforeNumber {
            store.complete_attempt(id, Completion::fail("identify", "board removed")).await.expect("abort");
            continue;
        }
        let got = store.allocate_serial(id, &m, SerialSource::Local { start: START }).await.expect("allocate");
        println!("SERIAL {m} {} {}", got.number, got.new);
        if p == Plan::FailAfterNumber {
            store.complete_attempt(id, Completion::fail("write", "timeout")).await.expect("fail");
            continue;
        }
        let serial = format!("FL-{:06}", got.number);
        store.record_provision(id, Some(&serial), Some(&provision())).await.expect("record");
        store.complete_attempt(id, pass()).await.expect("complete");
    }
    store.close().await;
}

/// (mac, number, new) per line a child printed.
fn allocations(stdout: &str) -> Vec<(String, u64, bool)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("SERIAL "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

fn spawn_child(exe: &Path, db: &Path, s: usize) -> std::process::Child {
    let mut cmd = test_command(exe, "serial_child");
    cmd.env(CHILD_DB, db).env(CHILD_INDEX, s.to_string());
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    cmd.spawn().expect("start child")
}

#[tokio::test]
async fn every_mac_one_number_across_eight_processes() {
    let db = test_db();
    open(&db.path).await.close().await; // schema in place before the race
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES).map(|s| spawn_child(&exe, &db.path, s)).collect();
    std::fs::write(db.path.with_extension("go"), b"").unwrap();

    let mut by_mac: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut reflashes = 0;
    for (s, child) in children.into_iter().enumerate() {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
        assert_child_passed(&format!("process {s}"), &out);
        for (m, n, new) in allocations(&String::from_utf8_lossy(&out.stdout)) {
            if m == mac(s, 0) && !new {
                reflashes += 1;
            }
            by_mac.entry(m).or_default().insert(n);
        }
    }
    assert!(reflashes >= 1, "a re-flash found no number already there");

    // What the children were given.
    let expected = numbered_macs();
    assert_eq!(by_mac.keys().cloned().collect::<BTreeSet<_>>(), expected, "MACs with numbers");
    let mut owner: BTreeMap<u64, String> = BTreeMap::new();
    for (m, ns) in &by_mac {
        assert_eq!(ns.len(), 1, "{m} was given several numbers: {ns:?}");
        let n = *ns.first().unwrap();
        if let Some(other) = owner.insert(n, m.clone()) {
            panic!("{n} was given to {other} and {m}");
        }
    }
    let dense: BTreeSet<u64> = (START..START + expected.len() as u64).collect();
    assert_eq!(owner.keys().copied().collect::<BTreeSet<_>>(), dense, "numbers not dense from {START}");

    // What the file holds: the same, and the chain over every attempt.
    let mut raw = raw(&db.path).await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT mac, number FROM serial_numbers").fetch_all(&mut raw).await.unwrap();
    let stored: BTreeMap<String, u64> = rows.into_iter().map(|(m, n)| (m, n as u64)).collect();
    let given: BTreeMap<String, u64> = by_mac.iter().map(|(m, ns)| (m.clone(), *ns.first().unwrap())).collect();
    assert_eq!(stored, given);

    let store = open(&db.path).await;
    let report = store.verify_chain().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let attempts: usize = (0..PROCESSES).map(|s| work(s).len()).sum();
    assert_eq!(report.rows_checked, attempts as u64);
}

/// The plan itself: shared, aborted and failed boards are all in it, so the test above
/// exercises each case.
#[test]
fn the_plan_covers_every_case() {
    let all: Vec<(String, Plan)> = (0..PROCESSES).flat_map(work).collect();
    for p in [Plan::Pass, Plan::AbortBeforeNumber, Plan::FailAfterNumber] {
        assert!(all.iter().any(|(_, q)| *q == p), "{p:?}");
    }
    let macs: BTreeSet<&String> = all.iter().map(|(m, _)| m).collect();
    assert!(macs.len() < all.len(), "no MAC is flashed twice");
    // An aborted own board that the neighbour also flashes gets its number there.
    assert!(numbered_macs().contains(&mac(1, 8)) && plan(8) == Plan::AbortBeforeNumber);
    assert!(!numbered_macs().contains(&mac(1, 3)));
}
