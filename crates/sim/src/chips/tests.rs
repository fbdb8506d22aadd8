//! Every simulated chip checked against the host side's module of the same chip: what the
//! host decodes from the simulated registers must be what the board was built with.

use super::*;
use crate::flash::NorFlash;
use crate::registers::Registers;
use flashline_protocol::chip::esp32::{APB_CTL_DATE, EFUSE_W3, EFUSE_W5};
use flashline_protocol::chip::esp32c2::EFUSE_BLOCK2_W1;
use flashline_protocol::chip::{crystal_mhz, CHIP_DETECT_MAGIC_REG};
use std::collections::HashMap;

/// The registers of a fresh board, as the host would read them.
fn read_back(chip: Chip, mac: &Mac) -> HashMap<u32, u32> {
    let r = Registers::new(chip, mac);
    let t = chip.target();
    let addrs =
        chip.spec().mac_regs.iter().chain(t.description_regs()).chain(t.spi_pad_regs()).chain(t.rom_baud_regs());
    addrs.chain([&CHIP_DETECT_MAGIC_REG]).map(|&a| (a, r.read(a))).collect()
}

/// The chip the host detects from a fresh board: by the ROM's GET_SECURITY_INFO chip id
/// where the ROM gives one, else by the magic register (as the session does).
fn detected(m: &dyn SimChip, regs: &HashMap<u32, u32>) -> Option<Chip> {
    let by_id = m.security_info().and_then(|i| i.chip_id).and_then(Chip::from_chip_id);
    by_id.or_else(|| Chip::from_magic(regs[&CHIP_DETECT_MAGIC_REG]))
}

#[test]
fn every_simulated_chip_identifies_as_itself() {
    let mut simulated = SIMULATED.map(|m| m.chip());
    simulated.sort();
    assert_eq!(simulated, Chip::ALL, "every chip flashline knows is simulated, once");
    for m in SIMULATED {
        let chip = m.chip();
        let mac = m.default_mac_base().offset(0x12_3456);
        let regs = read_back(chip, &mac);
        let t = chip.target();
        assert_eq!(detected(m, &regs), Some(chip), "{chip}: detection");
        let words: Vec<u32> = chip.spec().mac_regs.iter().map(|a| regs[a]).collect();
        assert_eq!(t.decode_mac(&words), Ok(mac), "{chip}: MAC");
        assert_ne!(t.mac_checksum_ok(&words), Some(false), "{chip}: MAC checksum");
        assert_eq!(t.spi_pad_config(&regs), Ok(0), "{chip}: a module with the default flash pads");
        assert_eq!(model(chip).map(|x| x.chip()), Some(chip));
        assert_eq!(parse_simulated(chip.file_name()), Ok(chip));
        let nic = m.default_mac_base().0[3..].to_vec();
        assert!(nic == [0, 0, 0] || nic == [0, 0, 1], "{chip}: a MAC base leaves the NIC part free");
        assert_eq!(m.check_mac(&m.default_mac_base()), Ok(()), "{chip}: the default base is a real chip's");
    }
}

#[test]
fn descriptions_match_the_modelled_modules() {
    let cases = [
        (Chip::Esp32, Some((1, 0)), "ESP32-D0WDQ6 (revision v1.0)"),
        (Chip::Esp8266, None, "ESP8266EX"),
        (Chip::Esp32S2, Some((1, 0)), "ESP32-S2 (revision v1.0)"),
        (Chip::Esp32S3, Some((0, 2)), "ESP32-S3 (QFN56) (revision v0.2)"),
        (Chip::Esp32C3, Some((0, 4)), "ESP32-C3 (QFN32) (revision v0.4)"),
        (Chip::Esp32C2, Some((1, 0)), "ESP32-C2 (revision v1.0)"),
        (Chip::Esp32C5, Some((1, 0)), "ESP32-C5HR8 (revision v1.0)"),
        (Chip::Esp32C6, Some((0, 1)), "ESP32-C6 (QFN40) (revision v0.1)"),
        (Chip::Esp32H2, Some((0, 1)), "ESP32-H2 (revision v0.1)"),
        (Chip::Esp32P4, Some((1, 0)), "ESP32-P4 (revision v1.0)"),
    ];
    assert_eq!(cases.len(), SIMULATED.len(), "a description for every simulated chip");
    for (chip, revision, text) in cases {
        let regs = read_back(chip, &require(chip).default_mac_base());
        let d = chip.target().describe(&regs).unwrap();
        assert_eq!((d.revision, d.text.as_str()), (revision, text), "{chip}");
    }
    let regs = read_back(Chip::Esp32, &Esp32.default_mac_base());
    assert_eq!((regs[&EFUSE_W3], regs[&EFUSE_W5], regs[&APB_CTL_DATE]), (0xA000, 0, 0x1604_2000));
}

