//! The daemon end to end: `flashline run` inside a umockdev testbed, on the real udev path,
//! with espsim boards behind the fake USB serial adapters.
//!
//! Each test writes its own station (config with a slot map, the sample golden image
//! pinned by its SHA-256, an audit database), starts `espsim` with `--flash-dir` so the
//! boards' flash can be compared with the image, and runs the daemon under
//! `tests/umockdev/harness.py`, which plugs and unplugs the fake adapters. The tests wait
//! on the daemon's JSON log lines and finally read the audit rows.
//!
//! Needs Debian's umockdev, gir1.2-umockdev-1.0 and python3-gi; without them the tests
//! fail and say what to install. The esptool flasher stubs are found in the workspace's
//! `.venv` (scripts/setup-esptool.sh) or through `FLASHLINE_STUB_DIR`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use flashline::image::{GoldenImage, ImageSource};
use flashline_audit::{AttemptFilter, AttemptResult, AttemptRow, AuditStore, StoreOptions};
use flashline_protocol::Chip;
use flashline_testkit::EspSim;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const PACKAGES: &str = "umockdev gir1.2-umockdev-1.0 python3-gi";
const PYTHON: &str = "/usr/bin/python3";
/// Stage transitions are logged at debug level; the tests wait on them.
const RUST_LOG: &str = "info,flashline::report=debug";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn flashline_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flashline"))
}

/// The `espsim` binary, built with the same cargo and profile as this test (cargo builds
/// only this package's binaries for its tests).
fn espsim_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "flashline-sim", "--bin", "espsim"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.current_dir(repo_root()).status().expect("run cargo");
        assert!(status.success(), "building espsim failed");
        flashline_testkit::workspace_bin("espsim")
    })
}

/// Fails (never skips) when the machine cannot run these tests, naming what to install.
fn require_umockdev() {
    let wrapper = Command::new("umockdev-wrapper").arg("true").status();
    let gi = Command::new(PYTHON)
        .args(["-c", "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev"])
        .status();
    match (wrapper, gi) {
        (Ok(w), Ok(g)) if w.success() && g.success() => {}
        (w, g) => panic!(
            "umockdev is not usable here (umockdev-wrapper: {w:?}, {PYTHON} with UMockdev bindings: {g:?}); \
             install it with: apt-get install -y {PACKAGES}"
        ),
    }
}

/// Hub port of harness board `k` (its default): port k+1 of a hub on root port 2.
fn usb_port(k: usize) -> String {
    format!("1-2.{}", k + 1)
}

fn slot(k: usize) -> String {
    format!("S{k}")
}

// ---------------------------------------------------------------------------------------
// The station on disk

/// A station directory: config, golden image, audit database, espsim links and flash files.
struct Station {
    dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    links: PathBuf,
    flash: PathBuf,
    manifest: PathBuf,
    image: GoldenImage,
}

impl Station {
    /// A station with slots S0..S{slots-1} on the harness's default ports and the sample
    /// image with an application of `app_kib` KiB.
    fn new(slots: usize, app_kib: usize, max_jobs: usize) -> Station {
        let dir = tempfile::Builder::new().prefix("fl-e2e-").tempdir().expect("tempdir");
        let manifest = flashline::cli::sample::write_sample(&dir.path().join("image"), Chip::Esp32, app_kib * 1024)
            .expect("write the sample image");
        let image = GoldenImage::load(&ImageSource::Manifest(manifest.clone())).expect("load the sample image");
        let links = dir.path().join("links");
        let flash = dir.path().join("flash");
        std::fs::create_dir_all(&links).unwrap();
        std::fs::create_dir_all(&flash).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let db = dir.path().join("db/audit.sqlite");
        let config = dir.path().join("station.toml");
        let st = Station { dir, config, db, links, flash, manifest, image };
        st.write_config(slots, max_jobs, "");
        st
    }

