//! A mixed line: 32 boards of four chip families plugged at once, half of them on their
//! chip's own USB-Serial/JTAG port (which leaves the bus and comes back at every reset),
//! the rest on UART bridges — dispatcher, jobs and pipeline end to end over in-process
//! simulated ports, timing off.
//!
//! A station holds one golden image for one chip family (`[image] chip`), so a line with
//! four families runs four stations; here they run side by side in one process, as the
//! line-scale benchmark's mixed mode does. Every board must pass, its flash must hold its
//! own family's image, and its audit row must name its chip, MAC and port kind.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use flashline::device::{DeviceInfo, SimulatedDevices};
use flashline::pipeline::UsbReplug;
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Outcome, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::{BoardConfig, Mode, SimHandle};

mod support_station;
use support_station::{flash_matches, Rig};

const LIMIT: Duration = Duration::from_secs(120);

/// One family of the line: its chip, and how many of its boards are on a UART bridge and
/// on the chip's own USB port. 6 + 6 + 10 + 10 = 32 boards, 16 of them on native USB.
struct Family {
    chip: Chip,
    uart: u32,
    usb: u32,
}

const LINE: [Family; 4] = [
    Family { chip: Chip::Esp32, uart: 6, usb: 0 },
    Family { chip: Chip::Esp8266, uart: 6, usb: 0 },
    Family { chip: Chip::Esp32S3, uart: 2, usb: 8 },
    Family { chip: Chip::Esp32C3, uart: 2, usb: 8 },
];

fn mac(family: usize, k: u32) -> Mac {
    Mac([0x24, 0x0a, 0xc4, 0x55, family as u8, k as u8])
}

/// A board of the family's station on slot `k`: a UART bridge (the simulated device
/// source's default ids) or the chip's own port (303a:1001, serial number = its MAC).
fn device(family: usize, k: u32, usb: bool) -> DeviceInfo {
    let base = DeviceInfo::simulated(k, PathBuf::from(format!("/dev/sim-mixed{family}-{k}")));
    if !usb {
        return base;
    }
    DeviceInfo {
        vid: 0x303a,
        pid: 0x1001,
        serial: Some(mac(family, k).to_string()),
        driver: Some("cdc_acm".into()),
        ..base
    }
}

