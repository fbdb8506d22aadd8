//! ERASE_REGION against the new stub's erase budget (120 ms per sector, esp-flasher-stub
//! `s_erase_region`): on a slow flash part the stub answers 0xC400 while the erase goes on.
//! A re-flash must still end with the image on the board, whether the erase was sent on its
//! own or paired with a data block. Simulator with realistic timing, paused clock.

mod common;

use common::*;
use flashline_session::*;
use flashline_sim::{Fault, SimHandle};
use std::sync::Arc;

const BLOCK: usize = 0x10000;

async fn write(image: &[u8], content: &[u8], faults: Vec<Fault>) -> (Result<WriteReport>, SimHandle) {
    let (t, sim) = realistic_board(content, faults, 11);
    let prepared = Arc::new(PreparedImage::new(vec![Region::new(0, image.to_vec())]).unwrap());
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    (f.write(&prepared, &WriteOptions::default()).await, sim)
}

#[tokio::test(start_paused = true)]
async fn sector_erases_slower_than_the_stubs_budget_still_erase() {
    // Block 0 dirty: its 0xFF sectors (around bootloader and partition table) are erased by
    // ERASE_REGIONs of a few sectors, each 400 ms per sector against 120 ms of budget.
    let image = merged_2mb(21);
    let last = MERGED_2MB / BLOCK - 1;
    let (result, sim) = write(&image, &with_dirty_blocks(&image, &[0, last]), vec![Fault::SlowErase { ms: 400 }]).await;
    let report = result.expect("a slow but healthy flash passes");
    let r = &report.regions[0];
    assert_eq!(r.outcome, RegionOutcome::Diff);
    assert!(r.verified);
    assert_eq!(r.erased, 0x9000 + BLOCK as u64);
    assert_eq!(sim.flash()[..MERGED_2MB], image[..]);
}

#[tokio::test(start_paused = true)]
async fn a_paired_block_erase_out_of_budget_is_erased_again_after_the_write() {
    // 64 KiB erases of 2.5 s (beyond 16 sectors' 1.92 s): the sweep's ERASE_REGIONs of the
    // dirty 0xFF blocks right after the application (found dirty by their first sector
    // before the write), paired with data blocks, get 0xC400; the write goes on and they
    // are made sure of on their own afterwards.
    let image = merged_2mb(22);
    let tail: Vec<usize> = (7..11).collect();
    let mut blocks = vec![1];
    blocks.extend(&tail);
    let (result, sim) = write(&image, &with_dirty_blocks(&image, &blocks), vec![Fault::SlowErase { ms: 2500 }]).await;
    let report = result.expect("a slow but healthy flash passes");
    let r = &report.regions[0];
    assert!(r.verified);
    assert_eq!(r.erased, (tail.len() * BLOCK) as u64);
    assert_eq!(sim.flash()[..MERGED_2MB], image[..]);
}
