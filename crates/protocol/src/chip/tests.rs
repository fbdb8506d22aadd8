//! Checks every chip module against the others and against itself, so that a new chip's
//! module is held to the same rules without writing new cross-checks.

use super::*;
use std::collections::HashSet;

#[test]
fn detection_tables() {
    let magics = [
        (0x00F0_1D83, Some(Chip::Esp32)),
        (0xFFF0_C101, Some(Chip::Esp8266)),
        (0x0000_07C6, Some(Chip::Esp32S2)),
        (0x1234, None),
    ];
    for (magic, chip) in magics {
        assert_eq!(Chip::from_magic(magic), chip, "magic 0x{magic:08x}");
    }
    let ids = [
        (9, Some(Chip::Esp32S3)),
        (5, Some(Chip::Esp32C3)),
        (12, Some(Chip::Esp32C2)),
        (23, Some(Chip::Esp32C5)),
        (13, Some(Chip::Esp32C6)),
        (16, Some(Chip::Esp32H2)),
        (18, Some(Chip::Esp32P4)),
        (0, None),
        (2, None),
        (20, None),
        (77, None),
    ];
    for (id, chip) in ids {
        assert_eq!(Chip::from_chip_id(id), chip, "chip id {id} (ESP32 and S2 are detected by magic)");
    }
}

/// Image header chip ids from esptool 5.6's targets (`IMAGE_CHIP_ID`).
#[test]
fn image_chip_ids() {
    let ids = [
        (Chip::Esp8266, None),
        (Chip::Esp32, Some(0)),
        (Chip::Esp32S2, Some(2)),
        (Chip::Esp32C3, Some(5)),
        (Chip::Esp32S3, Some(9)),
        (Chip::Esp32C2, Some(12)),
        (Chip::Esp32C6, Some(13)),
        (Chip::Esp32H2, Some(16)),
        (Chip::Esp32P4, Some(18)),
        (Chip::Esp32C5, Some(23)),
    ];
    assert_eq!(ids.len(), Chip::ALL.len(), "a chip is missing from this table");
    for (chip, id) in ids {
        assert_eq!(chip.spec().image_chip_id, id, "{chip}");
    }
}

#[test]
fn names_parse_in_every_spelling() {
    let cases = [
        ("ESP32-S3", Chip::Esp32S3),
        ("esp8266", Chip::Esp8266),
        ("Esp32_C3", Chip::Esp32C3),
        ("esp32", Chip::Esp32),
        ("ESP32-C2", Chip::Esp32C2),
        ("esp32_c5", Chip::Esp32C5),
        ("Esp32C6", Chip::Esp32C6),
        ("esp32-h2", Chip::Esp32H2),
        ("ESP32P4", Chip::Esp32P4),
    ];
    for (s, chip) in cases {
        assert_eq!(s.parse::<Chip>(), Ok(chip), "{s}");
    }
    let e = "esp31".parse::<Chip>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown chip 'esp31' (expected one of esp8266, esp32, esp32s2, esp32s3, esp32c3, esp32c2, esp32c5, \
         esp32c6, esp32h2, esp32p4)"
    );
    for not_yet in ["esp32c61", "esp32h4", "esp32s31", "esp32p4rev1"] {
        assert!(not_yet.parse::<Chip>().is_err(), "{not_yet} is not a chip flashline knows");
    }
    assert_eq!(String::from(e.clone()), e.to_string());
}

