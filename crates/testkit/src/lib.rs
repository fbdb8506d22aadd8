//! Helpers shared by flashline's tests and benchmarks.
//!
//! Tests that need real esptool never skip silently: if it is missing they fail with the
//! command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod account;
mod boards;
pub mod mixed_line;

pub use boards::sim_board_description;
pub mod pg;

/// The esptool version the project pins as the judge of the simulator.
pub const ESPTOOL_VERSION: &str = "5.6.0";

/// Root of the workspace (where the top-level Cargo.toml lives).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).expect("crates/testkit is two levels below the root").to_path_buf()
}

/// Directory holding the binaries of the current build profile (`target/debug`), found
/// from the running test executable (`target/debug/deps/test-xxxx`).
pub fn target_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("exe dir");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("profile dir").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// Path of a workspace binary (e.g. `espsim`, `flashline`) built for this profile.
/// Panics with a clear message if it has not been built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = target_bin_dir().join(name);
    assert!(p.exists(), "{} not found: run `cargo build --workspace --bins` first", p.display());
    p
}

/// Path of the pinned esptool executable: `$FLASHLINE_ESPTOOL`, or `.venv/bin/esptool` in the
/// workspace root (created by `scripts/setup-esptool.sh`). Panics when neither exists or
/// the version is wrong, naming the command that fixes it.
pub fn esptool() -> PathBuf {
    let path = std::env::var_os("FLASHLINE_ESPTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/esptool"));
    assert!(
        path.exists(),
        "esptool not found at {}: run scripts/setup-esptool.sh (installs esptool=={ESPTOOL_VERSION} into .venv)",
        path.display()
    );
    let out = Command::new(&path).arg("version").output().expect("run esptool version");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.trim() == ESPTOOL_VERSION),
        "{} is not esptool {ESPTOOL_VERSION} (it says {text:?}): run scripts/setup-esptool.sh",
        path.display()
    );
    path
}

/// Directory of the pinned esptool's Python package (`.../site-packages/esptool`), as the
/// Python interpreter that runs [`esptool()`] (its `#!` line) imports it. Panics, naming the
/// fix, when that interpreter cannot import esptool.
pub fn esptool_package_dir() -> PathBuf {
    let exe = esptool();
    let script = std::fs::read(&exe).unwrap_or_else(|e| panic!("cannot read {}: {e}", exe.display()));
    let shebang = script
        .strip_prefix(b"#!")
        .and_then(|rest| rest.split(|b| *b == b'\n').next())
        .map(|line| String::from_utf8_lossy(line).into_owned());
    let mut words: Vec<String> = match shebang {
        Some(line) => line.split_whitespace().map(str::to_owned).collect(),
        None => vec![exe.with_file_name("python3").display().to_string()],
    };
    assert!(!words.is_empty(), "{} has an empty #! line", exe.display());
    let program = words.remove(0);
    let out = Command::new(&program)
        .args(&words)
        .args(["-c", "import esptool, os; print(os.path.dirname(esptool.__file__))"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (the interpreter of {}): {e}", exe.display()));
    assert!(
        out.status.success(),
        "{program} cannot import esptool: {}: run scripts/setup-esptool.sh",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(dir.join("__init__.py").is_file(), "{} is not the esptool package", dir.display());
    dir
}

/// Result of one esptool run.
#[derive(Debug)]
pub struct EsptoolRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs esptool against a port with `--before no-reset --after no-reset` (a PTY has no
/// modem lines) and returns its output. `args` follow the global options, e.g.
/// `["--chip", "esp32", "-b", "921600", "flash-id"]` — `--port` and the reset options are
/// added here.
pub fn run_esptool(port: &Path, args: &[&str]) -> EsptoolRun {
    let out = Command::new(esptool())
        .arg("--port")
        .arg(port)
        .args(["--before", "no-reset", "--after", "no-reset"])
        .args(args)
        .output()
        .expect("spawn esptool");
    EsptoolRun {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One board line printed by espsim: `boardK PATH MAC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBoard {
    pub name: String,
    pub path: PathBuf,
    pub mac: String,
}

/// A running `espsim` process, killed (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct EspSim {
    child: std::process::Child,
    pub boards: Vec<SimBoard>,
}

impl EspSim {
    /// Starts `espsim` (the workspace binary of this build profile) with `args`, waits until
    /// it prints `READY` (up to 20 s) and parses the board lines before it.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> EspSim {
        Self::start_bin(&workspace_bin("espsim"), args)
    }

    /// Like [`EspSim::start`] with an explicit binary path.
    pub fn start_bin<S: AsRef<std::ffi::OsStr>>(bin: &Path, args: &[S]) -> EspSim {
        Self::start_bin_logged(bin, args, std::process::Stdio::inherit())
    }

    /// Like [`EspSim::start_bin`], with the simulator's log (its stderr) sent to `stderr`,
    /// e.g. a file a test keeps when it fails.
    pub fn start_bin_logged<S: AsRef<std::ffi::OsStr>>(
        bin: &Path,
        args: &[S],
        stderr: impl Into<std::process::Stdio>,
    ) -> EspSim {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sim = EspSim { child, boards: Vec::new() };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.trim() == "READY" => break,
                Ok(line) => {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    assert_eq!(parts.len(), 3, "unexpected espsim line {line:?}");
                    sim.boards.push(SimBoard {
                        name: parts[0].to_string(),
                        path: PathBuf::from(parts[1]),
                        mac: parts[2].to_string(),
                    });
                }
                Err(_) => panic!("espsim did not print READY within 20 s (exit status {:?})", sim.child.try_wait()),
            }
        }
        sim
    }

    /// Path of board `k`'s port.
    pub fn port(&self, k: usize) -> &Path {
        &self.boards[k].path
    }

    /// Process id (e.g. to send signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to 5 s for a clean exit; returns whether it exited.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }
}

impl Drop for EspSim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if !self.terminate() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}
