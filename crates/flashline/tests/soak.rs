//! Soak: a thousand board insertions through the real station, in one process, with
//! random faults, checking that the daemon neither leaks nor loses a row.
//!
//! Everything but the hardware is the product: the station config is written to a file
//! and read with `Config::load`, the golden image is the sample image pinned by its
//! SHA-256, the audit store is a real SQLite file, and the dispatcher runs jobs that open
//! each board's pseudo-terminal with tokio-serial. The boards are `espsim` boards in this
//! process (timing off, 1 MB flash, a 32 KiB application), plugged into a fixed set of
//! slots through the simulated device source: each slot is reused many times, as an
//! operator swaps boards on a fixture. A board leaves its slot when its job reported a
//! result (the operator takes it out) or when it is pulled out mid-job.
//!
//! The fault plan is drawn from a seeded RNG, one independent draw per insertion, so a
//! failing run is replayed with the seed it prints (the interleaving of events can still
//! differ from run to run; the faults each board carries do not):
//!
//! ```sh
//! FLASHLINE_SOAK_SEED=1234 cargo test -p flashline --test soak -- --nocapture
//! ```
//!
//! Knobs: `FLASHLINE_SOAK_INSERTIONS` (default 1000), `FLASHLINE_SOAK_SLOTS` (default 16),
//! `FLASHLINE_SOAK_SEED` (default: drawn from the clock and printed).
//!
//! Measured after a warm-up and at the end, both times with the station running and idle
//! (no board plugged, every simulated board closed): open file descriptors, tokio tasks
//! alive, resident memory (its growth past the warm-up's peak). The audit store must then
//! hold exactly one completed row per insertion, with the outcome the injected fault
//! implies.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashline::config::Config;
use flashline::device::{DeviceInfo, SimulatedDevices};
use flashline::image::{GoldenImage, ImageSource};
use flashline::pipeline::SerialPorts;
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Golden, Outcome, StationContext, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult, AttemptRow};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::{spawn_pty, BoardConfig, BootNoise, Fault, Mode, PtyBoard};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

/// Insertions before the baseline is taken: every pool, cache and lazily opened
/// connection of the daemon has been used by then, with every kind of fault.
const WARMUP: usize = 64;
/// Size of the application of the golden image: small, so a healthy board is quick.
const APP_KIB: usize = 32;
/// No station event for this long while boards are plugged means something hangs. The
/// slowest legitimate job (a board that never enters download mode: 7 connect attempts)
/// takes about 4 s, more on a loaded machine.
const STALL: Duration = Duration::from_secs(60);
/// How often the test looks at its boards (fault detection, closed links).
const TICK: Duration = Duration::from_millis(5);
/// Resident memory may grow by at most this much between the baseline and the end. What
/// grows legitimately: SQLite's page cache of the writer and reader connections follows
/// the database file (about 0.8 KiB per row, up to 2 MB per connection) and allocator
/// fragmentation. Measured: +1.6 to +2.7 MB over 1000 insertions, +3.7 MB over 3000 (a
/// 2.3 MB database), so it flattens. A leak of a job's state (port buffers, a prepared
/// image copy, a stage task) costs tens of KiB per insertion: tens of MB over the run.
const RSS_GROWTH_LIMIT_KIB: u64 = 8 * 1024;
/// File descriptors of the audit store's SQLite connections: each holds the database, its
/// `-wal` and its `-shm` (3 descriptors); the store has 1 writer and at most 4 readers
/// (`StoreOptions::default`), opened lazily. A connection first opened after the baseline
/// is the only fd growth allowed, and it is fixed, whatever the number of insertions.
const DB_FDS_MAX: usize = 3 * (1 + 4);

// ---------------------------------------------------------------------------------------
// The fault plan

