//! The session against the simulator in-process (tokio duplex link): every simulated chip,
//! stub and ROM paths.

mod common;

use common::*;
use flashline_session::*;
use flashline_sim::{spawn_duplex, BoardConfig, Mode, StubKind};
use flashline_testkit::sim_board_description;
use std::time::Duration;

const FLASH: usize = 4 << 20;

async fn write_and_check(chip: Chip, stub: bool) {
    let (mut f, sim) = connect(chip, stub).await;
    assert_eq!(f.info().chip, chip);
    assert_eq!(f.info().mac, sim.mac());
    assert_eq!(f.is_stub(), stub);
    let flash = f.info().flash.expect("flash probed");
    assert_eq!(flash.size, Some(4 << 20));

    let regions = sample_image(1, 96 * 1024);
    let image = prepared(&regions);
    let can_verify = stub || chip.spec().rom_is_esp32_class;
    let opts = WriteOptions { verify: can_verify, ..Default::default() };
    let report = f.write(&image, &opts).await.unwrap_or_else(|e| panic!("write {chip} stub={stub}: {e}"));
    assert_eq!(report.regions.len(), 3);
    for (r, prep) in report.regions.iter().zip(&image.regions) {
        assert_eq!(r.verified, can_verify);
        if can_verify {
            // Blank board: regions with all-0xFF sectors are written sparsely.
            let expect = if flashline_session::write::gaps(prep).is_empty() {
                RegionOutcome::Full
            } else {
                RegionOutcome::Sparse
            };
            assert_eq!(r.outcome, expect, "{r:?}");
        }
    }
    assert!(report.regions.iter().any(|r| r.outcome == RegionOutcome::Sparse) || !can_verify);
    assert_eq!(sim.flash(), expected_flash(&regions, FLASH), "{chip} stub={stub}");
    if can_verify {
        let v = f.verify(&image, VerifyOptions { readback: true }).await.unwrap();
        assert!(v.iter().all(|r| r.md5_ok && r.readback_sha256.is_some()));
    }
    f.finish(After::NoReset).await.unwrap();
}

#[tokio::test]
async fn every_chip_stub_write_verify() {
    for chip in Chip::ALL {
        write_and_check(chip, true).await;
    }
}

#[tokio::test]
async fn every_chip_rom_write() {
    // Verified wherever the ROM can hash flash (all but ESP8266).
    for chip in Chip::ALL {
        write_and_check(chip, false).await;
    }
}

#[tokio::test]
async fn identify_reports_chip_details() {
    for chip in Chip::ALL {
        for stub in [false, true] {
            let (f, sim) = connect(chip, stub).await;
            let info = f.info().clone();
            assert_eq!((info.chip, info.mac), (chip, sim.mac()), "{chip}");
            assert_eq!(info.description, sim_board_description(chip), "{chip}");
            assert_eq!(info.revision.is_some(), chip != Chip::Esp8266, "{chip}");
            // The stub the chip module chose for the revision is the one the board runs
            // (the simulator ignores a stub linked for another chip or revision).
            let mode = if stub { Mode::Stub(StubKind::New) } else { Mode::Rom };
            assert_eq!(sim.mode(), mode, "{chip} stub={stub}");
        }
    }
}

#[tokio::test]
async fn esp32c2_v0_is_flashed_through_the_rom() {
    // An ESP32-C2 v0.0 (ECO0): no stub runs on it, even with stubs configured.
    let mac = mac(Chip::Esp32C2, 7);
    let mut cfg = BoardConfig::new(Chip::Esp32C2, mac);
    let mac_word1 = Chip::Esp32C2.target().encode_mac(&mac)[1];
    cfg.registers = vec![(flashline_protocol::chip::esp32c2::EFUSE_BLOCK2_W1, mac_word1)];
    let (link, sim) = spawn_duplex(cfg);
    let t = DuplexTransport::new(link);
    let mut f = Flasher::connect(t, &config(true), Progress::none(), CancellationToken::new()).await.unwrap();
    assert_eq!((f.info().revision, f.is_stub()), (Some((0, 0)), false));
    assert_eq!(f.info().description, "ESP32-C2 (revision v0.0)");
    assert_eq!(f.baud(), 921_600, "the ROM changed its rate (scaled for the 26 MHz crystal)");
    let regions = sample_image(5, 40 * 1024);
    let report = f.write(&prepared(&regions), &WriteOptions::default()).await.unwrap();
    assert!(report.regions.iter().all(|r| r.verified));
    assert_eq!(sim.flash(), expected_flash(&regions, FLASH));
    assert_eq!(sim.stats().stub_starts, 0);
}

