//! Per-chip benchmark: flashline-session against esptool 5.6 on every simulated chip, on
//! the same simulated link (`espsim --timing realistic`, each chip's calibrated timing,
//! see docs/TIMING.md "Per chip"): UART at 921600 baud for every chip, and the chip's own
//! USB-Serial/JTAG port for the chips that have one (the ESP32-S2's USB-OTG is not
//! simulated). One image for all: the 4 MB merged image of the one-board benchmark, on a
//! blank board.
//!
//! ```text
//! cargo build --release -p flashline-sim --bins
//! cargo bench --bench per_chip                      # 2 runs per row, minimum
//! cargo bench --bench per_chip -- --runs 1 --only esp32c3,esp32s3
//! cargo bench --bench per_chip -- --image-mb 2      # the first 2 MB of the image
//! ```
//!
//! Every run gets a fresh `espsim` process; after it the board's flash file is compared
//! with the image, so a fast but wrong flasher cannot win.
//! Results: docs/BENCHMARKS.md, section "Per chip: flashline vs esptool".

use flashline_session::{
    After, BeforeReset, Chip, Error, Flasher, FlasherConfig, PreparedImage, Progress, Region, SerialTransport, Stage,
    StubSet, WriteOptions,
};
use flashline_sim::chips;
use flashline_testkit::{esptool, workspace_bin, EspSim};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{merged_image, APP_LEN};

const BAUD: u32 = 921_600;

/// How the board is connected (espsim `--link`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    Uart,
    Usb,
}

impl Link {
    fn arg(self) -> &'static str {
        match self {
            Link::Uart => "uart",
            Link::Usb => "usb-serial-jtag",
        }
    }

    fn name(self) -> String {
        match self {
            Link::Uart => format!("UART {BAUD}"),
            Link::Usb => "USB-Serial/JTAG".into(),
        }
    }
}

