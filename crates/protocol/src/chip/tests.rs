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
    let ids = [(9, Some(Chip::Esp32S3)), (5, Some(Chip::Esp32C3)), (0, None), (2, None), (77, None)];
    for (id, chip) in ids {
        assert_eq!(Chip::from_chip_id(id), chip, "chip id {id} (ESP32 and S2 are detected by magic)");
    }
}

#[test]
fn names_parse_in_every_spelling() {
    let cases =
        [("ESP32-S3", Chip::Esp32S3), ("esp8266", Chip::Esp8266), ("Esp32_C3", Chip::Esp32C3), ("esp32", Chip::Esp32)];
    for (s, chip) in cases {
        assert_eq!(s.parse::<Chip>(), Ok(chip), "{s}");
    }
    let e = "esp31".parse::<Chip>().unwrap_err();
    assert_eq!(e.to_string(), "unknown chip 'esp31' (expected one of esp8266, esp32, esp32s2, esp32s3, esp32c3)");
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
    assert_eq!(with_usb, [Chip::Esp32S3, Chip::Esp32C3]);
    assert!(Chip::is_usb_serial_jtag(UsbId { vid: 0x303A, pid: 0x1001 }));
    assert!(!Chip::is_usb_serial_jtag(UsbId { vid: 0x10C4, pid: 0xEA60 }), "CP2102 bridge");
    assert!(!Chip::is_usb_serial_jtag(UsbId { vid: 0x303A, pid: 0x0002 }), "S2 USB-OTG CDC");
}
