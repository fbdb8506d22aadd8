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
//! fail and say what to install. The daemon uses its built-in flasher stubs. The station,
//! espsim and testbed code is shared with the crash tests in `support_daemon`.

mod support_daemon;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use flashline::image::{GoldenImage, ImageSource};
use flashline_audit::{AttemptResult, AttemptRow};
use flashline_protocol::Chip;
use nix::sys::signal::{kill, Signal};
use support_daemon::{flashline_bin, is, pid_of, slot, Extra, Station, Testbed, DAEMON_READY};

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

/// The harness spec of a board of [`Station::sims`] (the harness's default bridge); `extra`
/// like `,present`.
fn board(kind: &str, extra: &str) -> String {
    format!("kind={kind}{extra}")
}

// ---------------------------------------------------------------------------------------
// The tests

/// Boards plugged before the start (enumeration) and hot-plugged ones (uevents) are
/// flashed through the real udev path; rows and flash contents match.
#[test]
fn udev_boards_are_flashed_and_audited() {
    let st = Station::without_db_dir(3, 96, 16, &Extra::default());
    let sim = st.sims(3, "24:0a:c4:10:00:00", &[]);
    let boards = [board("cp2102", ",present"), board("ch340", ""), board("ftdi", "")];
    let mut tb = st.run_daemon(&boards);
    tb.cmd("add 1");
    tb.cmd("add 2");
    tb.wait_count(0, 3, Duration::from_secs(60), "three passes", |v| v["message"] == "board passed");
    // Unplugging a finished board is only logged.
    tb.cmd("remove 1");
    tb.wait_count(0, 1, Duration::from_secs(10), "the removal", is("board removed", Some(slot(1))));
    assert_eq!(tb.messages("board failed").count(), 0);
    assert_eq!(tb.quit(), "0", "the daemon exits 0 on SIGTERM");

    let rows = st.look().rows;
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
    assert!(st.look().integrity_ok);
}

/// Sixteen boards at once: exactly one completed, passing row per board.
#[test]
fn sixteen_boards_in_parallel() {
    const N: usize = 16;
    let st = Station::without_db_dir(N, 64, N, &Extra::default());
    // Real UART timing: a board takes about a second, so the boards overlap however long
    // plugging sixteen of them takes on a loaded machine (with timing off the first could
    // finish before the seventh was plugged).
    let sim = st.sims(N, "24:0a:c4:20:00:00", &["--timing", "realistic"]);
    let boards: Vec<String> = (0..N).map(|_| board("cp2102", "")).collect();
    let mut tb = st.run_daemon(&boards);
    for k in 0..N {
        tb.cmd(&format!("add {k}"));
    }
    tb.wait_count(0, N, Duration::from_secs(90), "sixteen results", |v| {
        v["message"] == "board passed" || v["message"] == "board failed"
    });
    assert_eq!(tb.messages("board passed").count(), N, "{}", tb.tail());
    // All jobs overlapped: every board started before the first one finished.
    let first_done = tb.events_since(0).position(|v| v["message"] == "board passed").unwrap();
    let started_before = tb.events_since(0).take(first_done).filter(|v| v["message"] == "flashing started").count();
    assert!(started_before >= N / 2, "only {started_before} boards started before the first finished");
    assert_eq!(tb.quit(), "0");

    let rows = st.look().rows;
    assert_eq!(rows.len(), N, "exactly one row per board: {rows:#?}");
    let by_slot: BTreeMap<&str, &AttemptRow> = rows.iter().map(|r| (r.slot.as_str(), r)).collect();
    assert_eq!(by_slot.len(), N, "one row per slot");
    for k in 0..N {
        assert_pass_row(by_slot[slot(k).as_str()], &st, &slot(k), &sim.boards[k].mac);
        st.assert_flashed(k);
    }
    assert!(st.look().integrity_ok);
}

