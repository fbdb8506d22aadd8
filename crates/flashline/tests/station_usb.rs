//! Boards on their own USB-Serial/JTAG port, through the whole station in process: every
//! chip reset takes the board off the bus and brings it back (same node or a new one),
//! and the dispatcher tells the board's own re-enumeration from a new board and from an
//! unplug.
//!
//! (a) re-enumeration during its job's reset → the job reopens the port and goes on;
//! (b) back in its application after the final reset (303a:1001 again, or a TinyUSB app
//!     with another id) → not flashed again, the slot shows it done;
//! (c) an operator's unplug mid-job → a removal, as for any board;
//! (d) never back → the job fails with the stage named;
//! (e) pulled while off the bus after its job's reset → the job fails in connect, and a
//!     board plugged into that port later (another one, or the same again) is new.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use flashline::device::{DeviceInfo, SimulatedDevices};
use flashline::pipeline::UsbReplug;
use flashline::station::serve::{Station, Ui};
use flashline::station::view::SlotPhase;
use flashline::station::{Control, Outcome, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_session::Stage;
use flashline_sim::{BoardConfig, Fault, Mode, SimHandle};

const LIMIT: Duration = Duration::from_secs(60);

mod support_station;
use support_station::{flash_matches, Rig};

/// The default reset and after-flash action: the USB reset is chosen for 303a:1001, and
/// the final hard reset starts the application.
async fn rig(n: u32) -> Rig {
    support_station::rig("fl-usb-", n, n as usize, "").await
}

/// Board `k` on its own USB port: 303a:1001 (cdc_acm), serial number = its MAC.
fn usb_info(k: u32) -> DeviceInfo {
    DeviceInfo::simulated_usb_jtag(k, PathBuf::from(format!("/dev/sim-acm{k}")), format!("24:0A:C4:44:00:{k:02X}"))
}

fn usb_board(k: u32, faults: Vec<Fault>) -> BoardConfig {
    let mut cfg = BoardConfig::new(Chip::Esp32, Mac([0x24, 0x0a, 0xc4, 0x44, 0x00, k as u8])).on_usb_serial_jtag();
    // The behaviour under test is the link's; ESP32 stands in for the chips that have it.
    cfg.usb_any_chip = true;
    cfg.reenumerate = Some(Duration::from_millis(30));
    cfg.faults = faults;
    cfg
}

fn attach(rig: &Rig, devices: &SimulatedDevices, k: u32, faults: Vec<Fault>, replug: UsbReplug) -> SimHandle {
    rig.ports.attach_usb(usb_info(k), usb_board(k, faults), devices.clone(), replug).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boards_that_reenumerate_are_flashed_once_and_stay_done() {
    let rig = rig(3).await;
    let (station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.subscribe();
    let handles = [
        attach(&rig, &devices, 0, Vec::new(), UsbReplug::default()),
        attach(&rig, &devices, 1, Vec::new(), UsbReplug { new_node: true, ..Default::default() }),
        // A TinyUSB application enumerates as another device (filtered out as no board).
        attach(&rig, &devices, 2, Vec::new(), UsbReplug { app_id: Some((0x303a, 0x4001)), ..Default::default() }),
    ];
    let (mut started, mut finished, mut removed) = (0, Vec::new(), 0);
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished.len() < 3 {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("results within the limit").unwrap() {
            StationEvent::JobStarted { .. } => started += 1,
            StationEvent::Finished { slot, outcome, .. } => finished.push((slot, outcome)),
            StationEvent::BoardRemoved { .. } => removed += 1,
            _ => {}
        }
    }
    assert!(finished.iter().all(|(_, o)| *o == Outcome::Pass), "{finished:?}");
    // Every board was reset off the bus twice (into download mode, into its app) and came
    // back; none of that is a new board or a removal.
    let quiet = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(ev) = tokio::time::timeout_at(quiet, events.recv()).await {
        match ev.unwrap() {
            StationEvent::JobStarted { slot, .. } => panic!("{slot} was flashed again"),
            StationEvent::BoardRemoved { slot } => panic!("{slot} reported removed"),
            _ => {}
        }
    }
    assert_eq!((started, removed), (3, 0));
    for h in &handles {
        assert_eq!(h.mode(), Mode::App, "the application runs");
        assert_eq!(h.stats().resets, 2, "one reset into download mode, one into the app");
        assert!(flash_matches(&rig, h));
    }
    let view = station.view.borrow().clone();
    assert!(view.slots.iter().all(|s| s.phase == SlotPhase::Pass), "{:?}", view.slots);
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 3, "one row per board");
    assert!(rows.iter().all(|r| r.result == AttemptResult::Pass));
    // Unplugged for good much later: a removal as usual.
    station.control.send(Control::Shutdown).await.unwrap();
    let _ = tokio::time::timeout(LIMIT, station.wait()).await.unwrap();
    drop(devices);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplug_mid_job_is_a_removal_and_a_board_that_never_comes_back_fails_in_connect() {
    let rig = rig(2).await;
    let (station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.subscribe();
    // Slow answers keep the write going long enough to pull the board in it.
    attach(&rig, &devices, 0, vec![Fault::SlowReplies { ms: 30 }], UsbReplug::default());
    attach(&rig, &devices, 1, Vec::new(), UsbReplug { never_back: true, ..Default::default() });
    let mut finished = std::collections::BTreeMap::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished.len() < 2 {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("results within the limit").unwrap() {
            StationEvent::Stage { slot, stage: Stage::Write } if slot == "A1" => {
                rig.ports.detach(&usb_info(0).devnode);
            }
            StationEvent::Finished { slot, outcome, .. } => {
                finished.insert(slot, outcome);
            }
            _ => {}
        }
    }
    match &finished["A1"] {
        Outcome::Fail { stage, reason } => assert_eq!(reason, &format!("board removed during {stage}")),
        o => panic!("pulled board: {o:?}"),
    }
    match &finished["A2"] {
        Outcome::Fail { stage, reason } => {
            assert_eq!(stage, "connect");
            assert!(reason.contains("did not come back within"), "{reason}");
        }
        o => panic!("board that never came back: {o:?}"),
    }
    station.control.send(Control::Shutdown).await.unwrap();
    let _ = tokio::time::timeout(LIMIT, station.wait()).await.unwrap();
    drop(devices);
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.result == AttemptResult::Fail), "{rows:?}");
}

/// (e) pulled while off the bus: the board's own reset took its port away and the operator
/// pulls it before it is back. The job must not hang and must not take whatever appears
/// next on that USB port for its board: it fails in connect ("did not come back"), and a
/// board plugged there — another one at once (A1), or the same one again after the job
/// gave up (A2) — is a new board with a job and a row of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_pulled_while_off_the_bus_fails_in_connect_and_what_is_plugged_there_is_a_new_board() {
    let rig = rig(2).await;
    let (station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.subscribe();
    // Off the bus long enough after each reset to be pulled in between.
    let slow = |k: u32, mac: u8| {
        let mut cfg = usb_board(k, Vec::new());
        cfg.mac = Mac([0x24, 0x0a, 0xc4, 0x44, 0x00, mac]);
        cfg.reenumerate = Some(Duration::from_millis(1500));
        cfg
    };
    // Another board (its own MAC, so its own USB serial number) on slot k's USB port.
    let other_info = |k: u32, mac: u8| DeviceInfo { serial: Some(format!("24:0A:C4:44:00:{mac:02X}")), ..usb_info(k) };
    let pulled: Vec<SimHandle> = (0..2)
        .map(|k| rig.ports.attach_usb(usb_info(k), slow(k, k as u8), devices.clone(), UsbReplug::default()).unwrap())
        .collect();
    let deadline = tokio::time::Instant::now() + LIMIT;
    for (k, board) in pulled.iter().enumerate() {
        let node = usb_info(k as u32).devnode;
        // The job's reset into download mode took the node away: pull the board now.
        while rig.ports.handle(&node).is_some() {
            assert!(tokio::time::Instant::now() < deadline, "board {k} was never reset");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        board.unplug();
    }
    // A1: another board goes into the same USB port at once, while A1's job still waits.
    let swapped =
        rig.ports.attach_usb(other_info(0, 0x90), slow(0, 0x90), devices.clone(), UsbReplug::default()).unwrap();
    let mut replugged = None;
    let (mut started, mut finished) = (BTreeMap::<String, u32>::new(), BTreeMap::<String, Vec<Outcome>>::new());
    while finished.values().map(Vec::len).sum::<usize>() < 4 {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("results within the limit").unwrap();
        match ev {
            StationEvent::JobStarted { slot, .. } => *started.entry(slot).or_default() += 1,
            StationEvent::Finished { slot, outcome, .. } => {
                // A2: the same board plugged in again once its job gave up.
                if slot == "A2" && replugged.is_none() {
                    replugged = Some(
                        rig.ports.attach_usb(usb_info(1), slow(1, 1), devices.clone(), UsbReplug::default()).unwrap(),
                    );
                }
                finished.entry(slot).or_default().push(outcome);
            }
            StationEvent::BoardRemoved { slot } => panic!("{slot}: an own reset taken for a removal"),
            _ => {}
        }
    }
    for slot in ["A1", "A2"] {
        let outcomes = &finished[slot];
        match &outcomes[0] {
            Outcome::Fail { stage, reason } => {
                assert_eq!(stage, "connect", "{slot}");
                assert!(reason.contains("did not come back within"), "{slot}: {reason}");
            }
            o => panic!("{slot}: the pulled board: {o:?}"),
        }
        assert_eq!(outcomes[1], Outcome::Pass, "{slot}: the board plugged there afterwards");
        assert_eq!(started[slot], 2, "{slot}: one job per board");
    }
    for (k, h) in pulled.iter().enumerate() {
        assert_eq!(h.stats().resets, 1, "board {k}: reset once, then pulled");
        assert!(!flash_matches(&rig, h), "board {k} was pulled before anything was written");
    }
    for h in [&swapped, replugged.as_ref().unwrap()] {
        assert!(flash_matches(&rig, h));
        assert_eq!(h.mode(), Mode::App);
    }
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let failed: Vec<_> = rows.iter().filter(|r| r.result == AttemptResult::Fail).collect();
    assert_eq!(failed.len(), 2, "{rows:?}");
    assert!(failed.iter().all(|r| r.failure_stage.as_deref() == Some("connect") && r.mac.is_none()), "{failed:?}");
    let mut passed: Vec<_> =
        rows.iter().filter(|r| r.result == AttemptResult::Pass).filter_map(|r| r.mac.clone()).collect();
    passed.sort();
    assert_eq!(passed, ["24:0A:C4:44:00:01", "24:0A:C4:44:00:90"], "the new boards' own rows");
    station.control.send(Control::Shutdown).await.unwrap();
    let _ = tokio::time::timeout(LIMIT, station.wait()).await.unwrap();
    drop(devices);
}
