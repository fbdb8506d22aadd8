//! `flashline demo`: simulated boards hot-plugged into the real pipeline.
//!
//! Everything but the hardware is the product itself: the demo writes a config file and a
//! sample image manifest and loads them through the same code as `flashline run`, opens
//! the audit store (`./flashline-demo.db`), and feeds the dispatcher from a simulated
//! device source instead of udev. Each board is an `espsim` board behind its own
//! pseudo-terminal, which the jobs open with tokio-serial like a USB adapter.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::{spawn_pty, BoardConfig, PtyBoard, TimingMode};
use tokio_util::sync::CancellationToken;

use super::{sample, telemetry, CliResult, Failure};
use crate::config::Config;
use crate::device::DeviceInfo;
use crate::exit::Exit;
use crate::pipeline::SerialPorts;
use crate::station::serve::{Station, Ui};
use crate::station::{Control, Golden, StationContext, StationEvent};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of simulated boards.
    #[arg(long, default_value_t = 8)]
    pub boards: u32,
    /// Chip family of the boards and of the sample image: the global `--chip` (default
    /// esp32).
    #[arg(skip = Chip::Esp32)]
    pub chip: Chip,
    /// Simulator timing: `realistic` (UART and flash at real speed) or `off` (instant).
    #[arg(long, default_value = "realistic", value_parser = ["realistic", "off"])]
    pub timing: String,
    /// Audit database the demo writes (replaced at each run unless --keep-db).
    #[arg(long, default_value = "flashline-demo.db")]
    pub db: PathBuf,
    /// Keep the rows of earlier demo runs (boards then show up as rework).
    #[arg(long)]
    pub keep_db: bool,
    /// Time between two board insertions, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
    /// Boards flashed at once.
    #[arg(long, default_value_t = 16)]
    pub max_jobs: usize,
    /// Size of the sample application in KiB.
    #[arg(long, default_value_t = 384)]
    pub app_kib: usize,
}

pub async fn demo(args: DemoArgs) -> CliResult {
    let work = tempfile::Builder::new()
        .prefix("flashline-demo-")
        .tempdir()
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot create a work directory: {e}")))?;
    let manifest = sample::write_sample(&work.path().join("image"), args.chip, args.app_kib * 1024)
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the sample image: {e}")))?;
    let image = crate::image::GoldenImage::load(&crate::image::ImageSource::Manifest(manifest.clone()))
        .map_err(|e| Failure::new(Exit::Image, e))?;
    let db = std::path::absolute(&args.db).unwrap_or_else(|_| args.db.clone());
    if !args.keep_db {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    let config_path = work.path().join("flashline.toml");
    std::fs::write(&config_path, demo_config(&args, &manifest, &image.sha256().to_hex(), &db))
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the demo config: {e}")))?;
    let config = Config::load(&config_path).map_err(|e| Failure::new(e.exit_code(), e))?;

    let ui = Ui::detect();
    telemetry::init(&config.log, matches!(ui, Ui::Live { .. }));
    let ctx = Arc::new(StationContext::build(&config, Arc::new(SerialPorts), CancellationToken::new()).await?);
    let (golden, store) = (ctx.plan.golden.clone(), ctx.store.clone());

    let boards = start_boards(&args, work.path())?;
    let started = Instant::now();
    let (mut station, devices) = Station::start_simulated(ctx, &config, ui);
    let mut events = station.events.take().expect("events were asked for");

    // Plug the boards one after another, like an operator filling a hub.
    let links: Vec<PathBuf> = boards.iter().map(|b| b.link.clone()).collect();
    let interval = Duration::from_millis(args.interval_ms);
    let control = station.control.clone();
    let plugger = tokio::spawn(async move {
        for (k, link) in links.into_iter().enumerate() {
            devices.plug(DeviceInfo::simulated(k as u32, link));
            tokio::time::sleep(interval).await;
        }
        // Dropping the plugging hand ends the source once every plug is delivered; the
        // station then stops when the last board has its row.
        let _ = control.send(Control::DrainAndStop).await;
        drop(devices);
    });
    let (mut passed, mut failed) = (0u32, 0u32);
    let counter = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let StationEvent::Finished { outcome, .. } = ev {
                match outcome {
                    crate::station::Outcome::Pass => passed += 1,
                    _ => failed += 1,
                }
            }
        }
        (passed, failed)
    });
    let (view, source_end) = station.wait().await;
    let _ = plugger.await;
    source_end.map_err(|e| Failure::new(e.exit_code(), e))?;
    (passed, failed) = counter.await.unwrap_or((0, 0));
    let wall = started.elapsed();
    store.close().await;

    let matching = boards.iter().filter(|b| flash_matches(b, &golden)).count();
    println!();
    println!(
        "demo: {} {} boards — {passed} passed, {failed} failed in {:.1} s ({:.0} boards/hour)",
        args.boards,
        args.chip,
        wall.as_secs_f64(),
        passed as f64 * 3600.0 / wall.as_secs_f64().max(0.001)
    );
    println!("simulator flash equals the golden image on {matching} of {} boards", boards.len());
    println!("audit log: {}   (try: flashline log --db {})", db.display(), db.display());
    let _ = view;
    if passed == args.boards && matching == boards.len() {
        Ok(Exit::Success)
    } else {
        Err(Failure::new(Exit::Failure, format!("{failed} of {} boards failed", args.boards)))
    }
}

