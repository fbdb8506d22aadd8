//! Per-device provisioning through the station: dispatcher, jobs and the pipeline over
//! in-process simulated boards. Every board gets its own serial number and its own NVS
//! partition, read back from the simulated flash and decoded; a board flashed again keeps
//! its number; a board without a per-device row is refused before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flashline::device::DeviceInfo;
use flashline::station::serve::{Station, Ui};
use flashline::station::{Outcome, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult, AttemptRow};
use flashline_nvs::Value;
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::{BoardConfig, SimHandle};
use sha2::{Digest, Sha256};

mod support_station;
use support_station::{flash_matches, Rig};

const LIMIT: Duration = Duration::from_secs(120);
const NVS_OFFSET: usize = 0x9000;
const NVS_SIZE: usize = 0x6000;

/// The demo's template: serial, serial_no, mac, station ("STATION/SLOT"), device_id, psk.
use flashline::cli::demo::provision::TEMPLATE;

fn mac(k: u32) -> Mac {
    Mac([0x24, 0x0a, 0xc4, 0x77, 0x00, k as u8])
}

fn mac_text(k: u32) -> String {
    flashline_audit::format_mac(mac(k).0)
}

fn psk(k: u32) -> String {
    format!("{:08x}{:08x}", 0xc0ffee00u32 + k, k * 7919)
}

/// A station of `slots` slots provisioning boards `0..rows` (the per-device file's rows).
async fn rig(slots: u32, rows: u32, files: &Path) -> Rig {
    std::fs::write(files.join("nvs.csv"), TEMPLATE).unwrap();
    let devices: String = std::iter::once("mac,device_id,psk\n".to_string())
        .chain((0..rows).map(|k| format!("{},dev-{k:03},{}\n", mac_text(k), psk(k))))
        .collect();
    std::fs::write(files.join("devices.csv"), devices).unwrap();
    let extra = format!(
        "[provision]\nserial = {{ prefix = \"SN-\", start = 500, width = 5 }}\n\n[provision.nvs]\n\
         template = \"{}\"\ndevices = \"{}\"\ndevice_key = \"mac\"\noffset = {NVS_OFFSET:#x}\nsize = {NVS_SIZE:#x}\n",
        files.join("nvs.csv").display(),
        files.join("devices.csv").display()
    );
    support_station::rig_with_tables(
        "fl-provision-",
        Chip::Esp32,
        slots,
        8,
        "baud = 921600\nafter = \"no-reset\"\n",
        &extra,
    )
    .await
}

fn devnode(k: u32) -> PathBuf {
    PathBuf::from(format!("/dev/sim-provision{k}"))
}

/// Runs a station on the rig with `boards` (board `k` has MAC `mac(macs[k])`) plugged into
/// slots `0..`, on device nodes from `node_base` on, until each has a result. Also gives
/// the serial each slot's `Provisioned` event named (outputs show what this event says).
async fn run(rig: &Rig, macs: &[u32], node_base: u32) -> (BTreeMap<String, Outcome>, Vec<SimHandle>, Serials) {
    let boards = macs.iter().map(|&m| BoardConfig::new(Chip::Esp32, mac(m))).collect();
    run_boards(rig, boards, node_base).await
}

/// [`run`] with boards of any configuration (faults, flash contents).
async fn run_boards(
    rig: &Rig,
    boards: Vec<BoardConfig>,
    node_base: u32,
) -> (BTreeMap<String, Outcome>, Vec<SimHandle>, Serials) {
    let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.events.take().unwrap();
    let mut handles = Vec::new();
    let n = boards.len();
    for (slot, cfg) in boards.into_iter().enumerate() {
        let node = devnode(node_base + slot as u32);
        handles.push(rig.ports.attach(node.clone(), cfg).unwrap());
        devices.plug(DeviceInfo::simulated(slot as u32, node));
    }
    let mut finished = BTreeMap::new();
    let mut serials = Serials::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished.len() < n {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("results within the limit").unwrap();
        match ev {
            StationEvent::Provisioned { slot, serial, .. } => {
                assert!(serials.insert(slot.clone(), serial).is_none(), "{slot} provisioned twice");
            }
            StationEvent::Finished { slot, outcome, serial, .. } => {
                assert_eq!(
                    serials.get(&slot),
                    Some(&serial),
                    "{slot}: the finished event names the serial it was given"
                );
                assert!(finished.insert(slot.clone(), outcome).is_none(), "{slot} finished twice");
            }
            _ => {}
        }
    }
    support_station::drain_and_stop(station, devices).await;
    (finished, handles, serials)
}