#[tokio::test]
async fn a_board_of_another_chip_is_refused_at_identify() {
    let (t, _sim) = duplex_board(Chip::Esp32C6, Vec::new());
    let cfg = FlasherConfig { expect_chip: Some(Chip::Esp32S3), ..config(true) };
    let e = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap_err();
    assert!(matches!(e, Error::WrongChip { expected: Chip::Esp32S3, found: Chip::Esp32C6 }), "{e}");
    let text = e.to_string();
    assert!(text.contains("ESP32-S3") && text.contains("ESP32-C6"), "{text}");
}

/// A job that takes several chips (a station of several images) stops a board of any
/// other right after identify: its MAC and chip are known, the stub was never uploaded and
/// the baud rate never changed. A board of a chip it takes goes on as usual.
#[tokio::test]
async fn a_board_of_a_chip_not_taken_is_stopped_after_identify_before_the_stub() {
    let cfg = FlasherConfig { accept: Some(vec![Chip::Esp32, Chip::Esp32S3]), ..config(true) };
    let (t, sim) = duplex_board(Chip::Esp32C6, Vec::new());
    let e = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap_err();
    let Error::NotAccepted { info } = &e else { panic!("{e:?}") };
    assert_eq!(info.chip, Chip::Esp32C6);
    assert_eq!(info.mac, sim.mac(), "who the board is, for the record");
    assert_eq!(info.flash, None, "stopped before the flash probe");
    assert_eq!(e.stage(), Stage::Identify);
    assert!(e.to_string().starts_with("identify: this board is an ESP32-C6"), "{e}");
    assert_eq!(sim.stats().stub_starts, 0, "no stub uploaded");
    assert_eq!(sim.mode(), flashline_sim::board::Mode::Rom, "still in the ROM loader");

    let (t, sim) = duplex_board(Chip::Esp32S3, Vec::new());
    let f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    assert_eq!((f.info().chip, f.is_stub()), (Chip::Esp32S3, true));
    assert_eq!(sim.stats().stub_starts, 1);
}

#[tokio::test]
async fn esp8266_rom_cannot_verify_or_read() {
    let (mut f, _sim) = connect(Chip::Esp8266, false).await;
    let e = f.read_flash(0, 64).await.unwrap_err();
    assert!(matches!(e, Error::NeedsStub { stage: Stage::Read, .. }), "{e}");
    let image = prepared(&[Region::new(0, vec![1, 2, 3, 4])]);
    let e = f.write(&image, &WriteOptions::default()).await.unwrap_err();
    assert!(matches!(e, Error::NeedsStub { stage: Stage::Verify, .. }), "{e}");
}

#[tokio::test]
async fn non_blank_board_gets_what_differs_or_a_full_write() {
    for (blank, under_write, diff, expect) in [
        // The default: the dirty gap is found (under the blocks or before the write) and
        // only its block is erased.
        (BlankSkip::Probe, true, true, RegionOutcome::Diff),
        (BlankSkip::Probe, false, true, RegionOutcome::Diff),
        // Without the diff: the gap is hashed while the first sparse block is on the wire,
        // so that block is written twice.
        (BlankSkip::Probe, true, false, RegionOutcome::FullAfterSparseMismatch),
        // Probing before writing never writes twice.
        (BlankSkip::Probe, false, false, RegionOutcome::Full),
        (BlankSkip::TrustBlank, true, true, RegionOutcome::FullAfterSparseMismatch),
        (BlankSkip::Off, true, true, RegionOutcome::Full),
    ] {
        let (mut f, sim) = connect(Chip::Esp32, true).await;
        // Old content in the 0xFF tail of the app region.
        sim.write_flash_raw(0x10000 + 90 * 1024, &[0u8; 2048]);
        let regions = sample_image(2, 96 * 1024);
        let image = prepared(&regions);
        let opts = WriteOptions {
            blank_skip: blank,
            probe_under_write: under_write,
            reflash_diff: diff,
            ..Default::default()
        };
        let report = f.write(&image, &opts).await.unwrap();
        let app = report.regions.iter().find(|r| r.offset == 0x10000).unwrap();
        assert_eq!(app.outcome, expect, "{blank:?} under_write={under_write} diff={diff}");
        assert!(app.verified);
        if expect == RegionOutcome::Diff {
            assert_eq!(app.erased, 0x8000, "the dirty probe block 0x20000..0x28000, 0xFF in the image");
        }
        assert_eq!(sim.flash(), expected_flash(&regions, FLASH), "{blank:?}");
    }
}