/// The boards of one family, plugged into its station; every other USB board comes back
/// on a new node after its reset (the old one still held), as `/dev/ttyACMn` does.
fn plug(rig: &Rig, devices: &SimulatedDevices, family: usize, f: &Family) -> Vec<(u32, bool, SimHandle)> {
    let mut handles = Vec::new();
    for k in 0..f.uart + f.usb {
        let usb = k >= f.uart;
        let info = device(family, k, usb);
        let cfg = BoardConfig::new(f.chip, mac(family, k));
        let handle = if usb {
            let replug = UsbReplug { new_node: k % 2 == 1, ..Default::default() };
            let mut cfg = cfg.on_usb_serial_jtag();
            cfg.reenumerate = Some(Duration::from_millis(20));
            rig.ports.attach_usb(info, cfg, devices.clone(), replug).unwrap()
        } else {
            let h = rig.ports.attach(info.devnode.clone(), cfg).unwrap();
            devices.plug(info);
            h
        };
        handles.push((k, usb, handle));
    }
    handles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_boards_of_four_families_all_pass_with_their_own_image() {
    let mut rigs = Vec::new();
    for f in &LINE {
        let n = f.uart + f.usb;
        // The default [flash] section: the USB reset for 303a:1001, the classic one for
        // bridges, and a hard reset into the application at the end.
        rigs.push(support_station::rig_for("fl-mixed-", f.chip, n, n as usize, "").await);
    }
    let mut stations = Vec::new();
    let mut events = Vec::new();
    let mut boards = Vec::new();
    for (family, (rig, f)) in rigs.iter().zip(&LINE).enumerate() {
        let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
        events.push(station.events.take().unwrap());
        boards.push(plug(rig, &devices, family, f));
        stations.push((station, devices));
    }

    // Every station's results, until all 32 boards have one.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (family, mut ev) in events.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = ev.recv().await {
                let wanted = matches!(
                    ev,
                    StationEvent::Finished { .. } | StationEvent::JobStarted { .. } | StationEvent::BoardRemoved { .. }
                );
                if wanted && tx.send((family, ev)).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let total: u32 = LINE.iter().map(|f| f.uart + f.usb).sum();
    assert_eq!(total, 32);
    let mut finished: BTreeMap<(usize, String), Outcome> = BTreeMap::new();
    let mut started = 0;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished.len() < total as usize {
        let (family, ev) =
            tokio::time::timeout_at(deadline, rx.recv()).await.expect("every board's result within the limit").unwrap();
        match ev {
            StationEvent::Finished { slot, outcome, .. } => {
                assert!(finished.insert((family, slot.clone()), outcome).is_none(), "{slot} finished twice");
            }
            StationEvent::JobStarted { .. } => started += 1,
            StationEvent::BoardRemoved { slot } => {
                panic!("family {family} slot {slot}: a board's own reset was taken for a removal")
            }
            _ => {}
        }
    }
    let failed: Vec<_> = finished.iter().filter(|(_, o)| **o != Outcome::Pass).collect();
    assert!(failed.is_empty(), "{failed:?}");
    // The final resets brought the USB boards back in their application: none of that is
    // a new board.
    let quiet = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some((family, ev))) = tokio::time::timeout_at(quiet, rx.recv()).await {
        if let StationEvent::JobStarted { slot, .. } = ev {
            panic!("family {family} slot {slot} was flashed again");
        }
    }
    assert_eq!(started, total, "one job per board");

    for (family, ((rig, f), handles)) in rigs.iter().zip(&LINE).zip(&boards).enumerate() {
        let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
        assert_eq!(rows.len() as u32, f.uart + f.usb, "{}: one row per board", f.chip);
        for (k, usb, handle) in handles {
            assert!(flash_matches(rig, handle), "{} board {k}: flash is not its image", f.chip);
            assert_eq!(handle.mode(), Mode::App, "{} board {k}: the application runs", f.chip);
            let want_mac = mac(family, *k).to_string();
            let row = rows
                .iter()
                .find(|r| r.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&want_mac)))
                .unwrap_or_else(|| panic!("{} board {k}: no row with MAC {want_mac}: {rows:?}", f.chip));
            assert_eq!(row.result, AttemptResult::Pass);
            assert_eq!(row.chip.as_deref().and_then(family_of), Some(f.chip), "{} board {k}: {:?}", f.chip, row.chip);
            assert_eq!(row.slot, format!("A{}", k + 1));
            assert_eq!(row.usb_vid, Some(if *usb { 0x303a } else { 0x10c4 }), "{} board {k}", f.chip);
        }
        // Each family's rows carry its own image, and only its own.
        let sha = rig.ctx.plan.golden.sha256_hex();
        assert!(rows.iter().all(|r| r.image_sha256 == sha), "{}", f.chip);
    }
    let shas: std::collections::BTreeSet<_> = rigs.iter().map(|r| r.ctx.plan.golden.sha256_hex()).collect();
    assert_eq!(shas.len(), LINE.len(), "four families, four golden images");

    for (station, devices) in stations {
        // (A station that already ended shows why in `wait`.)
        let _ = station.control.send(Control::Shutdown).await;
        let (_view, end) = tokio::time::timeout(LIMIT, station.wait()).await.expect("the station stops");
        end.unwrap();
        drop(devices);
    }
}

/// The chip family an audit row's chip description names ("ESP32-S3 (QFN56) (revision
/// v0.2)" → ESP32-S3, "ESP32-D0WD-V3 (revision v3.0)" → ESP32, "ESP8266EX" → ESP8266):
/// the longest family name it starts with.
fn family_of(description: &str) -> Option<Chip> {
    Chip::ALL.into_iter().filter(|c| description.starts_with(&c.to_string())).max_by_key(|c| c.to_string().len())
}
