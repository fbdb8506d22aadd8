//! A flash sector that never erases (worn-out NOR cells, espsim's `stuck-sector` fault)
//! under a re-flash that needs it erased. With the new stub the ERASE_REGION over it runs
//! to the part's limit and answers 0xC400; the session hashes, erases the sector alone
//! [`SECTOR_ERASE_ATTEMPTS`] times and fails the board in the erase stage, naming the
//! sector. The ROM loader and the legacy stub wait for the erase and answer success; the
//! final MD5 fails the board. No path ends in a report of success.

mod common;

use common::*;
use flashline_session::*;
use flashline_sim::board::{Mode, StubKind};
use flashline_sim::{Fault, SimHandle};
use std::sync::Arc;
use std::time::Duration;

const BLOCK: usize = 0x10000;
/// A block of the 0xFF tail of [`merged_2mb`] the board holds other bytes in.
const DIRTY_BLOCK: usize = 20;
/// The sector in it that never erases.
const STUCK: u32 = (DIRTY_BLOCK * BLOCK) as u32 + 0x3000;

struct Run {
    result: Result<WriteReport>,
    sim: SimHandle,
    /// The stages progress was reported in, in order, without repeats.
    stages: Vec<Stage>,
    board_before: Vec<u8>,
}

async fn reflash(image: &[u8], dirty: &[usize], stubs: Option<Arc<StubSet>>) -> Run {
    let board_before = with_dirty_blocks(image, dirty);
    let (t, sim) = realistic_board(&board_before, vec![Fault::StuckSector { addr: STUCK }], 12);
    let prepared = Arc::new(PreparedImage::new(vec![Region::new(0, image.to_vec())]).unwrap());
    let cfg = FlasherConfig { baud: 921_600, stubs, ..config(false) };
    let (progress, mut rx) = Progress::channel();
    let mut f = Flasher::connect(t, &cfg, progress, CancellationToken::new()).await.expect("connect");
    let result = bounded(Duration::from_secs(600), f.write(&prepared, &WriteOptions::default())).await;
    drop(f);
    let mut stages = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if stages.last() != Some(&e.stage) {
            stages.push(e.stage);
        }
    }
    Run { result, sim, stages, board_before }
}

fn stuck_sector(flash: &[u8]) -> &[u8] {
    &flash[STUCK as usize..STUCK as usize + 0x1000]
}

#[tokio::test(start_paused = true)]
async fn a_sector_that_never_erases_fails_the_board_in_erase_after_three_tries() {
    let image = merged_2mb(31);
    let run = reflash(&image, &[DIRTY_BLOCK], Some(stubs())).await;
    assert_eq!(run.sim.mode(), Mode::Stub(StubKind::New));
    let err = match &run.result {
        Err(e) => e,
        Ok(report) => panic!("a flash that does not erase passed: {report:?}"),
    };
    assert!(matches!(err, Error::SectorNotErased { sector: STUCK, attempts: SECTOR_ERASE_ATTEMPTS }), "{err:?}");
    assert_eq!(SECTOR_ERASE_ATTEMPTS, 3);
    assert_eq!(err.stage(), Stage::Erase);
    let text = err.to_string();
    assert!(
        text.starts_with("erase: the flash sector at 0x00143000 still does not read blank after 3 erases"),
        "{text}"
    );
    assert!(text.contains("reject the board"), "{text}");
    assert!(!err.is_link_loss(), "a bad flash is the board's fault, not the link's");
    // The region's erase over it, then exactly three erases of the sector alone.
    assert_eq!(run.sim.stats().stuck_erases, 1 + u64::from(SECTOR_ERASE_ATTEMPTS));
    let flash = run.sim.flash();
    assert_eq!(stuck_sector(&flash), stuck_sector(&run.board_before), "its bits stayed as they were");
    assert!(!run.stages.contains(&Stage::Verify), "nothing verified after the failure: {:?}", run.stages);
}

