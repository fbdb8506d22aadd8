//! The session over real PTYs served by the `espsim` binary, cross-checked with real
//! esptool: what the session writes, `esptool read-flash` reads back identical.
//!
//! Needs the workspace binaries (`cargo build -p flashline-sim --bins`) and the pinned
//! esptool (`scripts/setup-esptool.sh`).

mod common;

use common::*;
use flashline_session::*;
use flashline_testkit::{run_esptool, EspSim};
use std::path::Path;
use std::time::Duration;

fn start_sim(chip: &str, dir: &Path) -> EspSim {
    EspSim::start(&["--chip", chip, "--count", "1", "--link-dir", dir.to_str().unwrap(), "--timing", "off"])
}

async fn open(path: &Path) -> SerialTransport {
    SerialTransport::open(path.to_str().unwrap(), 115_200).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Writes with the session over the PTY, leaves the board in ROM, then reads every region
/// back with esptool.
async fn write_then_esptool_reads(chip: Chip, stub: bool) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(chip.file_name(), dir.path());
    let port = open(sim.port(0)).await;
    // Auto reset on a PTY: the modem-line ioctls fail (ENOTTY), the session warns and goes on.
    let cfg = FlasherConfig { before: BeforeReset::Auto, ..config(stub) };
    let mut f =
        bounded(Duration::from_secs(30), Flasher::connect(port, &cfg, Progress::none(), CancellationToken::new()))
            .await
            .unwrap_or_else(|e| panic!("connect {chip} stub={stub}: {e}"));
    assert_eq!(f.info().mac.to_string(), sim.boards[0].mac);
    let regions = sample_image(11, 80 * 1024);
    let image = prepared(&regions);
    let verify = stub || chip == Chip::Esp32;
    let report = f.write(&image, &WriteOptions { verify, ..Default::default() }).await.unwrap();
    assert!(report.regions.iter().all(|r| r.verified == verify));
    let port = f.finish(After::NoReset).await.unwrap();
    drop(port); // esptool takes the port exclusively

    let out = dir.path().join("read.bin");
    for r in &regions {
        let run = tokio::task::spawn_blocking({
            let (p, o) = (sim.port(0).to_path_buf(), out.clone());
            let (off, len) = (format!("0x{:x}", r.offset), format!("0x{:x}", r.data.len().div_ceil(4) * 4));
            let chip_arg = chip.file_name().to_string();
            move || run_esptool(&p, &["--chip", &chip_arg, "read-flash", &off, &len, o.to_str().unwrap()])
        })
        .await
        .unwrap();
        assert!(run.success, "esptool read-flash failed:\n{}\n{}", run.stdout, run.stderr);
        let back = std::fs::read(&out).unwrap();
        assert_eq!(&back[..r.data.len()], &r.data[..], "{chip} stub={stub} region 0x{:x}", r.offset);
    }
}

#[tokio::test]
async fn esp32_stub_over_pty_matches_esptool_readback() {
    write_then_esptool_reads(Chip::Esp32, true).await;
}

#[tokio::test]
async fn esp32_rom_over_pty_matches_esptool_readback() {
    write_then_esptool_reads(Chip::Esp32, false).await;
}

#[tokio::test]
async fn esp8266_stub_over_pty_matches_esptool_readback() {
    write_then_esptool_reads(Chip::Esp8266, true).await;
}

#[tokio::test]
async fn esp8266_rom_over_pty_matches_esptool_readback() {
    write_then_esptool_reads(Chip::Esp8266, false).await;
}