    /// Writes the config; `extra` is appended (e.g. a bad key for the input tests).
    fn write_config(&self, slots: usize, max_jobs: usize, extra: &str) {
        let mut map = String::new();
        for k in 0..slots {
            map.push_str(&format!("{} = \"{}\"\n", slot(k), usb_port(k)));
        }
        let text = format!(
            r#"station = "e2e"
database = "{db}"
max_jobs = {max_jobs}

[image]
manifest = "{manifest}"
sha256 = "{sha}"
chip = "esp32"

[flash]
baud = 921600
# PTYs have no modem lines: the simulated boards wait in download mode.
reset = "no-reset"
after = "no-reset"

[devices]
unmapped_ports = "ignore"

[log]
format = "json"
level = "info"
{extra}
[slots]
{map}"#,
            db = self.db.display(),
            manifest = self.manifest.display(),
            sha = self.image.sha256().to_hex(),
        );
        std::fs::write(&self.config, text).unwrap();
    }

    /// espsim with `count` ESP32 boards linked at `links/boardK`, flash in `flash/boardK.bin`.
    fn sim(&self, count: usize, mac_base: &str, extra: &[&str]) -> EspSim {
        let mut args: Vec<OsString> = vec![
            "--chip".into(),
            "esp32".into(),
            "--count".into(),
            count.to_string().into(),
            "--link-dir".into(),
            self.links.clone().into(),
            "--flash-dir".into(),
            self.flash.clone().into(),
            "--mac-base".into(),
            mac_base.into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        let sim = EspSim::start_bin(espsim_bin(), &args);
        assert_eq!(sim.boards.len(), count, "espsim boards: {:?}", sim.boards);
        sim
    }

    /// Board `k`'s flash (as espsim keeps it) holds every region of the golden image.
    fn assert_flashed(&self, k: usize) {
        let path = self.flash.join(format!("board{k}.bin"));
        let flash = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for r in self.image.regions() {
            let start = r.offset as usize;
            let got = flash.get(start..start + r.data.len());
            assert!(got == Some(&r.data[..]), "board {k}: flash at 0x{:x} differs from {}", r.offset, r.file.display());
        }
    }

    fn sha(&self) -> String {
        self.image.sha256().to_hex()
    }

    /// Every audit row, oldest first.
    fn rows(&self) -> Vec<AttemptRow> {
        with_store(&self.db, |store| async move {
            let mut rows = store.query(&AttemptFilter::all()).await.expect("query the audit rows");
            rows.sort_by_key(|r| r.id.0);
            rows
        })
    }

    fn integrity_ok(&self) -> bool {
        with_store(&self.db, |store| async move { store.integrity_check().await.expect("integrity_check").ok })
    }

    /// A harness run with the daemon on this station's config.
    fn run_daemon(&self, boards: &[String]) -> Testbed {
        let program = [flashline_bin().into_os_string(), "run".into(), "--config".into(), self.config.clone().into()];
        Testbed::start(self, boards, &program)
    }
}

/// Opens the store on a small runtime of its own and runs `f` with it.
fn with_store<T, F, Fut>(db: &Path, f: F) -> T
where
    F: FnOnce(AuditStore) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = AuditStore::open(db, StoreOptions::default()).await.expect("open the audit store");
        let out = f(store.clone()).await;
        store.close().await;
        out
    })
}

/// Asserts the row of a board that passed: identity, slot, image, result.
fn assert_pass_row(row: &AttemptRow, st: &Station, slot: &str, mac: &str) {
    let ctx = || format!("{row:#?}");
    assert_eq!(row.result, AttemptResult::Pass, "{}", ctx());
    assert_eq!(row.slot, slot, "{}", ctx());
    assert_eq!(row.mac.as_deref().map(str::to_ascii_lowercase).as_deref(), Some(mac), "{}", ctx());
    assert_eq!(row.image_sha256, st.sha(), "{}", ctx());
    assert_eq!(row.station_id, "e2e", "{}", ctx());
    assert!(row.chip.as_deref().is_some_and(|c| c.starts_with("ESP32")), "{}", ctx());
    assert!(row.ended_at.is_some() && row.failure_stage.is_none(), "{}", ctx());
    assert!(row.bytes_written > 0, "{}", ctx());
    assert!(row.port.starts_with("/dev/ttyUSB"), "{}", ctx());
}

