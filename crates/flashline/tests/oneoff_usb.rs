//! The one-off commands on a board on its own USB-Serial/JTAG port, in process: the reset
//! into download mode takes the port off the bus and the board comes back (on the same
//! node or, as when the old one is still held open, on the next one); the command follows
//! it there and goes on, and the final reset into the application — the port vanishing
//! again, maybe coming back as another USB device — is no failure. A board that does not
//! come back fails naming the stage.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use flashline::cli::board::{connect_on, OneOffPorts};
use flashline::cli::{Cli, Command};
use flashline::device::{DeviceInfo, SimulatedSource};
use flashline::exit::Exit;
use flashline::pipeline::{SimulatedPorts, UsbReplug};
use flashline_audit::{AttemptFilter, AttemptResult, AuditStore, StoreOptions};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_session::After;
use flashline_sim::{BoardConfig, Mode, SimHandle};

const NODE: &str = "/dev/sim-acm0";

fn usb_info() -> DeviceInfo {
    DeviceInfo::simulated_usb_jtag(0, PathBuf::from(NODE), "34:85:18:00:00:01")
}

/// An ESP32-S3 on its own USB port, plugged into `ports` (no station watches it).
fn usb_board(ports: &SimulatedPorts, chip: Chip, replug: UsbReplug) -> SimHandle {
    let mut cfg = BoardConfig::new(chip, Mac([0x34, 0x85, 0x18, 0, 0, 1])).on_usb_serial_jtag();
    cfg.reenumerate = Some(Duration::from_millis(40));
    // Nobody listens to the device events of a one-off command.
    let (_source, devices) = SimulatedSource::new();
    ports.attach_usb(usb_info(), cfg, devices, replug).unwrap()
}

fn command(args: &[&str]) -> Command {
    let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
    cli.command.bind(&cli.link).unwrap_or_else(|e| panic!("{}", e.message))
}

/// `flashline --port NODE flash MANIFEST --db DB` over the simulated ports.
async fn flash(ports: &SimulatedPorts, manifest: &Path, db: &Path, extra: &[&str]) -> flashline::cli::CliResult {
    let mut args = vec!["flashline", "--port", NODE, "flash", manifest.to_str().unwrap(), "--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    let Command::Flash(a) = command(&args) else { unreachable!() };
    flashline::cli::flash::run_on(a, &OneOffPorts::simulated(ports.clone())).await
}

fn flash_holds(handle: &SimHandle, manifest: &Path) -> bool {
    let image = flashline::image::GoldenImage::load(&flashline::image::ImageSource::Manifest(manifest.into())).unwrap();
    let flash = handle.flash();
    image.regions().iter().all(|r| flash.get(r.offset as usize..r.offset as usize + r.data.len()) == Some(&r.data[..]))
}

async fn rows(db: &Path) -> Vec<flashline_audit::AttemptRow> {
    let store = AuditStore::open(db, StoreOptions::default()).await.unwrap();
    let rows = store.query(&AttemptFilter::default()).await.unwrap();
    store.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flash_follows_the_board_to_its_new_port_and_the_final_reset_is_no_failure() {
    let dir = tempfile::tempdir().unwrap();
    for (k, (chip, replug)) in [
        // Back on the same node.
        (Chip::Esp32S3, UsbReplug::default()),
        // Back on the next node (`/dev/sim-acm0-1`: the old one still held).
        (Chip::Esp32C3, UsbReplug { new_node: true, ..Default::default() }),
        // Its application enumerates as another device (TinyUSB).
        (Chip::Esp32S3, UsbReplug { new_node: true, app_id: Some((0x303a, 0x4001)), ..Default::default() }),
    ]
    .into_iter()
    .enumerate()
    {
        let manifest =
            flashline::cli::sample::write_sample(&dir.path().join(format!("img{k}")), chip, 64 * 1024).unwrap();
        let db = dir.path().join(format!("audit{k}.db"));
        let ports = SimulatedPorts::new();
        let handle = usb_board(&ports, chip, replug.clone());
        let end = tokio::time::timeout(Duration::from_secs(60), flash(&ports, &manifest, &db, &[])).await.unwrap();
        assert_eq!(end.map_err(|f| f.message).unwrap(), Exit::Success, "{chip} {replug:?}");
        assert!(flash_holds(&handle, &manifest), "{chip} {replug:?}");
        assert_eq!(handle.mode(), Mode::App, "the application runs");
        assert_eq!(handle.stats().resets, 2, "into download mode, then into the application");
        let rows = rows(&db).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].result, AttemptResult::Pass, "{:?}", rows[0]);
        assert_eq!(rows[0].chip.as_deref().and_then(family_of), Some(chip), "{:?}", rows[0].chip);
        assert_eq!(rows[0].port, NODE, "the row names the port the operator gave");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_that_does_not_come_back_fails_in_connect() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = flashline::cli::sample::write_sample(&dir.path().join("img"), Chip::Esp32S3, 64 * 1024).unwrap();
    let db = dir.path().join("audit.db");
    let ports = SimulatedPorts::new();
    let handle = usb_board(&ports, Chip::Esp32S3, UsbReplug { never_back: true, ..Default::default() });
    let t0 = std::time::Instant::now();
    let e = flash(&ports, &manifest, &db, &[]).await.expect_err("the board never came back");
    assert_eq!(e.exit, Exit::Board, "{}", e.message);
    assert!(e.message.starts_with(NODE) && e.message.contains("did not come back within"), "{}", e.message);
    assert!(e.message.contains("connect"), "the stage is named: {}", e.message);
    assert!(t0.elapsed() < Duration::from_secs(20), "no hang: {:?}", t0.elapsed());
    assert_eq!(handle.stats().resets, 1);
    let rows = rows(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].result, AttemptResult::Fail);
    assert_eq!(rows[0].failure_stage.as_deref(), Some("connect"));
}

/// `info`, `read`, `erase` and `capture` bring the board up through `board::connect`: the
/// same following.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_board_commands_follow_it_too() {
    for after in [After::HardReset, After::NoReset] {
        let ports = SimulatedPorts::new();
        let handle = usb_board(&ports, Chip::Esp32C3, UsbReplug { new_node: true, ..Default::default() });
        let Command::Info(a) = command(&["flashline", "--port", NODE, "info"]) else { unreachable!() };
        let cfg = a.board.flasher_config(None, None).unwrap();
        let ports = OneOffPorts::simulated(ports);
        let board = tokio::time::timeout(Duration::from_secs(30), connect_on(&a.board, &cfg, &ports))
            .await
            .unwrap()
            .unwrap_or_else(|f| panic!("{}", f.message));
        assert!(board.summary().contains("ESP32-C3"), "{}", board.summary());
        board.finish(after).await.unwrap_or_else(|f| panic!("{after:?}: {}", f.message));
        let want = if after == After::HardReset { Mode::App } else { Mode::Rom };
        // The stub's reboot (no-reset) or the hard reset takes effect once the link is cut.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while handle.mode() != want && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(handle.mode(), want, "{after:?}");
    }
}

/// The chip family an audit row's chip description names ("ESP32-S3 (QFN56) (revision
/// v0.2)" → ESP32-S3, "ESP32-D0WD-V3 (revision v3.0)" → ESP32, "ESP8266EX" → ESP8266):
/// the longest family name it starts with.
fn family_of(description: &str) -> Option<Chip> {
    Chip::ALL.into_iter().filter(|c| description.starts_with(&c.to_string())).max_by_key(|c| c.to_string().len())
}