/// esptool writes, the session reads back and verifies.
#[tokio::test]
async fn esptool_writes_session_reads() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim("esp32", dir.path());
    let data: Vec<u8> = (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let file = dir.path().join("data.bin");
    std::fs::write(&file, &data).unwrap();
    let run = tokio::task::spawn_blocking({
        let (p, f) = (sim.port(0).to_path_buf(), file.clone());
        move || run_esptool(&p, &["--chip", "esp32", "write-flash", "0x20000", f.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    let port = open(sim.port(0)).await;
    let mut f = Flasher::connect(port, &config(true), Progress::none(), CancellationToken::new()).await.unwrap();
    let back = f.read_flash(0x20000, data.len() as u32).await.unwrap();
    assert_eq!(back, data);
    let image = prepared(&[Region::new(0x20000, data)]);
    let v = f.verify(&image, VerifyOptions::default()).await.unwrap();
    assert!(v[0].md5_ok);
}

/// Independent reader without our serial transport: the session writes to an in-process
/// board backed by a flash file; an `espsim` process then serves that file on a PTY and
/// real esptool reads every region back.
async fn session_writes_esptool_reads_via_flash_file(chip: Chip, stub: bool) {
    let dir = tempfile::tempdir().unwrap();
    let regions = sample_image(21, 72 * 1024);
    {
        let mut cfg = flashline_sim::BoardConfig::new(chip, mac(chip, 0));
        cfg.flash_file = Some(dir.path().join("board0.bin"));
        let (link, sim) = flashline_sim::spawn_duplex(cfg);
        let mut f =
            Flasher::connect(DuplexTransport::new(link), &config(stub), Progress::none(), CancellationToken::new())
                .await
                .unwrap();
        let verify = stub || chip == Chip::Esp32;
        f.write(&prepared(&regions), &WriteOptions { verify, ..Default::default() }).await.unwrap();
        let port = f.finish(After::NoReset).await.unwrap();
        assert_eq!(sim.flash(), expected_flash(&regions, 4 << 20));
        drop(port);
        // The board task writes the file as it goes; give it a moment after the link closes.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sim = EspSim::start(&[
        "--chip",
        chip.file_name(),
        "--count",
        "1",
        "--link-dir",
        dir.path().to_str().unwrap(),
        "--flash-dir",
        dir.path().to_str().unwrap(),
    ]);
    let out = dir.path().join("read.bin");
    for r in &regions {
        let (p, o) = (sim.port(0).to_path_buf(), out.clone());
        let (off, len) = (format!("0x{:x}", r.offset), format!("0x{:x}", r.data.len().div_ceil(4) * 4));
        let chip_arg = chip.file_name().to_string();
        let run = tokio::task::spawn_blocking(move || {
            run_esptool(&p, &["--chip", &chip_arg, "read-flash", &off, &len, o.to_str().unwrap()])
        })
        .await
        .unwrap();
        assert!(run.success, "esptool read-flash failed:\n{}\n{}", run.stdout, run.stderr);
        let back = std::fs::read(&out).unwrap();
        assert_eq!(&back[..r.data.len()], &r.data[..], "{chip} stub={stub} region 0x{:x}", r.offset);
    }
}

#[tokio::test]
async fn esptool_reads_what_session_wrote_esp32_stub() {
    session_writes_esptool_reads_via_flash_file(Chip::Esp32, true).await;
}

#[tokio::test]
async fn esptool_reads_what_session_wrote_esp32_rom() {
    session_writes_esptool_reads_via_flash_file(Chip::Esp32, false).await;
}

#[tokio::test]
async fn esptool_reads_what_session_wrote_esp8266_stub() {
    session_writes_esptool_reads_via_flash_file(Chip::Esp8266, true).await;
}

#[tokio::test]
async fn esptool_reads_what_session_wrote_esp8266_rom() {
    session_writes_esptool_reads_via_flash_file(Chip::Esp8266, false).await;
}

/// A board unplugged mid-write on a real PTY (the master side closes): a disconnect in the
/// write stage, promptly.
#[tokio::test]
async fn pty_unplug_during_write() {
    let dir = tempfile::tempdir().unwrap();
    let sim = EspSim::start(&[
        "--chip",
        "esp32",
        "--count",
        "1",
        "--link-dir",
        dir.path().to_str().unwrap(),
        "--fault",
        "unplug-after=60000",
    ]);
    let port = open(sim.port(0)).await;
    let regions = sample_image(12, 256 * 1024);
    let image = prepared(&regions);
    let t0 = std::time::Instant::now();
    let r = bounded(Duration::from_secs(20), async {
        let mut f = Flasher::connect(port, &config(true), Progress::none(), CancellationToken::new()).await?;
        f.write(&image, &WriteOptions::default()).await
    })
    .await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::Disconnected { stage: Stage::Write } | Error::Io { stage: Stage::Write, .. }), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}