#[test]
fn each_board_runs_the_stub_the_host_picks_for_its_revision() {
    for m in SIMULATED {
        let chip = m.chip();
        let regs = read_back(chip, &m.default_mac_base());
        let revision = chip.target().describe(&regs).unwrap().revision;
        let choice = chip.target().stub_for(revision).unwrap_or_else(|| panic!("{chip}: default board runs a stub"));
        assert_eq!(stub_by_entry(chip, choice.layout.entry), Some(StubKind::New), "{chip}: {}", choice.file_stem);
    }
    // An ESP32-C2 v0.0 (its revision word replaced) runs no stub at all.
    let r = Registers::with_overrides(Chip::Esp32C2, &ESP32C2.default_mac_base(), &[(EFUSE_BLOCK2_W1, 0)]);
    let regs: HashMap<u32, u32> = [(EFUSE_BLOCK2_W1, r.read(EFUSE_BLOCK2_W1))].into();
    let d = Chip::Esp32C2.target().describe(&regs).unwrap();
    assert_eq!((d.revision, Chip::Esp32C2.target().stub_for(d.revision)), (Some((0, 0)), None));
}

#[test]
fn rom_baud_compensation_is_undone_by_the_rom() {
    // The host scales by the ROM's clock estimate from the simulated registers; the
    // simulated ROM must end up at (very nearly) the requested rate.
    for m in SIMULATED.into_iter().filter(|m| m.chip().spec().rom_is_esp32_class) {
        let chip = m.chip();
        let regs = read_back(chip, &m.default_mac_base());
        for baud in [230_400u32, 460_800, 921_600, 1_500_000, 3_000_000] {
            let word = chip.target().rom_baud_word(baud, &regs).unwrap();
            let actual = m.rom_baud_from_word(word);
            assert!(actual.abs_diff(baud as u64) <= 2, "{chip} {baud}: word {word}, ROM runs at {actual}");
        }
    }
    assert_eq!(Esp8266.rom_baud_from_word(115_200), 115_200);
    // The C2's ROM really is off by 26/40 without the host's scaling.
    assert_eq!(ESP32C2.rom_baud_from_word(921_600), 599_040);
}

#[test]
fn crystal_estimates_from_the_simulated_divider() {
    // esptool estimates the crystal from UART_CLKDIV on the chips without a fixed one;
    // the divider of the simulated ROM (at 115200, after auto-baud) must give the
    // modelled crystal.
    let cases = [(Chip::Esp32C2, 26), (Chip::Esp32C5, 48)];
    for (chip, mhz) in cases {
        let r = Registers::new(chip, &require(chip).default_mac_base());
        let divider = chip.spec().xtal_clk_divider.expect("estimated crystal");
        assert_eq!(crystal_mhz(r.read(chip.spec().uart_clkdiv_reg), divider), Some(mhz), "{chip}");
    }
}

