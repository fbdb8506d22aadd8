//! The fault matrix: every espsim fault knob, each on its own board, in one station run
//! next to healthy boards.
//!
//! Everything but the hardware is the product: the config file is loaded by
//! `Config::load`, the golden image is pinned and prepared by `Golden::load`, rows go to a
//! real SQLite audit store, and the dispatcher starts one job per board, which opens the
//! board's pseudo-terminal with tokio-serial like a USB adapter. The boards are in-process
//! `espsim` boards (timing off: only the faults cost time), plugged and unplugged through
//! the simulated device source.
//!
//! What must hold, whatever a board does:
//! - the station keeps running and every board gets exactly one completed row;
//! - a faulty board fails in the stage the fault hit, with a reason an operator can act
//!   on; the live view says the same as the row;
//! - a healthy board (and a merely slow one) passes and holds the golden image.
//!
//! Where a fault has to strike inside a given stage (an unplug during the stub upload,
//! say), the byte and frame counts are measured first on a healthy board over an in-memory
//! link with the same flasher settings, so the test follows the protocol rather than
//! hard-coding today's byte counts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashline::config::Config;
use flashline::device::DeviceInfo;
use flashline::report::live;
use flashline::station::serve::{Station, Ui};
use flashline::station::view::SlotPhase;
use flashline::station::{Control, Golden, Outcome, StationContext, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult, AttemptRow};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_session::{DuplexTransport, Flasher, Progress, Stage};
use flashline_sim::{spawn_duplex, spawn_pty, BoardConfig, Fault, PtyBoard, SimHandle};
use tokio_util::sync::CancellationToken;

/// The whole station run must end within this; a hang anywhere fails the test instead of
/// stalling it.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Size of the sample application: large enough for several data blocks per write.
const APP_KIB: usize = 96;

// ---------------------------------------------------------------------------------------
// The station on disk

struct Rig {
    dir: tempfile::TempDir,
    config: Config,
    golden: Arc<Golden>,
    ctx: Arc<StationContext>,
}

