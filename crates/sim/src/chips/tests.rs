//! Every simulated chip checked against the host side's module of the same chip: what the
//! host decodes from the simulated registers must be what the board was built with.

use super::*;
use crate::flash::NorFlash;
use crate::registers::Registers;
use flashline_protocol::chip::esp32::{APB_CTL_DATE, EFUSE_W3, EFUSE_W5};
use flashline_protocol::chip::CHIP_DETECT_MAGIC_REG;
use std::collections::HashMap;

/// The registers of a fresh board, as the host would read them.
fn read_back(chip: Chip, mac: &Mac) -> HashMap<u32, u32> {
    let r = Registers::new(chip, mac);
    let t = chip.target();
    let addrs =
        chip.spec().mac_regs.iter().chain(t.description_regs()).chain(t.spi_pad_regs()).chain(t.rom_baud_regs());
    addrs.chain([&CHIP_DETECT_MAGIC_REG]).map(|&a| (a, r.read(a))).collect()
}

#[test]
fn every_simulated_chip_identifies_as_itself() {
    for m in SIMULATED {
        let chip = m.chip();
        let mac = m.default_mac_base().offset(0x12_3456);
        let regs = read_back(chip, &mac);
        let t = chip.target();
        assert_eq!(Chip::from_magic(regs[&CHIP_DETECT_MAGIC_REG]), Some(chip), "{chip}: magic");
        let words: Vec<u32> = chip.spec().mac_regs.iter().map(|a| regs[a]).collect();
        assert_eq!(t.decode_mac(&words), Ok(mac), "{chip}: MAC");
        assert_ne!(t.mac_checksum_ok(&words), Some(false), "{chip}: MAC checksum");
        assert_eq!(t.spi_pad_config(&regs), Ok(0), "{chip}: a module with the default flash pads");
        assert_eq!(model(chip).map(|x| x.chip()), Some(chip));
        assert_eq!(parse_simulated(chip.file_name()), Ok(chip));
    }
}

#[test]
fn descriptions_match_the_modelled_modules() {
    let cases = [(Chip::Esp32, Some((1, 0)), "ESP32-D0WDQ6 (revision v1.0)"), (Chip::Esp8266, None, "ESP8266EX")];
    for (chip, revision, text) in cases {
        let regs = read_back(chip, &require(chip).default_mac_base());
        let d = chip.target().describe(&regs).unwrap();
        assert_eq!((d.revision, d.text.as_str()), (revision, text), "{chip}");
    }
    let regs = read_back(Chip::Esp32, &Esp32.default_mac_base());
    assert_eq!((regs[&EFUSE_W3], regs[&EFUSE_W5], regs[&APB_CTL_DATE]), (0xA000, 0, 0x1604_2000));
}

#[test]
fn rom_baud_compensation_is_undone_by_the_rom() {
    // The host scales by the ROM's clock estimate from the simulated registers; the
    // simulated ROM must end up at (very nearly) the requested rate.
    let regs = read_back(Chip::Esp32, &Esp32.default_mac_base());
    for baud in [230_400u32, 460_800, 921_600, 1_500_000, 3_000_000] {
        let word = Chip::Esp32.target().rom_baud_word(baud, &regs).unwrap();
        let actual = Esp32.rom_baud_from_word(word);
        assert!(actual.abs_diff(baud as u64) <= 1, "{baud}: word {word}, ROM runs at {actual}");
    }
    assert_eq!(Esp8266.rom_baud_from_word(115_200), 115_200);
}

#[test]
fn stubs_are_told_apart_by_layout() {
    let cases = [
        (Chip::Esp32, 0x400B_E658, 0x400B_E000, StubKind::Legacy),
        (Chip::Esp32, 0x400A_902C, 0x400A_8000, StubKind::New),
        (Chip::Esp8266, 0x4010_D004, 0x4010_D000, StubKind::Legacy),
        (Chip::Esp8266, 0x4010_C504, 0x4010_C500, StubKind::New),
    ];
    for (chip, entry, text, kind) in cases {
        assert_eq!(stub_by_entry(chip, entry), Some(kind), "{chip} entry {entry:#x}");
        assert_eq!(stub_by_load_addr(chip, text), Some(kind), "{chip} text {text:#x}");
    }
    assert_eq!(stub_by_entry(Chip::Esp32, 0x4010_C504), None, "another chip's stub");
    assert_eq!(stub_by_load_addr(Chip::Esp8266, 0x3FFB_0000), None, "a data segment");
    assert_eq!(stub_by_entry(Chip::Esp32S3, 0x4037_95A8), None, "not simulated");
    for m in SIMULATED {
        let [(k1, a), (k2, b)] = m.stub_layouts();
        assert_ne!(k1, k2);
        assert!(a.entry != b.entry && a.text_start != b.text_start, "{}: stubs indistinguishable", m.chip());
        assert!(a.entry >= a.text_start && b.entry >= b.text_start);
    }
}

