//! `flashline demo`: simulated boards hot-plugged into the real pipeline.
//!
//! Everything but the hardware is the product itself: the demo writes a config file and a
//! sample image manifest and loads them through the same code as `flashline run`, opens
//! the audit store (a fresh one per run unless `--db`, see [`db`]), and feeds the
//! dispatcher from a simulated device source instead of udev. Each board is an `espsim`
//! board behind its own pseudo-terminal, which the jobs open with tokio-serial like a USB
//! adapter.
//!
//! `--chips esp32,esp8266,esp32s3,esp32c3` makes it a line of several chip families: the
//! boards take the chips in turn, and the station has an image of its own per family (the
//! `[images.CHIP]` tables of a mixed station), chosen when each board is identified.
//!
//! `--usb` puts the boards of chips with their own USB-Serial/JTAG port on it (the others
//! stay on UART bridges). Those boards run in process ([`SimulatedPorts`]), where the
//! reset lines work: the station resets each board into download mode as on a real hub,
//! a USB board leaves the bus at every reset and comes back (every other one on a new
//! node), and the station follows it there.
//!
//! `--faults N` makes N boards faulty ([`faults`]) so the operator sees what failures look
//! like, with their reasons, in the live view and in the summary. The exit status counts
//! surprises only: 0 when every good board passed with the golden image in its flash and
//! every faulty board failed; 1 otherwise.

mod boot;
mod central;
mod db;
mod faults;
pub mod provision;
mod tally;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::{spawn_pty, BoardConfig, PtyBoard, SimHandle, TimingMode};
use tokio_util::sync::CancellationToken;

use self::faults::FaultKind;
use super::{sample, telemetry, CliResult, Failure};
use crate::config::Config;
use crate::device::DeviceInfo;
use crate::exit::Exit;
use crate::pipeline::{PortOpener, SerialPorts, SimulatedPorts, UsbReplug};
use crate::station::serve::{Station, Ui};
use crate::station::{Control, Golden, GoldenSet, Outcome, StationContext, StationEvent};

/// How long the demo waits at the end for the forwarder's last attempt.
const FORWARD_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of simulated boards.
    #[arg(long, default_value_t = 8)]
    pub boards: u32,
    /// Chip family of the boards and of the sample image: the global `--chip` (default
    /// esp32).
    #[arg(skip = Chip::Esp32)]
    pub chip: Chip,
    /// A line of several chip families, e.g. esp32,esp8266,esp32s3,esp32c3: the boards
    /// take them in turn and each family gets its own sample image (instead of --chip).
    #[arg(long, value_delimiter = ',', value_parser = super::board::parse_chip, value_name = "CHIP,...")]
    pub chips: Vec<Chip>,
    /// Boards of chips with their own USB-Serial/JTAG port (ESP32-S3, -C3, -C6, ...) sit on
    /// it instead of a UART bridge: each reset takes the port away and the board comes
    /// back, as on a real hub (every board then runs in process, its reset lines working).
    #[arg(long)]
    pub usb: bool,
    /// Simulator timing: `realistic` (UART and flash at real speed) or `off` (instant).
    #[arg(long, default_value = "realistic", value_parser = ["realistic", "off"])]
    pub timing: String,
    /// Audit database the demo writes [default: a new one in a fresh temporary directory].
    /// An existing file is replaced only if it is an earlier demo's database.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Keep the rows of an earlier demo run in --db (boards then show up as rework).
    #[arg(long, requires = "db")]
    pub keep_db: bool,
    /// Make N of the boards faulty (wrong chip, bad flash, pulled mid-write, hanging) to see
    /// failures and their reasons; they are expected to fail.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub faults: u32,
    /// Time between two board insertions, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
    /// Boards flashed at once.
    #[arg(long, default_value_t = 16)]
    pub max_jobs: usize,
    /// Size of the sample application in KiB.
    #[arg(long, default_value_t = 384)]
    pub app_kib: usize,
    /// Serve the station's HTTP endpoints (`/metrics`) on this address while the demo runs,
    /// e.g. 127.0.0.1:9180 (port 0: any free port; the address is printed).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// With --http: keep serving after the last board until interrupted (Ctrl-C).
    #[arg(long, requires = "http")]
    pub hold: bool,
    /// Forward the demo station's rows to this central record, like a line's station:
    /// postgres://demo@HOST/DB (the role from `flashline central add-station demo`;
    /// password from --password-file, the URL, or PGPASSWORD).
    #[arg(long, value_name = "URL")]
    pub central: Option<String>,
    /// Provision every board: a serial number from the audit log and its own NVS
    /// partition at 0x9000 (a sample template and per-device file are written to the
    /// demo's work directory), and check that each board boots (as `--boot`).
    #[arg(long)]
    pub provision: bool,
    /// File holding the central role's password (first line).
    #[arg(long, value_name = "FILE", requires = "central")]
    pub password_file: Option<PathBuf>,
    /// Check that each board boots what was written: the sample app prints a self-test
    /// line, the config gets a `[boot]` section, and one board on a UART bridge
    /// boot-loops (its app is corrupted after the verify) to show the failure.
    #[arg(long)]
    pub boot: bool,
}