#[tokio::test]
async fn skip_identical_reports_and_writes_nothing() {
    let (mut f, sim) = connect(Chip::Esp32, true).await;
    let regions = sample_image(3, 64 * 1024);
    let image = prepared(&regions);
    f.write(&image, &WriteOptions::default()).await.unwrap();
    let before = sim.stats();
    let opts = WriteOptions { skip_identical: true, ..Default::default() };
    let report = f.write(&image, &opts).await.unwrap();
    assert!(report.regions.iter().all(|r| r.outcome == RegionOutcome::SkippedIdentical && r.sent == 0));
    let after = sim.stats();
    assert_eq!(after.bytes_programmed, before.bytes_programmed, "nothing programmed");
}

#[tokio::test]
async fn trust_blank_skips_ff_sectors() {
    let (mut f, sim) = connect(Chip::Esp32, true).await;
    // 1 MiB app of which only the first 64 KiB hold data.
    let mut app = vec![0xFFu8; 1 << 20];
    app[..64 * 1024].iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let regions = vec![Region::new(0x10000, app)];
    let image = prepared(&regions);
    let opts = WriteOptions { blank_skip: BlankSkip::TrustBlank, ..Default::default() };
    let report = f.write(&image, &opts).await.unwrap();
    assert_eq!(report.regions[0].outcome, RegionOutcome::Sparse);
    assert_eq!(report.regions[0].written, 64 * 1024);
    let st = sim.stats();
    assert!(st.bytes_programmed <= 64 * 1024, "{st:?}");
    assert!(st.sector_erases + st.block_erases * 16 <= 16, "only the data sectors are erased: {st:?}");
    assert_eq!(sim.flash(), expected_flash(&regions, FLASH));
}

#[tokio::test]
async fn read_erase_and_md5() {
    for stub in [true, false] {
        let (mut f, sim) = connect(Chip::Esp32, stub).await;
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        sim.write_flash_raw(0x20000, &data);
        let got = f.read_flash(0x20000, data.len() as u32).await.unwrap();
        assert_eq!(got, data, "stub={stub}");
        assert_eq!(f.flash_md5(0x20000, 10_000).await.unwrap(), flashline_session::image::md5(&data));
        f.erase_region(0x20000, 0x3000).await.unwrap();
        assert!(sim.flash()[0x20000..0x23000].iter().all(|&b| b == 0xFF), "stub={stub}");
        let e = f.erase_region(0x20001, 0x1000).await.unwrap_err();
        assert_eq!(e.stage(), Stage::Erase);
        if stub {
            sim.write_flash_raw(0x300000, &[0u8; 16]);
            f.erase_chip().await.unwrap();
            assert!(sim.flash().iter().all(|&b| b == 0xFF));
        } else {
            assert!(matches!(f.erase_chip().await, Err(Error::NeedsStub { .. })));
        }
    }
}

#[tokio::test]
async fn progress_reaches_total() {
    let (mut f, _sim) = connect(Chip::Esp32, true).await;
    let (p, mut rx) = Progress::channel();
    f.set_progress(p);
    let regions = sample_image(4, 64 * 1024);
    let image = prepared(&regions);
    f.write(&image, &WriteOptions::default()).await.unwrap();
    let mut last_write = None;
    while let Ok(ev) = rx.try_recv() {
        if ev.stage == Stage::Write {
            assert!(ev.done <= ev.total);
            last_write = Some(ev);
        }
    }
    let ev = last_write.expect("write progress");
    assert_eq!(ev.done, ev.total);
    assert_eq!(ev.total, image.total_len());
}

#[tokio::test]
async fn finish_no_reset_returns_board_to_rom_and_reconnects() {
    let (f, sim) = connect(Chip::Esp32, true).await;
    let port = f.finish(After::NoReset).await.unwrap();
    assert_eq!(sim.mode(), flashline_sim::Mode::Rom);
    let f2 = Flasher::connect(port, &config(false), Progress::none(), CancellationToken::new()).await.unwrap();
    assert!(!f2.is_stub());
}

#[tokio::test]
async fn stub_left_running_is_detected() {
    let (f, _sim) = connect(Chip::Esp32, true).await;
    let port = f.finish(After::StayInStub).await.unwrap();
    let f2 = bounded(
        Duration::from_secs(10),
        Flasher::connect(port, &config(true), Progress::none(), CancellationToken::new()),
    )
    .await
    .unwrap();
    assert!(f2.is_stub(), "the running stub answers; no second upload");
}

#[tokio::test]
async fn hard_reset_with_reset_circuit_resets_the_board() {
    let (t, sim) = duplex_board(Chip::Esp32, Vec::new());
    let cfg = FlasherConfig { before: BeforeReset::Auto, ..config(true) };
    let f = Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await.unwrap();
    let resets_before = sim.stats().resets;
    // Keep the link open: the board task ends when the host end is dropped.
    let _port = f.finish(After::HardReset).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(sim.stats().resets > resets_before, "EN pulse reached the board");
}

