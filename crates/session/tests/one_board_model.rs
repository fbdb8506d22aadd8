//! The one-board benchmark's three board states (4 MB merged ESP32 image, 921600 baud) on
//! the simulator's realistic timing with tokio's paused clock: the write (connection not
//! included) must stay within 1.2× the lower bound the benchmark computes for each state
//! (docs/BENCHMARKS.md, "Flashing one board"). Model time, so exact and repeatable.

#[path = "../../../benches/common/mod.rs"]
mod bench_image;
mod common;

use bench_image::{merged_image, APP_LEN};
use common::*;
use flashline_session::*;
use flashline_sim::{spawn_duplex, BoardConfig, SimHandle, TimingMode};
use std::sync::Arc;
use std::time::Duration;

fn board(content: &[u8]) -> (DuplexTransport, SimHandle) {
    let mut cfg = BoardConfig::new(Chip::Esp32, mac(Chip::Esp32, 3));
    cfg.timing = TimingMode::Realistic;
    let (link, sim) = spawn_duplex(cfg);
    sim.write_flash_raw(0, content);
    let s2 = sim.clone();
    (DuplexTransport::new(link).with_lines_hook(move |d, r| s2.set_lines(d, r)), sim)
}

async fn write(image: &Arc<PreparedImage>, raw: &[u8], content: &[u8]) -> (Duration, WriteReport) {
    let (t, sim) = board(content);
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    let started = tokio::time::Instant::now();
    let report = f.write(image, &WriteOptions::default()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(sim.flash()[..raw.len()], raw[..]);
    assert_eq!(sim.stats().overruns, 0);
    (took, report)
}

/// The benchmark's lower bounds (seconds) of the three states.
const BOUND_BLANK: f64 = 10.08;
const BOUND_OLDER: f64 = 12.22;
const BOUND_SAME: f64 = 2.99;

#[tokio::test(start_paused = true)]
async fn every_board_state_within_1_2_times_its_bound() {
    let raw = merged_image(APP_LEN, 1);
    let image = Arc::new(PreparedImage::new(vec![Region::new(0, raw.clone())]).unwrap());
    let old = merged_image(2 << 20, 77);
    let (blank, r) = write(&image, &raw, &vec![0xFF; raw.len()]).await;
    assert_eq!(r.regions[0].outcome, RegionOutcome::Sparse);
    let (older, r) = write(&image, &raw, &old).await;
    let r = &r.regions[0];
    assert_eq!(r.outcome, RegionOutcome::Diff);
    // The old application's second MiB erased, the image's data written, nothing else
    // (the 0xFF sectors of block 0 are blank on both).
    assert_eq!((r.written, r.erased), (1_081_344, 1 << 20));
    let (same, r) = write(&image, &raw, &raw).await;
    assert_eq!((r.regions[0].written, r.regions[0].erased), (0, 0));
    // The written runs are proved under later blocks: 9.34 s when they were all hashed
    // after the write.
    assert!(blank < Duration::from_millis(9_150), "blank: {blank:?}");
    for (name, took, bound) in
        [("blank", blank, BOUND_BLANK), ("older", older, BOUND_OLDER), ("same", same, BOUND_SAME)]
    {
        let ratio = took.as_secs_f64() / bound;
        eprintln!("{name}: {took:?}, {ratio:.2}× its {bound} s bound");
        assert!(ratio <= 1.2, "{name}: {took:?} is {ratio:.2}× its {bound} s bound");
    }
}