#[tokio::test(start_paused = true)]
async fn the_same_flash_without_the_stuck_sector_reflashes() {
    // The control: the same board and image pass when the sector erases, so the failure
    // above is the stuck sector's and not the plan's.
    let image = merged_2mb(31);
    let board = with_dirty_blocks(&image, &[DIRTY_BLOCK]);
    let (t, sim) = realistic_board(&board, Vec::new(), 13);
    let prepared = Arc::new(PreparedImage::new(vec![Region::new(0, image.to_vec())]).unwrap());
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    let report = f.write(&prepared, &WriteOptions::default()).await.expect("a healthy flash passes");
    assert!(report.regions[0].verified);
    assert_eq!(sim.flash()[..MERGED_2MB], image[..]);
    assert_eq!(sim.stats().stuck_erases, 0);
}

#[tokio::test(start_paused = true)]
async fn under_the_rom_loader_the_final_md5_fails_the_board() {
    // The ROM erases through FLASH_BEGIN and answers success; the sector keeps its bits.
    let image = merged_2mb(32);
    let run = reflash(&image, &[DIRTY_BLOCK], None).await;
    assert_eq!(run.sim.mode(), Mode::Rom);
    assert_fails_in_the_final_md5(&run);
}

#[tokio::test(start_paused = true)]
async fn under_the_legacy_stub_the_final_md5_fails_the_board() {
    // esptool's legacy flasher stub (stub_flasher/1) has no erase budget: its ERASE_REGION
    // waits for the erase and answers success.
    let legacy = flashline_testkit::esptool_package_dir().join("targets/stub_flasher/1");
    let stubs = StubSet::from_dir(&legacy).expect("the pinned esptool's legacy stubs");
    let image = merged_2mb(33);
    let run = reflash(&image, &[DIRTY_BLOCK], Some(Arc::new(stubs))).await;
    assert_eq!(run.sim.mode(), Mode::Stub(StubKind::Legacy));
    assert_fails_in_the_final_md5(&run);
}

#[tokio::test(start_paused = true)]
async fn data_written_over_the_stuck_sector_fails_the_md5() {
    // The sector holds part of the application: the new stub's just-in-time erase waits it
    // out, the data is programmed over the old bits and the data block's proof fails.
    let image = merged_2mb(34);
    let board = with_dirty_blocks(&image, &[2]);
    let (t, sim) = realistic_board(&board, vec![Fault::StuckSector { addr: 0x2_1000 }], 14);
    let prepared = Arc::new(PreparedImage::new(vec![Region::new(0, image.to_vec())]).unwrap());
    let cfg = FlasherConfig { baud: 921_600, ..config(true) };
    let mut f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    let result = f.write(&prepared, &WriteOptions::default()).await;
    match &result {
        Err(Error::VerifyMismatch { offset, len, .. }) => {
            assert!(*offset <= 0x2_1000 && 0x2_1000 < offset + len, "the mismatch covers the sector: {result:?}")
        }
        other => panic!("expected the MD5 over the stuck sector to fail: {other:?}"),
    }
    assert!(sim.stats().stuck_erases >= 1);
}

fn assert_fails_in_the_final_md5(run: &Run) {
    match &run.result {
        Err(Error::VerifyMismatch { offset, len, .. }) => {
            assert!(*offset <= STUCK && STUCK < offset + len, "the mismatch covers the sector: {:?}", run.result)
        }
        other => panic!("expected the final MD5 to fail over 0x{STUCK:x}: {other:?}"),
    }
    assert_eq!(run.result.as_ref().unwrap_err().stage(), Stage::Verify);
    assert!(run.sim.stats().stuck_erases >= 1, "the loader erased over the sector");
    let flash = run.sim.flash();
    assert_eq!(stuck_sector(&flash), stuck_sector(&run.board_before), "its bits stayed as they were");
}
