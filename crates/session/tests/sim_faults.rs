//! One test per simulator fault knob: the session fails with the right stage and an
//! actionable message within a bounded time (or, where the fault is survivable, succeeds
//! with correct flash) — it never hangs.

mod common;

use common::*;
use flashline_session::*;
use flashline_sim::Fault;
use std::time::{Duration, Instant};

fn faults(specs: &[&str]) -> Vec<Fault> {
    specs.iter().map(|s| s.parse().unwrap()).collect()
}

/// Connect with esptool's default 7 attempts.
async fn try_connect(
    chip: Chip,
    specs: &[&str],
    cfg: FlasherConfig,
) -> (Result<Flasher<DuplexTransport>>, flashline_sim::SimHandle) {
    let (t, sim) = duplex_board(chip, faults(specs));
    (Flasher::connect(t, &cfg, Progress::none(), CancellationToken::new()).await, sim)
}

/// Connect, then write a sample image.
async fn connect_and_write(specs: &[&str]) -> (Result<WriteReport>, flashline_sim::SimHandle, Vec<Region>) {
    let (t, sim) = duplex_board(Chip::Esp32, faults(specs));
    let regions = sample_image(9, 128 * 1024);
    let image = prepared(&regions);
    let r = async {
        let mut f = Flasher::connect(t, &config(true), Progress::none(), CancellationToken::new()).await?;
        f.write(&image, &WriteOptions::default()).await
    }
    .await;
    (r, sim, regions)
}

#[tokio::test]
async fn not_download_silent_fails_connect() {
    let t0 = Instant::now();
    let cfg = FlasherConfig { connect_attempts: 7, ..config(true) };
    let (r, _sim) = bounded(Duration::from_secs(15), try_connect(Chip::Esp32, &["not-download"], cfg)).await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::NoSync { attempts: 7 }), "{e}");
    assert_eq!(e.stage(), Stage::Connect);
    assert!(e.to_string().contains("check the cable"), "{e}");
    // 7 attempts × 5 SYNCs × (100 ms + 50 ms) ≈ 5.3 s.
    assert!(t0.elapsed() < Duration::from_secs(9), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn not_download_garbage_reports_the_boot_log() {
    // The boot loop only starts with a reset: use the reset circuit.
    let cfg = FlasherConfig { before: BeforeReset::Auto, connect_attempts: 2, ..config(true) };
    let (r, _sim) = bounded(Duration::from_secs(15), try_connect(Chip::Esp32, &["not-download=garbage"], cfg)).await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::BootLogNoDownload { .. }), "{e}");
    assert_eq!(e.stage(), Stage::Connect);
    let msg = e.to_string();
    assert!(msg.contains("board printed a boot log but never entered download mode"), "{msg}");
    assert!(msg.contains("is GPIO0 held low / is the auto-reset circuit present?"), "{msg}");
}

#[tokio::test]
async fn unplug_during_write_is_a_disconnect_in_write() {
    let (r, _sim, _) = bounded(Duration::from_secs(10), connect_and_write(&["unplug-after=40000"])).await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::Disconnected { stage: Stage::Write }), "{e}");
    assert!(e.to_string().contains("unplugged"), "{e}");
    assert!(e.is_link_loss());
}

