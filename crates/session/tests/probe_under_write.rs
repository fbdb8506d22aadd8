//! The blank probe hashed under the data blocks of a sparse write (`probe_under_write`),
//! on the simulator's realistic timing with tokio's paused clock: the times are the
//! model's, not the host's, so the comparison is exact and repeatable.

mod common;

use common::*;
use flashline_session::*;
use flashline_sim::{spawn_duplex, BoardConfig, SimHandle, TimingMode};
use std::sync::Arc;
use std::time::Duration;

const REGION: usize = MERGED_2MB;

fn merged_image() -> Vec<u8> {
    merged_2mb(11)
}

fn board(dirty_at: Option<u32>) -> (DuplexTransport, SimHandle) {
    let mut cfg = BoardConfig::new(Chip::Esp32, mac(Chip::Esp32, 7));
    cfg.timing = TimingMode::Realistic;
    let (link, sim) = spawn_duplex(cfg);
    if let Some(at) = dirty_at {
        sim.write_flash_raw(at, &[0x00; 256]);
    }
    let s2 = sim.clone();
    (DuplexTransport::new(link).with_lines_hook(move |d, r| s2.set_lines(d, r)), sim)
}

/// Connects at 921600 and writes; returns the write's model time and report.
async fn write(
    image: &Arc<PreparedImage>,
    under_write: bool,
    dirty_at: Option<u32>,
    reflash_diff: bool,
) -> (Duration, WriteReport, SimHandle) {
    let (t, sim) = board(dirty_at);
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    let opts = WriteOptions { probe_under_write: under_write, reflash_diff, ..Default::default() };
    let started = tokio::time::Instant::now();
    let report = f.write(image, &opts).await.unwrap();
    (started.elapsed(), report, sim)
}

#[tokio::test(start_paused = true)]
async fn gap_hashes_hide_under_the_data_blocks() {
    let raw = merged_image();
    let image = Arc::new(PreparedImage::new(vec![Region::new(0, raw.clone())]).unwrap());
    let (before, r1, sim1) = write(&image, false, None, true).await;
    let (under, r2, sim2) = write(&image, true, None, true).await;
    for (r, sim) in [(&r1, &sim1), (&r2, &sim2)] {
        assert_eq!(r.regions[0].outcome, RegionOutcome::Sparse);
        assert!(r.regions[0].verified);
        assert_eq!(sim.flash()[..REGION], raw[..], "flash equals the image");
        // The pairs never put a third frame into the stub's two receive buffers.
        assert_eq!(sim.stats().overruns, 0);
    }
    // The same bytes are hashed either way (gaps + written runs)...
    assert_eq!(sim1.stats().flash_bytes_read, sim2.stats().flash_bytes_read);
    // ...but under the blocks most of the probe's ~1.3 s disappears.
    let saved = before.saturating_sub(under);
    assert!(saved > Duration::from_millis(500), "before {before:?}, under the blocks {under:?}");
}

#[tokio::test(start_paused = true)]
async fn a_dirty_gap_found_under_the_blocks_rewrites_the_region_without_the_diff() {
    let raw = merged_image();
    let image = Arc::new(PreparedImage::new(vec![Region::new(0, raw.clone())]).unwrap());
    // Stale data far into the 0xFF tail: found by a later piece, after several blocks.
    let (_, report, sim) = write(&image, true, Some(0x1F0000), false).await;
    assert_eq!(report.regions[0].outcome, RegionOutcome::FullAfterSparseMismatch);
    assert!(report.regions[0].verified);
    assert_eq!(sim.flash()[..REGION], raw[..]);
    assert_eq!(sim.stats().overruns, 0);
}

#[tokio::test(start_paused = true)]
async fn a_dirty_gap_found_under_the_blocks_is_erased_after_the_runs() {
    let raw = merged_image();
    let image = Arc::new(PreparedImage::new(vec![Region::new(0, raw.clone())]).unwrap());
    let (_, report, sim) = write(&image, true, Some(0x1F0000), true).await;
    let r = &report.regions[0];
    assert_eq!(r.outcome, RegionOutcome::Diff);
    assert!(r.verified);
    assert_eq!(r.erased, 0x10000, "only the dirty 64 KiB block");
    assert_eq!(sim.flash()[..REGION], raw[..]);
    assert_eq!(sim.stats().overruns, 0);
}