/// Writes the config (slots `names[k]` on simulated port k), loads it like the daemon does,
/// opens the store and builds the station context.
async fn rig(names: &[&str]) -> Rig {
    let dir = tempfile::Builder::new().prefix("fl-faults-").tempdir().expect("tempdir");
    let manifest = flashline::cli::sample::write_sample(&dir.path().join("image"), Chip::Esp32, APP_KIB * 1024)
        .expect("write the sample image");
    let image = flashline::image::GoldenImage::load(&flashline::image::ImageSource::Manifest(manifest.clone()))
        .expect("load the sample image");
    let mut slots = String::new();
    for (k, n) in names.iter().enumerate() {
        slots.push_str(&format!("{n} = \"sim-usb-0:{k}:1.0\"\n"));
    }
    let text = format!(
        r#"station = "faults"
database = "{db}"
max_jobs = {max_jobs}

[image]
manifest = "{manifest}"
sha256 = "{sha}"
chip = "esp32"
# Boards with less flash are refused before anything is written.
min_flash_size = "4MB"

[flash]
baud = 921600
# Pseudo-terminals have no DTR/RTS lines: the boards wait in download mode.
reset = "no-reset"
after = "no-reset"

[devices]
unmapped_ports = "ignore"

[slots]
{slots}"#,
        db = dir.path().join("audit.sqlite").display(),
        max_jobs = names.len(),
        manifest = manifest.display(),
        sha = image.sha256().to_hex(),
    );
    let path = dir.path().join("station.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("the test config does not load: {e}"));
    let ctx = StationContext::build(&config, Arc::new(flashline::pipeline::SerialPorts), CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("the test station does not start: {}", e.message));
    let golden = ctx.plan.images.single().expect("one image").clone();
    let ctx = Arc::new(ctx);
    Rig { dir, config, golden, ctx }
}

impl Rig {
    fn flash_matches(&self, handle: &SimHandle) -> bool {
        let flash = handle.flash();
        self.golden.image.regions().iter().all(|r| {
            let start = r.offset as usize;
            flash.get(start..start + r.data.len()) == Some(&r.data[..])
        })
    }
}

fn mac(k: u32) -> Mac {
    Mac::offset(Mac([0x24, 0x0a, 0xc4, 0x77, 0, 0]), k)
}

// ---------------------------------------------------------------------------------------
// Calibration: where each stage lies in the byte stream a board receives

/// Bytes received (and frames sent) by a board when each stage began, on a healthy run.
#[derive(Debug, Default, Clone)]
struct Profile {
    /// Bytes received when the stage's first progress event was reported.
    stage_start: BTreeMap<&'static str, u64>,
    /// Bytes received at each data-block progress event of the write.
    write_points: Vec<u64>,
    /// Bytes received at each progress event of the stub upload.
    stub_points: Vec<u64>,
    /// Bytes received when the write (with its on-chip MD5 checks) returned.
    after_write: u64,
    /// Frames the board had sent when each stage began.
    frames_at: BTreeMap<&'static str, u64>,
    /// Frames the board had sent when the write returned.
    frames_after_write: u64,
}

/// Flashes one healthy board over an in-memory link with the station's own flasher
/// settings and records where the stages lie. The counts assume the first SYNC is
/// answered, as it is by a board in download mode with timing off; a host so starved that
/// it missed the 100 ms reply window would send 46 more bytes per extra SYNC (the failure
/// message then shows the board's counters next to the calibration).
async fn calibrate(rig: &Rig) -> Profile {
    let (link, sim) = spawn_duplex(BoardConfig::new(Chip::Esp32, mac(999)));
    let profile = Arc::new(Mutex::new(Profile::default()));
    let progress = {
        let (profile, sim) = (profile.clone(), sim.clone());
        Progress::callback(move |e| {
            let stats = sim.stats();
            let mut p = profile.lock().unwrap();
            p.stage_start.entry(e.stage.as_str()).or_insert(stats.bytes_in);
            p.frames_at.entry(e.stage.as_str()).or_insert(stats.frames_out);
            match e.stage {
                Stage::Write if e.done > 0 => p.write_points.push(stats.bytes_in),
                Stage::Stub if e.done > 0 => p.stub_points.push(stats.bytes_in),
                _ => {}
            }
        })
    };
    let mut flasher =
        Flasher::connect(DuplexTransport::new(link), &rig.ctx.plan.flasher, progress, CancellationToken::new())
            .await
            .expect("calibration board connects");
    flasher.write(&rig.golden.prepared, &rig.ctx.plan.write).await.expect("calibration board is written");
    let stats = sim.stats();
    let mut p = profile.lock().unwrap().clone();
    p.after_write = stats.bytes_in;
    p.frames_after_write = stats.frames_out;
    assert!(rig.flash_matches(&sim), "the calibration board holds the image");
    p
}

impl Profile {
    /// Placeholder counts, for listing the slot names before calibrating.
    fn dummy() -> Profile {
        let mut p = Profile { after_write: 1000, ..Profile::default() };
        for s in ["identify", "baud"] {
            p.stage_start.insert(s, 0);
        }
        p.frames_at.insert("identify", 0);
        p.stub_points = vec![0];
        p.write_points = vec![0];
        p
    }

    fn start(&self, stage: &str) -> u64 {
        *self.stage_start.get(stage).unwrap_or_else(|| panic!("no {stage} stage in the calibration run: {self:#?}"))
    }

    /// A byte count inside each stage (the board stops after receiving that many bytes).
    fn inside(&self, stage: &str) -> u64 {
        let n = match stage {
            // Halfway through the first SYNC.
            "connect" => 20,
            // Halfway between the first identify command and the baud change before the stub.
            "identify" => (self.start("identify") + self.start("baud")) / 2,
            "stub" => self.stub_points[self.stub_points.len() / 2] + 10,
            "write" => self.write_points[self.write_points.len() / 2] + 10,
            // Inside the last on-chip MD5 check of the write: the last bytes before it returned.
            "verify" => self.after_write - 5,
            other => panic!("no calibration point for {other}"),
        };
        assert!(n < self.after_write, "{stage}: {n} bytes is beyond the whole run: {self:#?}");
        n
    }
}

// ---------------------------------------------------------------------------------------
// The matrix

/// What a board must end with.
#[derive(Debug, Clone)]
enum Expect {
    Pass,
    /// Failed in `stage`, the reason containing every one of `words` (case-insensitive).
    Fail {
        stage: &'static str,
        words: Vec<&'static str>,
    },
}

/// One board of the run.
struct Case {
    slot: &'static str,
    /// Fault specs in espsim's grammar (`espsim --fault`).
    faults: Vec<String>,
    flash_size: u32,
    /// Pull the board out (port gone, then the remove event) once its job reports this
    /// stage and the board has gone silent after this many received bytes.
    remove_at: Option<(Stage, u64)>,
    /// Plugged only once every other board has its result: the station still takes work.
    late: bool,
    expect: Expect,
}

impl Case {
    fn new(slot: &'static str, faults: &[String], expect: Expect) -> Case {
        Case { slot, faults: faults.to_vec(), flash_size: 4 << 20, remove_at: None, late: false, expect }
    }
}

fn fail(stage: &'static str, words: &[&'static str]) -> Expect {
    Expect::Fail { stage, words: words.to_vec() }
}