// ---------------------------------------------------------------------------------------
// The daemon inside a umockdev testbed

/// One harness run. Its whole process group (harness, daemon, helper shell) is killed
/// when dropped, so no daemon outlives a failed test.
struct Testbed {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// The program's JSON log lines, in order.
    events: Vec<Value>,
    /// Everything seen, for failure messages.
    log: Vec<String>,
    exit: Option<String>,
}

impl Testbed {
    fn start(st: &Station, boards: &[String], program: &[OsString]) -> Testbed {
        require_umockdev();
        let mut cmd = Command::new("umockdev-wrapper");
        cmd.arg(PYTHON).arg(repo_root().join("tests/umockdev/harness.py")).arg("--bridge-dir").arg(&st.links).args([
            "--ready",
            "device source ready",
            "--ready-timeout",
            "60",
        ]);
        for b in boards {
            cmd.arg("--board").arg(b);
        }
        cmd.arg("--")
            .args(program)
            // Testbed directories go here and vanish with the station's TempDir.
            .env("TMPDIR", st.dir.path().join("tmp"))
            .env("RUST_LOG", RUST_LOG)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = cmd.spawn().expect("start umockdev-wrapper");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut tb = Testbed { child, stdin, lines, events: Vec::new(), log: Vec::new(), exit: None };
        tb.read_until(Duration::from_secs(90), "the harness to start the daemon", |l, _| l == "[harness] ok ready");
        tb
    }

    /// Reads output until `done(line, events)`; panics on a harness error or timeout.
    fn read_until(&mut self, timeout: Duration, what: &str, mut done: impl FnMut(&str, &[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(e) => panic!("{e:?} after {timeout:?} waiting for {what}; output so far:\n{}", self.tail()),
            };
            self.log.push(line.clone());
            if line.starts_with("[harness] error") {
                panic!("{line}\nwhile waiting for {what}; output so far:\n{}", self.tail());
            }
            if let Some(json) = line.strip_prefix("[child] ").filter(|l| l.starts_with('{')) {
                if let Ok(v) = serde_json::from_str::<Value>(json) {
                    self.events.push(v);
                }
            }
            if let Some(rc) = line.strip_prefix("[harness] exit ") {
                self.exit = Some(rc.to_string());
            }
            if done(&line, &self.events) {
                return;
            }
        }
    }

    fn tail(&self) -> String {
        let start = self.log.len().saturating_sub(150);
        self.log[start..].join("\n")
    }

    /// Runs one harness command and waits for its acknowledgement.
    fn cmd(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let ack = format!("[harness] ok {command}");
        self.read_until(Duration::from_secs(30), command, |l, _| l.starts_with(&ack));
    }

    /// Waits until at least `n` events (over the whole run) satisfy `pred`.
    fn wait_count(&mut self, n: usize, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) {
        if self.events.iter().filter(|v| pred(v)).count() >= n {
            return;
        }
        self.read_until(timeout, what, |_, evs| evs.iter().filter(|v| pred(v)).count() >= n);
    }

