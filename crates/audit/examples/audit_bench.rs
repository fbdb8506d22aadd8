//! Quick benchmark of the audit store on synthetic data.
//!
//! ```text
//! cargo run --release -p flashline-audit --example audit_bench -- [ROWS] [DB_PATH]
//! ```
//!
//! Defaults: 1,000,000 rows in a temporary directory. Prints insert rate, MAC lookup
//! latency, one day's statistics, the begin/identify/complete rate with the default
//! (FULL) durability, and the time to verify the whole chain.

use std::time::Instant;

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
    let t = Instant::now();
    let summary = insert_synthetic_with(&store, &spec).await?;
    let secs = t.elapsed().as_secs_f64();
    println!("insert_synthetic: {} rows in {secs:.2} s ({:.0} rows/s)", summary.inserted, rows as f64 / secs);
    println!("file size: {:.1} MiB", std::fs::metadata(&path)?.len() as f64 / 1048576.0);

    // MAC lookups: 1000 different boards.
    let n = 1000u64;
    let mut worst = 0f64;
    let mut found = 0usize;
    let t = Instant::now();
    for i in 0..n {
        let mac = synthetic_mac(1, (i * 7919) % rows.max(1));
        let q = Instant::now();
        found += store.query(&AttemptFilter::all().mac(mac)).await?.len();
        worst = worst.max(q.elapsed().as_secs_f64());
    }
    println!(
        "lookup by MAC: mean {:.3} ms, worst {:.3} ms ({found} rows for {n} MACs)",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64,
        worst * 1000.0
    );

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

    // The daemon's write path, one job after the other, durability FULL.
    let jobs = 300u32;
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
        let identity = Identity {
            mac: format!("02:00:00:00:{:02X}:{:02X}", i / 256, i % 256),
            chip: "ESP32-C3".into(),
            chip_revision: None,
            flash_id: None,
            flash_size: None,
        };
        store.update_identity(id, &identity).await?;
        let completion =
            Completion::pass(1 << 20, "md5").with_timings(StageTimings::new().with("connect", 300).with("write", 9000));
        store.complete_attempt(id, completion).await?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "begin+identify+complete (FULL sync): {jobs} jobs in {secs:.2} s ({:.0} jobs/s, {:.2} ms/job)",
        jobs as f64 / secs,
        secs * 1000.0 / jobs as f64
    );

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
