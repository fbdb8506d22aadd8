//! The real udev device source, under umockdev: real uevents on a real udev monitor, fake
//! USB serial adapters, and a fake ttyUSB whose other end is a PTY owned by the test, the
//! way an espsim board will sit behind it in the end-to-end tests.
//!
//! Driven through `tests/umockdev/harness.py`, with the `udev_probe` example as the
//! program under test (it runs `flashline::device` and prints one JSON line per event).
//! Needs Debian's umockdev, gir1.2-umockdev-1.0, python3-gi and libudev-dev; without
//! them these tests fail and say so.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const PACKAGES: &str = "umockdev gir1.2-umockdev-1.0 python3-gi libudev-dev";
const PYTHON: &str = "/usr/bin/python3";
const TIMEOUT: Duration = Duration::from_secs(20);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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

/// The `udev_probe` example, built with the same cargo and profile as this test.
fn probe_binary() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "flashline", "--example", "udev_probe", "--message-format=json"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd.current_dir(repo_root()).stderr(Stdio::inherit()).output().expect("run cargo");
        assert!(out.status.success(), "building the udev_probe example failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"]["name"] == "udev_probe")
            .find_map(|v| v["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no udev_probe executable")
    })
}

/// One run of the harness with the probe inside the testbed.
struct Harness {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Probe events read while waiting for something else.
    pending: Vec<Value>,
    /// Everything seen, for failure messages.
    log: Vec<String>,
    _tmp: tempfile::TempDir,
}

impl Harness {
    fn start(tmp: tempfile::TempDir, harness_args: &[String], probe_args: &[&str]) -> Harness {
        require_umockdev();
        let mut child = Command::new("umockdev-wrapper")
            .arg(PYTHON)
            .arg(repo_root().join("tests/umockdev/harness.py"))
            .args(harness_args)
            .arg("--")
            .arg(probe_binary())
            .args(probe_args)
            // Testbed directories go here and vanish with the TempDir, even after a crash.
            .env("TMPDIR", tmp.path())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start umockdev-wrapper");
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
        let mut h = Harness { child, stdin, lines, pending: Vec::new(), log: Vec::new(), _tmp: tmp };
        h.until(|l| l == "[harness] ok ready");
        h
    }