    /// Events with this log message.
    fn messages<'a>(&'a self, message: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events.iter().filter(move |v| v["message"] == message)
    }

    /// Ends the run (the daemon gets SIGTERM) and returns the harness's exit line value.
    fn quit(mut self) -> String {
        writeln!(self.stdin, "quit").unwrap();
        let _ = self.stdin.flush();
        self.read_until(Duration::from_secs(40), "the daemon to stop", |l, _| l.starts_with("[harness] exit"));
        let status = self.child.wait().unwrap();
        assert!(status.success(), "harness ended with {status}; output:\n{}", self.tail());
        self.exit.clone().unwrap_or_default()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The harness, the daemon and anything they started share our process group.
            let _ = kill(Pid::from_raw(-(self.child.id() as i32)), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn is(message: &'static str, slot: String) -> impl Fn(&Value) -> bool {
    move |v| v["message"] == message && v["slot"] == slot.as_str()
}

fn board(kind: &str, extra: &str) -> String {
    format!("kind={kind}{extra}")
}

// ---------------------------------------------------------------------------------------
// The tests

/// Boards plugged before the start (enumeration) and hot-plugged ones (uevents) are
/// flashed through the real udev path; rows and flash contents match.
#[test]
fn udev_boards_are_flashed_and_audited() {
    let st = Station::new(3, 96, 16);
    let sim = st.sim(3, "24:0a:c4:10:00:00", &[]);
    let boards = [board("cp2102", ",present"), board("ch340", ""), board("ftdi", "")];
    let mut tb = st.run_daemon(&boards);
    tb.cmd("add 1");
    tb.cmd("add 2");
    tb.wait_count(3, Duration::from_secs(60), "three passes", |v| v["message"] == "board passed");
    // Unplugging a finished board is only logged.
    tb.cmd("remove 1");
    tb.wait_count(1, Duration::from_secs(10), "the removal", is("board removed", slot(1)));
    assert_eq!(tb.messages("board failed").count(), 0);
    assert_eq!(tb.quit(), "0", "the daemon exits 0 on SIGTERM");

    let rows = st.rows();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let by_slot: BTreeMap<&str, &AttemptRow> = rows.iter().map(|r| (r.slot.as_str(), r)).collect();
    for k in 0..3 {
        let row = by_slot.get(slot(k).as_str()).unwrap_or_else(|| panic!("no row for {}: {rows:#?}", slot(k)));
        assert_pass_row(row, &st, &slot(k), &sim.boards[k].mac);
        st.assert_flashed(k);
    }
    // The adapters' USB identity is recorded: a CH340 has no serial number.
    let s0 = by_slot["S0"];
    assert_eq!((s0.usb_vid, s0.usb_pid, s0.usb_serial.as_deref()), (Some(0x10c4), Some(0xea60), Some("0001")));
    let s1 = by_slot["S1"];
    assert_eq!((s1.usb_vid, s1.usb_pid, s1.usb_serial.as_deref()), (Some(0x1a86), Some(0x7523), None));
    assert!(st.integrity_ok());
}

/// Sixteen boards at once: exactly one completed, passing row per board.
#[test]
fn sixteen_boards_in_parallel() {
    const N: usize = 16;
    let st = Station::new(N, 64, N);
    let sim = st.sim(N, "24:0a:c4:20:00:00", &[]);
    let boards: Vec<String> = (0..N).map(|_| board("cp2102", "")).collect();
    let mut tb = st.run_daemon(&boards);
    for k in 0..N {
        tb.cmd(&format!("add {k}"));
    }
    tb.wait_count(N, Duration::from_secs(90), "sixteen results", |v| {
        v["message"] == "board passed" || v["message"] == "board failed"
    });
    assert_eq!(tb.messages("board passed").count(), N, "{}", tb.tail());
    // All jobs overlapped: every board started before the first one finished.
    let first_done = tb.events.iter().position(|v| v["message"] == "board passed").unwrap();
    let started_before = tb.events[..first_done].iter().filter(|v| v["message"] == "flashing started").count();
    assert!(started_before >= N / 2, "only {started_before} boards started before the first finished");
    assert_eq!(tb.quit(), "0");

    let rows = st.rows();
    assert_eq!(rows.len(), N, "exactly one row per board: {rows:#?}");
    let by_slot: BTreeMap<&str, &AttemptRow> = rows.iter().map(|r| (r.slot.as_str(), r)).collect();
    assert_eq!(by_slot.len(), N, "one row per slot");
    for k in 0..N {
        assert_pass_row(by_slot[slot(k).as_str()], &st, &slot(k), &sim.boards[k].mac);
        st.assert_flashed(k);
    }
    assert!(st.integrity_ok());
}

/// A board pulled during the write gets a failed row naming the stage; plugged in again,
/// it gets a new attempt that passes.
#[test]
fn removal_mid_write_fails_the_attempt_and_reinsertion_passes() {
    let st = Station::new(1, 1024, 16);
    // Realistic UART and flash timing: the 1 MiB application takes seconds to write.
    let sim = st.sim(1, "24:0a:c4:30:00:00", &["--timing", "realistic"]);
    let mut tb = st.run_daemon(&[board("cp2102", "")]);
    tb.cmd("add 0");
    tb.wait_count(1, Duration::from_secs(60), "the write stage", |v| {
        v["message"] == "stage" && v["slot"] == "S0" && v["stage"] == "write"
    });
    tb.cmd("remove 0");
    tb.wait_count(1, Duration::from_secs(20), "the failed attempt", is("board failed", slot(0)));
    let failed = tb.messages("board failed").next().unwrap().clone();
    assert_eq!(failed["stage"], "write", "{failed}");
    assert_eq!(failed["reason"], "board removed during write", "{failed}");

    tb.cmd("add 0");
    tb.wait_count(1, Duration::from_secs(90), "the second attempt", |v| {
        (v["message"] == "board passed" || v["message"] == "board failed") && v["slot"] == "S0" && {
            // Only results after the first failure count.
            v != &failed
        }
    });
    assert_eq!(tb.messages("board passed").count(), 1, "{}", tb.tail());
    assert_eq!(tb.quit(), "0");

    let rows = st.rows();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[0].result, AttemptResult::Fail, "{:#?}", rows[0]);
    assert_eq!(rows[0].failure_stage.as_deref(), Some("write"), "{:#?}", rows[0]);
    assert_eq!(rows[0].failure_reason.as_deref(), Some("board removed during write"), "{:#?}", rows[0]);
    assert_eq!(rows[0].slot, "S0");
    assert_pass_row(&rows[1], &st, "S0", &sim.boards[0].mac);
    assert!(rows[1].rework, "the second attempt on the same MAC is rework: {:#?}", rows[1]);
    assert_ne!(rows[0].port, rows[1].port, "re-plugged boards get a new ttyUSB");
    st.assert_flashed(0);
    assert!(st.integrity_ok());
}

/// SIGHUP while a board is being written: the running job finishes with the image it
/// started with, the next board gets the reloaded image, and a broken config on a later
/// SIGHUP is refused while the daemon keeps serving.
#[test]
fn sighup_reloads_the_image_without_dropping_running_jobs() {
    let st = Station::new(2, 1024, 16);
    let sim = st.sim(2, "24:0a:c4:50:00:00", &["--timing", "realistic"]);
    // `exec` keeps the shell's pid, so the printed pid is the daemon's.
    let script = r#"echo "daemon pid $$"; exec "$1" run --config "$2""#;
    let program: Vec<OsString> = vec![
        "/bin/sh".into(),
        "-c".into(),
        script.into(),
        "sh".into(),
        flashline_bin().into(),
        st.config.clone().into(),
    ];
    let mut tb = Testbed::start(&st, &[board("cp2102", ""), board("cp2102", "")], &program);
    let pid: i32 = tb
        .log
        .iter()
        .find_map(|l| l.strip_prefix("[child] daemon pid "))
        .map(|p| p.trim().parse().expect("pid"))
        .expect("the daemon's pid");

    tb.cmd("add 0");
    tb.wait_count(1, Duration::from_secs(60), "the write stage", |v| {
        v["message"] == "stage" && v["slot"] == "S0" && v["stage"] == "write"
    });

    // A new golden image (another application) and its pin, then SIGHUP mid-write.
    let manifest2 = flashline::cli::sample::write_sample(&st.dir.path().join("image2"), Chip::Esp32, 96 * 1024)
        .expect("write the second image");
    let image2 = GoldenImage::load(&ImageSource::Manifest(manifest2.clone())).expect("load the second image");
    assert_ne!(image2.sha256(), st.image.sha256());
    let old_text = std::fs::read_to_string(&st.config).unwrap();
    let new_text = old_text
        .replace(&st.manifest.display().to_string(), &manifest2.display().to_string())
        .replace(&st.sha(), &image2.sha256().to_hex());
    std::fs::write(&st.config, &new_text).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGHUP).expect("SIGHUP the daemon");
    tb.wait_count(1, Duration::from_secs(30), "the reload", |v| v["message"] == "configuration reloaded");
    assert_eq!(tb.messages("board passed").count(), 0, "the write ended before the reload:\n{}", tb.tail());

    tb.wait_count(1, Duration::from_secs(90), "the running board", is("board passed", slot(0)));
    tb.cmd("add 1");
    tb.wait_count(1, Duration::from_secs(90), "the next board", is("board passed", slot(1)));

    // A broken config: refused, the daemon stays up with the reloaded one.
    std::fs::write(&st.config, format!("{new_text}\nbogus_key = 1\n")).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGHUP).expect("SIGHUP the daemon");
    tb.wait_count(1, Duration::from_secs(30), "the refused reload", |v| {
        v["message"].as_str().is_some_and(|m| m.starts_with("reload refused"))
    });
    assert_eq!(tb.quit(), "0");

    let rows = st.rows();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_pass_row(&rows[0], &st, "S0", &sim.boards[0].mac);
    assert_eq!(rows[0].image_sha256, st.sha(), "the running job keeps the image it started with");
    assert_eq!(rows[1].result, AttemptResult::Pass, "{:#?}", rows[1]);
    assert_eq!(rows[1].image_sha256, image2.sha256().to_hex(), "the next job uses the reloaded image");
    st.assert_flashed(0);
    let flash1 = std::fs::read(st.flash.join("board1.bin")).unwrap();
    for r in image2.regions() {
        let start = r.offset as usize;
        assert!(flash1.get(start..start + r.data.len()) == Some(&r.data[..]), "board 1 at 0x{:x}", r.offset);
    }
    assert!(st.integrity_ok());
}