impl DemoArgs {
    /// The chip families of the line, in the order the boards take them.
    pub fn line_chips(&self) -> Vec<Chip> {
        let mut chips = Vec::new();
        for c in self.chips.iter().copied().chain((self.chips.is_empty()).then_some(self.chip)) {
            if !chips.contains(&c) {
                chips.push(c);
            }
        }
        chips
    }

    /// The chip of board `k`.
    fn chip_of(&self, k: u32) -> Chip {
        let chips = self.line_chips();
        chips[k as usize % chips.len()]
    }

    /// Board `k` sits on its chip's own USB-Serial/JTAG port.
    fn on_usb(&self, k: u32) -> bool {
        self.usb && self.chip_of(k).spec().usb_serial_jtag.is_some()
    }
}

/// A sample image written for one chip family of the demo's line.
struct SampleImage {
    chip: Chip,
    manifest: PathBuf,
    sha256: String,
}

pub async fn demo(args: DemoArgs) -> CliResult {
    let work = tempfile::Builder::new()
        .prefix("flashline-demo-")
        .tempdir()
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot create a work directory: {e}")))?;
    // Provisioning shows the whole per-device pass: serial, NVS and the boot check.
    let boot_check = args.boot || args.provision;
    let console = boot_check.then_some(boot::SCRIPT);
    let chips = args.line_chips();
    let mut samples = Vec::new();
    for &chip in &chips {
        // One chip: image/ as before; several: image/<chip>/ each.
        let dir = match chips.len() {
            1 => work.path().join("image"),
            _ => work.path().join("image").join(chip.file_name()),
        };
        let manifest = sample::write_sample_with(&dir, chip, args.app_kib * 1024, console)
            .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the sample image for {chip}: {e}")))?;
        let image = crate::image::GoldenImage::load(&crate::image::ImageSource::Manifest(manifest.clone()))
            .map_err(|e| Failure::new(Exit::Image, e))?;
        samples.push(SampleImage { chip, manifest, sha256: image.sha256().to_hex() });
    }
    if args.faults > args.boards {
        return Err(Failure::new(
            Exit::Config,
            format!(
                "--faults {} is more than --boards {}: at most every board can be faulty",
                args.faults, args.boards
            ),
        ));
    }
    let central = args
        .central
        .as_deref()
        .map(|url| central::prepare(url, args.password_file.as_deref(), work.path()))
        .transpose()
        .map_err(|e| Failure::new(Exit::Config, e))?;
    let db = db::choose(args.db.as_deref(), args.keep_db).await.map_err(|e| Failure::new(Exit::Config, e))?;
    let config_path = work.path().join("flashline.toml");
    let mut text = demo_config(&args, boot_check, &samples, &db);
    if let Some(c) = &central {
        text.push_str(&format!("\n{}", c.section()));
    }
    if args.provision {
        let macs: Vec<Mac> = (0..args.boards).map(|k| board_mac(args.chip_of(k), k)).collect();
        let section = provision::prepare(&work.path().join("provision"), &macs)
            .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the sample provisioning files: {e}")))?;
        text.push_str(&format!("\n{section}"));
    }
    std::fs::write(&config_path, text)
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the demo config: {e}")))?;
    let config = Config::load(&config_path).map_err(|e| Failure::new(e.exit_code(), e))?;

    let ui = Ui::detect();
    telemetry::init(&config.log, matches!(ui, Ui::Live { .. }));
    // Pseudo-terminals through tokio-serial; with --usb every board in process.
    let sim_ports = args.usb.then(SimulatedPorts::new);
    let opener: Arc<dyn PortOpener> = match &sim_ports {
        Some(ports) => Arc::new(ports.clone()),
        None => Arc::new(SerialPorts),
    };
    let ctx = Arc::new(StationContext::build(&config, opener, CancellationToken::new()).await?);
    // The demo's config names an image per chip of its line.
    let images = ctx.plan.images.clone();
    let store = ctx.store.clone();

    let plan = faults::plan(args.boards, args.faults);
    let (plugs, _ptys, handles) = start_boards(&args, work.path(), &plan, &images, sim_ports.as_ref())?;
    // The board that boot-loops: the last good one (not the only one) on a UART bridge,
    // where the fixture's reset press reaches the chip at once (a board on its own USB
    // port is off the bus for a moment after the station's reset, as a real one is).
    let looping = (boot_check && args.boards > 1)
        .then(|| (0..args.boards).rev().find(|&k| plan[k as usize].is_none() && !args.on_usb(k)))
        .flatten()
        .map(|k| k as usize);
    // Behind a pseudo-terminal nothing resets the board into its app: the fixture does.
    let fixture = boot_check
        .then(|| boot::Fixture::new(handles.clone(), looping.map(|k| slot_name(k as u32)), sim_ports.is_none()));
    let started = Instant::now();
    let (mut station, devices) = Station::start_simulated(ctx, &config, ui);
    let mut events = station.events.take().expect("events were asked for");
    let web_stop = CancellationToken::new();
    let web = super::run::start_web(&station, store.clone(), &config, web_stop.clone()).await;
    if let Some(web) = &web {
        eprintln!("serving http://{}/ (dashboard) and /metrics", web.addr);
    }

    // Plug the boards one after another, like an operator filling a hub.
    let interval = Duration::from_millis(args.interval_ms);
    let control = station.control.clone();
    let plug_handles = handles.clone();
    // Slots with a result, and jobs running: a line of USB boards is done when every
    // plugged board has its result and nothing runs.
    let (progress_tx, mut progress) = tokio::sync::watch::channel((0usize, 0usize));
    let in_process = sim_ports.is_some();
    let plugger = tokio::spawn(async move {
        let mut plugged = 0;
        for (k, plug) in plugs.into_iter().enumerate() {
            let slot = slot_name(k as u32);
            match plug {
                Plug::Attached(info) => {
                    devices.plug(info);
                    plugged += 1;
                }
                Plug::Usb { info, cfg, ports } => {
                    // Started as it is plugged: a new node on the bus.
                    let replug = UsbReplug { new_node: k % 2 == 1, ..Default::default() };
                    match ports.attach_usb(info, *cfg, devices.clone(), replug) {
                        Ok(handle) => {
                            plug_handles.lock().expect("board handles").insert(slot, handle);
                            plugged += 1;
                        }
                        Err(e) => eprintln!("cannot start simulated USB board {slot}: {e}"),
                    }
                }
            }
            tokio::time::sleep(interval).await;
        }
        if in_process {
            // A USB board's port comes and goes for as long as it runs (the bus holds the
            // plugging hand): stop once every board has its result and nothing runs.
            let _ = progress.wait_for(|&(done, running)| done >= plugged && running == 0).await;
            let _ = control.send(Control::Shutdown).await;
        } else {
            // Dropping the plugging hand ends the source once every plug is delivered; the
            // station then stops when the last board has its row.
            let _ = control.send(Control::DrainAndStop).await;
        }
        drop(devices);
    });
    // The last outcome of each slot (a board is flashed once; a retry would replace it).
    let collector = tokio::spawn(async move {
        let mut outcomes = BTreeMap::new();
        let mut tally = tally::Tally::default();
        let mut running = 0usize;
        while let Some(ev) = events.recv().await {
            tally.record(&ev);
            match ev {
                StationEvent::JobStarted { .. } => {
                    running += 1;
                    let _ = progress_tx.send((outcomes.len(), running));
                }
                StationEvent::Finished { slot, outcome, .. } => {
                    outcomes.insert(slot, outcome);
                    running = running.saturating_sub(1);
                    let _ = progress_tx.send((outcomes.len(), running));
                }
                StationEvent::Stage { slot, stage } => {
                    if let Some(f) = &fixture {
                        f.on_stage(&slot, stage);
                    }
                }
                _ => {}
            }
        }
        (outcomes, tally)
    });
    let forwarder = station.central.take();
    let (_view, source_end) = station.wait().await;
    let _ = plugger.await;
    // The forwarder makes one last attempt once the station stops.
    let forwarded = match forwarder {
        Some(f) => {
            let _ = tokio::time::timeout(FORWARD_GRACE, f.task).await;
            let status = f.status.borrow().clone();
            Some(status)
        }
        None => None,
    };
    source_end.map_err(|e| Failure::new(e.exit_code(), e))?;
    let (outcomes, tally) = collector.await.unwrap_or_default();
    let wall = started.elapsed();

    let summary = summarise(&args, &handles, &plan, &outcomes, &images, looping);
    let passed = summary.passed;
    println!();
    println!(
        "demo: {} {} in {:.1} s ({:.0} boards/hour)",
        args.boards,
        boards_of(&args),
        wall.as_secs_f64(),
        passed as f64 * 3600.0 / wall.as_secs_f64().max(0.001),
    );
    let expected = match summary.expected_failures {
        0 => String::new(),
        n => format!(", {n} failed as expected"),
    };
    println!("  {passed} passed{expected}, {} unexpected", summary.surprises.len());
    for line in &summary.lines {
        println!("  {line}");
    }
    let exe = std::env::current_exe().map_or_else(|_| "flashline".to_string(), |p| p.display().to_string());
    println!("audit log: {}", db.display());
    println!("  see it:  {exe} log --db {}", db.display());
    println!("  yield:   {exe} stats --db {}", db.display());
    if args.provision {
        println!("{}", tally.provision_line());
        println!("  see it:  {exe} log --db {} --format json   (each row's serial and provision)", db.display());
    }
    if boot_check {
        println!("{}", tally.boot_line());
    }
    if let Some(c) = &central {
        println!("{}", central::summary(&c.location, forwarded.as_ref()));
        println!("  see it:  {exe} log --db {} --station {}", c.url, db::DEMO_STATION);
    }
    if let Some(web) = web {
        if args.hold {
            println!("serving http://{}/ (dashboard) and /metrics until interrupted (Ctrl-C)", web.addr);
            let _ = tokio::signal::ctrl_c().await;
        }
        web_stop.cancel();
        web.wait().await;
    }
    store.close().await;
    if summary.surprises.is_empty() {
        Ok(Exit::Success)
    } else {
        Err(Failure::new(Exit::Failure, format!("unexpected results: {}", summary.surprises.join("; "))))
    }
}

