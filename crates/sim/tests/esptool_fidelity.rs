//! Acceptance: the simulator behaves like the chips where clients other than the CLI of
//! esptool 5.6 look — driven by the pinned esptool (its CLI and its Python API).
//!
//! - A stub uploaded over a running stub starts and greets (esptool does that with
//!   `--before no-reset-no-sync`, which does not know a stub runs; espflash always does).
//! - In the ROM the flash answers nothing until it is attached: esptool's own
//!   `test_attach_flash` sequence (`flash_id`, `read_flash_sfdp`, `attach_flash`, again).
//! - espsim's SIGUSR1 is the reset into download mode a PTY cannot carry.

use flashline_testkit::{esptool, EspSim};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A run that takes longer than this hangs (each run here takes well under a second).
const HANG: Duration = Duration::from_secs(30);

fn espsim(chip: &str, count: usize, dir: &Path) -> EspSim {
    let bin = Path::new(env!("CARGO_BIN_EXE_espsim"));
    let links = dir.join("links").display().to_string();
    EspSim::start_bin(bin, &["--chip", chip, "--count", &count.to_string(), "--link-dir", &links])
}

/// Runs `cmd`, killing it (and failing) if it hangs.
fn run(mut cmd: Command, what: &str) -> String {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > HANG {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{what} hangs\n{}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output { status, stdout, stderr } = child.wait_with_output().expect("output");
    let (stdout, stderr) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert!(status.success(), "{what} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    stdout.into_owned()
}

fn esptool_run(port: &Path, chip: &str, args: &[&str], what: &str) -> String {
    let mut cmd = Command::new(esptool());
    cmd.args(["--chip", chip, "--port"]).arg(port).args(args);
    run(cmd, what)
}

/// The Python of the pinned esptool's virtual environment.
fn python() -> PathBuf {
    esptool().with_file_name("python")
}

#[test]
fn a_stub_uploaded_over_the_running_stub_greets_again() {
    let dir = tempfile::tempdir().unwrap();
    let sim = espsim("esp32", 1, dir.path());
    let p = sim.port(0);
    let first = esptool_run(p, "esp32", &["--before", "no-reset", "--after", "no-reset-stub", "flash-id"], "first");
    assert!(first.contains("Stub flasher running"), "{first}");
    // No SYNC: esptool cannot tell a stub runs and uploads it again, over the running one.
    let again = esptool_run(p, "esp32", &["--before", "no-reset-no-sync", "--after", "no-reset", "flash-id"], "again");
    assert!(again.contains("Uploading stub flasher") && again.contains("Stub flasher running"), "{again}");
    assert!(again.contains("Manufacturer: ef") && again.contains("Device: 4016"), "{again}");
}

/// esptool 5.6's `test_attach_flash` steps through its Python API on a board fresh in
/// the ROM: before SPI_ATTACH (ESP8266: the empty FLASH_BEGIN) the flash is not routed
/// to the SPI controller, so esptool reads all ones.
fn attach_flash_output(port: &Path, chip: &str) -> (String, String) {
    let script = format!(
        "import esptool\n\
         from esptool.cmds import attach_flash, flash_id, read_flash_sfdp\n\
         with esptool.CHIP_DEFS['{chip}'](port='{port}') as esp:\n\
         \x20   esp.connect('no-reset')\n\
         \x20   flash_id(esp)\n\
         \x20   read_flash_sfdp(esp, 0, 4)\n\
         \x20   print('=== attach')\n\
         \x20   attach_flash(esp)\n\
         \x20   flash_id(esp)\n\
         \x20   read_flash_sfdp(esp, 0, 4)\n",
        port = port.display()
    );
    let mut cmd = Command::new(python());
    cmd.args(["-c", &script]);
    let out = run(cmd, &format!("{chip}: attach_flash sequence"));
    let (pre, post) = out.split_once("=== attach").expect("marker");
    (pre.to_string(), post.to_string())
}

#[test]
fn flash_id_before_and_after_attach_like_the_chips() {
    let dir = tempfile::tempdir().unwrap();
    for (chip, attached_at_boot) in [("esp32", false), ("esp8266", false), ("esp32c3", false), ("esp32s2", true)] {
        let sim = espsim(chip, 1, &dir.path().join(chip));
        let (pre, post) = attach_flash_output(sim.port(0), chip);
        if attached_at_boot {
            assert!(pre.contains("Detected flash size: 4MB"), "{chip}: the ROM attached it\n{pre}");
        } else {
            for want in
                ["Manufacturer: ff", "Device: ffff", "Detected flash size: Unknown", "SFDP[0..3]: 0xff 0xff 0xff 0xff"]
            {
                assert!(pre.contains(want), "{chip} before attach: {want:?} missing\n{pre}");
            }
        }
        for want in ["Manufacturer: ef", "Device: 4016", "Detected flash size: 4MB", "SFDP[0..3]: 0x53 0x46 0x44 0x50"]
        {
            assert!(post.contains(want), "{chip} after attach: {want:?} missing\n{post}");
        }
        // The CLI attaches before it reads: `flash-id --no-stub` knows the size.
        let cli = esptool_run(sim.port(0), chip, &["--before", "no-reset", "--no-stub", "flash-id"], "flash-id");
        assert!(cli.contains("Detected flash size: 4MB"), "{chip}\n{cli}");
    }
}

#[test]
fn sigusr1_resets_a_board_into_the_rom() {
    let dir = tempfile::tempdir().unwrap();
    let sim = espsim("esp32", 1, dir.path());
    let p = sim.port(0);
    esptool_run(p, "esp32", &["--before", "no-reset", "--after", "no-reset-stub", "flash-id"], "stub left running");
    let kept = esptool_run(p, "esp32", &["--before", "no-reset", "--after", "no-reset-stub", "chip-id"], "kept");
    assert!(kept.contains("Stub flasher is already running"), "no reset yet\n{kept}");
    let status = Command::new("kill").args(["-USR1", &sim.pid().to_string()]).status().expect("kill");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    let rom = esptool_run(p, "esp32", &["--before", "no-reset", "--after", "no-reset", "chip-id"], "rom");
    assert!(rom.contains("Uploading stub flasher"), "the ROM answers again\n{rom}");
}