/// SIGKILL mid-write: the next daemon closes the half-done row as interrupted, the
/// database is intact, and the boards still plugged in are flashed (start-up scan).
#[test]
fn sigkill_mid_run_then_restart_recovers() {
    let st = Station::new(2, 1024, 16);
    let sim = st.sim(2, "24:0a:c4:40:00:00", &["--timing", "realistic"]);
    // The first daemon in the background (its pid printed, for the kill), then, once it is
    // gone, the second one in the same testbed with the same boards.
    let script = r#"FL="$1"; CFG="$2"
"$FL" run --config "$CFG" &
echo "first daemon pid $!"
wait $!
echo "first daemon ended with $?"
exec "$FL" run --config "$CFG""#;
    let program: Vec<OsString> = vec![
        "/bin/sh".into(),
        "-c".into(),
        script.into(),
        "sh".into(),
        flashline_bin().into(),
        st.config.clone().into(),
    ];
    let boards = [board("cp2102", ",present"), board("cp2102", ",present")];
    let mut tb = Testbed::start(&st, &boards, &program);
    let pid: i32 = tb
        .log
        .iter()
        .find_map(|l| l.strip_prefix("[child] first daemon pid "))
        .map(|p| p.trim().parse().expect("pid"))
        .expect("the first daemon's pid");

    tb.wait_count(2, Duration::from_secs(60), "both boards writing", |v| {
        v["message"] == "stage" && v["stage"] == "write"
    });
    // The stage reaches the row through its own small transaction; the write itself takes
    // seconds, so a moment later both rows say "write".
    thread::sleep(Duration::from_millis(700));
    assert_eq!(tb.messages("board passed").count(), 0, "the write ended too soon for this test:\n{}", tb.tail());
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("SIGKILL the daemon");
    tb.read_until(Duration::from_secs(10), "the first daemon to die", |l, _| {
        l.starts_with("[child] first daemon ended")
    });
    assert!(tb.log.iter().any(|l| l == "[child] first daemon ended with 137"), "{}", tb.tail());
    assert_eq!(tb.messages("board passed").count(), 0, "killed before any board finished");

    // The second daemon: start-up repair, enumeration, two passes.
    tb.wait_count(2, Duration::from_secs(60), "the second daemon's start", |v| v["message"] == "device source ready");
    tb.wait_count(2, Duration::from_secs(120), "two passes", |v| v["message"] == "board passed");
    assert!(
        tb.events.iter().any(|v| v["message"].as_str().is_some_and(|m| m.contains("interrupted")) && v["rows"] == 2),
        "the restart reports the two rows it closed:\n{}",
        tb.tail()
    );
    assert_eq!(tb.quit(), "0");

    assert!(st.integrity_ok(), "PRAGMA integrity_check after SIGKILL");
    let rows = st.rows();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for row in &rows[..2] {
        assert_eq!(row.result, AttemptResult::Interrupted, "{row:#?}");
        assert_eq!(row.failure_stage.as_deref(), Some("write"), "the stage the daemon died in: {row:#?}");
        assert!(row.ended_at.is_some() && row.mac.is_some(), "{row:#?}");
    }
    let mut slots: Vec<&str> = rows[..2].iter().map(|r| r.slot.as_str()).collect();
    slots.sort();
    assert_eq!(slots, ["S0", "S1"]);
    for row in &rows[2..] {
        let k: usize = row.slot[1..].parse().unwrap();
        assert_pass_row(row, &st, &slot(k), &sim.boards[k].mac);
    }
    for k in 0..2 {
        st.assert_flashed(k);
    }
}

