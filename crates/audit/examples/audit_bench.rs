//! Quick benchmark of the audit store on synthetic data.
//!
//! ```text
//! cargo run --release -p flashline-audit --example audit_bench -- [ROWS] [DB_PATH]
//! ```
//!
//! Defaults: 1,000,000 rows in a temporary directory. Prints insert rate, MAC lookup
//! latency (the first, cold lookup of a freshly opened read-only store, then p50/p99/max of
//! 1,000 lookups after a warm-up), one day's statistics, the begin/identify/complete rate
//! with the default (FULL) durability, with and without one `set_stage` per stage, and the
//! time to verify the whole chain.
//!
//! With DB_PATH naming an existing database that already holds at least ROWS rows, the
//! insert is skipped (to measure lookups on a file written earlier, e.g. after dropping the
//! OS page cache). Note that the write-path part adds rows to it.

use std::time::{Duration, Instant};

use flashline_audit::synthetic::{insert_synthetic_with, synthetic_mac, SyntheticSpec};
use flashline_audit::{
    AttemptFilter, AttemptResult, AuditStore, Completion, Identity, NewAttempt, StageTimings, StoreOptions,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let tmp = tempfile::tempdir()?;
    let path = args.next().map(Into::into).unwrap_or_else(|| tmp.path().join("bench.db"));

    let store = AuditStore::open(&path, StoreOptions::default()).await?;
    let spec = SyntheticSpec::new(rows, 1);
    let existing = store.stats(spec.start, spec.start.add_ms(i64::MAX / 2)).await?.total.total;
    if existing >= rows {
        println!("insert_synthetic: skipped, {} already holds {existing} rows", path.display());
    } else {
        let t = Instant::now();
        let summary = insert_synthetic_with(&store, &spec).await?;
        let secs = t.elapsed().as_secs_f64();
        println!("insert_synthetic: {} rows in {secs:.2} s ({:.0} rows/s)", summary.inserted, rows as f64 / secs);
    }
    println!("file size: {:.1} MiB", std::fs::metadata(&path)?.len() as f64 / 1048576.0);

    // MAC lookups as a query tool does them: a read-only store opened for the purpose.
    // The first lookup is cold (new connection, empty SQLite page cache, statement not yet
    // prepared; the OS page cache is whatever the machine has). Then 200 warm-up lookups,
    // then 1000 measured ones on other MACs.
    let mac_of = |i: u64| synthetic_mac(1, (i * 7919) % rows.max(1));
    let reader = AuditStore::open_read_only(&path).await?;
    let q = Instant::now();
    let first = reader.query(&AttemptFilter::all().mac(mac_of(999_983))).await?.len();
    println!("lookup by MAC, first (cold) on a fresh read-only store: {:.3} ms ({first} rows)", ms(q.elapsed()));
    for i in 0..200 {
        reader.query(&AttemptFilter::all().mac(mac_of(1_000_000 + i))).await?;
    }
    let n = 1000u64;
    let mut lat = Vec::with_capacity(n as usize);
    let mut found = 0usize;
    for i in 0..n {
        let mac = mac_of(i);
        let q = Instant::now();
        found += reader.query(&AttemptFilter::all().mac(mac)).await?.len();
        lat.push(q.elapsed());
    }
    lat.sort();
    let pct = |p: f64| ms(lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]);
    println!(
        "lookup by MAC, warm, {n} MACs: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({found} rows)",
        lat.iter().map(|d| ms(*d)).sum::<f64>() / n as f64,
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    reader.close().await;

    // Statistics over one day in the middle of the data, and "failures that day".
    let mid = spec.start.add_ms(spec.spacing_ms * rows as i64 / 2).start_of_day();
    let t = Instant::now();
    let stats = store.stats(mid, mid.add_ms(86_400_000)).await?;
    println!(
        "stats over one day: {:.1} ms ({} attempts, {} slots, {} hours, yield {:.2}%)",
        t.elapsed().as_secs_f64() * 1000.0,
        stats.total.total,
        stats.per_slot.len(),
        stats.per_hour.len(),
        stats.total.yield_ratio.unwrap_or(0.0) * 100.0
    );
    let t = Instant::now();
    let failed =
        store.query(&AttemptFilter::all().result(AttemptResult::Fail).since(mid).until(mid.add_ms(86_400_000))).await?;
    println!("failures of that day: {} rows in {:.1} ms", failed.len(), t.elapsed().as_secs_f64() * 1000.0);

    // The daemon's write path, one job after the other, durability FULL; then the same with
    // one set_stage per stage (7 stages), as the daemon records progress.
    for stages in [false, true] {
        write_path(&store, 300, stages).await?;
    }

    let t = Instant::now();
    let report = store.verify_chain().await?;
    println!(
        "verify_chain: {} rows in {:.2} s, valid: {}",
        report.rows_checked,
        t.elapsed().as_secs_f64(),
        report.is_valid()
    );
    let t = Instant::now();
    let ok = store.integrity_check().await?.ok;
    println!("integrity_check: {ok} in {:.2} s", t.elapsed().as_secs_f64());
    store.close().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const STAGES: [&str; 7] = ["connect", "identify", "stub", "erase", "write", "verify", "reset"];

async fn write_path(store: &AuditStore, jobs: u32, stages: bool) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    for i in 0..jobs {
        let id = store
            .begin_attempt(NewAttempt {
                station_id: "bench".into(),
                slot: format!("A{}", i % 4 + 1),
                port: "1-2.1".into(),
                usb: None,
                image_name: "golden.bin".into(),
                image_sha256: "ab".repeat(32),
                started_at: None,
            })
            .await?;
        if stages {
            store.set_stage(id, STAGES[0]).await?;
            store.set_stage(id, STAGES[1]).await?;
        }
        let identity = Identity {
            mac: format!("02:00:00:{:02X}:{:02X}:{:02X}", u8::from(stages), i / 256, i % 256),
            chip: "ESP32-C3".into(),
            chip_revision: None,
            flash_id: None,
            flash_size: None,
        };
        store.update_identity(id, &identity).await?;
        if stages {
            for stage in &STAGES[2..] {
                store.set_stage(id, stage).await?;
            }
        }
        let completion =
            Completion::pass(1 << 20, "md5").with_timings(StageTimings::new().with("connect", 300).with("write", 9000));
        store.complete_attempt(id, completion).await?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "begin+identify+{}complete (FULL sync): {jobs} jobs in {secs:.2} s ({:.0} jobs/s, {:.2} ms/job)",
        if stages { "7 set_stage+" } else { "" },
        jobs as f64 / secs,
        secs * 1000.0 / jobs as f64
    );
    Ok(())
}
