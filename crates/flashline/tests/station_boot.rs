//! The post-flash boot check through the whole station, on in-process simulated boards
//! that boot what was flashed (the sample app carries a console script):
//!
//! (a) a board that boots and prints the pattern passes, the time to it recorded;
//! (b) a board whose app never prints the pattern fails at stage `boot` after the
//!     timeout, its last console lines in the row;
//! (c) a board whose app is corrupted after the verify (its flash does not hold it)
//!     boot-loops: it fails early with "boot loop";
//! (d) a board on its own USB-Serial/JTAG port is found on its new port after the final
//!     reset and its console read there;
//! (e) such a board whose app does not check leaves the bus and comes back at every
//!     reset of its boot loop: it fails at `boot` with "boot loop", not a timeout or an
//!     I/O error, and is not taken for an unplug or a new board.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flashline::device::DeviceInfo;
use flashline::pipeline::UsbReplug;
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Outcome, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult, AttemptRow};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_session::Stage;
use flashline_sim::{BoardConfig, Fault, SimHandle};

const LIMIT: Duration = Duration::from_secs(60);
const SCRIPT: &str = "I (300) app: starting\n@delay 50\nI (350) app: self-test passed\n@delay 20\nI (370) app: idle";

mod support_station;
use support_station::Rig;

async fn boot_rig(prefix: &str, chip: Chip, n: u32, boot: &str, console: &str) -> Rig {
    support_station::rig_with_console(prefix, chip, n, n as usize, "baud = 921600\n", boot, Some(console)).await
}

fn devnode(k: u32) -> PathBuf {
    PathBuf::from(format!("/dev/sim-boot{k}"))
}

fn board(chip: Chip, k: u32, faults: Vec<Fault>) -> BoardConfig {
    let mut cfg = BoardConfig::new(chip, Mac([0x24, 0x0a, 0xc4, 0x55, 0x00, k as u8]));
    cfg.faults = faults;
    cfg
}

/// Plugs the boards, waits for every result, stops the station; the stages each slot
/// went through and the rows.
async fn run(
    rig: &Rig,
    boards: Vec<BoardConfig>,
) -> (BTreeMap<String, (Outcome, Vec<Stage>)>, Vec<AttemptRow>, Vec<SimHandle>) {
    let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.events.take().unwrap();
    let n = boards.len();
    let mut handles = Vec::new();
    for (k, cfg) in boards.into_iter().enumerate() {
        handles.push(rig.ports.attach(devnode(k as u32), cfg).unwrap());
        devices.plug(DeviceInfo::simulated(k as u32, devnode(k as u32)));
    }
    let mut stages: BTreeMap<String, Vec<Stage>> = BTreeMap::new();
    let mut finished = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished.len() < n {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("results within the limit").unwrap() {
            StationEvent::Stage { slot, stage } => stages.entry(slot).or_default().push(stage),
            StationEvent::Finished { slot, outcome, .. } => {
                let seen = stages.get(&slot).cloned().unwrap_or_default();
                assert!(finished.insert(slot, (outcome, seen)).is_none());
            }
            _ => {}
        }
    }
    support_station::drain_and_stop(station, devices).await;
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    (finished, rows, handles)
}

fn row<'a>(rows: &'a [AttemptRow], slot: &str) -> &'a AttemptRow {
    rows.iter().find(|r| r.slot == slot).unwrap_or_else(|| panic!("no row for {slot}"))
}

