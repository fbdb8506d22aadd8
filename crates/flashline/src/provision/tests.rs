//! Making boards' partitions from a template and a per-device file, and the start-up check.

use std::fs;
use std::path::Path;

use flashline_nvs::{parse, Value};

use super::*;

const TEMPLATE: &str = "key,type,encoding,value
factory,namespace,,
serial,data,string,{serial}
serial_no,data,u32,{serial_number}
mac,data,string,{mac_hex}
where,data,string,\"{station}/{slot}\"
cert,file,binary,certs/{device.cert_file}
psk,data,hex2bin,{device.psk}
";

const DEVICES: &str = "serial,cert_file,psk
FL-001000,a.der,00112233
FL-001001,b.der,deadbeef
";

const SIZE: usize = 0x6000;

fn facts(serial: &str, number: u64) -> BoardFacts {
    BoardFacts {
        mac: "24:0A:C4:00:00:01".into(),
        serial: Some((serial.into(), number)),
        station: "line-1".into(),
        slot: "A1".into(),
        chip: "esp32s3".into(),
    }
}

/// A template directory with its certificate files; returns the data.
fn data(dir: &Path, template: &str, devices: Option<&str>) -> NvsData {
    fs::create_dir_all(dir.join("certs")).unwrap();
    fs::write(dir.join("certs/a.der"), b"\x30\x82cert-a").unwrap();
    fs::write(dir.join("certs/b.der"), b"\x30\x82cert-b").unwrap();
    let devices = devices.map(|d| (dir.join("devices.csv"), DeviceTable::parse(d, DeviceKey::Serial).unwrap()));
    NvsData::new(dir.join("template.csv"), template.to_owned(), devices)
}

fn value_of(image: &[u8], key: &str) -> Value {
    let contents = parse(image).unwrap();
    contents.entries.into_iter().find(|e| e.key.as_str() == key).unwrap_or_else(|| panic!("no {key}")).value
}

#[test]
fn a_board_gets_its_own_values_and_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path(), TEMPLATE, Some(DEVICES));
    let image = d.render(&facts("FL-001001", 1001), SIZE).unwrap();
    assert_eq!(image.len(), SIZE);
    assert_eq!(value_of(&image, "serial"), Value::Str("FL-001001".into()));
    assert_eq!(value_of(&image, "serial_no"), Value::U32(1001));
    assert_eq!(value_of(&image, "mac"), Value::Str("240AC4000001".into()));
    assert_eq!(value_of(&image, "where"), Value::Str("line-1/A1".into()));
    assert_eq!(value_of(&image, "cert"), Value::Blob(b"\x30\x82cert-b".to_vec()));
    assert_eq!(value_of(&image, "psk"), Value::Blob(vec![0xde, 0xad, 0xbe, 0xef]));
    let other = d.render(&facts("FL-001000", 1000), SIZE).unwrap();
    assert_ne!(image, other);
    assert_eq!(d.render(&facts("FL-001001", 1001), SIZE).unwrap(), image, "the same board, the same bytes");
}

#[test]
fn a_board_without_a_row_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path(), TEMPLATE, Some(DEVICES));
    let err = d.render(&facts("FL-001002", 1002), SIZE).unwrap_err();
    assert!(matches!(err, NvsDataError::NoDeviceRow { ref value, .. } if value == "FL-001002"), "{err:?}");
    assert!(err.to_string().contains("no row for serial FL-001002 in"), "{err}");
}

#[test]
fn the_start_up_check_makes_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path(), TEMPLATE, Some(DEVICES));
    assert_eq!(d.check_all(&facts("FL-999999", 999_999), SIZE).unwrap(), 2);
    // A row whose file is missing fails the check, naming the key and line of the template.
    fs::remove_file(dir.path().join("certs/b.der")).unwrap();
    let err = d.check_all(&facts("FL-999999", 999_999), SIZE).unwrap_err().to_string();
    assert!(err.contains("line 7") && err.contains("cert") && err.contains("b.der"), "{err}");
}

/// Each bad input is refused by the start-up check with a message naming what to fix.
#[test]
fn bad_templates_are_refused_at_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let head = "key,type,encoding,value\nns,namespace,,\n";
    let cases: [(String, Option<&str>, &str); 8] = [
        (format!("{head}s,data,string,{{serail}}\n"), None, "unknown placeholder {serail}"),
        (format!("{head}s,data,string,{{serial\n"), None, "is not closed"),
        (format!("{head}n,data,u8,{{serial_number}}\n"), None, "does not fit"),
        (format!("{head}s,data,string,{{device.cert_file}}\n"), None, "needs a per-device file"),
        (format!("{head}s,data,string,{{device.nope}}\n"), Some(DEVICES), "has no column \"nope\""),
        (format!("{head}s,file,binary,../outside.der\n"), None, "no '..'"),
        (format!("{head}s,file,binary,/etc/passwd\n"), None, "no absolute path"),
        (format!("{head}a,data,string,{x}\nb,data,string,{x}\n", x = "x".repeat(3000)), None, "partition"),
    ];
    for (template, devices, want) in cases {
        let d = data(dir.path(), &template, devices);
        let size = if want == "partition" { 0x1000 } else { SIZE };
        let err = match d.check_all(&facts("FL-999999", 999_999), size) {
            Ok(n) => panic!("{template:.200?} was accepted ({n} partitions)"),
            Err(e) => e.to_string(),
        };
        assert!(err.to_lowercase().contains(&want.to_lowercase()), "{template:.200?}: {err}");
    }
}

#[test]
fn serials_need_a_serial_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path(), "key,type,encoding,value\nns,namespace,,\ns,data,string,{serial}\n", None);
    let mut f = facts("x", 1);
    f.serial = None;
    let err = d.check_all(&f, SIZE).unwrap_err().to_string();
    assert!(err.contains("add [provision] serial"), "{err}");
}

/// A partition table as ESP-IDF's gen_esp32part.py lays it out (no MD5 entry).
fn table(entries: &[(&str, u8, u8, u32, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (label, kind, subtype, offset, size) in entries {
        out.extend_from_slice(&[0xAA, 0x50, *kind, *subtype]);
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        let mut name = [0u8; 16];
        name[..label.len()].copy_from_slice(label.as_bytes());
        out.extend_from_slice(&name);
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out.resize(0xC00, 0xFF);
    out
}

#[test]
fn the_partition_comes_from_the_image_table() {
    let t = table(&[
        ("nvs", 1, 2, 0x9000, 0x6000),
        ("phy_init", 1, 1, 0xf000, 0x1000),
        ("factory", 0, 0, 0x10000, 0x100000),
    ]);
    let from = |label: Option<&str>| NvsPlacement::FromTable { label: label.map(str::to_owned), table_offset: 0x8000 };
    let image = |at: u32| (at == 0x8000).then(|| t.clone());
    assert_eq!(from(None).resolve(image).unwrap(), (0x9000, 0x6000));
    assert_eq!(from(Some("phy_init")).resolve(image).unwrap(), (0xf000, 0x1000));
    let err = from(Some("nvs_keys")).resolve(image).unwrap_err().to_string();
    assert!(err.contains("no partition labelled \"nvs_keys\"") && err.contains("nvs, phy_init, factory"), "{err}");
    let err = from(None).resolve(|_| None).unwrap_err().to_string();
    assert!(err.contains("give [provision.nvs] offset and size"), "{err}");
    let fixed = NvsPlacement::Fixed { offset: 0x3000, size: 0x4000 };
    assert_eq!(fixed.resolve(|_| None).unwrap(), (0x3000, 0x4000));
}
