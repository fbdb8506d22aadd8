//! Helpers shared by flashline's tests and benchmarks.
//!
//! Tests that need real esptool never skip silently: if it is missing they fail with the
//! command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

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