/// "ESP32 boards", or for a line of several chips "boards (3 ESP32, 3 ESP8266, 2 ESP32-S3)".
fn boards_of(args: &DemoArgs) -> String {
    let chips = args.line_chips();
    if chips.len() == 1 {
        return format!("{} boards", chips[0]);
    }
    let counts: Vec<String> =
        chips.iter().map(|&c| format!("{} {c}", (0..args.boards).filter(|&k| args.chip_of(k) == c).count())).collect();
    format!("boards ({})", counts.join(", "))
}

/// MAC of simulated board `k` (unique over the line: `k` is the board's own).
fn board_mac(chip: Chip, k: u32) -> Mac {
    Mac::offset(flashline_sim::default_mac_base(chip), k)
}

/// What the demo tells the operator at the end.
struct Summary {
    passed: u32,
    expected_failures: u32,
    /// One line per failed or surprising board.
    lines: Vec<String>,
    /// Slots whose result was not the expected one, with what happened.
    surprises: Vec<String>,
}

/// Compares each board's result with its plan: good boards pass with the golden image in
/// their flash, faulty ones fail.
fn summarise(
    args: &DemoArgs,
    handles: &BoardHandles,
    plan: &[Option<FaultKind>],
    outcomes: &BTreeMap<String, Outcome>,
    images: &GoldenSet,
    looping: Option<usize>,
) -> Summary {
    let mut s = Summary { passed: 0, expected_failures: 0, lines: Vec::new(), surprises: Vec::new() };
    let handles = handles.lock().expect("board handles").clone();
    for (k, fault) in plan.iter().enumerate() {
        let slot = slot_name(k as u32);
        let board = handles.get(&slot);
        let outcome = outcomes.get(&slot);
        let said = match outcome {
            Some(Outcome::Pass) => "PASS".to_string(),
            Some(Outcome::Fail { stage, reason }) => format!("FAIL {stage}: {reason}"),
            Some(other) => format!("{other:?}"),
            None => "no result".to_string(),
        };
        let expected_fail = fault.map(|f| f.describe()).or((looping == Some(k)).then_some(boot::LOOP_NOTE));
        match (expected_fail, outcome) {
            (None, Some(Outcome::Pass))
                if board
                    .zip(images.for_chip(args.chip_of(k as u32)).ok())
                    .is_some_and(|(b, g)| flash_matches(b, g)) =>
            {
                s.passed += 1
            }
            (None, Some(Outcome::Pass)) => {
                s.passed += 1;
                s.surprises.push(format!("{slot} passed but its flash differs from the golden image"));
            }
            (Some(why), Some(Outcome::Fail { .. })) => {
                s.expected_failures += 1;
                s.lines.push(format!("{slot:<4} {said}   (expected: {why})"));
            }
            (Some(why), _) => {
                s.lines.push(format!("{slot:<4} {said}   (UNEXPECTED: this board is faulty, {why})"));
                s.surprises.push(format!("{slot} ({why}) was not failed: {said}"));
            }
            (None, _) => {
                s.lines.push(format!("{slot:<4} {said}   (UNEXPECTED: a good board)"));
                s.surprises.push(format!("{slot} is a good board: {said}"));
            }
        }
    }
    s
}

