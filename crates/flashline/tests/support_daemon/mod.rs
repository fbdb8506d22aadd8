//! The daemon as a process, for the end-to-end tests (`daemon_e2e.rs`) and the crash and
//! storage-fault tests (`crash_storage.rs`): a station on disk (config, sample golden
//! image, audit database), `espsim` boards, and `flashline run` inside a umockdev testbed
//! driven by `tests/umockdev/harness.py`.
//!
//! The daemon can be started directly or by a small shell script (e.g. a loop that kills
//! and starts it again in the same testbed); the log lines are remembered with their
//! position so each daemon life can be read on its own, and the database is only ever
//! looked at read-only, while a daemon runs (or is dead).
//!
//! Needs Debian's umockdev, gir1.2-umockdev-1.0 and python3-gi; without them the tests
//! fail and say what to install.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use flashline::image::{GoldenImage, ImageSource};
use flashline_audit::{AttemptFilter, AttemptRow, AuditStore, ChainReport};
use flashline_protocol::Chip;
use flashline_testkit::EspSim;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const PACKAGES: &str = "umockdev gir1.2-umockdev-1.0 python3-gi";
pub const PYTHON: &str = "/usr/bin/python3";
/// Stage transitions are logged at debug level; the tests wait on them.
const RUST_LOG: &str = "info,flashline::report=debug";
/// The daemon's log line once it listens for boards: where a testbed run starts the test.
pub const DAEMON_READY: &str = "device source ready";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `flashline` binary: this build's, or `FLASHLINE_TEST_FLASHLINE_BIN` (a frozen copy,
/// so a long run over many seeds is not changed by a rebuild meanwhile).
pub fn flashline_bin() -> PathBuf {
    std::env::var_os("FLASHLINE_TEST_FLASHLINE_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flashline")), PathBuf::from)
}

/// The `espsim` binary, built with the same cargo and profile as this test (cargo builds
/// only this package's binaries for its tests), or `FLASHLINE_TEST_ESPSIM_BIN`.
fn espsim_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("FLASHLINE_TEST_ESPSIM_BIN") {
            return PathBuf::from(bin);
        }
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

pub fn slot(k: usize) -> String {
    format!("S{k}")
}

// ---------------------------------------------------------------------------------------
// The station on disk

/// A station directory: config, golden image, audit database, espsim links and flash files.
pub struct Station {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
    links: PathBuf,
    pub flash: PathBuf,
    pub manifest: PathBuf,
    pub image: GoldenImage,
}

/// What a test adds to the generated config.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Top-level keys (before the first table).
    pub top: String,
    /// Keys of `[flash]`.
    pub flash: String,
    /// Keys of `[log]`.
    pub log: String,
}

impl Station {
    /// A station with slots S0..S{slots-1} on the harness's default ports and the sample
    /// image with an application of `app_kib` KiB.
    pub fn new(slots: usize, app_kib: usize, max_jobs: usize, extra: &Extra) -> Station {
        let st = Station::without_db_dir(slots, app_kib, max_jobs, extra);
        std::fs::create_dir_all(st.db.parent().unwrap()).unwrap();
        st
    }

    /// Like [`Station::new`], but the database's directory is left for the daemon to create.
    pub fn without_db_dir(slots: usize, app_kib: usize, max_jobs: usize, extra: &Extra) -> Station {
        let dir = tempfile::Builder::new().prefix("fl-daemon-").tempdir().expect("tempdir");
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
        st.write_config(slots, max_jobs, extra);
        st
    }

    pub fn write_config(&self, slots: usize, max_jobs: usize, extra: &Extra) {
        let mut map = String::new();
        for k in 0..slots {
            map.push_str(&format!("{} = \"{}\"\n", slot(k), usb_port(k)));
        }
        let text = format!(
            r#"station = "e2e"
database = "{db}"
max_jobs = {max_jobs}
{top}
[image]
manifest = "{manifest}"
sha256 = "{sha}"
chip = "esp32"

[flash]
baud = 921600
# PTYs have no modem lines: the simulated boards wait in download mode.
reset = "no-reset"
after = "no-reset"
{flash}
[devices]
unmapped_ports = "ignore"

[log]
format = "json"
level = "info"
{log}
[slots]
{map}"#,
            db = self.db.display(),
            top = extra.top,
            flash = extra.flash,
            log = extra.log,
            manifest = self.manifest.display(),
            sha = self.sha(),
        );
        std::fs::write(&self.config, text).unwrap();
    }

