//! The written runs of a sparse write proved under later data blocks (their MD5 taken once
//! the stub is done with them), on the one-board benchmark's 4 MB image, realistic timing,
//! paused clock: bad cells anywhere in the runs still fail the board, and every byte of
//! the region is still hashed exactly once.

#[path = "../../../benches/common/mod.rs"]
mod bench_image;
mod common;

use bench_image::{merged_image, APP_LEN};
use common::*;
use flashline_session::*;
use flashline_sim::Fault;
use std::sync::Arc;

async fn write(image: &Arc<PreparedImage>, faults: Vec<Fault>) -> Result<WriteReport> {
    let (t, _sim) = realistic_board(&vec![0xFF; 4 << 20], faults, 13);
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    f.write(image, &WriteOptions::default()).await
}

#[tokio::test(start_paused = true)]
async fn bad_cells_early_late_and_last_in_the_runs_fail_at_verify() {
    let raw = merged_image(APP_LEN, 1);
    let image = Arc::new(PreparedImage::new(vec![Region::new(0, raw.clone())]).unwrap());
    // Bootloader (proved under the application's blocks), the application's middle and
    // its last sector (proved after the write).
    for bad in [0x1100u32, 0x90000, 0x10000 + APP_LEN as u32 - 0x800] {
        let result = write(&image, vec![Fault::BadFlash { addr: bad, len: 4 }]).await;
        match result {
            Err(Error::VerifyMismatch { offset, len, .. }) => {
                assert!(offset <= bad && bad < offset + len, "0x{bad:x}: the mismatch names 0x{offset:x}+0x{len:x}")
            }
            other => panic!("bad cells at 0x{bad:x}: {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_good_board_passes_and_every_byte_is_hashed_once() {
    let raw = merged_image(APP_LEN, 1);
    let image = Arc::new(PreparedImage::new(vec![Region::new(0, raw.clone())]).unwrap());
    let (t, sim) = realistic_board(&vec![0xFF; 4 << 20], Vec::new(), 14);
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    let before = sim.stats();
    let report = f.write(&image, &WriteOptions::default()).await.unwrap();
    assert_eq!(report.regions[0].outcome, RegionOutcome::Sparse);
    assert!(report.regions[0].verified);
    assert_eq!(sim.flash()[..raw.len()], raw[..]);
    // Hashed: the whole region once after its last change, plus the 64 KiB block that
    // tells a blank board from one holding something; read besides: the stub's look at
    // each run sector before it writes it (the new stub's blank check). A run piece hashed
    // before the stub had written it would show as more.
    let r = &image.regions[0];
    let read = sim.stats().flash_bytes_read - before.flash_bytes_read;
    assert_eq!(read, r.len() as u64 + 0x10000 + r.sparse_len() as u64);
}
