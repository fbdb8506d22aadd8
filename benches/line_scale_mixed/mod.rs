//! The mixed line of `line_scale --mixed`: 32 boards of four chip families plugged at once
//! into ONE station — ESP32 and ESP8266 on UART bridges, ESP32-S3 and ESP32-C3 mostly on
//! their own USB-Serial/JTAG port (16 of the 32 on native USB; the table is
//! `flashline_testkit::mixed_line::LINE`, shared with `tests/station_mixed.rs`) — against
//! the slowest of the same boards flashed alone by the same station.
//!
//! The station has one config with one golden image per family (`[images.CHIP]`), one
//! dispatcher and one audit store; each board gets its chip's image at identify. The
//! boards are in-process simulated boards (`SimulatedPorts`) with the realistic timing
//! model: the USB ones leave the bus at each reset and come back after the link's
//! re-enumeration delay, so their jobs go through the dispatcher's re-enumeration handling
//! as on a real line (a PTY `espsim` cannot show a USB port to the station's device
//! source). Each family's image is the sample layout for its chip (bootloader at the
//! chip's offset, partition table, a 1 MiB application that deflates like firmware).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashline::config::Config;
use flashline::device::{DeviceInfo, SimulatedDevices};
use flashline::pipeline::{SimulatedPorts, UsbReplug};
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Outcome, StationContext, StationEvent};
use flashline_protocol::Chip;
use flashline_sim::{BoardConfig, Mac, TimingMode};
use flashline_testkit::mixed_line::{images_tables, LINE, LINE_BOARDS};

/// Application size of every family's image.
const APP_LEN: usize = 1 << 20;
/// How long one run may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(300);

/// How a board is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Link {
    Uart,
    Usb,
}

/// The station: one config with an image per family (baud, default resets), the ports
/// it opens.
struct MixedStation {
    config: Config,
    ctx: Arc<StationContext>,
    ports: SimulatedPorts,
}

async fn station(dir: &Path, max_jobs: u32) -> MixedStation {
    let mut images = Vec::new();
    for f in &LINE {
        let d = dir.join("image").join(f.chip.file_name());
        let manifest = flashline::cli::sample::write_sample(&d, f.chip, APP_LEN).unwrap();
        let sha = flashline::image::GoldenImage::load(&flashline::image::ImageSource::Manifest(manifest.clone()))
            .unwrap()
            .sha256()
            .to_hex();
        images.push((f.chip, manifest, sha));
    }
    // The default resets: the USB reset for 303a:1001, the classic one for bridges, and a
    // hard reset into the application at the end.
    let text = format!(
        "station = \"mixed\"\ndatabase = \"{db}\"\nmax_jobs = {max_jobs}\n\n{tables}[flash]\nbaud = 921600\n\n\
         [log]\nlevel = \"warn\"\n",
        db = dir.join("audit.sqlite").display(),
        tables = images_tables(images.iter().map(|(c, m, s)| (*c, m.as_path(), s.clone()))),
    );
    let path = dir.join("flashline.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("config: {e}"));
    let ports = SimulatedPorts::new();
    let ctx = StationContext::build(&config, Arc::new(ports.clone()), tokio_util::sync::CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("station: {}", e.message));
    MixedStation { config, ctx: Arc::new(ctx), ports }
}

/// Board `k` of the station (its slot index, unique on the line), of `family`.
fn board(family: usize, k: u32, link: Link) -> (DeviceInfo, BoardConfig) {
    let mac = Mac([0x24, 0x0a, 0xc4, 0x66, family as u8, k as u8]);
    let base = DeviceInfo::simulated(k, PathBuf::from(format!("/dev/sim-mixed-{k}")));
    let mut cfg = BoardConfig::new(LINE[family].chip, mac);
    cfg.timing = TimingMode::Realistic;
    match link {
        Link::Uart => (base, cfg),
        Link::Usb => (
            DeviceInfo {
                vid: 0x303a,
                pid: 0x1001,
                serial: Some(mac.to_string()),
                driver: Some("cdc_acm".into()),
                ..base
            },
            cfg.on_usb_serial_jtag(),
        ),
    }
}

fn plug(st: &MixedStation, devices: &SimulatedDevices, boards: &[(usize, Link)]) {
    for (k, &(family, link)) in boards.iter().enumerate() {
        let k = k as u32;
        let (info, cfg) = board(family, k, link);
        match link {
            Link::Uart => {
                st.ports.attach(info.devnode.clone(), cfg).unwrap();
                devices.plug(info);
            }
            Link::Usb => {
                // Every other board comes back on a new node, as when the old one is held.
                let replug = UsbReplug { new_node: k % 2 == 1, ..Default::default() };
                st.ports.attach_usb(info, cfg, devices.clone(), replug).unwrap();
            }
        }
    }
}

/// One run: `boards` (family, link) all plugged at once into one station with the four
/// images. Returns the wall time from plugging to the last result, and the results (the
/// chip a row names, slot, outcome).
async fn run(dir: &Path, boards: &[(usize, Link)]) -> (Duration, Vec<(Chip, String, Outcome)>) {
    let st = station(dir, boards.len() as u32).await;
    let (mut station, devices) = Station::start_simulated(st.ctx.clone(), &st.config, Ui::Logs);
    let mut events = station.events.take().expect("events");
    let started = Instant::now();
    plug(&st, &devices, boards);
    let mut results = Vec::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while results.len() < boards.len() {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(StationEvent::Finished { slot, outcome, .. })) => {
                // Slots are unmapped: the slot is the board's USB path, `sim-usb-0:K:1.0`.
                let k: usize = slot.split(':').nth(1).and_then(|k| k.parse().ok()).expect("simulated slot");
                results.push((LINE[boards[k].0].chip, slot, outcome));
            }
            Ok(Some(_)) => {}
            _ => panic!("{} of {} results within {LIMIT:?}: {results:?}", results.len(), boards.len()),
        }
    }
    let wall = started.elapsed();
    let _ = station.control.send(Control::Shutdown).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), station.wait()).await;
    drop(devices);
    st.ctx.store.clone().close().await;
    (wall, results)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `line_scale --mixed [--runs N]`: each kind of board alone, then the 32 together, N