/// What is wrong with one inserted board.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Healthy,
    /// Every reply a few ms late: still a good board.
    SlowReplies {
        ms: u64,
    },
    /// One byte of the board's `n`th frame flipped: caught (fail) or harmless (pass), but
    /// never a wrong MAC in the log.
    CorruptFrame {
        n: u64,
    },
    /// Flash cells that do not take the image: the verify must fail.
    BadFlash {
        addr: u32,
        len: u32,
    },
    /// An ESP8266 on an ESP32 line.
    WrongChip,
    /// The link drops after `bytes` (the board was pulled); the removal event follows.
    UnplugAfter {
        bytes: u64,
    },
    /// The board stops answering after `bytes` and stays plugged until its job gives up.
    HangAfter {
        bytes: u64,
    },
    NotDownload(BootNoise),
    /// A good board pulled out `after` its job started: races the job's own end.
    Yank {
        after: Duration,
    },
    /// The board freezes after `bytes` and is pulled out `after` that: always mid-job.
    FreezeThenYank {
        bytes: u64,
        after: Duration,
    },
}

/// What the audit row must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Pass,
    Fail,
    /// Either, depending on where the fault lands or which event comes first.
    Either,
}

impl Kind {
    fn label(&self) -> &'static str {
        match self {
            Kind::Healthy => "healthy",
            Kind::SlowReplies { .. } => "slow-replies",
            Kind::CorruptFrame { .. } => "corrupt-frame",
            Kind::BadFlash { .. } => "bad-flash",
            Kind::WrongChip => "wrong-chip",
            Kind::UnplugAfter { .. } => "unplug-after",
            Kind::HangAfter { .. } => "hang-after",
            Kind::NotDownload(BootNoise::Silent) => "not-download=silent",
            Kind::NotDownload(BootNoise::Garbage) => "not-download=garbage",
            Kind::Yank { .. } => "removed mid-job",
            Kind::FreezeThenYank { .. } => "frozen, then removed",
        }
    }

    fn faults(&self) -> Vec<Fault> {
        match *self {
            Kind::Healthy | Kind::Yank { .. } => vec![],
            Kind::SlowReplies { ms } => vec![Fault::SlowReplies { ms }],
            Kind::CorruptFrame { n } => vec![Fault::CorruptFrame(n)],
            Kind::BadFlash { addr, len } => vec![Fault::BadFlash { addr, len }],
            Kind::WrongChip => vec![Fault::WrongChip(Chip::Esp8266)],
            Kind::UnplugAfter { bytes } => vec![Fault::UnplugAfter(bytes)],
            Kind::HangAfter { bytes } | Kind::FreezeThenYank { bytes, .. } => vec![Fault::HangAfter(bytes)],
            Kind::NotDownload(noise) => vec![Fault::NotDownload(noise)],
        }
    }

    fn expect(&self) -> Expect {
        match self {
            Kind::Healthy | Kind::SlowReplies { .. } => Expect::Pass,
            Kind::CorruptFrame { .. } | Kind::Yank { .. } => Expect::Either,
            _ => Expect::Fail,
        }
    }
}

/// What a healthy board sees of one job, measured on the first insertion: the fault
/// positions are drawn inside it, so every unplug and hang lands mid-job.
#[derive(Debug, Clone, Copy)]
struct Calibration {
    bytes_in: u64,
    frames_out: u64,
}

/// The fault of insertion `n`: its own RNG stream, so the plan does not depend on the
/// order in which slots free up.
fn draw_kind(seed: u64, n: usize, cal: &Calibration, golden: &GoldenImage) -> Kind {
    let mut rng = StdRng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // Stay clear of the last exchanges (md5, the final reboot) so the fault is mid-job.
    let within = |rng: &mut StdRng| rng.random_range(1..=cal.bytes_in * 9 / 10);
    match rng.random_range(0..100u32) {
        0..40 => Kind::Healthy,
        40..48 => Kind::SlowReplies { ms: rng.random_range(1..=3) },
        48..56 => Kind::CorruptFrame { n: rng.random_range(1..=cal.frames_out) },
        56..64 => {
            let (addr, len) = bad_cells(&mut rng, golden);
            Kind::BadFlash { addr, len }
        }
        64..70 => Kind::WrongChip,
        70..78 => Kind::UnplugAfter { bytes: within(&mut rng) },
        78..82 => Kind::HangAfter { bytes: within(&mut rng) },
        82..85 => Kind::NotDownload(BootNoise::Silent),
        85..88 => Kind::NotDownload(BootNoise::Garbage),
        88..94 => Kind::Yank { after: Duration::from_millis(rng.random_range(0..=40)) },
        _ => Kind::FreezeThenYank { bytes: within(&mut rng), after: Duration::from_millis(rng.random_range(0..=200)) },
    }
}

