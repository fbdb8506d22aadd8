//! Re-flashing boards that already hold something (`WriteOptions::reflash_diff`): per-block
//! hashes decide what is erased and written. On the simulator's realistic timing with
//! tokio's paused clock, so times are the model's and repeatable.

mod common;

use common::*;
use flashline_session::*;
use flashline_sim::{Fault, SimHandle, SimStats};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;

const REGION: usize = MERGED_2MB;
const BLOCK: usize = 0x10000;
/// Bytes of the image's sectors that hold data: bootloader (6 sectors), partition table
/// (1), application (96).
const DATA: u64 = 0x7000 + 384 * 1024;
/// The 64 KiB blocks holding them (0x0..0x70000): what "identical" counts on a board
/// holding the image.
const DATA_BLOCKS: u64 = 0x70000;

fn merged_image(seed: u64) -> Vec<u8> {
    merged_2mb(seed)
}

fn board(content: &[u8], faults: Vec<Fault>) -> (DuplexTransport, SimHandle) {
    realistic_board(content, faults, 9)
}

struct Run {
    took: Duration,
    result: Result<WriteReport>,
    sim: SimHandle,
    before: SimStats,
}

/// Connects at 921600 to a board holding `content` and writes `image` with the defaults.
async fn write(image: &[u8], content: &[u8], faults: Vec<Fault>) -> Run {
    let prepared = Arc::new(PreparedImage::new(vec![Region::new(0, image.to_vec())]).unwrap());
    let (t, sim) = board(content, faults);
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    let before = sim.stats();
    let started = tokio::time::Instant::now();
    let result = f.write(&prepared, &WriteOptions::default()).await;
    Run { took: started.elapsed(), result, sim, before }
}

impl Run {
    fn region(&self) -> RegionReport {
        self.result.as_ref().expect("the write passes").regions[0].clone()
    }

    fn holds(&self, image: &[u8]) -> bool {
        self.sim.flash()[..REGION] == image[..]
    }

    /// Bytes the chip programmed during the write.
    fn programmed(&self) -> u64 {
        self.sim.stats().bytes_programmed - self.before.bytes_programmed
    }
}