/// One measured run.
struct Run {
    wall: Duration,
    /// flashline: the write call (blank probe, write, verify); esptool: its own "Wrote … in
    /// T seconds" (the data blocks only).
    write: Duration,
    load: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn start_sim(dir: &Path, chip: Chip, link: Link, flash_mb: usize) -> EspSim {
    let links = dir.join("links");
    let flash = dir.join("flash");
    std::fs::create_dir_all(&flash).unwrap();
    let size = format!("{flash_mb}MB");
    let args = [
        "--flash-size",
        &size,
        "--chip",
        chip.file_name(),
        "--count",
        "1",
        "--timing",
        "realistic",
        "--link",
        link.arg(),
        "--link-dir",
        links.to_str().unwrap(),
        "--flash-dir",
        flash.to_str().unwrap(),
    ];
    EspSim::start(&args)
}

fn check_flash(dir: &Path, image: &[u8]) -> Result<(), String> {
    let got = std::fs::read(dir.join("flash/board0.bin")).map_err(|e| e.to_string())?;
    match got.iter().zip(image).position(|(a, b)| a != b) {
        _ if got.len() != image.len() => Err(format!("flash file has {} bytes", got.len())),
        None => Ok(()),
        Some(at) => Err(format!("flash differs from the image at 0x{at:06x}")),
    }
}

async fn run_flashline(port: &Path, chip: Chip, image: &PreparedImage, stubs: Arc<StubSet>) -> Run {
    let load = loadavg();
    let t0 = Instant::now();
    let serial = SerialTransport::open(port.to_str().unwrap(), 115_200).expect("open port");
    let config = FlasherConfig {
        before: BeforeReset::NoReset,
        baud: BAUD,
        stubs: Some(stubs),
        expect_chip: Some(chip),
        ..Default::default()
    };
    let mut f =
        Flasher::connect(serial, &config, Progress::none(), Default::default()).await.expect("flashline: connect");
    let t_write = Instant::now();
    f.write(image, &WriteOptions::default()).await.expect("flashline: write");
    let write = t_write.elapsed();
    match f.finish(After::NoReset).await {
        // On USB-Serial/JTAG the port can drop as it is let go (the chip resets with its
        // USB port); the write and its verify are done by then.
        Ok(_) | Err(Error::Disconnected { stage: Stage::Reset }) => {}
        Err(e) => panic!("flashline: finish: {e:?}"),
    }
    Run { wall: t0.elapsed(), write, load }
}

fn run_esptool(port: &Path, chip: Chip, merged: &Path) -> Run {
    let load = loadavg();
    let t0 = Instant::now();
    let out = Command::new(esptool())
        .args(["--chip", chip.file_name(), "--port"])
        .arg(port)
        .args(["--before", "no-reset", "--after", "no-reset", "-b", &BAUD.to_string(), "write-flash", "0x0"])
        .arg(merged)
        .output()
        .expect("spawn esptool");
    let wall = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // On USB-Serial/JTAG the port's close resets the chip (the kernel drops DTR and RTS),
    // which can fail esptool's last port call after the work is done and verified.
    let done = stdout.contains("Hash of data verified.") && stdout.contains("Staying in bootloader.");
    assert!(out.status.success() || done, "esptool failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // "Wrote 4194304 bytes (657465 compressed) at 0x00000000 in 12.3 seconds (2728.3 kbit/s)."
    let wrote = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Wrote ").and_then(|r| r.split(" in ").nth(1)))
        .and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok())
        .expect("esptool output: Wrote line");
    Run { wall, write: Duration::from_secs_f64(wrote), load }
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

fn min_by(runs: &[Run], f: impl Fn(&Run) -> Duration) -> Duration {
    runs.iter().map(f).min().unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize =
        args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(2);
    let only: Option<String> = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let espsim = workspace_bin("espsim");
    let _ = esptool();

    // --image-mb N: the first N MB of the 4 MB image (the same bootloader, partition table
    // and app; less 0xFF padding), for a quicker pass on a loaded machine.
    let image_mb: usize = args
        .iter()
        .position(|a| a == "--image-mb")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut merged = merged_image(APP_LEN, 1);
    merged.truncate(if image_mb < 4 { 2 << 20 } else { 4 << 20 });
    let work = tempfile::tempdir().unwrap();
    let merged_path = work.path().join("merged.bin");
    std::fs::write(&merged_path, &merged).unwrap();
    let image = PreparedImage::new(vec![Region::new(0, merged.clone())]).expect("prepare");
    let stubs = Arc::new(StubSet::builtin());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    println!(
        "# per_chip: {} MB merged image (1 MiB app), blank board, espsim --timing realistic, {runs} runs, minimum",
        merged.len() >> 20
    );
    println!("espsim: {}", espsim.display());
    let mut rows = Vec::new();
    for m in chips::SIMULATED {
        let chip = m.chip();
        let links: &[Link] =
            if chip.spec().usb_serial_jtag.is_some() { &[Link::Uart, Link::Usb] } else { &[Link::Uart] };
        for &link in links {
            let name = format!("{} {}", chip.file_name(), link.arg());
            if only.as_deref().is_some_and(|o| !o.split(',').any(|o| name.contains(o))) {
                continue;
            }
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for i in 0..runs {
                for tool in ["flashline", "esptool"] {
                    let dir = tempfile::tempdir().unwrap();
                    let mut sim = start_sim(dir.path(), chip, link, merged.len() >> 20);
                    let port = sim.port(0).to_path_buf();
                    let run = if tool == "flashline" {
                        rt.block_on(run_flashline(&port, chip, &image, stubs.clone()))
                    } else {
                        run_esptool(&port, chip, &merged_path)
                    };
                    sim.terminate();
                    drop(sim);
                    if let Err(e) = check_flash(dir.path(), &merged) {
                        panic!("{name} {tool} run {i}: {e}");
                    }
                    eprintln!(
                        "  {name} {tool} run {i}: wall {} s, write {} s, load {}",
                        secs(run.wall),
                        secs(run.write),
                        run.load
                    );
                    let runs_of_tool = if tool == "flashline" { &mut ours } else { &mut theirs };
                    runs_of_tool.push(run);
                }
            }
            rows.push((chip, link, ours, theirs));
        }
    }

    println!();
    println!("| chip | link | esptool 5.6 wall s | esptool \"Wrote\" s | flashline wall s | flashline write+verify s | esptool / flashline (wall) | load avg (1/5/15) per run |");
    println!("|---|---|---|---|---|---|---|---|");
    for (chip, link, ours, theirs) in &rows {
        let (ow, tw) = (min_by(ours, |r| r.wall), min_by(theirs, |r| r.wall));
        let loads: Vec<&str> = theirs.iter().chain(ours.iter()).map(|r| r.load.as_str()).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1}× | {} |",
            chip,
            link.name(),
            secs(tw),
            secs(min_by(theirs, |r| r.write)),
            secs(ow),
            secs(min_by(ours, |r| r.write)),
            tw.as_secs_f64() / ow.as_secs_f64(),
            loads.join("; ")
        );
    }
}