/// The app's offset in the sample image: a change there after the last MD5 leaves a
/// board whose flash verified but whose app no longer checks.
const APP_BYTE: u32 = 0x10000 + 0x2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booting_boards_pass_and_broken_ones_fail_at_boot() {
    let boot = "[boot]\npattern = 'app: self-test passed'\ntimeout = \"5s\"\nlines = 8\n";
    for chip in [Chip::Esp32, Chip::Esp8266, Chip::Esp32C3] {
        let baud = if chip == Chip::Esp8266 { "baud = 74880\n" } else { "" };
        let rig = boot_rig("fl-boot-", chip, 1, &format!("{boot}{baud}"), SCRIPT).await;
        let (finished, rows, handles) = run(&rig, vec![board(chip, 0, Vec::new())]).await;
        let (outcome, stages) = &finished["A1"];
        assert_eq!(*outcome, Outcome::Pass, "{chip}: {finished:?}");
        assert_eq!(stages.last(), Some(&Stage::Boot), "{chip}: the boot stage is shown like the others");
        let a1 = &rows[0];
        let b = a1.boot.as_ref().expect("a boot record");
        assert_eq!(b.result, "pass");
        let ms = b.ms_to_pattern.expect("the time to the pattern");
        assert!((50..5000).contains(&ms), "{chip}: {ms} ms");
        assert!(b.lines.last().is_some_and(|l| l.contains("self-test passed")), "{chip}: {:?}", b.lines);
        assert!(a1.stage_timings.get("boot").is_some(), "{:?}", a1.stage_timings);

        // The same flashing with the app changed right after the last MD5 (the verify's):
        // the flash verified, the app no longer checks, the bootloader resets and resets.
        let last_md5 = handles[0].stats().md5s;
        let corrupt = Fault::FlashChanges { addr: APP_BYTE, len: 1, after_md5: last_md5 };
        let started = Instant::now();
        let (_, rows, _) = run(&rig, vec![board(chip, 1, vec![corrupt])]).await;
        let a2 = rows.iter().max_by_key(|r| r.id.0).unwrap();
        assert_eq!(a2.result, AttemptResult::Fail, "{chip}: {a2:#?}");
        assert_eq!(a2.failure_stage.as_deref(), Some("boot"));
        assert!(a2.failure_reason.as_deref().is_some_and(|r| r.starts_with("boot loop")), "{chip}: {a2:#?}");
        let b = a2.boot.as_ref().expect("a boot record");
        assert_eq!((b.result.as_str(), b.ms_to_pattern), ("fail", None));
        assert!(b.lines.iter().any(|l| l.contains("esp_image: Checksum failed")), "{chip}: {:?}", b.lines);
        assert!(a2.bytes_written > 0, "the row keeps what the write did");
        // A boot loop is caught early, not at the timeout.
        assert!(started.elapsed() < Duration::from_secs(5), "{chip}: {:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_that_never_prints_the_pattern_fails_after_the_timeout_with_its_lines() {
    let boot =
        "[boot]\npattern = 'provisioned OK'\nfail_pattern = 'Guru Meditation'\ntimeout = \"1500ms\"\nlines = 3\n";
    let rig = boot_rig("fl-boot-never-", Chip::Esp32, 1, boot, SCRIPT).await;
    let started = Instant::now();
    let (finished, rows, _) = run(&rig, vec![board(Chip::Esp32, 0, Vec::new())]).await;
    assert!(matches!(finished["A1"].0, Outcome::Fail { .. }), "{finished:?}");
    let r = row(&rows, "A1");
    assert_eq!(r.failure_stage.as_deref(), Some("boot"));
    assert_eq!(r.failure_reason.as_deref(), Some("pattern not seen in 1.5 s"));
    let b = r.boot.as_ref().unwrap();
    assert_eq!(b.lines, ["I (300) app: starting", "I (350) app: self-test passed", "I (370) app: idle"]);
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // A fail pattern ends the check at once.
    let boot = "[boot]\npattern = 'provisioned OK'\nfail_pattern = 'Guru Meditation'\ntimeout = \"20s\"\n";
    let script = "I (300) app: starting\nGuru Meditation Error: Core  0 panic'ed (LoadProhibited)\n@delay 100\n@reboot";
    let panic_rig = boot_rig("fl-boot-panic-", Chip::Esp32, 1, boot, script).await;
    let started = Instant::now();
    let (_finished, rows, _) = run(&panic_rig, vec![board(Chip::Esp32, 0, Vec::new())]).await;
    let r = row(&rows, "A1");
    assert_eq!(r.failure_stage.as_deref(), Some("boot"));
    assert!(
        r.failure_reason.as_deref().is_some_and(|s| s.starts_with("fail_pattern matched: Guru Meditation")),
        "{r:#?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_on_its_own_usb_port_is_followed_to_its_new_port_for_the_boot_check() {
    let boot = "[boot]\npattern = 'app: self-test passed'\ntimeout = \"10s\"\n";
    let rig = support_station::rig_with_console("fl-boot-usb-", Chip::Esp32S3, 1, 1, "", boot, Some(SCRIPT)).await;
    let (station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.subscribe();
    usb_board(&rig, &devices, 0, Vec::new());
    let deadline = tokio::time::Instant::now() + LIMIT;
    let outcome = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("a result within the limit").unwrap() {
            StationEvent::Finished { outcome, .. } => break outcome,
            _ => continue,
        }
    };
    assert_eq!(outcome, Outcome::Pass);
    // The board's USB stack holds the device source: stop the station itself.
    station.control.send(Control::Shutdown).await.unwrap();
    let _ = tokio::time::timeout(LIMIT, station.wait()).await.unwrap();
    drop(devices);
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 1, "flashed once: the board back in its app is not a new board");
    let b = rows[0].boot.as_ref().expect("boot record");
    assert_eq!(b.result, "pass", "{b:?}");
    assert!(b.lines.iter().any(|l| l.contains("self-test passed")));
}

/// A native-USB board of `mac` on slot `k` (a new node at every enumeration, as
/// `/dev/ttyACMn` does while the old one is held).
fn usb_board(rig: &Rig, devices: &flashline::device::SimulatedDevices, k: u32, faults: Vec<Fault>) -> SimHandle {
    let mac = Mac([0x34, 0x85, 0x18, 0x55, 0x01, k as u8]);
    let info = DeviceInfo::simulated_usb_jtag(k, PathBuf::from(format!("/dev/sim-bootacm-loop{k}")), mac);
    let mut cfg = BoardConfig::new(Chip::Esp32S3, mac).on_usb_serial_jtag();
    cfg.reenumerate = Some(Duration::from_millis(30));
    cfg.faults = faults;
    let replug = UsbReplug { new_node: true, ..Default::default() };
    rig.ports.attach_usb(info, cfg, devices.clone(), replug).unwrap()
}

/// A native-USB board whose app is changed after the verify: the bootloader refuses it
/// and resets the chip, which drops off the bus and comes back each time. The boot check
/// follows it from port to port and fails it early with "boot loop"; the board is neither
/// an unplug nor a new board at any of those returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usb_board_that_boot_loops_fails_at_boot_with_a_boot_loop() {
    let boot = "[boot]\npattern = 'app: self-test passed'\ntimeout = \"8s\"\nlines = 8\n";
    let rig = support_station::rig_with_console("fl-boot-usb-loop-", Chip::Esp32S3, 2, 2, "", boot, Some(SCRIPT)).await;
    let (station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.subscribe();
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut jobs = 0;
    let mut next = async |jobs: &mut u32| loop {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("a result within the limit").unwrap() {
            StationEvent::Finished { slot, outcome, .. } => break (slot, outcome),
            StationEvent::JobStarted { .. } => *jobs += 1,
            StationEvent::BoardRemoved { slot } => panic!("{slot}: the board's own reset was taken for an unplug"),
            _ => continue,
        }
    };
    // A good board first: how many MD5s its flashing takes (the last one the verify's).
    let good = usb_board(&rig, &devices, 0, Vec::new());
    assert_eq!(next(&mut jobs).await, ("A1".to_string(), Outcome::Pass));
    let last_md5 = good.stats().md5s;
    let corrupt = Fault::FlashChanges { addr: APP_BYTE, len: 1, after_md5: last_md5 };
    let started = Instant::now();
    let looping = usb_board(&rig, &devices, 1, vec![corrupt]);
    let (slot, outcome) = next(&mut jobs).await;
    let took = started.elapsed();
    station.control.send(Control::Shutdown).await.unwrap();
    let _ = tokio::time::timeout(LIMIT, station.wait()).await.unwrap();
    drop(devices);
    assert_eq!(slot, "A2");
    assert!(matches!(outcome, Outcome::Fail { .. }), "{outcome:?}");
    assert_eq!(jobs, 2, "one job per board: a board coming back at each reset is not a new board");
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    let r = row(&rows, "A2");
    assert_eq!(r.failure_stage.as_deref(), Some("boot"), "{r:#?}");
    assert_eq!(r.failure_reason.as_deref(), Some("boot loop: the chip started 3 times"), "{r:#?}");
    let b = r.boot.as_ref().expect("a boot record");
    assert!(b.lines.iter().any(|l| l.contains("esp_image: Checksum failed")), "{:?}", b.lines);
    assert!(looping.stats().resets >= good.stats().resets + 2, "the chip reset at each turn");
    assert!(took < Duration::from_secs(8), "caught early, not at the timeout: {took:?}");
}