#[tokio::test]
async fn unplug_from_the_handle_ends_promptly() {
    let (mut f, sim) = connect(Chip::Esp32, true).await;
    let regions = sample_image(5, 512 * 1024);
    let image = prepared(&regions);
    let s2 = sim.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        s2.unplug();
    });
    let t0 = Instant::now();
    let r = bounded(Duration::from_secs(5), f.write(&image, &WriteOptions::default())).await;
    // The write may finish before the unplug lands on a fast machine; if not, it must be a
    // clean disconnect.
    if let Err(e) = r {
        assert!(matches!(e, Error::Disconnected { .. }), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn hang_during_write_times_out_in_write() {
    let t0 = Instant::now();
    let (r, _sim, _) = bounded(Duration::from_secs(20), connect_and_write(&["hang-after=40000"])).await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::Timeout { stage: Stage::Write, .. }), "{e}");
    assert!(e.to_string().contains("stopped answering"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn hang_during_connect_times_out_in_identify() {
    // SYNC (46 bytes) gets through, the next command does not.
    let (r, _sim) = bounded(Duration::from_secs(15), try_connect(Chip::Esp32, &["hang-after=60"], config(true))).await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::Timeout { stage: Stage::Identify, .. }), "{e}");
}

#[tokio::test]
async fn corrupt_frames_never_hang_and_never_give_wrong_flash() {
    // Frame 1–8 are SYNC replies; 9 the security-info reply; later ones identify, baud,
    // stub upload, and write replies. Every outcome must be bounded and either correct
    // flash or an error naming a stage.
    for n in [1u64, 9, 11, 12, 20, 30, 45, 60] {
        let spec = format!("corrupt-frame={n}");
        let t0 = Instant::now();
        let (t, sim) = duplex_board(Chip::Esp32, faults(&[spec.as_str()]));
        let regions = sample_image(9, 128 * 1024);
        let image = prepared(&regions);
        let r = bounded(Duration::from_secs(30), async {
            let mut f = Flasher::connect(t, &config(true), Progress::none(), CancellationToken::new()).await?;
            let report = f.write(&image, &WriteOptions::default()).await?;
            Ok::<_, Error>((report, f.info().mac))
        })
        .await;
        match r {
            Ok((report, info_mac)) => {
                assert!(report.regions.iter().all(|r| r.verified), "{spec}");
                assert_eq!(sim.flash(), expected_flash(&regions, 4 << 20), "{spec}");
                // A corrupted register reply must never yield a wrong MAC for the audit log.
                assert_eq!(info_mac, sim.mac(), "{spec}");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(e.stage().as_str()), "{spec}: {msg}");
                assert!(t0.elapsed() < Duration::from_secs(25), "{spec}: {:?}", t0.elapsed());
            }
        }
    }
}

#[tokio::test]
async fn bad_flash_fails_verify_with_the_range() {
    let (r, _sim, _) = bounded(Duration::from_secs(10), connect_and_write(&["bad-flash=0x10100+16"])).await;
    let e = r.unwrap_err();
    match &e {
        Error::VerifyMismatch { offset, .. } => assert_eq!(*offset, 0x10000),
        other => panic!("{other}"),
    }
    assert_eq!(e.stage(), Stage::Verify);
    assert!(e.to_string().contains("bad flash cells"), "{e}");
}

#[tokio::test]
async fn slow_replies_are_tolerated() {
    let (r, sim, regions) = bounded(Duration::from_secs(60), connect_and_write(&["slow-replies=30"])).await;
    r.unwrap();
    assert_eq!(sim.flash(), expected_flash(&regions, 4 << 20));
}

#[tokio::test]
async fn replies_slower_than_sync_timeout_fail_bring_up() {
    // Replies 400 ms late miss the 100 ms SYNC window; a late reply may still be taken for
    // a later SYNC, in which case the next command finds the link hopelessly behind.
    let cfg = FlasherConfig { connect_attempts: 2, ..config(true) };
    let (r, _sim) = bounded(Duration::from_secs(15), try_connect(Chip::Esp32, &["slow-replies=400"], cfg)).await;
    let e = r.unwrap_err();
    assert!(matches!(e.stage(), Stage::Connect | Stage::Identify), "{e}");
}

#[tokio::test]
async fn wrong_chip_is_named() {
    let cfg = FlasherConfig { expect_chip: Some(Chip::Esp32), ..config(true) };
    let (r, _sim) = bounded(Duration::from_secs(10), try_connect(Chip::Esp32, &["wrong-chip=esp8266"], cfg)).await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::WrongChip { expected: Chip::Esp32, found: Chip::Esp8266 }), "{e}");
    assert_eq!(e.stage(), Stage::Identify);
    assert!(e.to_string().contains("not an ESP32"), "{e}");
}