    /// Board `k`: an espsim process of its own (so it can be power-cycled alone), its PTY
    /// linked at `links/bK/board0`, its flash kept in `flash/bK/board0.bin` (which
    /// survives a power cycle). MAC: `mac_base` + k.
    pub fn sim(&self, k: usize, mac_base: &str, extra: &[&str]) -> EspSim {
        let mac = mac_base.parse::<flashline_protocol::chip::Mac>().expect("MAC").offset(k as u32);
        let mut args: Vec<OsString> = vec![
            "--chip".into(),
            "esp32".into(),
            "--link-dir".into(),
            self.links.join(format!("b{k}")).into(),
            "--flash-dir".into(),
            self.flash.join(format!("b{k}")).into(),
            "--mac-base".into(),
            mac.to_string().into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("espsim-b{k}.log")))
            .expect("espsim log file");
        let sim = EspSim::start_bin_logged(espsim_bin(), &args, log);
        assert_eq!(sim.boards.len(), 1, "espsim boards: {:?}", sim.boards);
        sim
    }

    /// A guard that keeps the station directory (config, database, flash files, the
    /// testbed's `output.log` with the daemon's log, the boards' `espsim-bK.log`) when the
    /// test fails, and prints where it is. Drop it after the testbed and the simulators.
    pub fn keep_on_failure(&self) -> KeepOnFailure {
        KeepOnFailure(self.dir.path().to_path_buf())
    }

    /// One espsim process with `count` ESP32 boards linked at `links/boardK` (the harness's
    /// default bridges), their flash in `flash/boardK.bin`. MACs: `mac_base` + K.
    pub fn sims(&self, count: usize, mac_base: &str, extra: &[&str]) -> EspSim {
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

    /// The harness spec of board `k`, bridged to its espsim PTY; `extra` like `,present`.
    pub fn board(&self, k: usize, extra: &str) -> String {
        format!("kind=cp2102,id={k},bridge={}{extra}", self.links.join(format!("b{k}/board0")).display())
    }

    /// Whether board `k`'s flash (as espsim keeps it) holds every region of the image.
    pub fn flashed(&self, k: usize) -> bool {
        let Ok(flash) = std::fs::read(self.flash.join(format!("b{k}/board0.bin"))) else { return false };
        self.image.regions().iter().all(|r| {
            let start = r.offset as usize;
            flash.get(start..start + r.data.len()) == Some(&r.data[..])
        })
    }

    /// Board `k` of [`Station::sims`]: its flash holds every region of the golden image.
    pub fn assert_flashed(&self, k: usize) {
        let path = self.flash.join(format!("board{k}.bin"));
        let flash = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for r in self.image.regions() {
            let start = r.offset as usize;
            let got = flash.get(start..start + r.data.len());
            assert!(got == Some(&r.data[..]), "board {k}: flash at 0x{:x} differs from {}", r.offset, r.file.display());
        }
    }

    pub fn sha(&self) -> String {
        self.image.sha256().to_hex()
    }

    /// A read-only look at the database (never writes, never closes `running` rows): safe
    /// beside a live daemon, a dead one, or a lock held by another process.
    pub fn look(&self) -> Look {
        with_runtime(async {
            let store = AuditStore::open_read_only(&self.db).await.expect("open the audit store read-only");
            let mut rows = store.query(&AttemptFilter::all()).await.expect("query the audit rows");
            rows.sort_by_key(|r| r.id.0);
            let integrity = store.integrity_check().await.expect("integrity_check");
            let chain = store.verify_chain().await.expect("verify_chain");
            store.close().await;
            Look { rows, integrity_ok: integrity.ok, integrity: integrity.messages, chain }
        })
    }

    /// `flashline log verify --db DB`: the operator's check of the hash chain. Returns the
    /// exit status and the output.
    pub fn log_verify(&self) -> (Option<i32>, String) {
        let out = Command::new(flashline_bin())
            .args(["log", "verify", "--db"])
            .arg(&self.db)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run flashline log verify");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    }

    /// `/bin/sh -c SCRIPT sh FLASHLINE CONFIG`: a shell script around the daemon, with the
    /// flashline binary as `$1` and this station's config as `$2`.
    pub fn shell_program(&self, script: &str) -> Vec<OsString> {
        let mut program: Vec<OsString> = ["/bin/sh", "-c", script, "sh"].map(OsString::from).into();
        program.push(flashline_bin().into());
        program.push(self.config.clone().into());
        program
    }

    /// A harness run with the daemon on this station's config.
    pub fn run_daemon(&self, boards: &[String]) -> Testbed {
        let program = [flashline_bin().into_os_string(), "run".into(), "--config".into(), self.config.clone().into()];
        Testbed::start(self, boards, &program, DAEMON_READY)
    }
}

/// The database as a read-only reader saw it.
#[derive(Debug, Clone)]
pub struct Look {
    /// Every row, by id.
    pub rows: Vec<AttemptRow>,
    pub integrity_ok: bool,
    pub integrity: Vec<String>,
    pub chain: ChainReport,
}

pub fn with_runtime<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

// ---------------------------------------------------------------------------------------
// The daemon inside a umockdev testbed

/// See [`Station::keep_on_failure`].
pub struct KeepOnFailure(PathBuf);

impl Drop for KeepOnFailure {
    fn drop(&mut self) {
        if !thread::panicking() {
            return;
        }
        let name = self.0.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let kept = self.0.with_file_name(format!("{name}-kept"));
        match std::fs::rename(&self.0, &kept) {
            Ok(()) => eprintln!("test failed: station directory kept in {}", kept.display()),
            Err(e) => eprintln!("test failed: could not keep {} ({e})", self.0.display()),
        }
    }
}

/// One harness run. Its whole process group (harness, daemon, shell loop) is killed when
/// dropped, so no daemon outlives a failed test.
pub struct Testbed {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// `output.log` in the station directory: every output line, as it arrives.
    file: Option<std::fs::File>,
    /// Every output line, in order.
    pub log: Vec<String>,
    /// The program's JSON log lines, each with the index of its line in `log`.
    pub events: Vec<(usize, Value)>,
    exit: Option<String>,
}

impl Testbed {
    /// Starts `program` in a testbed with `boards`; returns once the program printed a line
    /// containing `ready`.
    pub fn start(st: &Station, boards: &[String], program: &[OsString], ready: &str) -> Testbed {
        require_umockdev();
        let mut cmd = Command::new("umockdev-wrapper");
        cmd.arg(PYTHON).arg(repo_root().join("tests/umockdev/harness.py")).arg("--bridge-dir").arg(&st.links).args([
            "--ready",
            ready,
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
        let file = std::fs::OpenOptions::new().create(true).append(true).open(st.dir.path().join("output.log")).ok();
        let mut tb = Testbed { child, stdin, lines, file, log: Vec::new(), events: Vec::new(), exit: None };
        tb.read_until(Duration::from_secs(90), "the harness to start the program", |l, _| l == "[harness] ok ready");
        tb
    }

    /// Reads output until `done(line, events)`; panics on a harness error or timeout.
    pub fn read_until(&mut self, timeout: Duration, what: &str, mut done: impl FnMut(&str, &[(usize, Value)]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(e) => panic!("{e:?} after {timeout:?} waiting for {what}; output so far:\n{}", self.tail()),
            };
            self.record(&line);
            if line.starts_with("[harness] error") {
                panic!("{line}\nwhile waiting for {what}; output so far:\n{}", self.tail());
            }
            if let Some(rc) = line.strip_prefix("[harness] exit ") {
                self.exit = Some(rc.to_string());
            }
            if done(&line, &self.events) {
                return;
            }
        }
    }

    /// Reads whatever output is already there, without waiting.
    pub fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.record(&line);
        }
    }

    /// Remembers an output line, and the program's JSON log line in it (if it is one).
    fn record(&mut self, line: &str) {
        if let Some(f) = self.file.as_mut() {
            let _ = writeln!(f, "{line}");
        }
        self.log.push(line.to_string());
        if let Some(json) = line.strip_prefix("[child] ").filter(|l| l.starts_with('{')) {
            if let Ok(v) = serde_json::from_str::<Value>(json) {
                self.events.push((self.log.len() - 1, v));
            }
        }
    }

    /// The first output line at or after `from` that starts with `prefix`, waiting for it;
    /// returns its index and text.
    pub fn wait_line(&mut self, from: usize, prefix: &str, timeout: Duration) -> (usize, String) {
        if let Some(i) = (from..self.log.len()).find(|&i| self.log[i].starts_with(prefix)) {
            return (i, self.log[i].clone());
        }
        self.read_until(timeout, prefix, |l, _| l.starts_with(prefix));
        let i = self.log.len() - 1;
        (i, self.log[i].clone())
    }

    pub fn tail(&self) -> String {
        let start = self.log.len().saturating_sub(150);
        self.log[start..].join("\n")
    }

    /// Runs one harness command and waits for its acknowledgement.
    pub fn cmd(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let ack = format!("[harness] ok {command}");
        self.read_until(Duration::from_secs(30), command, |l, _| l.starts_with(&ack));
    }

    /// The JSON events logged at or after output line `from`.
    pub fn events_since(&self, from: usize) -> impl Iterator<Item = &Value> + '_ {
        self.events.iter().filter(move |(i, _)| *i >= from).map(|(_, v)| v)
    }

    /// The events (over the whole run) with this log message.
    pub fn messages<'a>(&'a self, message: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events_since(0).filter(move |v| v["message"] == message)
    }

    /// Waits until at least `n` events logged at or after line `from` satisfy `pred`.
    pub fn wait_count(&mut self, from: usize, n: usize, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) {
        let count = |evs: &[(usize, Value)]| evs.iter().filter(|(i, v)| *i >= from && pred(v)).count();
        if count(&self.events) >= n {
            return;
        }
        self.read_until(timeout, what, |_, evs| count(evs) >= n);
    }

    /// Keeps reading for `d` (a quiet period the test wants to observe).
    pub fn watch_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.record(&line);
                    if line.starts_with("[harness] error") {
                        panic!("{line}; output so far:\n{}", self.tail());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(e) => panic!("{e:?}; output so far:\n{}", self.tail()),
            }
        }
    }

    /// Ends the run (the program gets SIGTERM) and returns the harness's exit line value.
    pub fn quit(mut self) -> String {
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

/// `pred` for events with this message (and slot, if given).
pub fn is(message: &'static str, slot: Option<String>) -> impl Fn(&Value) -> bool {
    move |v| v["message"] == message && slot.as_deref().is_none_or(|s| v["slot"] == s)
}

/// The pid in a `[child] ... pid N` line.
pub fn pid_of(line: &str) -> Pid {
    let n: i32 =
        line.rsplit(' ').next().and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| panic!("no pid in {line:?}"));
    Pid::from_raw(n)
}
