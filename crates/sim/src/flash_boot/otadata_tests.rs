//! The bootloader's choice of app by `otadata`, and a boot that runs the chosen slot's
//! console script.

use flashline_protocol::Chip;

use super::*;
use crate::boot::ResetCause;
use crate::flash_boot::partitions::{read, AppKind};
use crate::flash_boot::{image, plan, BootTiming, Then};

const OTADATA: u32 = 0xd000;

fn entry(ty: u8, sub: u8, offset: u32, size: u32) -> Vec<u8> {
    let mut e = vec![0xAA, 0x50, ty, sub];
    e.extend_from_slice(&offset.to_le_bytes());
    e.extend_from_slice(&size.to_le_bytes());
    e.resize(32, 0);
    e
}

/// A flash whose table has otadata, `factory` (when asked) and ota_0/ota_1, and whose
/// otadata sectors hold `entries` (raw 32-byte entries, `None`: erased).
fn flash(factory: bool, entries: [Option<[u8; 32]>; 2]) -> Vec<u8> {
    let mut parts = vec![entry(1, 2, 0x9000, 0x4000), entry(1, 0, OTADATA, 0x2000)];
    if factory {
        parts.push(entry(0, 0, 0x10000, 0x10000));
    }
    parts.push(entry(0, 0x10, 0x20000, 0x10000));
    parts.push(entry(0, 0x11, 0x30000, 0x10000));
    let mut f = vec![0xFF; 0x40000];
    let table = parts.concat();
    f[0x8000..0x8000 + table.len()].copy_from_slice(&table);
    for (i, e) in entries.iter().enumerate() {
        if let Some(e) = e {
            let at = OTADATA as usize + i * 0x1000;
            f[at..at + 32].copy_from_slice(e);
        }
    }
    f
}

fn chosen(f: &[u8]) -> (AppKind, Option<&'static str>) {
    let (slot, note) = choose(&read(f).unwrap(), f).expect("an app");
    (slot.kind, note)
}

#[test]
fn the_crc_is_otatools() {
    // binascii.crc32(struct.pack("<I", seq), 0xFFFFFFFF), as otatool computes it.
    assert_eq!(seq_crc(1), 0x4743_989a);
    assert_eq!(seq_crc(2), 0x55f6_3774);
    assert_eq!(seq_crc(3), 0xed4a_5011);
}

#[test]
fn the_bootloader_chooses_as_esp_idf_does() {
    let e = |seq| Some(SelectEntry::bytes(seq));
    let mut bad_crc = SelectEntry::bytes(2);
    bad_crc[28] ^= 1;
    let mut aborted = SelectEntry::bytes(2);
    aborted[24..28].copy_from_slice(&4u32.to_le_bytes());
    let defaulting = Some("I (53) boot: Defaulting to factory image");
    let cases = [
        ("blank, factory", flash(true, [None, None]), (AppKind::Factory, defaulting)),
        (
            "blank, no factory",
            flash(false, [None, None]),
            (AppKind::Ota(0), Some("I (53) boot: No factory image, trying OTA 0")),
        ),
        ("seq 1", flash(true, [e(1), None]), (AppKind::Ota(0), None)),
        ("seq 2", flash(true, [e(1), e(2)]), (AppKind::Ota(1), None)),
        ("seq 3 wraps", flash(true, [e(3), e(2)]), (AppKind::Ota(0), None)),
        ("the higher valid one", flash(false, [Some(bad_crc), e(1)]), (AppKind::Ota(0), None)),
        (
            "no valid entry",
            flash(true, [Some(bad_crc), None]),
            (AppKind::Factory, Some("E (53) boot: ota data partition invalid, falling back to factory")),
        ),
        ("aborted is empty", flash(true, [Some(aborted), None]), (AppKind::Factory, defaulting)),
    ];
    for (what, f, want) in cases {
        assert_eq!(chosen(&f), want, "{what}");
    }
}

/// An image whose otadata selects ota_1 boots ota_1's console script, not ota_0's nor the
/// factory app's.
#[test]
fn an_image_selecting_ota_1_boots_its_script() {
    let chip = Chip::Esp32C3;
    let id = chip.spec().image_chip_id.unwrap_or(0) as u16;
    let mut f = flash(true, [Some(SelectEntry::bytes(1)), Some(SelectEntry::bytes(2))]);
    f.resize(0x40000, 0xFF);
    let boot = image::build(0x4000, b"bootloader", true, id);
    f[..boot.len()].copy_from_slice(&boot);
    for (at, name) in [(0x10000, "factory"), (0x20000, "ota_0"), (0x30000, "ota_1")] {
        let script = format!("ESPSIM-CONSOLE-BEGIN\nI (300) app: {name} running\nESPSIM-CONSOLE-END\n");
        let app = image::build(0x8000, script.as_bytes(), true, id);
        f[at..at + app.len()].copy_from_slice(&app);
    }
    let p = plan(crate::chips::require(chip), &f, ResetCause::PowerOn, BootTiming::fast());
    let text: String = p.chunks.iter().map(|c| String::from_utf8_lossy(&c.text).into_owned()).collect();
    assert!(text.contains("Loaded app from partition at offset 0x30000"), "{text}");
    assert!(text.ends_with("I (300) app: ota_1 running\r\n"), "{text}");
    assert_eq!(p.then, Then::Run);
}