#[tokio::test]
async fn cancellation_ends_promptly() {
    let (t, _sim) = duplex_board(Chip::Esp32, vec!["slow-replies=2000".parse().unwrap()]);
    let tok = CancellationToken::new();
    let t2 = tok.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t2.cancel();
    });
    let start = std::time::Instant::now();
    let r = Flasher::connect(t, &config(true), Progress::none(), tok).await;
    assert!(matches!(r, Err(Error::Cancelled { .. })), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn pipelined_write_is_correct() {
    let (mut f, sim) = connect(Chip::Esp32, true).await;
    let regions = sample_image(6, 256 * 1024);
    let image = prepared(&regions);
    let opts = WriteOptions { pipelining: Pipelining::Always, blank_skip: BlankSkip::Off, ..Default::default() };
    let report = f.write(&image, &opts).await.unwrap();
    assert!(report.regions.iter().all(|r| r.verified));
    assert_eq!(sim.flash(), expected_flash(&regions, FLASH));
    assert_eq!(sim.stats().overruns, 0);
}

/// With realistic timing the chip is slower than the link while it erases dirty flash;
/// stop-and-wait (the default) must never overrun the stub's two receive buffers.
#[tokio::test]
async fn default_flow_control_never_overruns_a_busy_chip() {
    let mut cfg = flashline_sim::BoardConfig::new(Chip::Esp32, mac(Chip::Esp32, 7));
    cfg.timing = flashline_sim::TimingMode::Realistic;
    let (link, sim) = flashline_sim::spawn_duplex(cfg);
    // Dirty flash everywhere the image goes: every sector needs an erase.
    sim.write_flash_raw(0, &vec![0u8; 0x50000]);
    let mut f = Flasher::connect(DuplexTransport::new(link), &config(true), Progress::none(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(f.baud(), 921_600);
    // Runs of repeated bytes: each 16 KiB compressed block inflates to ~90 KiB, so the
    // chip needs longer per block than the link (with `Pipelining::Always` this overruns the stub).
    let mut x: u32 = 1;
    let mut app = Vec::new();
    while app.len() < 320 * 1024 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        app.extend(std::iter::repeat_n((x >> 8) as u8, 6 + (x >> 28) as usize));
    }
    app.truncate(320 * 1024);
    let regions = vec![Region::new(0x1000, vec![0x5A; 0x2000]), Region::new(0x10000, app)];
    let image = prepared(&regions);
    assert!(image.regions[1].full.blocks[0].yields > 64 * 1024);
    let report = bounded(Duration::from_secs(60), f.write(&image, &WriteOptions::default())).await.unwrap();
    // Dirty everywhere: every byte is written (only what differs, which here is all).
    assert!(
        report.regions.iter().all(|r| r.outcome == RegionOutcome::Diff && r.written == u64::from(r.len) && r.verified),
        "{report:?}"
    );
    assert_eq!(sim.stats().overruns, 0);
    let mut expected = expected_flash(&regions, FLASH);
    // Sectors outside the image keep their old content.
    for (i, b) in expected[..0x50000].iter_mut().enumerate() {
        let inside = regions.iter().any(|r| {
            let start = (r.offset as usize) & !0xFFF;
            let end = (r.offset as usize + r.data.len()).div_ceil(0x1000) * 0x1000;
            (start..end).contains(&i)
        });
        if !inside {
            *b = 0;
        }
    }
    assert_eq!(sim.flash(), expected);
}

#[tokio::test]
async fn cancellation_mid_write_ends_promptly() {
    let mut cfg = flashline_sim::BoardConfig::new(Chip::Esp32, mac(Chip::Esp32, 9));
    cfg.timing = flashline_sim::TimingMode::Realistic;
    let (link, _sim) = flashline_sim::spawn_duplex(cfg);
    let tok = CancellationToken::new();
    let mut f =
        Flasher::connect(DuplexTransport::new(link), &config(true), Progress::none(), tok.clone()).await.unwrap();
    let regions = sample_image(10, 1 << 20);
    let image = prepared(&regions);
    let t2 = tok.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        t2.cancel();
    });
    let t0 = std::time::Instant::now();
    let e = f.write(&image, &WriteOptions::default()).await.unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e}");
    assert!(matches!(e.stage(), Stage::Write | Stage::Verify), "{e}");
    assert!(t0.elapsed() < Duration::from_millis(1500), "{:?}", t0.elapsed());
}