/// Per slot, the serial its `Provisioned` event carried.
type Serials = BTreeMap<String, Option<String>>;

fn value(entries: &[flashline_nvs::Entry], key: &str) -> Value {
    let e = entries.iter().find(|e| e.key.as_str() == key).unwrap_or_else(|| panic!("no NVS key {key}"));
    assert_eq!(e.namespace.as_str(), "factory", "{key}");
    e.value.clone()
}

/// The board's partition, decoded, holds exactly what the template asks for this board.
fn check_partition(flash: &[u8], row: &AttemptRow, k: u32) {
    let part = &flash[NVS_OFFSET..NVS_OFFSET + NVS_SIZE];
    let nvs = row.provision.as_ref().and_then(|p| p.nvs.as_ref()).expect("provision recorded");
    assert_eq!((nvs.offset, nvs.size), (NVS_OFFSET as u64, NVS_SIZE as u64));
    assert_eq!(nvs.sha256, hex::encode(Sha256::digest(part)), "the row's SHA-256 is the partition on the board");
    let entries = flashline_nvs::parse(part).expect("a valid NVS partition").entries;
    let serial = row.serial.clone().expect("serial recorded");
    let number: u32 = serial.strip_prefix("SN-").unwrap().parse().unwrap();
    assert_eq!(value(&entries, "serial"), Value::Str(serial.clone()));
    assert_eq!(value(&entries, "serial_no"), Value::U32(number));
    assert_eq!(value(&entries, "mac"), Value::Str(mac_text(k).replace(':', "")));
    assert_eq!(value(&entries, "station"), Value::Str(format!("duplex/{}", row.slot)));
    assert_eq!(value(&entries, "device_id"), Value::Str(format!("dev-{k:03}")));
    assert_eq!(value(&entries, "psk"), Value::Blob(hex::decode(psk(k)).unwrap()));
    assert_eq!(entries.len(), 6, "the six values of the template: {entries:?}");
}

/// Sixteen boards, eight at a time: each passes with the golden image, a serial number of
/// its own (dense from the start: nothing was aborted) and its own NVS partition,
/// decoded from its flash; the chain verifies with the new columns in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_boards_get_their_own_serial_and_nvs() {
    let files = tempfile::tempdir().unwrap();
    let rig = rig(16, 16, files.path()).await;
    let macs: Vec<u32> = (0..16).collect();
    let (finished, handles, _) = run(&rig, &macs, 0).await;
    assert!(finished.values().all(|o| *o == Outcome::Pass), "{finished:?}");
    let rows = rig.ctx.store.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(rows.len(), 16);
    let mut serials = BTreeSet::new();
    for (k, handle) in handles.iter().enumerate() {
        let k = k as u32;
        assert!(flash_matches(&rig, handle), "board {k} holds the golden image");
        let row = rows.iter().find(|r| r.mac.as_deref() == Some(&mac_text(k))).expect("a row per board");
        assert_eq!(row.result, AttemptResult::Pass);
        check_partition(&handle.flash(), row, k);
        serials.insert(row.serial.clone().unwrap());
    }
    let expected: BTreeSet<String> = (500..516).map(|n| format!("SN-{n:05}")).collect();
    assert_eq!(serials, expected, "distinct and dense");
    let report = rig.ctx.store.verify_chain().await.unwrap();
    assert!(report.problems.is_empty() && report.rows_checked == 16, "{report:?}");
}