#[test]
fn security_info_as_each_rom_answers_it() {
    for m in SIMULATED {
        let chip = m.chip();
        let spec = chip.spec();
        let info = m.security_info();
        match (spec.rom_security_info, spec.detect_by_chip_id) {
            (false, _) => assert_eq!(info, None, "{chip}: the ROM has no GET_SECURITY_INFO"),
            (true, false) => {
                let i = info.unwrap();
                assert_eq!((i.to_bytes().len(), i.chip_id), (12, None), "{chip}: short form");
            }
            (true, true) => {
                let i = info.unwrap();
                assert_eq!((i.to_bytes().len(), i.chip_id), (20, spec.image_chip_id), "{chip}");
                assert_eq!(Chip::from_chip_id(i.chip_id.unwrap()), Some(chip));
            }
        }
        if let Some(i) = info {
            assert_eq!((i.flags, i.flash_crypt_cnt, i.key_purposes), (0, 0, [0; 7]), "{chip}: nothing burnt");
        }
    }
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
    // RISC-V chips load both stubs at the same address: only the entry tells them apart.
    assert_eq!(stub_by_load_addr(Chip::Esp32C3, 0x4038_0000), None);
    assert_eq!(stub_by_entry(Chip::Esp32C3, 0x4038_06D2), Some(StubKind::Legacy));
    assert_eq!(stub_by_entry(Chip::Esp32C3, 0x4038_0E9A), Some(StubKind::New));
    // A P4 v1 board does not run the stub linked for v3 silicon.
    assert_eq!(stub_by_entry(Chip::Esp32P4, Chip::Esp32P4.spec().stub_v2.entry), None);
    for m in SIMULATED {
        let [(k1, a), (k2, b)] = m.stub_layouts();
        assert_ne!(k1, k2);
        assert!(a.entry != b.entry, "{}: stubs indistinguishable", m.chip());
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
fn esp32_class_roms_erase_whole_sectors_from_the_offset() {
    let cases = [(0, 1, 0x1000), (0x1000, 0x1000, 0x1000), (0x1800, 0x1000, 0x2000), (0x10000, 0, 0)];
    for m in SIMULATED.into_iter().filter(|m| m.chip() != Chip::Esp8266) {
        for (offset, size, len) in cases {
            let e = RomErase { len, clamp_to_flash: false };
            assert_eq!(m.rom_erase(offset, size), e, "{} {offset:#x}+{size}", m.chip());
        }
    }
}

#[test]
fn personalities() {
    assert_eq!((Esp8266.banner_baud(), Esp32.banner_baud()), (74_880, 115_200));
    // The C2's ROM assumes 40 MHz: with a 26 MHz crystal it prints at 74880 baud.
    assert_eq!(ESP32C2.banner_baud(), 74_880);
    for m in SIMULATED {
        let chip = m.chip();
        let boot = String::from_utf8(m.download_banner(ResetCause::PowerOn)).unwrap();
        let rom_id = if chip.spec().rom_security_info {
            format!("ESP-ROM:{}", if chip == Chip::Esp32C2 { "esp8684" } else { chip.file_name() })
        } else {
            "ets ".to_string()
        };
        assert!(boot.contains(&rom_id), "{chip}: {boot}");
        assert!(boot.contains("waiting for download") || chip == Chip::Esp8266, "{chip}: {boot}");
        assert_ne!(m.download_banner(ResetCause::PowerOn), m.download_banner(ResetCause::Software));
        assert!(String::from_utf8(m.app_banner()).unwrap().ends_with("flashline-sim app running\r\n"));
        assert_eq!(m.new_stub_boosts_clocks(), chip == Chip::Esp32, "{chip}");
        assert_eq!(m.stub_run_user_code_silent(), chip == Chip::Esp8266, "{chip}");
    }
}

#[test]
fn every_chip_is_simulated() {
    assert_eq!(
        simulated_names(),
        "esp32, esp8266, esp32s2, esp32s3, esp32c3, esp32c2, esp32c5, esp32c6, esp32h2, esp32p4"
    );
    assert_eq!(parse_simulated("ESP8266"), Ok(Chip::Esp8266));
    assert_eq!(parse_simulated("esp32-s3"), Ok(Chip::Esp32S3));
    assert!(parse_simulated("z80").unwrap_err().starts_with("unknown chip 'z80'"));
    assert!(Chip::ALL.iter().all(|c| model(*c).is_some()));
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

/// esptool's `chip-id` for ESP8266 (`ESP8266ROM.chip_id`): OTP words 0 and 1.
fn esp8266_chip_id(regs: &Registers) -> u32 {
    let &[w0, w1, ..] = Chip::Esp8266.spec().mac_regs else { unreachable!("four OTP words") };
    (regs.read(w0) >> 24) | ((regs.read(w1) & 0x00FF_FFFF) << 8)
}

#[test]
fn no_simulated_esp8266_has_chip_id_zero() {
    let base = Esp8266.default_mac_base();
    for k in [0, 1, 2, 255, 256, 0xFF_FFFE] {
        let mac = base.offset(k);
        let id = esp8266_chip_id(&Registers::new(Chip::Esp8266, &mac));
        let nic = u32::from_be_bytes([0, mac.0[3], mac.0[4], mac.0[5]]);
        assert_eq!(id, nic, "board{k}: the chip id is the MAC's last three bytes");
        assert_ne!(id, 0, "board{k}");
    }
    assert!(Esp8266.check_mac(&"84:0d:8e:00:00:00".parse().unwrap()).is_err());
    assert!(Esp8266.check_mac(&"18:fe:34:00:00:00".parse().unwrap()).is_err());
    assert_eq!(Esp8266.check_mac(&"84:0d:8e:00:01:00".parse().unwrap()), Ok(()));
    assert_eq!(Esp32.check_mac(&"24:0a:c4:00:00:00".parse().unwrap()), Ok(()), "other chips: no such rule");
}