    /// Reads lines until `done` says so, keeping probe events; panics on harness errors.
    fn until(&mut self, mut done: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(e) => panic!("harness: {e:?} while waiting; output so far:\n{}", self.log.join("\n")),
            };
            self.log.push(line.clone());
            if line.starts_with("[harness] error") {
                panic!("{line}\noutput so far:\n{}", self.log.join("\n"));
            }
            if let Some(json) = line.strip_prefix("[child] ").filter(|l| l.starts_with('{')) {
                self.pending.push(serde_json::from_str(json).expect("probe prints JSON"));
            }
            if done(&line) {
                return line;
            }
        }
    }

    /// Runs one harness command and waits for its acknowledgement.
    fn cmd(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let ack = format!("[harness] ok {command}");
        self.until(|l| l.starts_with(&ack))
    }

    /// The next probe event of one of `kinds` (others, like `talk`, stay queued).
    fn next(&mut self, kinds: &[&str]) -> Value {
        let wanted = |v: &Value| kinds.iter().any(|k| v["event"] == *k);
        loop {
            if let Some(i) = self.pending.iter().position(wanted) {
                return self.pending.remove(i);
            }
            self.until(|l| l.starts_with("[child] {"));
        }
    }

    /// Ends the run; returns the probe events nobody asked for.
    fn finish(mut self) -> Vec<Value> {
        writeln!(self.stdin, "quit").unwrap();
        self.until(|l| l.starts_with("[harness] exit"));
        let status = self.child.wait().unwrap();
        assert!(status.success(), "harness ended with {status}; output:\n{}", self.log.join("\n"));
        std::mem::take(&mut self.pending)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn board(spec: &str) -> [String; 2] {
    ["--board".to_string(), spec.to_string()]
}

fn assert_device(ev: &Value, kind: &str, devnode: &str, usb_path: &str, vid: &str, pid: &str, serial: Option<&str>) {
    let ctx = || format!("event {ev}");
    assert_eq!(ev["event"], kind, "{}", ctx());
    assert_eq!(ev["devnode"], devnode, "{}", ctx());
    assert_eq!(ev["usb_path"], usb_path, "{}", ctx());
    assert_eq!(ev["id_path"], usb_path, "{}", ctx());
    assert_eq!(ev["vid"], vid, "{}", ctx());
    assert_eq!(ev["pid"], pid, "{}", ctx());
    assert_eq!(ev["serial"].as_str(), serial, "{}", ctx());
}

const PCI: &str = "pci-0000:00:14.0-usb-0";

#[test]
fn udev_events_are_enumerated_filtered_deduped_and_removed() {
    let args: Vec<String> = [
        board("kind=cp2102,present"),       // 0: /dev/ttyUSB0 on hub port 1-2.1
        board("kind=ch340"),                // 1: /dev/ttyUSB1, no serial number
        board("kind=pl2303"),               // 2: /dev/ttyUSB2, not a board adapter
        board("kind=ch9102,port=1-3"),      // 3: /dev/ttyACM0, root port 3
        board("kind=ftdi,bare,port=1-2.5"), // 4: /dev/ttyUSB3, no udev properties
    ]
    .concat();
    let mut h = Harness::start(tempfile::tempdir().unwrap(), &args, &[]);

    // Found by the start-up scan, reported before Ready.
    let first = h.next(&["added", "ready"]);
    assert_device(&first, "added", "/dev/ttyUSB0", &format!("{PCI}:2.1:1.0"), "10c4", "ea60", Some("0001"));
    assert_eq!(first["usb_port"], "1-2.1");
    assert_eq!(first["usb_interface"], "1-2.1:1.0");
    assert_eq!(first["driver"], "cp210x");
    assert_eq!(h.next(&["added", "ready"])["source"], "udev");

    // Hot-plug of a CH340 without serial number: the slot identity is the port.
    h.cmd("add 1");
    let ch340 = h.next(&["added", "removed"]);
    assert_device(&ch340, "added", "/dev/ttyUSB1", &format!("{PCI}:2.2:1.0"), "1a86", "7523", None);
    assert_eq!(ch340["usb_port"], "1-2.2");

    // A repeated add and a non-board adapter produce nothing: the next event is board 3.
    h.cmd("dup 1");
    h.cmd("add 2");
    h.cmd("add 3");
    let acm = h.next(&["added", "removed"]);
    assert_device(&acm, "added", "/dev/ttyACM0", &format!("{PCI}:3:1.0"), "1a86", "55d4", Some("5647000004"));
    assert_eq!(acm["usb_port"], "1-3");

    // Without udev's properties: ids from the USB parent's attributes, topology from sysfs.
    h.cmd("add 4");
    let bare = h.next(&["added", "removed"]);
    assert_eq!(bare["devnode"], "/dev/ttyUSB3", "{bare}");
    assert_eq!(bare["usb_path"], "1-2.5:1.0", "{bare}");
    assert_eq!(bare["id_path"], Value::Null, "{bare}");
    assert_eq!((&bare["vid"], &bare["pid"], &bare["serial"]), (&"0403".into(), &"6001".into(), &"A5000005".into()));
    assert_eq!(bare["usb_port"], "1-2.5", "{bare}");

    // Unplug: the removal carries what the device was added with.
    h.cmd("remove 1");
    let gone = h.next(&["added", "removed"]);
    assert_device(&gone, "removed", "/dev/ttyUSB1", &format!("{PCI}:2.2:1.0"), "1a86", "7523", None);

    // Re-enumeration: a new node, the same slot identity, and it counts as new again.
    h.cmd("add 1");
    let back = h.next(&["added", "removed"]);
    assert_device(&back, "added", "/dev/ttyUSB4", &format!("{PCI}:2.2:1.0"), "1a86", "7523", None);

    h.cmd("remove 2"); // never reported, so its removal is not either
    h.cmd("remove 0");
    let gone = h.next(&["added", "removed"]);
    assert_device(&gone, "removed", "/dev/ttyUSB0", &format!("{PCI}:2.1:1.0"), "10c4", "ea60", Some("0001"));

    let rest = h.finish();
    assert!(rest.is_empty(), "unexpected events: {rest:?}");
}

/// Plays a board behind a PTY: answers each `PING x` line with `PONG x`.
struct PtyBoard {
    _slave: OwnedFd,
    requests: mpsc::Receiver<String>,
}

impl PtyBoard {
    /// A PTY whose client side is reachable as `link` (as espsim publishes DIR/boardK).
    fn new(link: &Path) -> PtyBoard {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let mut raw = nix::sys::termios::tcgetattr(pty.slave.as_fd()).unwrap();
        nix::sys::termios::cfmakeraw(&mut raw);
        nix::sys::termios::tcsetattr(pty.slave.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw).unwrap();
        let name = nix::unistd::ttyname(pty.slave.as_fd()).expect("ttyname");
        std::os::unix::fs::symlink(name, link).unwrap();
        let (tx, requests) = mpsc::channel();
        let mut master = std::fs::File::from(pty.master);
        thread::spawn(move || {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            // Keeping our own slave open means reads never see EIO; they end with the test.
            while let Ok(1) = master.read(&mut byte) {
                if byte[0] != b'\n' {
                    line.push(byte[0]);
                    continue;
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                line.clear();
                if let Some(arg) = text.strip_prefix("PING ") {
                    let _ = master.write_all(format!("PONG {arg}\n").as_bytes());
                }
                if tx.send(text).is_err() {
                    break;
                }
            }
        });
        PtyBoard { _slave: pty.slave, requests }
    }
}

#[test]
fn ports_open_with_tokio_serial_and_bytes_reach_the_bridged_board() {
    let tmp = tempfile::tempdir().unwrap();
    let boards: Vec<PtyBoard> = (0..2).map(|k| PtyBoard::new(&tmp.path().join(format!("board{k}")))).collect();
    let modem_log = tmp.path().join("board1.lines");
    let args: Vec<String> = [
        board("kind=cp2102,present"),
        board(&format!("kind=ch340,modem={}", modem_log.display())),
        ["--bridge-dir".into(), tmp.path().display().to_string()],
    ]
    .concat();
    let mut h = Harness::start(tmp, &args, &["--talk"]);

    h.cmd("add 1");
    let mut talks = [h.next(&["talk"]), h.next(&["talk"])];
    talks.sort_by_key(|t| t["devnode"].as_str().unwrap_or_default().to_string());
    for (k, port) in [(0, "2.1"), (1, "2.2")] {
        let usb_path = format!("{PCI}:{port}:1.0");
        let request = boards[k].requests.recv_timeout(TIMEOUT).expect("the board got no bytes");
        assert_eq!(request, format!("PING {usb_path}"), "board {k}");
        let talk = &talks[k];
        assert_eq!(talk["devnode"], format!("/dev/ttyUSB{k}"), "{talk}");
        assert_eq!(talk["reply"], format!("PONG {usb_path}"), "{talk}");
    }

    // DTR released, RTS asserted, as the probe did (through the emulated modem ioctls).
    let lines = h.cmd("lines 0");
    assert!(lines.ends_with("DTR=0,RTS=1"), "{lines}");
    // The same changes, as a simulator with a side channel for modem lines would get them.
    let log = std::fs::read_to_string(&modem_log).expect("modem-line log of board 1");
    assert_eq!(log.lines().last(), Some("DTR=0 RTS=1"), "{log}");
    h.finish();
}

/// A chip on its own USB-Serial/JTAG port (303a:1001, ttyACM) re-enumerating on the real
/// udev path: the remove/add after its job's reset is that job's board (a), and after its
/// final reset it comes back in its application — as itself or as a TinyUSB device with
/// another id — and is not a new board (b). The probe plays the job (`--reenum`) and
/// prints the dispatcher's decisions.
#[test]
fn a_board_re_enumerating_on_its_own_usb_port_is_not_a_new_board() {
    let args: Vec<String> = board("kind=esp-usb,port=1-4,present").to_vec();
    let mut h = Harness::start(tempfile::tempdir().unwrap(), &args, &["--any", "--reenum"]);
    let usb_path = format!("{PCI}:4:1.0");
    let decision = |h: &mut Harness, devnode: &str, want: &str| {
        let ev = h.next(&["decision"]);
        assert_eq!((ev["devnode"].as_str(), ev["decision"].as_str()), (Some(devnode), Some(want)), "{ev}");
    };
    decision(&mut h, "/dev/ttyACM0", "new-board");
    assert_eq!(h.next(&["added"])["devnode"], "/dev/ttyACM0");

    // (a) Its job's reset: gone, then back on the same USB path and the next ttyACMn.
    h.cmd("reenum 0");
    decision(&mut h, "/dev/ttyACM0", "job-board-left");
    decision(&mut h, "/dev/ttyACM1", "back-to-job");
    let back = h.next(&["added"]);
    assert_device(&back, "added", "/dev/ttyACM1", &usb_path, "303a", "1001", Some("24:0A:C4:00:00:01"));

    // (b) The final reset: back in its application, first as a TinyUSB device with
    // another id, then as itself — neither is a new board.
    h.cmd("reenum 0 303a:4001");
    decision(&mut h, "/dev/ttyACM1", "app-left");
    decision(&mut h, "/dev/ttyACM2", "back-in-app");
    let app = h.next(&["added"]);
    assert_device(&app, "added", "/dev/ttyACM2", &usb_path, "303a", "4001", Some("24:0A:C4:00:00:01"));
    h.cmd("reenum 0");
    decision(&mut h, "/dev/ttyACM2", "app-left");
    decision(&mut h, "/dev/ttyACM3", "back-in-app");
    let rest = h.finish();
    assert!(rest.iter().all(|e| e["event"] == "added" || e["event"] == "removed" || e["event"] == "ready"), "{rest:?}");
}