/// Bad cells under a byte of the image that is not 0xFF (an erased cell already reads
/// 0xFF, so a fault there would go unnoticed, rightly).
fn bad_cells(rng: &mut StdRng, golden: &GoldenImage) -> (u32, u32) {
    let regions = golden.regions();
    loop {
        let r = &regions[rng.random_range(0..regions.len())];
        let i = rng.random_range(0..r.data.len());
        if r.data[i] != 0xFF {
            return (r.offset + i as u32, rng.random_range(1..=16));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Measurements

#[derive(Debug, Clone)]
struct Fds {
    total: usize,
    /// The audit store's SQLite files.
    db: usize,
    /// Pseudo-terminals: simulator masters and slaves, and ports the jobs opened.
    pty: usize,
    by_kind: BTreeMap<String, usize>,
}

fn count_fds(db: &Path) -> Fds {
    let db = db.to_string_lossy().into_owned();
    let mut fds = Fds { total: 0, db: 0, pty: 0, by_kind: BTreeMap::new() };
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Ok(entry) = entry else { continue };
        // The directory handle of this very listing is gone by the time it is read.
        let Ok(target) = std::fs::read_link(entry.path()) else { continue };
        let t = target.to_string_lossy().into_owned();
        let kind = if t.starts_with(&db) {
            fds.db += 1;
            "audit database".to_string()
        } else if t == "/dev/ptmx" || t.starts_with("/dev/pts/") {
            fds.pty += 1;
            "pty".to_string()
        } else if let Some((kind, _)) = t.split_once(":[") {
            kind.to_string()
        } else if t.starts_with("anon_inode:") {
            t.clone()
        } else {
            "file".to_string()
        };
        fds.total += 1;
        *fds.by_kind.entry(kind).or_default() += 1;
    }
    fds
}

#[derive(Debug, Clone)]
struct Snapshot {
    fds: Fds,
    tasks: usize,
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
}

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /proc/self/status"))
}

fn snapshot(db: &Path) -> Snapshot {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    Snapshot {
        fds: count_fds(db),
        tasks: tokio::runtime::Handle::current().metrics().num_alive_tasks(),
        rss_kib: status_field(&status, "VmRSS"),
        hwm_kib: status_field(&status, "VmHWM"),
        threads: status_field(&status, "Threads"),
    }
}

// ---------------------------------------------------------------------------------------
// The operator

struct Insertion {
    kind: Kind,
    slot: usize,
    mac: Mac,
    started: bool,
    outcome: Option<Outcome>,
    /// The pass was checked against the simulator's flash.
    flash_ok: Option<bool>,
    /// The MAC the station announced for this board's job (`Identified`).
    identified: Option<String>,
}

/// The board sitting in a slot.
struct Live {
    n: usize,
    board: PtyBoard,
    yank_at: Option<Instant>,
}

struct Slot {
    name: String,
    syspath: PathBuf,
    live: Option<Live>,
    /// Insertions of this slot whose job has not reported its end yet, in plug order (a
    /// board plugged right after a removal waits for the previous job's row).
    pending: VecDeque<usize>,
}

struct Soak {
    seed: u64,
    golden: Arc<Golden>,
    links: PathBuf,
    devices: SimulatedDevices,
    events: flashline::station::EventReceiver,
    slots: Vec<Slot>,
    by_name: HashMap<String, usize>,
    ins: Vec<Insertion>,
    /// Boards pulled out whose link has not closed yet.
    closing: Vec<PtyBoard>,
    cal: Option<Calibration>,
    /// Next slot to look at for a free place (round robin, so every slot is reused).
    cursor: usize,
    last_event: Instant,
    unexpected: Vec<String>,
    /// Boards plugged while the slot's previous job was still recording its row.
    early_replugs: usize,
}

fn serial(n: usize) -> String {
    format!("SOAK{n:05}")
}

impl Soak {
    fn mac(n: usize) -> Mac {
        Mac::offset(flashline_sim::default_mac_base(Chip::Esp32), n as u32 + 1)
    }

    /// Plugs insertions into free slots (among the first `width`) until `limit` are in.
    fn plug_free_slots(&mut self, limit: usize, width: usize) {
        for _ in 0..width {
            if self.ins.len() >= limit {
                return;
            }
            let k = self.cursor % width;
            self.cursor = self.cursor.wrapping_add(1);
            if self.slots[k].live.is_none() {
                self.plug(k);
            }
        }
    }

    fn plug(&mut self, k: usize) {
        let n = self.ins.len();
        let kind = match &self.cal {
            None => Kind::Healthy,
            Some(cal) => draw_kind(self.seed, n, cal, &self.golden.image),
        };
        let mac = Self::mac(n);
        let mut cfg = BoardConfig::new(Chip::Esp32, mac);
        cfg.flash_size = 1 << 20;
        cfg.faults = kind.faults();
        let link = self.links.join(format!("i{n}"));
        let board = spawn_pty(cfg, &link).unwrap_or_else(|e| panic!("insertion {n}: cannot start its board: {e}"));
        let mut info = DeviceInfo::simulated(k as u32, link);
        // The adapter serial names the insertion in its audit row.
        info.serial = Some(serial(n));
        self.ins.push(Insertion {
            kind,
            slot: k,
            mac,
            started: false,
            outcome: None,
            flash_ok: None,
            identified: None,
        });
        let slot = &mut self.slots[k];
        if !slot.pending.is_empty() {
            self.early_replugs += 1;
        }
        slot.pending.push_back(n);
        slot.live = Some(Live { n, board, yank_at: None });
        self.devices.plug(info);
    }

    /// The board of slot `k` leaves it: the port disappears, then udev reports it.
    fn pull(&mut self, k: usize) {
        let slot = &mut self.slots[k];
        let live = slot.live.take().expect("a board to pull");
        live.board.handle.unplug();
        self.devices.unplug(&slot.syspath);
        self.closing.push(live.board);
    }

    fn on_event(&mut self, ev: StationEvent) {
        match ev {
            StationEvent::JobStarted { slot, .. } => {
                let k = self.by_name[&slot];
                let Some(&n) = self.slots[k].pending.front() else {
                    self.unexpected.push(format!("{slot}: job started without a board waiting"));
                    return;
                };
                if std::mem::replace(&mut self.ins[n].started, true) {
                    self.unexpected.push(format!("{slot}: insertion {n} started twice"));
                }
                if let Kind::Yank { after } = self.ins[n].kind {
                    if let Some(live) = self.slots[k].live.as_mut().filter(|l| l.n == n) {
                        live.yank_at = Some(Instant::now() + after);
                    }
                }
            }
            StationEvent::Identified { slot, mac, .. } => {
                // Only the running job, the oldest of the slot's unfinished ones, can
                // identify a board.
                let k = self.by_name[&slot];
                match self.slots[k].pending.front() {
                    Some(&n) if self.ins[n].started && self.ins[n].identified.is_none() => {
                        self.ins[n].identified = Some(mac)
                    }
                    front => self
                        .unexpected
                        .push(format!("{slot}: board {mac} identified, but the slot's running job is {front:?}")),
                }
            }
            StationEvent::Finished { slot, outcome, mac, .. } => {
                let k = self.by_name[&slot];
                let Some(n) = self.slots[k].pending.pop_front() else {
                    self.unexpected.push(format!("{slot}: result {outcome:?} without a board"));
                    return;
                };
                if !self.ins[n].started {
                    self.unexpected.push(format!("{slot}: insertion {n} finished without starting"));
                }
                // The result line of the log names the board the job identified.
                if mac != self.ins[n].identified {
                    self.unexpected.push(format!(
                        "{slot}: insertion {n} ({}) finished as {mac:?}, but its job identified {:?}",
                        self.ins[n].kind.label(),
                        self.ins[n].identified
                    ));
                }
                let still_in = self.slots[k].live.as_ref().is_some_and(|l| l.n == n);
                if still_in {
                    let handle = &self.slots[k].live.as_ref().expect("live").board.handle;
                    if outcome == Outcome::Pass {
                        self.ins[n].flash_ok = Some(flash_matches(&handle.flash(), &self.golden));
                    }
                    if self.cal.is_none() {
                        assert_eq!(outcome, Outcome::Pass, "the first (healthy) board must pass");
                        let s = handle.stats();
                        self.cal = Some(Calibration { bytes_in: s.bytes_in, frames_out: s.frames_out });
                    }
                    self.pull(k);
                }
                self.ins[n].outcome = Some(outcome);
            }
            StationEvent::StoreFault { reason } => self.unexpected.push(format!("store fault: {reason}")),
            _ => {}
        }
    }

    /// Faults the test must act on, and boards whose link has closed.
    fn look_at_boards(&mut self) {
        let now = Instant::now();
        for k in 0..self.slots.len() {
            let Some(live) = self.slots[k].live.as_mut() else { continue };
            let kind = self.ins[live.n].kind;
            match kind {
                // The board dropped its link: udev reports the removal.
                Kind::UnplugAfter { .. } if live.board.handle.mode() == Mode::Dead => {
                    self.pull(k);
                    continue;
                }
                Kind::FreezeThenYank { after, .. }
                    if live.yank_at.is_none() && live.board.handle.mode() == Mode::Dead =>
                {
                    live.yank_at = Some(now + after);
                }
                _ => {}
            }
            if live.yank_at.is_some_and(|t| now >= t) {
                self.pull(k);
            }
        }
        // A board's link is gone once the simulator removed its symlink.
        self.closing.retain(|b| b.link.symlink_metadata().is_ok());
    }

    /// Done with the first `limit` insertions: every one has its result, no board is in a
    /// slot and every simulated board is closed.
    fn settled(&self, limit: usize) -> bool {
        self.ins.len() == limit
            && self.ins.iter().all(|i| i.outcome.is_some())
            && self.slots.iter().all(|s| s.live.is_none() && s.pending.is_empty())
            && self.closing.is_empty()
    }

    /// Runs insertions until `limit` are done, using the first `width` slots.
    async fn drive(&mut self, limit: usize, width: usize) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.last_event = Instant::now();
        loop {
            self.plug_free_slots(limit, width);
            self.look_at_boards();
            if self.settled(limit) {
                return;
            }
            if self.last_event.elapsed() > STALL {
                panic!("no station event for {STALL:?} (seed {}): {}", self.seed, self.dump());
            }
            tokio::select! {
                ev = self.events.recv() => {
                    let ev = ev.unwrap_or_else(|| panic!("the station stopped early (seed {})", self.seed));
                    self.last_event = Instant::now();
                    self.on_event(ev);
                }
                _ = tick.tick() => {}
            }
        }
    }

    fn dump(&self) -> String {
        let mut out = String::new();
        for s in &self.slots {
            let live = s.live.as_ref().map(|l| format!("{} ({})", l.n, self.ins[l.n].kind.label()));
            if live.is_some() || !s.pending.is_empty() {
                out.push_str(&format!("\n  {}: board {live:?}, waiting for results of {:?}", s.name, s.pending));
            }
        }
        out.push_str(&format!("\n  closing boards: {}", self.closing.len()));
        out
    }
}