/// The boards: each fault once (per stage where it matters), plus healthy boards.
fn cases(p: &Profile) -> Vec<Case> {
    let spec = |s: &str| vec![s.to_string()];
    // A board's port that dies without a remove event (cable, hub reset, brown-out): the
    // job waits a moment for the removal, then records what the port did.
    let port_closed = ["serial port closed", "unplugged"];
    let mut v = vec![
        Case::new("ok-1", &[], Expect::Pass),
        Case::new("ok-2", &[], Expect::Pass),
        Case::new("ok-3", &[], Expect::Pass),
        Case::new("ok-4", &[], Expect::Pass),
    ];
    for (slot, stage) in [
        ("unplug-connect", "connect"),
        ("unplug-identify", "identify"),
        ("unplug-stub", "stub"),
        ("unplug-write", "write"),
        ("unplug-verify", "verify"),
    ] {
        v.push(Case::new(slot, &spec(&format!("unplug-after={}", p.inside(stage))), fail(stage, &port_closed)));
    }
    // Pulled out by the operator: the board stalls inside the stage (so the job is surely
    // there when the test pulls it), the port breaks, udev reports the removal.
    for (slot, stage, at) in [
        ("pulled-connect", "connect", Stage::Connect),
        ("pulled-identify", "identify", Stage::Identify),
        ("pulled-write", "write", Stage::Write),
    ] {
        let stall = p.inside(stage);
        let mut c =
            Case::new(slot, &spec(&format!("hang-after={stall}")), fail(stage, &["board removed during", stage]));
        c.remove_at = Some((at, stall));
        v.push(c);
    }
    v.extend([
        // SYNC is answered eight times: one damaged copy costs nothing.
        Case::new("corrupt-sync", &spec("corrupt-frame=1"), Expect::Pass),
        // The reply to the chip-magic read (the second frame after the eight SYNC
        // replies): an unknown magic is read again before the chip is blamed, so a glitch
        // on the link costs one round trip, not a good board.
        Case::new("corrupt-magic", &spec(&format!("corrupt-frame={}", p.frames_at["identify"] + 2)), Expect::Pass),
        // The reply to the last on-chip MD5: a digest that does not match is asked for once
        // more before the board is blamed (the flash is right here), so the board passes.
        // A wrong flash answers the same twice: see bad-flash below.
        Case::new("corrupt-md5", &spec(&format!("corrupt-frame={}", p.frames_after_write)), Expect::Pass),
        // Bad cells inside the application: programming does not stick, the on-chip MD5
        // after the write says so.
        Case::new(
            "bad-flash",
            &spec("bad-flash=0x10100+16"),
            fail("verify", &["does not match the image", "bad flash cells"]),
        ),
        Case::new("not-download", &spec("not-download"), fail("connect", &["no answer to sync", "7 attempts"])),
        Case::new("nd-silent", &spec("not-download=silent"), fail("connect", &["no answer to sync", "7 attempts"])),
        Case::new(
            "nd-garbage",
            &spec("not-download=garbage"),
            fail("connect", &["never entered download mode", "GPIO0", "unreadable output"]),
        ),
        Case::new("wrong-chip", &spec("wrong-chip=esp8266"), fail("identify", &["ESP8266", "not an ESP32"])),
        // Slow boards. What a line expects: a board that answers within every command's
        // timeout (esptool's: 100 ms for the first SYNC reply, 3 s and up for the rest) is
        // slow but good and passes; one that answers nothing within the whole connect
        // phase (7 attempts of 5 SYNCs, ~5 s) fails there, saying it got no answer. Delays
        // in between (say 200 ms) are deliberately not in the matrix: late SYNC replies
        // then race the next SYNC's window, and whether a stale one is taken for an answer
        // is luck, for esptool as for flashline.
        Case::new("slow-40ms", &spec("slow-replies=40"), Expect::Pass),
        Case::new("slow-10s", &spec("slow-replies=10000"), fail("connect", &["no answer to sync"])),
        // A board that stops answering mid-way: the command's timeout ends the job in the
        // stage it hung in.
        Case::new(
            "hang-identify",
            &spec(&format!("hang-after={}", p.inside("identify"))),
            fail("identify", &["no reply to ReadReg within 3.0s", "stopped answering"]),
        ),
        Case::new(
            "hang-write",
            &spec(&format!("hang-after={}", p.inside("write"))),
            fail("write", &["no reply to FlashDeflData within", "stopped answering"]),
        ),
    ]);
    let mut small = Case::new("small-flash", &[], fail("identify", &["2MB of flash", "at least 4MB"]));
    small.flash_size = 2 << 20;
    v.push(small);
    let mut late = Case::new("ok-late", &[], Expect::Pass);
    late.late = true;
    v.push(late);
    v
}