#[test]
fn esp8266_erase_bug_inverts_esptool_workaround() {
    // Reference example: 100 000 bytes at 0 → 25 sectors → esptool sends 0xD000 → 26.
    assert_eq!(esp8266::rom_erase_sectors(0, 0xD000), 26);
    // What the host sends (esptool's get_erase_size) always covers the data, and the ROM
    // over-erases by at most one sector.
    let host = Chip::Esp8266.target();
    for offset in (0..0x40000).step_by(0x3000) {
        for size in [1u32, 4096, 4097, 30_000, 65_536, 100_000, 300_000] {
            let sectors = size.div_ceil(4096);
            let erased = esp8266::rom_erase_sectors(offset, host.rom_flash_begin_size(offset, size));
            assert!(erased >= sectors, "offset {offset:#x} size {size}: {erased} < {sectors}");
            assert!(erased <= sectors + 1, "over-erase beyond one sector at {offset:#x} size {size}");
        }
    }
    assert_eq!(esp8266::rom_erase_sectors(0, 0), 0);
    assert_eq!(Esp8266.rom_erase(0, 0xD000), RomErase { len: 26 * 4096, clamp_to_flash: true });
}

#[test]
fn esp32_rom_erases_whole_sectors_from_the_offset() {
    let cases = [(0, 1, 0x1000), (0x1000, 0x1000, 0x1000), (0x1800, 0x1000, 0x2000), (0x10000, 0, 0)];
    for (offset, size, len) in cases {
        assert_eq!(Esp32.rom_erase(offset, size), RomErase { len, clamp_to_flash: false }, "{offset:#x}+{size}");
    }
}

#[test]
fn personalities() {
    assert_eq!((Esp8266.banner_baud(), Esp32.banner_baud()), (74_880, 115_200));
    for m in SIMULATED {
        let boot = String::from_utf8(m.download_banner(ResetCause::PowerOn)).unwrap();
        assert!(boot.contains("ets "), "{}: {boot}", m.chip());
        assert_ne!(m.download_banner(ResetCause::PowerOn), m.download_banner(ResetCause::Software));
        assert!(String::from_utf8(m.app_banner()).unwrap().ends_with("flashline-sim app running\r\n"));
    }
    assert!(String::from_utf8(Esp32.download_banner(ResetCause::PowerOn)).unwrap().contains("waiting for download"));
    assert!(Esp32.new_stub_boosts_clocks() && !Esp8266.new_stub_boosts_clocks());
    assert!(Esp8266.stub_run_user_code_silent() && !Esp32.stub_run_user_code_silent());
}

#[test]
fn only_simulated_chips_are_accepted() {
    assert_eq!(simulated_names(), "esp32, esp8266");
    assert_eq!(parse_simulated("ESP8266"), Ok(Chip::Esp8266));
    assert_eq!(parse_simulated("esp32s3"), Err("ESP32-S3 is not simulated (one of esp32, esp8266)".into()));
    assert!(parse_simulated("z80").unwrap_err().starts_with("unknown chip 'z80'"));
    assert!(model(Chip::Esp32C3).is_none());
}

#[test]
fn register_writes_mask_and_clkdiv_follows_baud() {
    let mut f = NorFlash::new(1 << 20);
    let mut r = Registers::new(Chip::Esp32, &Esp32.default_mac_base());
    r.write(0x6000_0078, 0xFFFF_FFFF, 0x0000_00F0, &mut f);
    assert_eq!(r.read(0x6000_0078), 0xF0);
    assert_eq!(r.read(0x3FF4_0014), 0x15B);
    r.baud = 921_600;
    assert_eq!(r.read(0x3FF4_0014), 43);
    r.boosted = true;
    assert_eq!(r.read(0x3FF4_0014), 87);
    let r = Registers::new(Chip::Esp8266, &Esp8266.default_mac_base());
    assert_eq!(r.read(0x6000_0014), 0x1C4);
    assert_eq!(r.read(0x1234_5678), 0, "unset registers read 0");
}
