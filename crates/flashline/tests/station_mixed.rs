//! A mixed line in ONE station: 32 boards of four chip families plugged at once, half of
//! them on their chip's own USB-Serial/JTAG port (which leaves the bus and comes back at
//! every reset), the rest on UART bridges — one config with one golden image per family
//! (`[images.CHIP]`), one dispatcher, jobs and pipeline end to end over in-process
//! simulated ports, timing off.
//!
//! Every board must pass, its flash must hold its own family's image, and its audit row
//! must name its chip, MAC, port kind and its family's image. A board of a chip the
//! station has no image for is refused at identify naming its chip and the station's
//! chips, and the boards beside it pass; an image built for another chip stops the
//! station at load, naming the chip id in its bootloader header.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flashline::config::Config;
use flashline::device::{DeviceInfo, SimulatedDevices};
use flashline::exit::Exit;
use flashline::image::{GoldenImage, ImageSource};
use flashline::pipeline::{SimulatedPorts, UsbReplug};
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Golden, Outcome, StationContext, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult, AttemptRow};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::{BoardConfig, Mode, SimHandle};
use flashline_testkit::mixed_line::{family_of, images_tables, LINE, LINE_BOARDS};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(120);

/// One station with an image per chip of `chips` (each the sample layout for its chip,
/// its manifest named after the chip), `slots` slots `A1..`, as many jobs.
struct MixedStation {
    _dir: tempfile::TempDir,
    config: Config,
    ctx: Arc<StationContext>,
    ports: SimulatedPorts,
}

/// A sample image for `chip` in `dir/CHIP/`, its manifest renamed `CHIP.toml` (the image's
/// name in rows and outputs); returns the manifest and its pinned SHA-256.
fn sample_image(dir: &Path, chip: Chip) -> (PathBuf, String) {
    let d = dir.join(chip.file_name());
    let sample = flashline::cli::sample::write_sample(&d, chip, 64 * 1024).unwrap();
    let manifest = d.join(format!("{}.toml", chip.file_name()));
    std::fs::rename(sample, &manifest).unwrap();
    let sha = GoldenImage::load(&ImageSource::Manifest(manifest.clone())).unwrap().sha256().to_hex();
    (manifest, sha)
}