#[test]
fn every_chip_is_consistent() {
    let mut magics = HashSet::new();
    let mut chip_ids = HashSet::new();
    let mut names = HashSet::new();
    for chip in Chip::ALL {
        let spec = chip.spec();
        assert_eq!(spec.chip, chip, "{chip}: its module's SPEC names another chip");
        assert_eq!(chip.to_string().parse::<Chip>(), Ok(chip), "FromStr(Display) of {chip}");
        assert_eq!(chip.file_name().parse::<Chip>(), Ok(chip), "FromStr(file name) of {chip}");
        assert_eq!(spec.stub_name, spec.name.replace('-', "").to_ascii_lowercase(), "{chip}: names disagree");
        assert!(names.insert(spec.stub_name), "{chip}: name used twice");
        assert!(spec.magic.is_some() != spec.detect_by_chip_id, "{chip}: detected by exactly one of magic and chip id");
        if let Some(m) = spec.magic {
            assert!(magics.insert(m), "{chip}: magic 0x{m:08x} shared");
            assert_eq!(Chip::from_magic(m), Some(chip));
        }
        if spec.detect_by_chip_id {
            let id = spec.image_chip_id.expect("chips detected by chip id have one");
            assert!(spec.rom_security_info, "{chip}: detected by chip id but the ROM has no GET_SECURITY_INFO");
            assert_eq!(Chip::from_chip_id(id), Some(chip));
        }
        if let Some(id) = spec.image_chip_id {
            assert!(chip_ids.insert(id), "{chip}: image chip id {id} shared");
        }
        let stub = spec.stub_v2;
        assert!(stub.entry >= stub.text_start, "{chip}: stub entry below its text");
        assert!(stub.entry - stub.text_start < 0x1_0000, "{chip}: stub entry far outside its text");
        assert!(spec.ram_block == 0x800 || spec.ram_block == 0x1800, "{chip}: RAM block");
        assert!(spec.rom_begin_len == 16 || spec.rom_begin_len == 20, "{chip}: FLASH_BEGIN length");
        assert_eq!(spec.rom_status.len(), if spec.rom_is_esp32_class { 4 } else { 2 }, "{chip}: ROM status");
        assert!(!spec.mac_regs.is_empty(), "{chip}: no MAC registers");
        assert_eq!(spec.bootloader_offset % 0x1000, 0, "{chip}: bootloader offset not sector aligned");
        assert!([0x0, 0x1000, 0x2000].contains(&spec.bootloader_offset), "{chip}: bootloader offset");
        assert!(
            spec.mac_regs.iter().all(|r| *r >= spec.efuse_base && *r < spec.efuse_base + 0x200),
            "{chip}: MAC outside eFuse"
        );
        let regs: Vec<(u32, u32)> =
            chip.spec().mac_regs.iter().chain(chip.target().description_regs()).map(|&a| (a, 0)).collect();
        let revision = chip.target().describe(&regs).unwrap().revision;
        if let Some(s) = chip.target().stub_for(revision.or(Some((1, 0)))) {
            assert!(
                s.layout.entry >= s.layout.text_start && s.layout.entry - s.layout.text_start < 0x1_0000,
                "{chip}: {s:?}"
            );
            assert!(s.file_stem.starts_with(spec.stub_name), "{chip}: stub file {}", s.file_stem);
        }
    }
}

#[test]
fn mac_round_trips_on_every_chip() {
    let macs = ["24:0a:c4:12:34:56", "84:0d:8e:00:00:01", "ff:ff:ff:ff:ff:ff", "ac:d0:74:00:00:01"];
    for chip in Chip::ALL {
        let t = chip.target();
        for mac in macs {
            let mac: Mac = mac.parse().unwrap();
            let words = t.encode_mac(&mac);
            assert_eq!(words.len(), chip.spec().mac_regs.len(), "{chip}: one word per MAC register");
            assert_eq!(t.decode_mac(&words), Ok(mac), "{chip} {mac}");
            assert_ne!(t.mac_checksum_ok(&words), Some(false), "{chip}: encoded words fail their own checksum");
        }
        let short = vec![0; chip.spec().mac_regs.len() - 1];
        assert!(matches!(t.decode_mac(&short), Err(MacError::WrongCount { .. })), "{chip}");
    }
}

#[test]
fn every_chip_describes_itself_from_the_registers_it_names() {
    for chip in Chip::ALL {
        let t = chip.target();
        let regs: Vec<(u32, u32)> = chip.spec().mac_regs.iter().chain(t.description_regs()).map(|&a| (a, 0)).collect();
        let d = t.describe(&regs).unwrap_or_else(|e| panic!("{chip}: {e}"));
        assert!(d.text.starts_with("ESP"), "{chip}: {d:?}");
        let pads: Vec<(u32, u32)> = t.spi_pad_regs().iter().map(|&a| (a, 0)).collect();
        assert_eq!(t.spi_pad_config(&pads), Ok(0), "{chip}: blank eFuses mean the default pads");
        let baud: Vec<(u32, u32)> = t.rom_baud_regs().iter().map(|&a| (a, 0)).collect();
        assert_eq!(t.rom_baud_word(115_200, &baud), Ok(115_200), "{chip}: uncalibrated ROM clock");
        assert_eq!(t.rom_flash_begin_size(0x10000, 0x10000) % 0x1000, 0, "{chip}: FLASH_BEGIN size");
    }
}

#[test]
fn usb_serial_jtag_identity() {
    let with_usb: Vec<Chip> = Chip::ALL.into_iter().filter(|c| c.spec().usb_serial_jtag.is_some()).collect();
    assert_eq!(with_usb, [Chip::Esp32S3, Chip::Esp32C3, Chip::Esp32C5, Chip::Esp32C6, Chip::Esp32H2, Chip::Esp32P4]);
    assert!(Chip::is_usb_serial_jtag(UsbId { vid: 0x303A, pid: 0x1001 }));
    assert!(!Chip::is_usb_serial_jtag(UsbId { vid: 0x10C4, pid: 0xEA60 }), "CP2102 bridge");
    assert!(!Chip::is_usb_serial_jtag(UsbId { vid: 0x303A, pid: 0x0002 }), "S2 USB-OTG CDC");
}