/// A board of the run.
struct Plugged {
    case: Case,
    board: PtyBoard,
    info: DeviceInfo,
}

fn assert_words(what: &str, text: &str, words: &[&str]) {
    let lower = text.to_lowercase();
    for w in words {
        assert!(lower.contains(&w.to_lowercase()), "{what}: {text:?} lacks {w:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_next_to_healthy_boards() {
    let t0 = Instant::now();
    // Slot names first (the config needs them), then the calibration, then the real cases.
    let names: Vec<&str> = cases(&Profile::dummy()).iter().map(|c| c.slot).collect();
    let rig = rig(&names).await;
    let profile = calibrate(&rig).await;
    let cases = cases(&profile);
    assert_eq!(cases.iter().map(|c| c.slot).collect::<Vec<_>>(), names);

    let links = rig.dir.path().join("boards");
    std::fs::create_dir_all(&links).unwrap();
    let mut boards: Vec<Plugged> = Vec::new();
    for (k, case) in cases.into_iter().enumerate() {
        let mut cfg = BoardConfig::new(Chip::Esp32, mac(k as u32));
        cfg.flash_size = case.flash_size;
        cfg.faults = case.faults.iter().map(|f| f.parse::<Fault>().expect("a valid fault spec")).collect();
        let board = spawn_pty(cfg, &links.join(format!("board{k}"))).expect("start a simulated board");
        let info = DeviceInfo::simulated(k as u32, board.link.clone());
        boards.push(Plugged { case, board, info });
    }

    let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.events.take().expect("events were asked for");
    for b in boards.iter().filter(|b| !b.case.late) {
        devices.plug(b.info.clone());
    }
    let early = boards.iter().filter(|b| !b.case.late).count();

    // Follow the station until every board has its result, pulling out the boards that
    // are to be removed once their job is in the right stage.
    let deadline = tokio::time::Instant::now() + RUN_LIMIT;
    let mut finished: BTreeMap<String, (Outcome, Option<String>)> = BTreeMap::new();
    let mut log = Vec::new();
    // Boards whose job reached the stage they are to be pulled in, not yet silent.
    let mut armed: Vec<usize> = Vec::new();
    while finished.len() < boards.len() {
        // A board is pulled only once it has stalled: its job is then surely waiting inside
        // the stage, not already past it (a small region is written and checked in a few
        // milliseconds, faster than this loop sees the stage event).
        armed.retain(|&k| {
            let b = &boards[k];
            let stall = b.case.remove_at.map_or(0, |(_, n)| n);
            if b.board.handle.stats().bytes_in < stall {
                return true;
            }
            // As on a real hub: the port breaks first, udev's remove follows.
            b.board.handle.unplug();
            devices.unplug(&b.info.syspath);
            false
        });
        let wake = match armed.is_empty() {
            true => deadline,
            false => deadline.min(tokio::time::Instant::now() + Duration::from_millis(5)),
        };
        let ev = match tokio::time::timeout_at(wake, events.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => panic!("the station stopped early; events:\n{}", log.join("\n")),
            Err(_) if tokio::time::Instant::now() < deadline => continue,
            Err(_) => {
                let waiting: Vec<&str> =
                    boards.iter().map(|b| b.case.slot).filter(|s| !finished.contains_key(*s)).collect();
                panic!("no result within {RUN_LIMIT:?} for {waiting:?}; events:\n{}", log.join("\n"))
            }
        };
        log.push(format!("{:>6} ms {ev:?}", t0.elapsed().as_millis()));
        match ev {
            StationEvent::Stage { slot, stage } => {
                if let Some(k) =
                    boards.iter().position(|b| b.case.slot == slot && b.case.remove_at.is_some_and(|(s, _)| s == stage))
                {
                    armed.push(k);
                }
            }
            StationEvent::Finished { slot, outcome, mac, .. } => {
                assert!(finished.insert(slot.clone(), (outcome, mac)).is_none(), "{slot} finished twice");
                if finished.len() == early {
                    // Every fault has played out; the station must still take new boards.
                    for b in boards.iter().filter(|b| b.case.late) {
                        devices.plug(b.info.clone());
                    }
                }
            }
            _ => {}
        }
    }
    let results_at = t0.elapsed();
    station.control.send(Control::DrainAndStop).await.expect("the station is running");
    drop(devices);
    let (view, source_end) = tokio::time::timeout(Duration::from_secs(10), station.wait())
        .await
        .expect("the station stops once every board has its row");
    source_end.expect("the simulated source ends cleanly");

    // The rows: exactly one per board, every one completed.
    let store = rig.ctx.store.clone();
    let mut rows = store.query(&AttemptFilter::all()).await.expect("query the audit rows");
    rows.sort_by_key(|r| r.id.0);
    assert_eq!(rows.len(), boards.len(), "one row per board: {rows:#?}");
    let by_slot: BTreeMap<&str, &AttemptRow> = rows.iter().map(|r| (r.slot.as_str(), r)).collect();
    assert_eq!(by_slot.len(), boards.len(), "one row per slot: {rows:#?}");
    assert!(store.integrity_check().await.expect("integrity check").ok);

    let screen = live::render(&view, Instant::now(), live::Size { cols: 400, rows: 200 }, live::Style { color: false });
    let mut table = Vec::new();
    for b in &boards {
        let slot = b.case.slot;
        let row = by_slot.get(slot).unwrap_or_else(|| panic!("no row for {slot}: {rows:#?}"));
        let ctx = || {
            format!(
                "{slot} ({:?}): {row:#?}\nboard: {:?}\ncalibration: {profile:?}\nevents:\n{}",
                b.case.faults,
                b.board.handle.stats(),
                log.join("\n")
            )
        };
        assert_ne!(row.result, AttemptResult::Running, "{}", ctx());
        assert!(row.ended_at.is_some(), "{}", ctx());
        let slot_view = view.slots.iter().find(|s| s.name == slot).unwrap_or_else(|| panic!("{slot} not in the view"));
        let line = screen
            .iter()
            .find(|l| l.split_whitespace().next() == Some(slot))
            .unwrap_or_else(|| panic!("{slot} not on the screen:\n{}", screen.join("\n")));
        let (outcome, event_mac) = &finished[slot];
        // The view, the event and the row agree on the board they identified (if any).
        let lower = |m: Option<&str>| m.map(str::to_ascii_lowercase);
        assert_eq!(lower(slot_view.mac.as_deref()), lower(row.mac.as_deref()), "{}", ctx());
        assert_eq!(lower(event_mac.as_deref()), lower(row.mac.as_deref()), "{}", ctx());
        match &b.case.expect {
            Expect::Pass => {
                assert_eq!(row.result, AttemptResult::Pass, "{}", ctx());
                assert_eq!(*outcome, Outcome::Pass, "{}", ctx());
                let want = b.board.handle.mac().to_string();
                assert!(row.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&want)), "{}", ctx());
                assert!(rig.flash_matches(&b.board.handle), "{slot}: the flash differs from the golden image");
                assert_eq!(slot_view.phase, SlotPhase::Pass, "{slot}");
                assert!(line.contains("PASS"), "{line}");
                table.push(format!("{slot:<16} pass"));
            }
            Expect::Fail { stage, words } => {
                assert_eq!(row.result, AttemptResult::Fail, "{}", ctx());
                assert_eq!(row.failure_stage.as_deref(), Some(*stage), "{}", ctx());
                let reason = row.failure_reason.as_deref().unwrap_or_default();
                assert_words(slot, reason, words);
                assert_eq!(
                    *outcome,
                    Outcome::Fail { stage: stage.to_string(), reason: reason.to_string() },
                    "{}",
                    ctx()
                );
                assert_eq!(
                    slot_view.phase,
                    SlotPhase::Fail { stage: stage.to_string(), reason: reason.to_string() },
                    "{slot}"
                );
                assert!(line.contains(&format!("FAIL {stage}: {reason}")), "{slot}: {line}");
                table.push(format!("{slot:<16} {stage:<9} {reason}"));
            }
        }
    }
    let passes = boards.iter().filter(|b| matches!(b.case.expect, Expect::Pass)).count() as u32;
    assert_eq!(view.totals.pass, passes, "{:?}", view.totals);
    assert_eq!(view.totals.fail, boards.len() as u32 - passes, "{:?}", view.totals);
    assert_eq!((view.totals.running, view.totals.queued), (0, 0));
    rig.ctx.store.clone().close().await;
    eprintln!("fault matrix: {} boards, results after {results_at:?}\n{}", boards.len(), table.join("\n"));
}