fn station_config(dir: &Path, slots: u32, images: &str) -> PathBuf {
    let slot_lines: String = (0..slots).map(|k| format!("A{} = \"sim-usb-0:{k}:1.0\"\n", k + 1)).collect();
    // The default [flash] section: the USB reset for 303a:1001, the classic one for
    // bridges, and a hard reset into the application at the end.
    let text = format!(
        "station = \"mixed\"\ndatabase = \"{db}\"\nmax_jobs = {slots}\n\n{images}[slots]\n{slot_lines}",
        db = dir.join("audit.db").display(),
    );
    let path = dir.join("station.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn mixed_station(chips: &[Chip], slots: u32) -> MixedStation {
    let dir = tempfile::Builder::new().prefix("fl-mixed-").tempdir().unwrap();
    let images: Vec<(Chip, PathBuf, String)> = chips
        .iter()
        .map(|&c| {
            let (m, sha) = sample_image(dir.path(), c);
            (c, m, sha)
        })
        .collect();
    let tables = images_tables(images.iter().map(|(c, m, s)| (*c, m.as_path(), s.clone())));
    let config = Config::load(&station_config(dir.path(), slots, &tables)).unwrap_or_else(|e| panic!("{e}"));
    let ports = SimulatedPorts::new();
    let ctx = StationContext::build(&config, Arc::new(ports.clone()), CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    MixedStation { _dir: dir, config, ctx: Arc::new(ctx), ports }
}

impl MixedStation {
    fn image(&self, chip: Chip) -> &Arc<Golden> {
        self.ctx.plan.images.for_chip(chip).unwrap()
    }

    /// The board's flash holds its chip's image.
    fn flash_matches(&self, chip: Chip, handle: &SimHandle) -> bool {
        let flash = handle.flash();
        self.image(chip).image.regions().iter().all(|r| {
            let s = r.offset as usize;
            flash.get(s..s + r.data.len()) == Some(&r.data[..])
        })
    }
}

/// A board plugged into the station.
struct Board {
    chip: Chip,
    /// Its slot index (`A{k+1}`).
    k: u32,
    usb: bool,
    mac: Mac,
    handle: SimHandle,
}

fn mac(family: usize, k: u32) -> Mac {
    Mac([0x24, 0x0a, 0xc4, 0x55, family as u8, k as u8])
}

/// Plugs a board of `chip` on slot `k`: a UART bridge (the simulated device source's
/// default ids) or the chip's own port (303a:1001, serial number = its MAC); every other
/// USB board comes back on a new node after its reset (the old one still held), as
/// `/dev/ttyACMn` does.
fn plug(st: &MixedStation, devices: &SimulatedDevices, chip: Chip, mac: Mac, k: u32, usb: bool) -> Board {
    let node = PathBuf::from(format!("/dev/sim-mixed-{k}"));
    let cfg = BoardConfig::new(chip, mac);
    let handle = if usb {
        let info = DeviceInfo::simulated_usb_jtag(k, node, mac);
        let replug = UsbReplug { new_node: k % 2 == 1, ..Default::default() };
        let mut cfg = cfg.on_usb_serial_jtag();
        cfg.reenumerate = Some(Duration::from_millis(20));
        st.ports.attach_usb(info, cfg, devices.clone(), replug).unwrap()
    } else {
        let base = DeviceInfo::simulated(k, node);
        let h = st.ports.attach(base.devnode.clone(), cfg).unwrap();
        devices.plug(base);
        h
    };
    Board { chip, k, usb, mac, handle }
}

/// Starts the station, plugs `boards` (chip, MAC, on USB) on slots A1.., and waits for
/// every result (and 300 ms more, in which no board may start again: the USB boards come
/// back in their application after the final reset). Returns the boards and the results
/// by slot.
async fn run_line(st: &MixedStation, boards: &[(Chip, Mac, bool)]) -> (Vec<Board>, BTreeMap<String, Outcome>) {
    let (mut station, devices) = Station::start_simulated(st.ctx.clone(), &st.config, Ui::Logs);
    let mut events = station.events.take().unwrap();
    let plugged: Vec<Board> =
        boards.iter().enumerate().map(|(k, &(chip, mac, usb))| plug(st, &devices, chip, mac, k as u32, usb)).collect();
    let mut finished: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut started = 0;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished.len() < boards.len() {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("every board's result in time").unwrap();
        match ev {
            StationEvent::Finished { slot, outcome, .. } => {
                assert!(finished.insert(slot.clone(), outcome).is_none(), "{slot} finished twice");
            }
            StationEvent::JobStarted { .. } => started += 1,
            StationEvent::BoardRemoved { slot } => panic!("slot {slot}: a board's own reset was taken for a removal"),
            _ => {}
        }
    }
    let quiet = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(ev)) = tokio::time::timeout_at(quiet, events.recv()).await {
        if let StationEvent::JobStarted { slot, .. } = ev {
            panic!("slot {slot} was flashed again");
        }
    }
    assert_eq!(started, boards.len(), "one job per board");
    let _ = station.control.send(Control::Shutdown).await;
    let (_view, end) = tokio::time::timeout(LIMIT, station.wait()).await.expect("the station stops");
    end.unwrap();
    drop(devices);
    (plugged, finished)
}

fn row_of(rows: &[AttemptRow], mac: Mac) -> &AttemptRow {
    let want = mac.to_string();
    rows.iter()
        .find(|r| r.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&want)))
        .unwrap_or_else(|| panic!("no row with MAC {want}: {rows:?}"))
}