// ---------------------------------------------------------------------------------------
// Bad inputs: no testbed needed, the daemon refuses to start.

/// Runs `flashline run --config FILE`, which must fail with `code` and say `needle`.
fn refuses(config: &Path, code: i32, needles: &[&str]) -> String {
    let out = Command::new(flashline_bin())
        .args(["run", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run flashline");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "exit status; stderr:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
    stderr
}

#[test]
fn bad_config_and_image_inputs_exit_with_documented_codes() {
    let st = Station::new(1, 32, 4);
    let cfg = st.config.display().to_string();

    // Unknown key: a misspelled switch stops the line (2, with its position).
    st.write_config(1, 4, "max_job = 3\n");
    let err = refuses(&st.config, 2, &[&cfg, "max_job"]);
    assert!(err.contains(&format!("{cfg}:")), "{err}");

    // Malformed TOML: file:line:col.
    st.write_config(1, 4, "");
    let good = std::fs::read_to_string(&st.config).unwrap();
    let broken = good.replace("max_jobs = 4", "max_jobs = = 4");
    let line = broken.lines().position(|l| l.starts_with("max_jobs")).unwrap() + 1;
    std::fs::write(&st.config, &broken).unwrap();
    refuses(&st.config, 2, &[&format!("{cfg}:{line}:")]);

    // The golden image changed after pinning (a new build over the old): 3, both digests.
    std::fs::write(&st.config, &good).unwrap();
    let manifest = flashline::cli::sample::write_sample(st.manifest.parent().unwrap(), Chip::Esp32, 40 * 1024)
        .expect("rewrite the image");
    let changed = GoldenImage::load(&ImageSource::Manifest(manifest)).unwrap().sha256().to_hex();
    assert_ne!(changed, st.sha());
    refuses(&st.config, 3, &["changed on disk", &st.sha(), &changed]);

    // A file of the image missing: 3, naming it.
    let app = st.manifest.with_file_name("app.bin");
    std::fs::remove_file(&app).unwrap();
    refuses(&st.config, 3, &["missing", &app.display().to_string()]);

    // The database cannot be created (its directory is a file): 4.
    let st = Station::new(1, 32, 4);
    std::fs::write(st.dir.path().join("db"), b"not a directory").unwrap();
    refuses(&st.config, 4, &[&st.db.parent().unwrap().display().to_string()]);

    // The database path is a directory: 4.
    let st = Station::new(1, 32, 4);
    std::fs::create_dir_all(&st.db).unwrap();
    refuses(&st.config, 4, &[]);

    // No config file at all: 2, naming it.
    let missing = st.dir.path().join("nope.toml");
    refuses(&missing, 2, &[&missing.display().to_string()]);
}
