//! Per-device NVS in a station with an image per chip whose partition tables put the NVS
//! partition in different places: each board's partition goes where its own chip's image
//! expects it, read back from the simulated flash there and decoded. A fixed offset that
//! only one image's table agrees with stops `config check` and the start, naming the
//! chip and image it does not fit.

mod support_station;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use flashline::cli::demo::provision::TEMPLATE;
use flashline::cli::sample::{partition_entry, write_sample_with_table};
use flashline::config::Config;
use flashline::device::DeviceInfo;
use flashline::image::{GoldenImage, ImageSource};
use flashline::pipeline::SimulatedPorts;
use flashline::station::serve::{Station, Ui};
use flashline::station::{Outcome, StationContext, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult};
use flashline_nvs::Value;
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::BoardConfig;
use flashline_testkit::mixed_line::images_tables;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(120);

/// Each chip's image and where its table puts the `nvs` partition.
const CHIPS: [(Chip, u32, u32); 2] = [(Chip::Esp32, 0x9000, 0x6000), (Chip::Esp32C3, 0xC000, 0x4000)];

fn mac(k: u32) -> Mac {
    Mac([0x24, 0x0a, 0xc4, 0x66, 0x00, k as u8])
}

fn mac_text(k: u32) -> String {
    flashline_audit::format_mac(mac(k).0)
}

