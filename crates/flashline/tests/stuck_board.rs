//! A board whose flasher stub is stuck in a command (a host vanished in the middle of it
//! on a fixture without reset lines) and answers nothing until its power is cut: `espsim
//! --fault hang-until-power-cycle`, power-cycled by SIGUSR1.
//!
//! - With `[recovery] power_cycle = "uhubctl"`, the daemon records the attempt as failed
//!   ("stuck in the flasher stub: power-cycle the board"), runs `uhubctl -l 1-2 -p 1 -a cycle` for the board's hub
//!   port — a fake `uhubctl` first on the daemon's `PATH` that records its arguments and
//!   power-cycles the simulated board — and once the port is back (the cut USB-UART
//!   bridge enumerates again) flashes the board.
//! - Without it, the attempt fails with "stuck in the flasher stub: power-cycle the
//!   board", in the log and the audit row, and the board is left alone.
//!
//! Needs umockdev like the other daemon tests (see `support_daemon`).

mod support_daemon;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flashline_audit::AttemptResult;
use flashline_session::STUB_STUCK;
use flashline_testkit::EspSim;
use support_daemon::*;

const MAC_BASE: &str = "24:0a:c4:90:00:00";
const STUCK: &[&str] = &["--fault", "hang-until-power-cycle"];

/// A directory with a fake `uhubctl` that appends its arguments to `calls` and sends
/// SIGUSR1 (power-cycle every board) to espsim `pid`.
fn fake_uhubctl(dir: &Path, calls: &Path, pid: u32) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!("#!/bin/sh\necho \"$@\" >> '{}'\nkill -USR1 {pid}\n", calls.display());
    let path = bin.join("uhubctl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The daemon, with `bin` first on its `PATH`.
fn daemon_with_path(st: &Station, bin: &Path) -> Vec<OsString> {
    let script = format!("PATH='{}':\"$PATH\" exec \"$1\" run --config \"$2\"", bin.display());
    st.shell_program(&script)
}

fn recovery(on: bool) -> Extra {
    let log = if on { "\n[recovery]\npower_cycle = \"uhubctl\"\n" } else { "" };
    Extra { log: log.into(), ..Extra::default() }
}

/// A one-slot station with a stuck board, the fake `uhubctl` (its calls file) and the
/// daemon, once the board's first attempt failed.
fn stuck_board_failed(power_cycle: bool) -> (Station, EspSim, PathBuf, Testbed) {
    let st = Station::new(1, 64, 1, &recovery(power_cycle));
    let sim = st.sim(0, MAC_BASE, STUCK);
    let calls = st.dir.path().join("uhubctl-calls");
    let bin = fake_uhubctl(st.dir.path(), &calls, sim.pid());
    let mut tb = Testbed::start(&st, &[st.board(0, ",present")], &daemon_with_path(&st, &bin), DAEMON_READY);
    tb.wait_count(0, 1, Duration::from_secs(60), "the stuck board's failure", is("board failed", Some(slot(0))));
    (st, sim, calls, tb)
}

#[test]
fn a_stuck_board_is_power_cycled_through_its_hub_port_and_flashed() {
    let t0 = Instant::now();
    let (st, _sim, calls, mut tb) = stuck_board_failed(true);
    let _keep = st.keep_on_failure();
    let failed = tb.messages("board failed").next().unwrap().clone();
    assert_eq!(failed["stage"], "connect", "{failed}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(STUB_STUCK), "{failed}");
    assert!(reason.contains("power-cycled the hub port (uhubctl -l 1-2 -p 1 -a cycle)"), "{failed}");
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "-l 1-2 -p 1 -a cycle\n", "one cycle of port 1 of hub 1-2");
    assert_eq!(tb.messages("board did not answer: power-cycled").count(), 1, "{}", tb.tail());

    // The port's power was cut: its USB-UART bridge leaves and enumerates again.
    tb.cmd("remove 0");
    tb.cmd("add 0");
    tb.wait_count(0, 1, Duration::from_secs(60), "the board after its power cycle", is("board passed", Some(slot(0))));
    assert_eq!(tb.quit(), "0");
    assert!(st.flashed(0), "the board holds the image");
    let rows = st.look().rows;
    let results: Vec<AttemptResult> = rows.iter().map(|r| r.result).collect();
    assert_eq!(results, [AttemptResult::Fail, AttemptResult::Pass], "{rows:#?}");
    // The row is recorded before the port is cycled; the log line says what was done.
    let reason = rows[0].failure_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with(STUB_STUCK), "{reason}");
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 1, "the flashed board is not cycled");
    println!("stuck board power-cycled and flashed in {:.1?}", t0.elapsed());
}

#[test]
fn without_the_opt_in_a_stuck_board_is_reported_and_left_alone() {
    let (st, _sim, calls, mut tb) = stuck_board_failed(false);
    let _keep = st.keep_on_failure();
    let failed = tb.messages("board failed").next().unwrap().clone();
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert_eq!(failed["stage"], "connect", "{failed}");
    assert!(reason.starts_with(STUB_STUCK), "{failed}");
    assert!(!reason.contains("power-cycled"), "{failed}");
    tb.watch_for(Duration::from_secs(2));
    assert_eq!(tb.quit(), "0");
    assert!(!calls.exists(), "uhubctl is not run without the opt-in");
    let rows = st.look().rows;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].result, AttemptResult::Fail);
    assert_eq!(rows[0].failure_stage.as_deref(), Some("connect"));
    assert!(rows[0].failure_reason.as_deref().unwrap_or_default().starts_with(STUB_STUCK), "{:#?}", rows[0]);
    assert!(!st.flashed(0));
}