#[tokio::test(start_paused = true)]
async fn dirty_blocks_at_the_start_in_the_middle_at_the_end_and_everywhere() {
    let image = merged_image(1);
    // (name, dirty blocks, bytes the plan must write, bytes it must erase)
    let cases: [(&str, Vec<usize>, u64, u64); 4] = [
        // Block 0: bootloader + partition table sectors are written, the 0xFF sectors erased.
        ("start", vec![0], 0x7000, 0x9000),
        ("middle", vec![3], BLOCK as u64, 0),
        // The last block is 0xFF in the image: erased, nothing written.
        ("end", vec![REGION / BLOCK - 1], 0, BLOCK as u64),
        ("everywhere", (0..REGION / BLOCK).collect(), DATA, REGION as u64 - DATA),
    ];
    for (name, dirty, written, erased) in cases {
        let run = write(&image, &with_dirty_blocks(&image, &dirty), Vec::new()).await;
        let r = run.region();
        assert_eq!(r.outcome, RegionOutcome::Diff, "{name}");
        assert!(r.verified, "{name}");
        assert!(run.holds(&image), "{name}: flash equals the image");
        assert_eq!((r.written, r.erased), (written, erased), "{name}");
        assert_eq!(r.written + r.erased + r.blank + r.identical, REGION as u64, "{name}: every byte accounted");
        // Nothing but the written sectors is programmed: no 0xFF into erased flash.
        assert_eq!(run.programmed(), written, "{name}");
        assert_eq!(run.sim.stats().overruns, 0, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_board_holding_the_image_costs_one_hash_of_the_region() {
    let image = merged_image(2);
    let run = write(&image, &image, Vec::new()).await;
    let r = run.region();
    assert_eq!(r.outcome, RegionOutcome::Diff);
    assert_eq!((r.written, r.erased, r.sent), (0, 0, 0));
    assert_eq!(r.identical, DATA_BLOCKS);
    assert_eq!(r.blank, REGION as u64 - r.identical);
    assert!(run.holds(&image));
    assert_eq!(run.programmed(), 0);
    // Every byte hashed once on the chip (read 2.5 MB/s + MD5 3.2 MB/s boosted = 0.71 µs/B),
    // plus one round trip per 64 KiB block.
    let hash = Duration::from_secs_f64(REGION as f64 * (1.0 / 2.5e6 + 1.0 / 3.2e6));
    assert_eq!(run.sim.stats().flash_bytes_read - run.before.flash_bytes_read, REGION as u64);
    assert!(run.took < hash.mul_f64(1.1), "{:?} for a {hash:?} hash", run.took);
}

#[tokio::test(start_paused = true)]
async fn an_older_firmware_is_replaced_erasing_only_what_it_left() {
    // The board holds a different image whose application is twice as long.
    let image = merged_image(3);
    let mut old = merged_image(4);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    rng.fill(&mut old[0x10000 + 384 * 1024..0x10000 + 768 * 1024]);
    let run = write(&image, &old, Vec::new()).await;
    let r = run.region();
    assert_eq!(r.outcome, RegionOutcome::Diff);
    assert!(run.holds(&image));
    // The old application's tail (384 KiB) is erased; block 0's 0xFF sectors are blank on
    // both (same layout): hashed, not erased.
    assert_eq!(r.erased, 384 * 1024);
    assert_eq!(r.written + r.erased + r.blank + r.identical, REGION as u64);
    assert_eq!(run.programmed(), r.written);
    assert_eq!(r.written, DATA);
}

#[tokio::test(start_paused = true)]
async fn a_blank_board_still_takes_the_sparse_write() {
    let image = merged_image(6);
    let run = write(&image, &vec![0xFF; REGION], Vec::new()).await;
    let r = run.region();
    assert_eq!(r.outcome, RegionOutcome::Sparse);
    assert!(run.holds(&image));
    assert_eq!(r.written + r.blank, REGION as u64);
}

#[tokio::test(start_paused = true)]
async fn a_dirty_gap_under_a_sparse_write_is_erased_not_rewritten() {
    let image = merged_image(7);
    let mut board = vec![0xFFu8; REGION];
    board[0x1F0000..0x1F0100].fill(0);
    let run = write(&image, &board, Vec::new()).await;
    let r = run.region();
    assert_eq!(r.outcome, RegionOutcome::Diff);
    assert!(run.holds(&image));
    assert_eq!(r.erased, BLOCK as u64);
    // The runs are programmed once: the plan finds them identical after the sparse write
    // (which streams the short 0xFF gaps 0x7000 and 0x9000..0x10000 with them).
    assert_eq!(run.programmed(), DATA + 0x8000);
    assert_eq!(r.written, DATA + 0x8000);
    assert_eq!(r.identical, DATA_BLOCKS, "the sparse runs are found identical");
}

#[tokio::test(start_paused = true)]
async fn flash_that_changes_between_probe_and_write_never_passes_wrong() {
    let image = merged_image(8);
    // The board holds the image except block 3. The 2nd MD5 probes block 1 (found
    // identical); right after it, block 1 changes. Block 3 is then written.
    let content = with_dirty_blocks(&image, &[3]);
    let changes = |addr: u32, after_md5: u64| vec![Fault::FlashChanges { addr, len: 0x100, after_md5 }];
    let run = write(&image, &content, changes(0x10000, 2)).await;
    match &run.result {
        Err(Error::VerifyMismatch { offset, .. }) => assert_eq!(*offset, 0, "the data blocks' proof"),
        other => panic!("a block changed after its probe must not pass: {other:?}"),
    }
    // A change inside a block the plan writes anyway is simply overwritten.
    let run = write(&image, &content, changes(0x30000, 2)).await;
    assert!(run.holds(&image));
    assert_eq!(run.region().outcome, RegionOutcome::Diff);
    // A change in a 0xFF block before its (post-write) probe: found and erased.
    let run = write(&image, &content, changes(0x100000, 2)).await;
    assert!(run.holds(&image));
    assert_eq!(run.region().erased, BLOCK as u64);
    // Whatever the moment between the probes (MD5s 1..=8: blocks 0..=3 hashed, block 4's
    // first sector and then the whole block, since block 3 differs; blocks 5 and 6) and the
    // write, the result is the image or an error. (A change after the last hash of a range
    // is after its proof: no flasher can see it.)
    for n in 1..=8 {
        for addr in [0x0, 0x20000, 0x70000, 0x1F0000] {
            let run = write(&image, &content, changes(addr, n)).await;
            assert!(run.result.is_err() || run.holds(&image), "change at {addr:#x} after MD5 {n}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn flash_that_changes_after_a_first_sector_peek_never_passes_wrong() {
    // A board with other firmware: block 0 differs, so the other data blocks and the 0xFF
    // blocks are first judged by their first sector. MD5s 1..=7: block 0 and the first
    // sectors of blocks 1..=6 (all differ); 8..=15: the first sectors of the 0xFF blocks
    // 0x70000..0xF0000 (the old application's tail, 0x70000..0xD0000, is dirty; the next two
    // are blank, which ends the peeks). Then the write starts.
    let image = merged_image(10);
    let mut old = merged_image(11);
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    rng.fill(&mut old[0x10000 + 384 * 1024..0x10000 + 768 * 1024]);
    let changes = |addr: u32, after_md5: u64| vec![Fault::FlashChanges { addr, len: 0x100, after_md5 }];
    for n in [1, 2, 7, 8, 9, 13, 14, 15] {
        // A data block (rewritten anyway), a dirty 0xFF block (erased anyway), blank 0xFF
        // blocks whose first sector was found blank or never looked at: their full hash
        // catches the change.
        for addr in [0x20000, 0x80000, 0xE0000, 0x100000, 0x1F0000] {
            let run = write(&image, &old, changes(addr, n)).await;
            let r = run.region();
            assert!(run.holds(&image), "change at {addr:#x} after MD5 {n}");
            assert_eq!(run.programmed(), r.written, "change at {addr:#x} after MD5 {n}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn bad_flash_cells_in_a_rewritten_block_fail_at_verify() {
    let image = merged_image(9);
    let content = with_dirty_blocks(&image, &[2]);
    let run = write(&image, &content, vec![Fault::BadFlash { addr: 0x20010, len: 4 }]).await;
    assert!(matches!(run.result, Err(Error::VerifyMismatch { .. })), "{:?}", run.result);
}