fn start_boards(args: &DemoArgs, dir: &Path) -> Result<Vec<PtyBoard>, Failure> {
    let links = dir.join("boards");
    std::fs::create_dir_all(&links).map_err(|e| Failure::new(Exit::Failure, e))?;
    let base = flashline_sim::default_mac_base(args.chip);
    let timing = if args.timing == "off" { TimingMode::Off } else { TimingMode::Realistic };
    (0..args.boards)
        .map(|k| {
            let mut cfg = BoardConfig::new(args.chip, Mac::offset(base, k));
            cfg.timing = timing;
            spawn_pty(cfg, &links.join(format!("board{k}")))
                .map_err(|e| Failure::new(Exit::Failure, format!("cannot start simulated board {k}: {e}")))
        })
        .collect()
}

fn flash_matches(board: &PtyBoard, golden: &Golden) -> bool {
    let flash = board.handle.flash();
    golden.image.regions().iter().all(|r| {
        let start = r.offset as usize;
        flash.get(start..start + r.data.len()) == Some(&r.data[..])
    })
}

/// The demo's station config: the real file format, loaded by the real loader.
fn demo_config(args: &DemoArgs, manifest: &Path, sha256: &str, db: &Path) -> String {
    format!(
        r#"# flashline demo station (generated)
station = "demo"
database = "{db}"
max_jobs = {max_jobs}

[image]
manifest = "{manifest}"
sha256 = "{sha256}"
chip = "{chip}"

[flash]
baud = 921600
# Simulated boards sit behind pseudo-terminals, which have no DTR/RTS lines: the boards
# wait in download mode and stay there afterwards.
reset = "no-reset"
after = "no-reset"

# Slot names as on a fixture: hub rows of eight ports, A1..A8, B1..B8, ...
[slots]
{slots}"#,
        db = db.display(),
        max_jobs = args.max_jobs,
        manifest = manifest.display(),
        chip = args.chip.file_name(),
        slots = (0..args.boards).map(|k| format!("{} = \"sim-usb-0:{k}:1.0\"\n", slot_name(k))).collect::<String>(),
    )
}

/// Fixture-style name of simulated port `k`: A1..A8, B1..B8, ... (AA1 after Z8).
fn slot_name(k: u32) -> String {
    let row = k / 8;
    let mut letters = String::new();
    let mut r = row;
    loop {
        letters.insert(0, (b'A' + (r % 26) as u8) as char);
        if r < 26 {
            break;
        }
        r = r / 26 - 1;
    }
    format!("{letters}{}", k % 8 + 1)
}

#[cfg(test)]
mod tests {
    use super::slot_name;

    #[test]
    fn slot_names_like_a_fixture() {
        assert_eq!(slot_name(0), "A1");
        assert_eq!(slot_name(7), "A8");
        assert_eq!(slot_name(8), "B1");
        assert_eq!(slot_name(63), "H8");
        assert_eq!(slot_name(26 * 8), "AA1");
    }
}