/// A station config with `[images.esp32]` and `[images.esp32c3]` (each table with its own
/// `nvs` partition), `slots` slots, per-device rows for boards `0..slots`, and `placement`
/// as the `[provision.nvs]` lines that say where the partition goes.
fn write_station(dir: &Path, slots: u32, placement: &str) -> PathBuf {
    let images: Vec<(Chip, PathBuf, String)> = CHIPS
        .iter()
        .map(|&(chip, offset, size)| {
            let entries = [
                partition_entry("nvs", 1, 2, offset, size),
                partition_entry("phy_init", 1, 1, 0xF000, 0x1000),
                partition_entry("factory", 0, 0, 0x10000, 0x100000),
            ];
            let d = dir.join(chip.file_name());
            let sample = write_sample_with_table(&d, chip, 32 * 1024, None, &entries).unwrap();
            let manifest = d.join(format!("{}.toml", chip.file_name()));
            std::fs::rename(sample, &manifest).unwrap();
            let sha = GoldenImage::load(&ImageSource::Manifest(manifest.clone())).unwrap().sha256().to_hex();
            (chip, manifest, sha)
        })
        .collect();
    std::fs::write(dir.join("nvs.csv"), TEMPLATE).unwrap();
    let devices: String = std::iter::once("mac,device_id,psk\n".to_string())
        .chain((0..slots).map(|k| format!("{},dev-{k:03},{:08x}\n", mac_text(k), 0xabc0 + k)))
        .collect();
    std::fs::write(dir.join("devices.csv"), devices).unwrap();
    let slot_lines: String = (0..slots).map(|k| format!("A{} = \"sim-usb-0:{k}:1.0\"\n", k + 1)).collect();
    let text = format!(
        "station = \"mixed\"\ndatabase = \"{db}\"\nmax_jobs = {slots}\n\n{images}[flash]\nafter = \"no-reset\"\n\n\
         [slots]\n{slot_lines}\n[provision]\nserial = {{ prefix = \"SN-\", start = 1, width = 4 }}\n\n\
         [provision.nvs]\ntemplate = \"{t}\"\ndevices = \"{d}\"\ndevice_key = \"mac\"\n{placement}",
        db = dir.join("audit.db").display(),
        images = images_tables(images.iter().map(|(c, m, s)| (*c, m.as_path(), s.clone()))),
        t = dir.join("nvs.csv").display(),
        d = dir.join("devices.csv").display(),
    );
    let path = dir.join("station.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Four boards, two of each chip, on a station that takes each image's own `nvs`
/// partition: every board's partition is at its chip's offset (and nothing at the other
/// chip's), decodes, holds its own values, and its row records that place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_board_gets_its_nvs_where_its_chips_image_puts_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(&write_station(dir.path(), 4, "")).unwrap_or_else(|e| panic!("{e}"));
    let ports = SimulatedPorts::new();
    let ctx = StationContext::build(&config, Arc::new(ports.clone()), CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    let ctx = Arc::new(ctx);
    let (mut station, devices) = Station::start_simulated(ctx.clone(), &config, Ui::Logs);
    let mut events = station.events.take().unwrap();
    let chip_of = |k: u32| CHIPS[k as usize % 2];
    let mut handles = Vec::new();
    for k in 0..4 {
        let node = PathBuf::from(format!("/dev/sim-provmixed{k}"));
        handles.push(ports.attach(node.clone(), BoardConfig::new(chip_of(k).0, mac(k))).unwrap());
        devices.plug(DeviceInfo::simulated(k, node));
    }
    let mut finished = 0;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished < 4 {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("results in time").unwrap();
        if let StationEvent::Finished { slot, outcome, .. } = ev {
            assert_eq!(outcome, Outcome::Pass, "{slot}");
            finished += 1;
        }
    }
    support_station::drain_and_stop(station, devices).await;

    let rows = ctx.store.query(&AttemptFilter::all()).await.unwrap();
    for (k, handle) in handles.iter().enumerate() {
        let k = k as u32;
        let (chip, offset, size) = chip_of(k);
        let (other, other_offset, _) = chip_of(k + 1);
        let row = rows.iter().find(|r| r.mac.as_deref() == Some(&mac_text(k))).expect("a row per board");
        assert_eq!(row.result, AttemptResult::Pass);
        let flash = handle.flash();
        let part = &flash[offset as usize..(offset + size) as usize];
        let nvs = row.provision.as_ref().and_then(|p| p.nvs.as_ref()).expect("provision recorded");
        assert_eq!((nvs.offset, nvs.size), (u64::from(offset), u64::from(size)), "{chip} board {k}");
        assert_eq!(nvs.sha256, hex::encode(Sha256::digest(part)), "{chip} board {k}");
        let entries = flashline_nvs::parse(part).unwrap_or_else(|e| panic!("{chip} board {k}: {e}")).entries;
        let value = |key: &str| entries.iter().find(|e| e.key.as_str() == key).map(|e| e.value.clone());
        assert_eq!(value("mac"), Some(Value::Str(mac_text(k).replace(':', ""))), "{chip} board {k}");
        assert_eq!(value("device_id"), Some(Value::Str(format!("dev-{k:03}"))), "{chip} board {k}");
        assert_eq!(value("serial"), row.serial.clone().map(Value::Str), "{chip} board {k}");
        // Nothing where the other chip's image would have it (its first page stays erased).
        if other_offset >= offset + size || other_offset + 0x1000 <= offset {
            let page = &flash[other_offset as usize..other_offset as usize + 0x1000];
            assert!(page.iter().all(|b| *b == 0xFF), "{chip} board {k}: written at the {other} place too");
        }
    }
    assert!(ctx.store.verify_chain().await.unwrap().problems.is_empty());
}

/// `offset`/`size` that only the ESP32 image's table agrees with: `config check` and the
/// start both refuse the config, naming the ESP32-C3 and its image.
#[tokio::test]
async fn a_fixed_place_one_image_disagrees_with_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_station(dir.path(), 1, "offset = 0x9000\nsize = 0x6000\n");
    let out = Command::new(env!("CARGO_BIN_EXE_flashline")).args(["config", "check"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("[provision.nvs] against the ESP32-C3 image esp32c3.toml")
            && text.contains("not an NVS partition of the image's partition table")
            && text.contains("0xc000 size 0x4000"),
        "{text}"
    );

    let config = Config::load(&path).unwrap();
    let Err(err) = StationContext::build(&config, Arc::new(SimulatedPorts::new()), CancellationToken::new()).await
    else {
        panic!("the start refuses the config");
    };
    assert!(err.message.contains("against the ESP32-C3 image esp32c3.toml"), "{}", err.message);

    // The place both tables give (none: they differ) is not needed when each image's own
    // table is used: the same station without offset and size checks out.
    let ok = write_station(dir.path(), 1, "");
    let out = Command::new(env!("CARGO_BIN_EXE_flashline")).args(["config", "check"]).arg(&ok).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