/// A board pulled during the write gets a failed row naming the stage; plugged in again,
/// it gets a new attempt that passes.
#[test]
fn removal_mid_write_fails_the_attempt_and_reinsertion_passes() {
    let st = Station::without_db_dir(1, 1024, 16, &Extra::default());
    // Realistic UART and flash timing: the 1 MiB application takes seconds to write.
    let sim = st.sims(1, "24:0a:c4:30:00:00", &["--timing", "realistic"]);
    let mut tb = st.run_daemon(&[board("cp2102", "")]);
    tb.cmd("add 0");
    tb.wait_count(0, 1, Duration::from_secs(60), "the write stage", |v| {
        v["message"] == "stage" && v["slot"] == "S0" && v["stage"] == "write"
    });
    tb.cmd("remove 0");
    tb.wait_count(0, 1, Duration::from_secs(20), "the failed attempt", is("board failed", Some(slot(0))));
    let failed = tb.messages("board failed").next().unwrap().clone();
    assert_eq!(failed["stage"], "write", "{failed}");
    assert_eq!(failed["reason"], "board removed during write", "{failed}");

    tb.cmd("add 0");
    tb.wait_count(0, 1, Duration::from_secs(90), "the second attempt", |v| {
        (v["message"] == "board passed" || v["message"] == "board failed") && v["slot"] == "S0" && {
            // Only results after the first failure count.
            v != &failed
        }
    });
    assert_eq!(tb.messages("board passed").count(), 1, "{}", tb.tail());
    assert_eq!(tb.quit(), "0");

    let rows = st.look().rows;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[0].result, AttemptResult::Fail, "{:#?}", rows[0]);
    assert_eq!(rows[0].failure_stage.as_deref(), Some("write"), "{:#?}", rows[0]);
    assert_eq!(rows[0].failure_reason.as_deref(), Some("board removed during write"), "{:#?}", rows[0]);
    assert_eq!(rows[0].slot, "S0");
    assert_pass_row(&rows[1], &st, "S0", &sim.boards[0].mac);
    assert!(rows[1].rework, "the second attempt on the same MAC is rework: {:#?}", rows[1]);
    assert_ne!(rows[0].port, rows[1].port, "re-plugged boards get a new ttyUSB");
    st.assert_flashed(0);
    assert!(st.look().integrity_ok);
}