/// Slot name → the simulator's handle of the board in it (a USB board's from when it is
/// plugged: it starts then).
type BoardHandles = Arc<Mutex<BTreeMap<String, SimHandle>>>;

/// What plugging a demo board takes.
enum Plug {
    /// A board already running (behind a pseudo-terminal, or in process on a UART
    /// bridge): its plug event.
    Attached(DeviceInfo),
    /// In process on its own USB-Serial/JTAG port: started when plugged.
    Usb { info: DeviceInfo, cfg: Box<BoardConfig>, ports: SimulatedPorts },
}

/// The boards of the line, waiting to be plugged; the pseudo-terminals to keep open while
/// the demo runs; the handles of the boards started so far.
fn start_boards(
    args: &DemoArgs,
    dir: &Path,
    plan: &[Option<FaultKind>],
    images: &GoldenSet,
    sim_ports: Option<&SimulatedPorts>,
) -> Result<(Vec<Plug>, Vec<PtyBoard>, BoardHandles), Failure> {
    let links = dir.join("boards");
    std::fs::create_dir_all(&links).map_err(|e| Failure::new(Exit::Failure, e))?;
    let timing = if args.timing == "off" { TimingMode::Off } else { TimingMode::Realistic };
    let line = args.line_chips();
    let handles = BoardHandles::default();
    let mut ptys = Vec::new();
    let plugs = (0..args.boards)
        .map(|k| {
            let chip = args.chip_of(k);
            let golden = images.for_chip(chip).map_err(|e| Failure::new(Exit::Failure, e))?;
            let regions = golden.image.regions();
            let app_start = regions.iter().map(|r| r.offset).max().unwrap_or(0x10000);
            let write_bytes = regions.iter().map(|r| r.data.len() as u64).sum::<u64>();
            let mut cfg = BoardConfig::new(chip, board_mac(chip, k));
            cfg.timing = timing;
            if let Some(kind) = plan[k as usize] {
                cfg.faults.push(kind.fault(chip, &line, app_start, write_bytes));
            }
            let started =
                |e: std::io::Error| Failure::new(Exit::Failure, format!("cannot start simulated board {k}: {e}"));
            let slot = slot_name(k);
            let plug = match sim_ports {
                None => {
                    let board = spawn_pty(cfg, &links.join(format!("board{k}"))).map_err(started)?;
                    handles.lock().expect("board handles").insert(slot, board.handle.clone());
                    let info = DeviceInfo::simulated(k, board.link.clone());
                    ptys.push(board);
                    Plug::Attached(info)
                }
                Some(ports) if args.on_usb(k) => {
                    let mut cfg = cfg.on_usb_serial_jtag();
                    // Without timing the port comes back at once; a real one takes a moment.
                    if timing == TimingMode::Off {
                        cfg.reenumerate = Some(Duration::from_millis(20));
                    }
                    let info = DeviceInfo::simulated_usb_jtag(k, format!("/dev/sim-ttyACM{k}").into(), cfg.mac);
                    Plug::Usb { info, cfg: Box::new(cfg), ports: ports.clone() }
                }
                Some(ports) => {
                    let info = DeviceInfo::simulated(k, PathBuf::from(format!("/dev/sim-ttyUSB{k}")));
                    let handle = ports.attach(info.devnode.clone(), cfg).map_err(started)?;
                    handles.lock().expect("board handles").insert(slot, handle);
                    Plug::Attached(info)
                }
            };
            Ok(plug)
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok((plugs, ptys, handles))
}

fn flash_matches(board: &SimHandle, golden: &Golden) -> bool {
    let flash = board.flash();
    golden.image.regions().iter().all(|r| {
        let start = r.offset as usize;
        flash.get(start..start + r.data.len()) == Some(&r.data[..])
    })
}

/// The demo's station config: the real file format, loaded by the real loader. One chip
/// has an `[image]`, a line of several an `[images.CHIP]` table each. With `boot_check`
/// the boards are reset into their app after the write and a `[boot]` section checks
/// what they print.
fn demo_config(args: &DemoArgs, boot_check: bool, samples: &[SampleImage], db: &Path) -> String {
    let images = match samples {
        [one] => format!(
            "[image]\nmanifest = \"{}\"\nsha256 = \"{}\"\nchip = \"{}\"\n",
            one.manifest.display(),
            one.sha256,
            one.chip.file_name()
        ),
        several => several
            .iter()
            .map(|s| {
                format!(
                    "# {} boards get this image (chosen when the board is identified)\n[images.{}]\nmanifest = \"{}\"\nsha256 = \"{}\"\n",
                    s.chip,
                    s.chip.file_name(),
                    s.manifest.display(),
                    s.sha256
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut text = format!(
        r#"# flashline demo station (generated)
station = "{station}"
database = "{db}"
max_jobs = {max_jobs}

{images}
[flash]
baud = 921600
{resets}
[http]
listen = "{http}"

# Slot names as on a fixture: hub rows of eight ports, A1..A8, B1..B8, ...
[slots]
{slots}"#,
        station = db::DEMO_STATION,
        db = db.display(),
        max_jobs = args.max_jobs,
        resets = resets(args.usb, boot_check),
        http = args.http.map(|a| a.to_string()).unwrap_or_default(),
        slots = (0..args.boards).map(|k| format!("{} = \"sim-usb-0:{k}:1.0\"\n", slot_name(k))).collect::<String>(),
    );
    if boot_check {
        text.push_str(boot::SECTION);
    }
    text
}

/// The `[flash]` reset keys of the demo's boards.
fn resets(in_process: bool, boot_check: bool) -> &'static str {
    match (in_process, boot_check) {
        (true, _) => {
            "# Every board runs in process with working reset lines: the station resets each into\n\
             # download mode (the USB-Serial/JTAG sequence on 303a:1001, DTR/RTS on a bridge) and\n\
             # into its app at the end; a USB board leaves the bus at each reset and comes back.\n\
             reset = \"auto\"\nafter = \"hard-reset\"\n"
        }
        (false, false) => {
            "# Simulated boards sit behind pseudo-terminals, which have no DTR/RTS lines: the boards\n\
             # wait in download mode, and stay there afterwards.\nreset = \"no-reset\"\nafter = \"no-reset\"\n"
        }
        (false, true) => {
            "# Simulated boards sit behind pseudo-terminals, which have no DTR/RTS lines: the boards\n\
             # wait in download mode; for the boot check the demo presses their reset itself after\n\
             # the hard reset.\nreset = \"no-reset\"\nafter = \"hard-reset\"\n"
        }
    }
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
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        demo: DemoArgs,
    }

    /// The config follows the one boot-check decision it is given, whatever the flags.
    #[test]
    fn the_config_has_the_boot_check_when_told_and_only_then() {
        for (flags, boot_check) in [(&[][..], false), (&["--boot"][..], true), (&["--provision"][..], false)] {
            let args = Cli::parse_from(std::iter::once("demo").chain(flags.iter().copied())).demo;
            let sample = SampleImage { chip: Chip::Esp32, manifest: PathBuf::from("m.toml"), sha256: "00".into() };
            let text = demo_config(&args, boot_check, &[sample], Path::new("a.db"));
            let after = if boot_check { "after = \"hard-reset\"" } else { "after = \"no-reset\"" };
            assert!(text.contains(after), "{flags:?}: {text}");
            assert_eq!(text.matches("after = ").count(), 1, "{text}");
            assert_eq!(text.contains("\n[boot]\n"), boot_check, "{flags:?}: {text}");
        }
    }

    #[test]
    fn slot_names_like_a_fixture() {
        assert_eq!(slot_name(0), "A1");
        assert_eq!(slot_name(7), "A8");
        assert_eq!(slot_name(8), "B1");
        assert_eq!(slot_name(63), "H8");
        assert_eq!(slot_name(26 * 8), "AA1");
    }
}