/// A board flashed again keeps its number (and gets the same partition); a board with no
/// row in the per-device file is refused at stage `provision` before anything is written,
/// and its row says so; the next board still gets the next number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflashed_board_keeps_its_serial_and_a_board_without_a_row_is_refused() {
    let files = tempfile::tempdir().unwrap();
    let rig = rig(3, 3, files.path()).await;
    let (first, h1, _) = run(&rig, &[0, 1], 0).await;
    assert!(first.values().all(|o| *o == Outcome::Pass), "{first:?}");
    let before = rig.ctx.store.query(&AttemptFilter::all().mac(mac_text(1))).await.unwrap();
    let serial = before[0].serial.clone().unwrap();

    // Board 1 again (on another slot), board 9 (no row), board 2 (a new one).
    let (second, h2, shown) = run(&rig, &[1, 9, 2], 10).await;
    let again = rig.ctx.store.query(&AttemptFilter::all().mac(mac_text(1))).await.unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].serial.as_deref(), Some(serial.as_str()), "the same MAC keeps its number");
    assert!(again[0].rework);
    assert_eq!(second["A1"], Outcome::Pass);
    // Its partition again, with its old number (and its new slot).
    check_partition(&h2[0].flash(), &again[0], 1);
    check_partition(&h1[1].flash(), &again[1], 1);

    assert!(matches!(second["A2"], Outcome::Fail { .. }), "{second:?}");
    let refused = &rig.ctx.store.query(&AttemptFilter::all().mac(mac_text(9))).await.unwrap()[0];
    assert_eq!(refused.failure_stage.as_deref(), Some("provision"));
    assert!(refused.failure_reason.as_deref().unwrap().contains("no row for mac"), "{refused:?}");
    assert_eq!(refused.bytes_written, 0);
    // Boards 9 and 2 run at once: either may be first.
    let spent = refused.serial.as_deref();
    assert!(matches!(spent, Some("SN-00502" | "SN-00503")), "its number is spent, and recorded: {spent:?}");
    assert_eq!(shown["A2"].as_deref(), spent, "the outputs show the refused board's number too");
    assert_eq!(shown["A1"].as_deref(), Some(serial.as_str()));
    assert_eq!(refused.provision, None);
    assert!(h2[1].flash().iter().all(|b| *b == 0xFF), "nothing written to the refused board");

    let new = &rig.ctx.store.query(&AttemptFilter::all().mac(mac_text(2))).await.unwrap()[0];
    assert_eq!(new.result, AttemptResult::Pass);
    check_partition(&h2[2].flash(), new, 2);
    let mut numbers: Vec<String> =
        rig.ctx.store.query(&AttemptFilter::all()).await.unwrap().into_iter().filter_map(|r| r.serial).collect();
    numbers.sort();
    numbers.dedup();
    // The refused board owns its number (it keeps it once it has a row): no other gap.
    assert_eq!(numbers, ["SN-00500", "SN-00501", "SN-00502", "SN-00503"]);
    assert!(rig.ctx.store.verify_chain().await.unwrap().problems.is_empty());
}

/// A board whose NVS partition holds older data in a sector that never erases (worn-out
/// cells): the golden image is written and verified, then the partition is written over
/// it (the stub erases each sector as it writes, and this one keeps its bits) and its MD5
/// does not match. The board fails in stage `provision` (the stage progress showed while
/// the partition was written), the reason names the partition's range, and its row says
/// the same. The board beside it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_sector_that_never_erases_fails_the_board_in_provision() {
    const STUCK: u32 = NVS_OFFSET as u32 + 0x1000;
    let files = tempfile::tempdir().unwrap();
    let rig = rig(2, 2, files.path()).await;
    // Older data in the partition's second sector, where the new partition is blank.
    let mut content = vec![0xFFu8; 4 << 20];
    for (i, b) in content[STUCK as usize..STUCK as usize + 0x1000].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(29) ^ 0x3C;
    }
    let file = files.path().join("worn.bin");
    std::fs::write(&file, &content).unwrap();
    let mut worn = BoardConfig::new(Chip::Esp32, mac(1));
    worn.flash_file = Some(file);
    worn.faults = vec![flashline_sim::Fault::StuckSector { addr: STUCK }];
    let (finished, handles, shown) = run_boards(&rig, vec![BoardConfig::new(Chip::Esp32, mac(0)), worn], 20).await;

    assert_eq!(finished["A1"], Outcome::Pass);
    let reason = match &finished["A2"] {
        Outcome::Fail { stage, reason } => {
            assert_eq!(stage, "provision", "{reason}");
            reason.clone()
        }
        other => panic!("a partition that cannot be written passed: {other:?}"),
    };
    assert!(
        reason.starts_with("NVS partition: flash 0x00009000..0x0000f000 does not match the image")
            && reason.contains("reject the board"),
        "{reason}"
    );
    assert!(handles[1].stats().stuck_erases > 0, "the stub's erase reached the worn sector");
    assert!(flash_matches(&rig, &handles[1]), "the golden image was written before the partition");

    let row = &rig.ctx.store.query(&AttemptFilter::all().mac(mac_text(1))).await.unwrap()[0];
    assert_eq!(row.result, AttemptResult::Fail);
    assert_eq!(row.failure_stage.as_deref(), Some("provision"));
    assert_eq!(row.failure_reason.as_deref(), Some(reason.as_str()), "the row says what the station said");
    assert_eq!(row.serial, shown["A2"], "its number is recorded and was shown");
    let ok = &rig.ctx.store.query(&AttemptFilter::all().mac(mac_text(0))).await.unwrap()[0];
    check_partition(&handles[0].flash(), ok, 0);
}