/// SIGHUP while a board is being written: the running job finishes with the image it
/// started with, the next board gets the reloaded image, and a broken config on a later
/// SIGHUP is refused while the daemon keeps serving.
#[test]
fn sighup_reloads_the_image_without_dropping_running_jobs() {
    let st = Station::without_db_dir(2, 1024, 16, &Extra::default());
    let sim = st.sims(2, "24:0a:c4:50:00:00", &["--timing", "realistic"]);
    // `exec` keeps the shell's pid, so the printed pid is the daemon's.
    let script = r#"echo "daemon pid $$"; exec "$1" run --config "$2""#;
    let program = st.shell_program(script);
    let mut tb = Testbed::start(&st, &[board("cp2102", ""), board("cp2102", "")], &program, DAEMON_READY);
    let pid = pid_of(tb.log.iter().find(|l| l.starts_with("[child] daemon pid ")).expect("the daemon's pid"));

    tb.cmd("add 0");
    tb.wait_count(0, 1, Duration::from_secs(60), "the write stage", |v| {
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
    kill(pid, Signal::SIGHUP).expect("SIGHUP the daemon");
    tb.wait_count(0, 1, Duration::from_secs(30), "the reload", |v| v["message"] == "configuration reloaded");
    assert_eq!(tb.messages("board passed").count(), 0, "the write ended before the reload:\n{}", tb.tail());

    tb.wait_count(0, 1, Duration::from_secs(90), "the running board", is("board passed", Some(slot(0))));
    tb.cmd("add 1");
    tb.wait_count(0, 1, Duration::from_secs(90), "the next board", is("board passed", Some(slot(1))));

    // A broken config: refused, the daemon stays up with the reloaded one.
    std::fs::write(&st.config, format!("{new_text}\nbogus_key = 1\n")).unwrap();
    kill(pid, Signal::SIGHUP).expect("SIGHUP the daemon");
    tb.wait_count(0, 1, Duration::from_secs(30), "the refused reload", |v| {
        v["message"].as_str().is_some_and(|m| m.starts_with("reload refused"))
    });
    assert_eq!(tb.quit(), "0");

    let rows = st.look().rows;
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
    assert!(st.look().integrity_ok);
}

/// SIGKILL mid-write: the next daemon closes the half-done row as interrupted, the
/// database is intact, and the boards still plugged in are flashed (start-up scan).
#[test]
fn sigkill_mid_run_then_restart_recovers() {
    let st = Station::without_db_dir(2, 1024, 16, &Extra::default());
    let sim = st.sims(2, "24:0a:c4:40:00:00", &["--timing", "realistic"]);
    // The first daemon in the background (its pid printed, for the kill), then, once it is
    // gone, the second one in the same testbed with the same boards.
    let script = r#"FL="$1"; CFG="$2"
"$FL" run --config "$CFG" &
echo "first daemon pid $!"
wait $!
echo "first daemon ended with $?"
exec "$FL" run --config "$CFG""#;
    let program = st.shell_program(script);
    let boards = [board("cp2102", ",present"), board("cp2102", ",present")];
    let mut tb = Testbed::start(&st, &boards, &program, DAEMON_READY);
    let pid =
        pid_of(tb.log.iter().find(|l| l.starts_with("[child] first daemon pid ")).expect("the first daemon's pid"));

    tb.wait_count(0, 2, Duration::from_secs(60), "both boards writing", |v| {
        v["message"] == "stage" && v["stage"] == "write"
    });
    // The stage reaches the row through its own small transaction; the write itself takes
    // seconds, so a moment later both rows say "write".
    thread::sleep(Duration::from_millis(700));
    assert_eq!(tb.messages("board passed").count(), 0, "the write ended too soon for this test:\n{}", tb.tail());
    kill(pid, Signal::SIGKILL).expect("SIGKILL the daemon");
    tb.read_until(Duration::from_secs(10), "the first daemon to die", |l, _| {
        l.starts_with("[child] first daemon ended")
    });
    assert!(tb.log.iter().any(|l| l == "[child] first daemon ended with 137"), "{}", tb.tail());
    assert_eq!(tb.messages("board passed").count(), 0, "killed before any board finished");

    // The second daemon: start-up repair, enumeration, two passes.
    tb.wait_count(0, 2, Duration::from_secs(60), "the second daemon's start", is(DAEMON_READY, None));
    tb.wait_count(0, 2, Duration::from_secs(120), "two passes", |v| v["message"] == "board passed");
    assert!(
        tb.events_since(0).any(|v| v["message"].as_str().is_some_and(|m| m.contains("interrupted")) && v["rows"] == 2),
        "the restart reports the two rows it closed:\n{}",
        tb.tail()
    );
    assert_eq!(tb.quit(), "0");

    assert!(st.look().integrity_ok, "PRAGMA integrity_check after SIGKILL");
    let rows = st.look().rows;
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
    let st = Station::without_db_dir(1, 32, 4, &Extra::default());
    let cfg = st.config.display().to_string();

    // Unknown key: a misspelled switch stops the line (2, with its position).
    st.write_config(1, 4, &Extra { log: "max_job = 3\n".into(), ..Extra::default() });
    let err = refuses(&st.config, 2, &[&cfg, "max_job"]);
    assert!(err.contains(&format!("{cfg}:")), "{err}");

    // Malformed TOML: file:line:col.
    st.write_config(1, 4, &Extra::default());
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
    let st = Station::without_db_dir(1, 32, 4, &Extra::default());
    std::fs::write(st.dir.path().join("db"), b"not a directory").unwrap();
    refuses(&st.config, 4, &[&st.db.parent().unwrap().display().to_string()]);

    // The database path is a directory: the config names no database file (2, the key).
    let st = Station::without_db_dir(1, 32, 4, &Extra::default());
    std::fs::create_dir_all(&st.db).unwrap();
    refuses(&st.config, 2, &["database: ", "is a directory"]);

    // No config file at all: 2, naming it.
    let missing = st.dir.path().join("nope.toml");
    refuses(&missing, 2, &[&missing.display().to_string()]);
}
