//! `[provision]` as written in a station config: what is accepted, and every refusal
//! naming the key and what to do.

use std::fs;
use std::path::Path;

use super::tests::minimal;
use super::*;
use crate::provision::{DeviceKey, NvsPlacement};

const TEMPLATE: &str =
    "key,type,encoding,value\nfactory,namespace,,\nserial,data,string,{serial}\nid,data,string,{device.id}\n";
const DEVICES: &str = "serial,id\nFL-001000,dev-a\nFL-001001,dev-b\n";

/// A config directory holding the template and devices files; returns the config's path.
fn dir_with(template: &str, devices: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("nvs.csv"), template).unwrap();
    fs::write(dir.path().join("devices.csv"), devices).unwrap();
    dir
}

fn parse_in(dir: &Path, extra: &str) -> Result<Config, ConfigError> {
    Config::parse(&format!("{}{extra}", minimal()), &dir.join("flashline.toml"))
}

#[test]
fn serials_and_nvs_with_fixed_placement() {
    let dir = dir_with(TEMPLATE, DEVICES);
    let c = parse_in(
        dir.path(),
        "[provision]\nserial = { prefix = \"FL-\", start = 1000, width = 6 }\n\
         [provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\noffset = 0x9000\nsize = 0x6000\n",
    )
    .unwrap();
    assert_eq!(c.provision.serial.as_ref().unwrap().format(1000), "FL-001000");
    let nvs = c.provision.nvs.as_ref().unwrap();
    assert_eq!(nvs.placement, NvsPlacement::Fixed { offset: 0x9000, size: 0x6000 });
    let table = nvs.data.devices().unwrap();
    assert_eq!((table.key(), table.len()), (DeviceKey::Serial, 2), "a serial format makes serial the default key");
}

#[test]
fn defaults_take_the_partition_from_the_table_and_key_by_mac() {
    let dir = dir_with("key,type,encoding,value\nf,namespace,,\nm,data,string,{mac}\n", "mac,x\n24:0a:c4:00:00:01,1\n");
    let c = parse_in(dir.path(), "[provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\n").unwrap();
    let nvs = c.provision.nvs.unwrap();
    assert_eq!(nvs.placement, NvsPlacement::FromTable { label: None, table_offset: 0x8000 });
    assert_eq!(nvs.data.devices().unwrap().key(), DeviceKey::Mac);
    assert_eq!(c.provision.serial, None);
    assert_eq!(parse_in(dir.path(), "").unwrap().provision, crate::provision::Provisioning::default());
}

#[test]
fn refusals_name_the_key() {
    let dir = dir_with(TEMPLATE, DEVICES);
    let fixed = "offset = 0x9000\nsize = 0x6000\n";
    let serial = "[provision]\nserial = { prefix = \"FL-\", start = 1000, width = 6 }\n";
    let cases: Vec<(String, &str)> = vec![
        ("[provision]\nserial = { prefix = \"FL-\", start = 1000000, width = 6 }\n".to_owned(), "start 1000000 has more than 6 digits"),
        ("[provision]\nserial = { prefx = \"FL-\" }\n".to_owned(), "unknown field `prefx`"),
        (format!("{serial}[provision.nvs]\ntemplate = \"missing.csv\"\n"), "missing.csv"),
        (format!("{serial}[provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\noffset = 0x9000\n"), "offset needs size too"),
        (format!("{serial}[provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\noffset = 0x9100\nsize = 0x6000\n"), "not on a 4 KiB boundary"),
        (format!("{serial}[provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\noffset = 0x9000\nsize = 0x2000\n"), "not a usable NVS size"),
        (format!("{serial}[provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\npartition = \"nvs\"\n{fixed}"), "not both"),
        (format!("[provision.nvs]\ntemplate = \"nvs.csv\"\ndevice_key = \"serial\"\n{fixed}"), "needs serial numbers"),
        // The template's {serial} without a serial format; the devices file keyed by MAC has no such column.
        (format!("[provision.nvs]\ntemplate = \"nvs.csv\"\n{fixed}"), "add [provision] serial"),
        (format!("{serial}[provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\ndevice_key = \"mac\"\n{fixed}"), "no \"mac\" column"),
    ];
    for (extra, want) in cases {
        let err = parse_in(dir.path(), &extra).unwrap_err().to_string();
        assert!(err.contains(want), "{extra}\n→ {err}");
        assert!(err.contains("provision"), "the key is named: {err}");
    }
}

#[test]
fn a_bad_per_device_file_or_template_stops_the_config() {
    let serial = "[provision]\nserial = { prefix = \"FL-\", start = 1000, width = 6 }\n";
    let nvs = "[provision.nvs]\ntemplate = \"nvs.csv\"\ndevices = \"devices.csv\"\noffset = 0x9000\nsize = 0x6000\n";
    let cases = [
        (TEMPLATE, "serial,id\nFL-001000,a\nFL-001000,b\n", "already has a row on line 2"),
        (TEMPLATE, "serial\nFL-001000\n", "has no column \"id\""),
        ("key,type,encoding,value\nf,namespace,,\nx,data,string,{serail}\n", DEVICES, "unknown placeholder {serail}"),
        ("key,type,encoding,value\nf,namespace,,\nx,data,u8,{serial_number}\n", DEVICES, "does not fit"),
    ];
    for (template, devices, want) in cases {
        let dir = dir_with(template, devices);
        let err = parse_in(dir.path(), &format!("{serial}{nvs}")).unwrap_err().to_string();
        assert!(err.contains(want), "{template} / {devices}\n→ {err}");
    }
}