/// A full audit database, seen the way the operator sees it: the station stops starting
/// boards, the live view says why (a blocking notice above the slots) while the boards
/// wait as queued, and everything resumes — with every row — once the limit is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_store_shows_on_the_live_view_and_resumes() {
    let rig = rig(&["A", "B"]).await;
    let links = rig.dir.path().join("boards");
    std::fs::create_dir_all(&links).unwrap();
    let boards: Vec<PtyBoard> = (0..2)
        .map(|k| spawn_pty(BoardConfig::new(Chip::Esp32, mac(100 + k)), &links.join(format!("b{k}"))).unwrap())
        .collect();
    let infos: Vec<DeviceInfo> =
        boards.iter().enumerate().map(|(k, b)| DeviceInfo::simulated(k as u32, b.link.clone())).collect();

    let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.events.take().expect("events were asked for");
    let mut view = station.view.clone();
    let deadline = tokio::time::Instant::now() + RUN_LIMIT;
    let mut next = async || match tokio::time::timeout_at(deadline, events.recv()).await {
        Ok(Some(ev)) => ev,
        other => panic!("no station event in time: {other:?}"),
    };

    // Freeze the file at its size, then re-flash board A until the store has no room left
    // for another row (a page holds several rows, so this takes a few boards).
    rig.ctx.store.set_max_db_bytes(Some(1)).await.expect("set a limit below the file size");
    let mut passes = 0u32;
    let reason = 'full: loop {
        assert!(passes < 200, "the store never filled up");
        devices.plug(infos[0].clone());
        loop {
            match next().await {
                StationEvent::Finished { outcome, .. } => {
                    assert_eq!(outcome, Outcome::Pass, "a board that got a row passes");
                    passes += 1;
                    devices.unplug(&infos[0].syspath);
                    break;
                }
                StationEvent::StoreFault { reason } => break 'full reason,
                _ => {}
            }
        }
    };
    assert!(reason.contains("full"), "{reason}");

    // Refused: no board starts, both wait, the notice says why.
    devices.plug(infos[1].clone());
    let shown = tokio::time::timeout_at(
        deadline,
        view.wait_for(|v| {
            v.notice.as_ref().is_some_and(|n| n.blocking)
                && v.slots.iter().any(|s| s.name == "B" && s.phase == SlotPhase::Queued)
        }),
    )
    .await
    .expect("the view shows the store fault and the waiting board")
    .expect("the station is running")
    .clone();
    let notice = shown.notice.clone().unwrap();
    assert!(notice.text.contains("full"), "{notice:?}");
    // On a wide terminal the whole reason is on screen, above the slots.
    let screen =
        live::render(&shown, Instant::now(), live::Size { cols: 1000, rows: 200 }, live::Style { color: false });
    let at = screen.iter().position(|l| l.contains(&notice.text));
    let slot_b = screen.iter().position(|l| l.starts_with("B ") && l.contains("waiting"));
    assert!(at.is_some() && at < slot_b, "notice not above the waiting slot:\n{}", screen.join("\n"));
    assert!(!rig.flash_matches(&boards[1].handle), "board B was written while the store refused rows");
    // Everything recorded before is still there (board A's refused attempt either has no
    // row yet, or a running one whose completion waits for the store).
    let rows = rig.ctx.store.query(&AttemptFilter::all()).await.expect("reads still work");
    assert_eq!(rows.iter().filter(|r| r.result == AttemptResult::Pass).count() as u32, passes, "{rows:#?}");

    // The operator frees space: both boards are flashed, the notice goes away.
    rig.ctx.store.set_max_db_bytes(None).await.expect("lift the limit");
    let mut finished = BTreeMap::new();
    let mut recovered = false;
    while finished.len() < 2 || !recovered {
        match next().await {
            StationEvent::Finished { slot, outcome, .. } => {
                assert_eq!(outcome, Outcome::Pass, "{slot}");
                finished.insert(slot, ());
            }
            StationEvent::StoreRecovered => recovered = true,
            _ => {}
        }
    }
    let after = view.borrow().clone();
    assert!(after.notice.is_none(), "{:?}", after.notice);
    station.control.send(Control::DrainAndStop).await.unwrap();
    drop(devices);
    let (_, end) = tokio::time::timeout(Duration::from_secs(10), station.wait()).await.expect("the station stops");
    end.unwrap();
    let rows = rig.ctx.store.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(rows.len() as u32, passes + 2, "every board has exactly one row: {rows:#?}");
    assert!(rows.iter().all(|r| r.result == AttemptResult::Pass), "{rows:#?}");
    assert!(boards.iter().all(|b| rig.flash_matches(&b.handle)));
    assert!(rig.ctx.store.integrity_check().await.unwrap().ok);
}
