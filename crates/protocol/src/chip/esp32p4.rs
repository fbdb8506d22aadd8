//! ESP32-P4 (dual-core RISC-V, no radio): detected by its GET_SECURITY_INFO chip id (18),
//! 20-byte FLASH_BEGIN, USB-Serial/JTAG on 303a:1001 and USB-OTG (hence 0x800 RAM
//! blocks), fixed 40 MHz crystal, bootloader at 0x2000 (the first two sectors are
//! reserved). MAC layout is the [`Target`] default (eFuse BLOCK1 words 0 and 1).
//!
//! Revision and description: BLOCK1 word 2 holds minor [3:0], major [5:4] plus major
//! bit 2 in [23], and package [22:20] (0 is the only known one).
//!
//! Two stubs: esptool 5.6 loads `esp32p4-rev1.json` on chips before revision v3.0 (its
//! `get_chip_revision() < 300`, i.e. major < 3) and `esp32p4.json` from v3.0 on; the two
//! images are the same code linked 256 KiB apart, because the RAM the stub runs in moved
//! with v3. [`Target::stub_for`] makes that choice; `spec().stub_v2` is the v3 stub.
//!
//! UART_CLKDIV: esptool inherits the ESP32 address for it and never reads it (the
//! crystal is fixed); flashline records the P4's own UART0 register (base 0x500CA000, as
//! esptool's UART_DATE_REG_ADDR).

use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{
    reg_value, ChipSpec, Description, RegisterSource, StubChoice, StubLayout, Target, USB_SERIAL_JTAG,
};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x5012_D000;
/// eFuse BLOCK1 (MAC and system data).
pub const EFUSE_BLOCK1: u32 = EFUSE_BASE + 0x44;
/// BLOCK1 word 2: revision and package.
pub const EFUSE_BLOCK1_W2: u32 = word(EFUSE_BLOCK1, 2);
/// UART0 register block.
const UART0_BASE: u32 = 0x500C_A000;
/// The stub for revisions before v3.0 (`esp32p4-rev1.json`).
pub const STUB_REV1: StubChoice =
    StubChoice { file_stem: "esp32p4-rev1", layout: StubLayout { entry: 0x4FF1_1476, text_start: 0x4FF1_0000 } };
/// The first major revision that runs `esp32p4.json`.
pub const STUB_V3_MAJOR: u32 = 3;

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK1, word(EFUSE_BLOCK1, 1)];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32P4,
    name: "ESP32-P4",
    stub_name: "esp32p4",
    magic: None,
    image_chip_id: Some(18),
    detect_by_chip_id: true,
    rom_security_info: true,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 20,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs::s2_and_later(0x5008_D000),
    uart_clkdiv_reg: UART0_BASE + 0x14,
    uart_date_reg: UART0_BASE + 0x8C,
    xtal_clk_divider: None,
    bootloader_offset: 0x2000,
    ram_block: 0x800,
    stub_v2: StubLayout { entry: 0x4FF5_1476, text_start: 0x4FF5_0000 },
    usb_serial_jtag: Some(USB_SERIAL_JTAG),
};

/// The ESP32-P4 chip module.
pub struct Esp32P4;

impl Target for Esp32P4 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK1_W2]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w2 = reg_value(Chip::Esp32P4, regs, EFUSE_BLOCK1_W2)?;
        let name = if bits(w2, 20, 3) == 0 { "ESP32-P4" } else { "Unknown ESP32-P4" };
        let major = bits(w2, 23, 1) << 2 | bits(w2, 4, 2);
        Ok(revision_description(name, major, bits(w2, 0, 4)))
    }

    /// `esp32p4-rev1` before v3.0, `esp32p4` from v3.0 on (and when the revision is unknown).
    fn stub_for(&self, revision: Option<(u32, u32)>) -> Option<StubChoice> {
        match revision {
            Some((major, _)) if major < STUB_V3_MAJOR => Some(STUB_REV1),
            _ => Some(StubChoice { file_stem: SPEC.stub_name, layout: SPEC.stub_v2 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::efuse::check_descriptions;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_chip_id(18), Some(Chip::Esp32P4));
        assert_eq!(SPEC.usb_serial_jtag, Some(USB_SERIAL_JTAG));
        assert_eq!((SPEC.bootloader_offset, SPEC.ram_block), (0x2000, 0x800));
        for name in ["ESP32-P4", "esp32p4", "ESP32_P4", "esp32-p4"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32P4), "{name}");
        }
        assert!("esp32p4-rev1".parse::<Chip>().is_err(), "a stub file name is not a chip");
    }

    #[test]
    fn mac_from_block1() {
        // Words built from esptool's read_mac (BLOCK1 word 0 = bytes 2..5, word 1 [15:0]).
        let words = [0xB400_0001, 0x0000_3030];
        assert_eq!(Esp32P4.decode_mac(&words).unwrap().to_string(), "30:30:b4:00:00:01");
        assert_eq!(SPEC.mac_regs, [0x5012_D044, 0x5012_D048]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000], (0, 0), "ESP32-P4 (revision v0.0)"),
            ([0x0000_0010], (1, 0), "ESP32-P4 (revision v1.0)"),
            ([0x0000_0031], (3, 1), "ESP32-P4 (revision v3.1)"),
            ([0x0080_0002], (4, 2), "ESP32-P4 (revision v4.2)"),
            ([0x0010_0000], (0, 0), "Unknown ESP32-P4 (revision v0.0)"),
        ];
        check_descriptions(&Esp32P4, [EFUSE_BLOCK1_W2], &cases);
    }

    #[test]
    fn stub_by_revision() {
        let v3 = StubChoice { file_stem: "esp32p4", layout: SPEC.stub_v2 };
        let cases = [
            (Some((0, 0)), STUB_REV1),
            (Some((1, 3)), STUB_REV1),
            (Some((2, 15)), STUB_REV1),
            (Some((3, 0)), v3),
            (Some((3, 1)), v3),
            (None, v3),
        ];
        for (revision, stub) in cases {
            assert_eq!(Esp32P4.stub_for(revision), Some(stub), "{revision:?}");
        }
        assert_eq!(STUB_REV1.layout.entry - STUB_REV1.layout.text_start, SPEC.stub_v2.entry - SPEC.stub_v2.text_start);
    }
}