/// times (default 2); prints the rows for docs/BENCHMARKS.md.
pub fn main(args: &[String]) {
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--runs N"))
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "# line_scale --mixed: one station, four families (an image each), realistic timing, 921600 baud on UART, \
         1 MiB application"
    );
    // The kinds of board on the line, each flashed alone.
    let kinds: Vec<(usize, Link)> = LINE
        .iter()
        .enumerate()
        .flat_map(|(f, fam)| {
            let mut k = Vec::new();
            if fam.uart > 0 {
                k.push((f, Link::Uart));
            }
            if fam.usb > 0 {
                k.push((f, Link::Usb));
            }
            k
        })
        .collect();
    let mut singles: BTreeMap<(usize, Link), Vec<f64>> = BTreeMap::new();
    let mut mixed: Vec<(f64, String, String, usize)> = Vec::new();
    for run_no in 0..runs {
        for &(family, link) in &kinds {
            let dir = tempfile::tempdir().unwrap();
            let load = loadavg();
            let (wall, results) = rt.block_on(run(dir.path(), &[(family, link)]));
            let ok = results.iter().all(|r| r.2 == Outcome::Pass);
            assert!(ok, "{:?} {link:?} alone failed: {results:?}", LINE[family].chip);
            eprintln!(
                "  run {run_no}: {} {link:?} alone: {:.2} s (load {load})",
                LINE[family].chip,
                wall.as_secs_f64()
            );
            singles.entry((family, link)).or_default().push(wall.as_secs_f64());
        }
        let dir = tempfile::tempdir().unwrap();
        let line: Vec<(usize, Link)> = LINE
            .iter()
            .enumerate()
            .flat_map(|(family, f)| {
                (0..f.boards()).map(move |k| (family, if k < f.uart { Link::Uart } else { Link::Usb }))
            })
            .collect();
        assert_eq!(line.len() as u32, LINE_BOARDS);
        let load_before = loadavg();
        let (wall, results) = rt.block_on(run(dir.path(), &line));
        let passed = results.iter().filter(|r| r.2 == Outcome::Pass).count();
        for r in results.iter().filter(|r| r.2 != Outcome::Pass) {
            eprintln!("  FAILED {} {}: {:?}", r.0, r.1, r.2);
        }
        eprintln!("  run {run_no}: 32 mixed: {:.2} s, {passed}/32 passed (load {load_before})", wall.as_secs_f64());
        mixed.push((wall.as_secs_f64(), load_before, loadavg(), passed));
    }

    println!();
    println!("| board alone | link | wall s (per run) | min s |");
    println!("|---|---|---|---|");
    let mut slowest = (0.0f64, String::new());
    for ((family, link), walls) in &singles {
        let min = walls.iter().cloned().fold(f64::INFINITY, f64::min);
        let name = format!("{} {}", LINE[*family].chip, if *link == Link::Usb { "USB-Serial/JTAG" } else { "UART" });
        if min > slowest.0 {
            slowest = (min, name.clone());
        }
        let all: Vec<String> = walls.iter().map(|w| format!("{w:.2}")).collect();
        println!(
            "| {} | {} | {} | {min:.2} |",
            LINE[*family].chip,
            if *link == Link::Usb { "USB-Serial/JTAG" } else { "UART 921600" },
            all.join(" / ")
        );
    }
    println!();
    println!(
        "| 32 mixed boards, run | passed | wall s | × slowest single board ({}, {:.2} s) | load before | load after |",
        slowest.1, slowest.0
    );
    println!("|---|---|---|---|---|---|");
    for (i, (wall, before, after, passed)) in mixed.iter().enumerate() {
        println!("| {} | {passed}/32 | {wall:.2} | {:.2} | {before} | {after} |", i + 1, wall / slowest.0);
    }
    let best = mixed.iter().map(|m| m.0).fold(f64::INFINITY, f64::min);
    println!();
    println!(
        "min: {best:.2} s = {:.2} × the slowest single board ({}, {:.2} s); target ≤ 1.20",
        best / slowest.0,
        slowest.1,
        slowest.0
    );
}