/// A passed board: its row names its chip, slot, port kind and its chip's image, and its
/// flash holds that image; the application runs.
fn assert_passed_with_own_image(st: &MixedStation, rows: &[AttemptRow], b: &Board) {
    let what = format!("{} board on A{}", b.chip, b.k + 1);
    let row = row_of(rows, b.mac);
    assert_eq!(row.result, AttemptResult::Pass, "{what}: {row:?}");
    assert_eq!(row.chip.as_deref().and_then(family_of), Some(b.chip), "{what}: {:?}", row.chip);
    assert_eq!(row.slot, format!("A{}", b.k + 1), "{what}");
    assert_eq!(row.usb_vid, Some(if b.usb { 0x303a } else { 0x10c4 }), "{what}");
    let image = st.image(b.chip);
    assert_eq!(row.image_sha256, image.sha256_hex(), "{what}: the row names its chip's image");
    assert_eq!(row.image_name, format!("{}.toml", b.chip.file_name()), "{what}");
    assert!(st.flash_matches(b.chip, &b.handle), "{what}: flash is not its chip's image");
    assert_eq!(b.handle.mode(), Mode::App, "{what}: the application runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_boards_of_four_families_pass_through_one_station_with_their_own_image() {
    let chips: Vec<Chip> = LINE.iter().map(|f| f.chip).collect();
    let st = mixed_station(&chips, LINE_BOARDS).await;
    assert_eq!(st.ctx.plan.images.len(), 4, "one station, four images");
    let boards: Vec<(Chip, Mac, bool)> = LINE
        .iter()
        .enumerate()
        .flat_map(|(family, f)| (0..f.boards()).map(move |k| (f.chip, mac(family, k), k >= f.uart)))
        .collect();
    assert_eq!(boards.len(), 32);
    assert_eq!(boards.iter().filter(|b| b.2).count(), 16, "half on native USB");

    let (plugged, finished) = run_line(&st, &boards).await;
    let failed: Vec<_> = finished.iter().filter(|(_, o)| **o != Outcome::Pass).collect();
    assert!(failed.is_empty(), "{failed:?}");

    let rows = st.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 32, "one row per board, all in the one station's log");
    assert!(rows.iter().all(|r| r.station_id == "mixed"));
    for b in &plugged {
        assert_passed_with_own_image(&st, &rows, b);
    }
    let shas: BTreeSet<_> = rows.iter().map(|r| r.image_sha256.clone()).collect();
    assert_eq!(shas.len(), 4, "four families, four golden images");
    assert!(st.ctx.store.verify_chain().await.unwrap().is_valid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_of_a_chip_without_an_image_is_refused_at_identify_and_the_others_pass() {
    let chips: Vec<Chip> = LINE.iter().map(|f| f.chip).collect();
    let st = mixed_station(&chips, 6).await;
    // One board of each family (the S3 and C3 on native USB), and an ESP32-C6 in the middle.
    let stranger = Mac([0x24, 0x0a, 0xc4, 0x55, 0xc6, 0x01]);
    let boards = [
        (Chip::Esp32, mac(0, 0), false),
        (Chip::Esp8266, mac(1, 0), false),
        (Chip::Esp32C6, stranger, false),
        (Chip::Esp32S3, mac(2, 0), true),
        (Chip::Esp32C3, mac(3, 0), true),
        (Chip::Esp32, mac(0, 1), false),
    ];
    let (plugged, finished) = run_line(&st, &boards).await;

    let Some(Outcome::Fail { stage, reason }) = finished.get("A3") else {
        panic!("the ESP32-C6 board must fail: {finished:?}")
    };
    assert_eq!(stage, "identify", "{reason}");
    assert!(reason.contains("ESP32-C6"), "the board's chip is named: {reason}");
    for c in &chips {
        assert!(reason.contains(&c.to_string()), "the station's chip {c} is named: {reason}");
    }
    assert!(reason.contains("[images.esp32c6]"), "{reason}");

    let rows = st.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 6);
    let row = row_of(&rows, stranger);
    assert_eq!(row.result, AttemptResult::Fail);
    assert_eq!(row.failure_stage.as_deref(), Some("identify"));
    assert_eq!(row.failure_reason.as_deref(), Some(reason.as_str()));
    assert_eq!(row.chip.as_deref().and_then(family_of), Some(Chip::Esp32C6), "who the board is is recorded");
    // No image was chosen: the row names the set it was offered.
    let mut offered = chips.clone();
    offered.sort();
    let offered: Vec<&str> = offered.into_iter().map(Chip::file_name).collect();
    assert_eq!(row.image_name, format!("chosen at identify: {}", offered.join(", ")));
    assert_eq!(row.image_sha256, st.ctx.plan.images.row_sha256());
    assert!(row.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&stranger.to_string())), "{row:?}");
    let flash = plugged[2].handle.flash();
    assert!(flash.iter().all(|b| *b == 0xFF), "the refused board's flash is untouched");
    // Refused right after identify: no stub uploaded, the ROM's baud rate kept.
    assert_eq!(plugged[2].handle.stats().stub_starts, 0);
    assert_eq!(plugged[2].handle.mode(), Mode::Rom);

    for b in plugged.iter().filter(|b| b.chip != Chip::Esp32C6) {
        assert_passed_with_own_image(&st, &rows, b);
    }
    assert!(st.ctx.store.verify_chain().await.unwrap().is_valid());
}

/// `[images.esp32c3]` naming an image whose bootloader was built for the ESP32-S3 stops the
/// station at load (exit 3), naming the chip id in the header and the chip of the table;
/// the station's other images are fine.
#[tokio::test]
async fn an_image_built_for_another_chip_is_refused_at_load_naming_its_header_chip_id() {
    let dir = tempfile::tempdir().unwrap();
    let (esp32, esp32_sha) = sample_image(dir.path(), Chip::Esp32);
    let (s3, _) = sample_image(dir.path(), Chip::Esp32S3);
    // The S3's bootloader as a merged image (no manifest to declare a chip: the header
    // alone says what it was built for).
    let merged = dir.path().join("s3-merged.bin");
    std::fs::copy(s3.parent().unwrap().join("bootloader.bin"), &merged).unwrap();
    let merged_sha = GoldenImage::load(&ImageSource::MergedBin(merged.clone())).unwrap().sha256().to_hex();
    let tables = format!(
        "{}[images.esp32c3]\nmerged_bin = \"{}\"\nsha256 = \"{merged_sha}\"\n\n",
        images_tables([(Chip::Esp32, esp32.as_path(), esp32_sha)]),
        merged.display()
    );
    let config = Config::load(&station_config(dir.path(), 2, &tables)).unwrap_or_else(|e| panic!("{e}"));
    let e =
        StationContext::build(&config, Arc::new(SimulatedPorts::new()), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit, Exit::Image, "{}", e.message);
    let id = Chip::Esp32S3.spec().image_chip_id.unwrap();
    assert!(e.message.contains(&format!("ESP32-S3 (bootloader header chip id {id}")), "{}", e.message);
    assert!(e.message.contains("ESP32-C3"), "{}", e.message);
}