fn flash_matches(flash: &[u8], golden: &Golden) -> bool {
    golden.image.regions().iter().all(|r| {
        let start = r.offset as usize;
        flash.get(start..start + r.data.len()) == Some(&r.data[..])
    })
}

// ---------------------------------------------------------------------------------------
// The station

fn config_text(db: &Path, manifest: &Path, sha256: &str, slots: usize) -> String {
    let mut s = format!(
        r#"station = "soak"
database = "{db}"
max_jobs = {slots}

[image]
manifest = "{manifest}"
sha256 = "{sha256}"
chip = "esp32"

[flash]
baud = 921600
# Pseudo-terminals have no DTR/RTS lines: the boards wait in download mode.
reset = "no-reset"
after = "no-reset"

[slots]
"#,
        db = db.display(),
        manifest = manifest.display(),
    );
    for k in 0..slots {
        s.push_str(&format!("S{k} = \"sim-usb-0:{k}:1.0\"\n"));
    }
    s
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn print_snapshot(label: &str, s: &Snapshot) {
    println!(
        "soak: {label:<8} fds {:>3} (audit db {}, pty {}) {:?}  tasks {:>3}  RSS {:>6} KiB  HWM {:>6} KiB  threads {}",
        s.fds.total, s.fds.db, s.fds.pty, s.fds.by_kind, s.tasks, s.rss_kib, s.hwm_kib, s.threads
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_insertions_leak_nothing_and_lose_no_row() {
    let total = env_num("FLASHLINE_SOAK_INSERTIONS", 1000) as usize;
    let width = env_num("FLASHLINE_SOAK_SLOTS", 16) as usize;
    let clock_seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let seed = env_num("FLASHLINE_SOAK_SEED", clock_seed);
    assert!(width >= 1 && total > WARMUP, "need at least {} insertions and one slot", WARMUP + 1);
    println!("soak: seed {seed} (replay: FLASHLINE_SOAK_SEED={seed}), {total} insertions into {width} slots");

    let dir = tempfile::Builder::new().prefix("flashline-soak-").tempdir().expect("tempdir");
    let manifest = flashline::cli::sample::write_sample(&dir.path().join("image"), Chip::Esp32, APP_KIB * 1024)
        .expect("write the sample image");
    let image = GoldenImage::load(&ImageSource::Manifest(manifest.clone())).expect("load the sample image");
    let db = dir.path().join("audit.sqlite");
    let config_path = dir.path().join("flashline.toml");
    std::fs::write(&config_path, config_text(&db, &manifest, &image.sha256().to_hex(), width)).unwrap();
    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
    let links = dir.path().join("boards");
    std::fs::create_dir_all(&links).unwrap();

    let before_station = snapshot(&db);
    let ctx = StationContext::build(&config, Arc::new(SerialPorts), CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    let (golden, store) = (ctx.plan.images.single().expect("one image").clone(), ctx.store.clone());
    println!(
        "soak: flasher stubs: {}",
        ctx.plan.flasher.stubs.as_ref().map_or("none (ROM loader)".into(), |s| s.source().to_string())
    );
    let ctx = Arc::new(ctx);
    let (mut station, devices) = Station::start_simulated(ctx, &config, Ui::Logs);
    let events = station.events.take().expect("events were asked for");

    let slots: Vec<Slot> = (0..width)
        .map(|k| Slot {
            name: format!("S{k}"),
            syspath: DeviceInfo::simulated(k as u32, PathBuf::new()).syspath,
            live: None,
            pending: VecDeque::new(),
        })
        .collect();
    let by_name = slots.iter().enumerate().map(|(k, s)| (s.name.clone(), k)).collect();
    let mut soak = Soak {
        seed,
        golden: golden.clone(),
        links,
        devices,
        events,
        slots,
        by_name,
        ins: Vec::with_capacity(total),
        closing: Vec::new(),
        cal: None,
        cursor: 0,
        last_event: Instant::now(),
        unexpected: Vec::new(),
        early_replugs: 0,
    };

    // Warm-up: one healthy board alone (it calibrates the fault positions), then the mix.
    let t0 = Instant::now();
    soak.drive(1, 1).await;
    println!("soak: calibration: {:?}", soak.cal.expect("calibrated"));
    soak.drive(WARMUP, width).await;
    // Let the last jobs' tasks and connections wind down before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = snapshot(&db);
    let t1 = Instant::now();
    soak.drive(total, width).await;
    let measured = t1.elapsed();

    // The end measurement, on the same idle station. Whatever is still winding down gets
    // a moment; a leak does not go away by waiting.
    let deadline = Instant::now() + Duration::from_secs(5);
    let end = loop {
        let s = snapshot(&db);
        let fds_back = s.fds.total - s.fds.db <= start.fds.total - start.fds.db;
        if (s.tasks <= start.tasks && fds_back) || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = t0.elapsed();

    // Stop the station the way the demo does, then look at what it left behind.
    let control = station.control.clone();
    control.send(Control::DrainAndStop).await.expect("station running");
    drop(control);
    let Soak { devices, ins, unexpected, early_replugs, .. } = soak;
    drop(devices);
    let (view, source_end) = station.wait().await;
    source_end.expect("the simulated source ends cleanly");

    let rows = store.query(&AttemptFilter::all()).await.expect("query the audit store");
    let chain = store.verify_chain().await.expect("verify the hash chain");
    store.close().await;
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    drop(golden);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_station = snapshot(&db);

    // ---- report
    print_snapshot("before", &before_station);
    print_snapshot("start", &start);
    print_snapshot("end", &end);
    print_snapshot("stopped", &after_station);
    let n_measured = total - WARMUP;
    println!(
        "soak: {n_measured} insertions measured in {:.1} s ({:.1} insertions/s); {total} in all in {:.1} s ({:.1} insertions/s)",
        measured.as_secs_f64(),
        n_measured as f64 / measured.as_secs_f64(),
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
    println!(
        "soak: fds {} -> {}, tasks {} -> {}, RSS {} -> {} KiB ({:+} KiB), HWM {} KiB; station totals pass {} fail {}",
        start.fds.total,
        end.fds.total,
        start.tasks,
        end.tasks,
        start.rss_kib,
        end.rss_kib,
        end.rss_kib as i64 - start.rss_kib as i64,
        end.hwm_kib,
        view.totals.pass,
        view.totals.fail
    );
    let mut by_kind: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for i in &ins {
        let e = by_kind.entry(i.kind.label()).or_default();
        e.0 += 1;
        match i.outcome {
            Some(Outcome::Pass) => e.1 += 1,
            _ => e.2 += 1,
        }
    }
    println!("soak: {early_replugs} boards plugged while their slot's previous job was still recording its row");
    for (kind, (n, pass, fail)) in &by_kind {
        println!("soak:   {kind:<22} {n:>4} boards: {pass:>4} pass, {fail:>4} fail");
    }

    // ---- checks: the rows
    let mut problems: Vec<String> = unexpected;
    if rows.len() != total {
        problems.push(format!("{} audit rows for {total} insertions", rows.len()));
    }
    let mut by_serial: HashMap<&str, Vec<&AttemptRow>> = HashMap::new();
    for r in &rows {
        match r.usb_serial.as_deref() {
            Some(s) => by_serial.entry(s).or_default().push(r),
            None => problems.push(format!("row {} has no adapter serial", r.id)),
        }
        if matches!(r.result, AttemptResult::Running | AttemptResult::Interrupted) {
            problems.push(format!("row {} ({:?}) is {:?}", r.id, r.usb_serial, r.result));
        }
    }
    let expected: HashSet<String> = (0..total).map(serial).collect();
    for s in by_serial.keys() {
        if !expected.contains(*s) {
            problems.push(format!("row for unknown insertion {s}"));
        }
    }
    let mut removed_reasons = 0;
    for (n, i) in ins.iter().enumerate() {
        let what = format!("insertion {n} ({}, slot S{}, {:?})", i.kind.label(), i.slot, i.kind);
        let row = match by_serial.get(serial(n).as_str()).map(Vec::as_slice) {
            Some([row]) => *row,
            Some(more) => {
                problems.push(format!("{what}: {} rows", more.len()));
                continue;
            }
            None => {
                problems.push(format!("{what}: no row"));
                continue;
            }
        };
        let outcome_says = match &i.outcome {
            Some(Outcome::Pass) => AttemptResult::Pass,
            Some(Outcome::Fail { .. }) => AttemptResult::Fail,
            other => {
                problems.push(format!("{what}: job ended {other:?}"));
                continue;
            }
        };
        if row.result != outcome_says {
            problems.push(format!("{what}: row says {:?}, the station reported {:?}", row.result, i.outcome));
        }
        match (i.kind.expect(), row.result) {
            (Expect::Pass, AttemptResult::Pass) | (Expect::Fail, AttemptResult::Fail) | (Expect::Either, _) => {}
            (want, got) => problems.push(format!(
                "{what}: expected {want:?}, row says {got:?} ({:?}: {:?})",
                row.failure_stage, row.failure_reason
            )),
        }
        if row.slot != format!("S{}", i.slot) {
            problems.push(format!("{what}: row names slot {}", row.slot));
        }
        let mac = i.mac.to_string();
        match (&row.mac, row.result) {
            (Some(m), _) if !m.eq_ignore_ascii_case(&mac) => {
                problems.push(format!("{what}: row has MAC {m}, the board is {mac}"))
            }
            (None, AttemptResult::Pass) => problems.push(format!("{what}: passed without a MAC")),
            _ => {}
        }
        if row.result == AttemptResult::Pass && i.flash_ok == Some(false) {
            problems.push(format!("{what}: passed, but the board's flash differs from the image"));
        }
        if row.rework {
            problems.push(format!("{what}: marked rework, but every board is new"));
        }
        let reason = row.failure_reason.as_deref().unwrap_or("");
        if reason.contains("removed") {
            removed_reasons += 1;
        }
        if matches!(i.kind, Kind::FreezeThenYank { .. }) && !reason.contains("board removed") {
            problems.push(format!("{what}: pulled out mid-job, but the row says {:?}: {reason}", row.failure_stage));
        }
    }
    let unplugs = ins.iter().filter(|i| matches!(i.kind, Kind::UnplugAfter { .. })).count();
    println!(
        "soak: {} rows, audit db {} KiB, hash chain {} rows valid {}",
        rows.len(),
        db_bytes / 1024,
        chain.rows_checked,
        chain.is_valid()
    );
    println!("soak: {removed_reasons} failures recorded as removals ({unplugs} unplug-after boards)");
    if !chain.is_valid() || chain.rows_checked != total as u64 {
        problems.push(format!("hash chain: {} rows checked, problems {:?}", chain.rows_checked, chain.problems));
    }

    // ---- checks: resources
    if start.fds.pty != 0 || end.fds.pty != 0 {
        problems.push(format!("pseudo-terminals open while idle: start {}, end {}", start.fds.pty, end.fds.pty));
    }
    let (start_other, end_other) = (start.fds.total - start.fds.db, end.fds.total - end.fds.db);
    if end_other > start_other {
        problems.push(format!(
            "file descriptors grew: {start_other} -> {end_other} besides the audit database ({:?} -> {:?})",
            start.fds.by_kind, end.fds.by_kind
        ));
    }
    if end.fds.db > DB_FDS_MAX {
        problems.push(format!("{} descriptors on the audit database, its pool allows {DB_FDS_MAX}", end.fds.db));
    }
    if end.tasks > start.tasks {
        problems.push(format!("tokio tasks alive: {} at start, {} at the end", start.tasks, end.tasks));
    }
    if after_station.tasks > before_station.tasks {
        problems.push(format!(
            "tokio tasks alive: {} before the station, {} after it stopped",
            before_station.tasks, after_station.tasks
        ));
    }
    // The baseline is the warm-up's peak: memory the allocator gave back after a peak
    // (the golden image's compression at start, a burst of jobs) and faults in again is
    // the working set coming back, not a leak. A leak grows past the peak.
    let baseline = start.rss_kib.max(start.hwm_kib);
    if end.rss_kib > baseline + RSS_GROWTH_LIMIT_KIB {
        problems.push(format!(
            "RSS grew to {} KiB, {} KiB over the warm-up's peak (limit {RSS_GROWTH_LIMIT_KIB} KiB)",
            end.rss_kib,
            end.rss_kib - baseline
        ));
    }
    assert!(problems.is_empty(), "soak (seed {seed}) found {} problems:\n{}", problems.len(), problems.join("\n"));
}
