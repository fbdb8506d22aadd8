//! ESP32-S2: detected by magic (its ROM already answers GET_SECURITY_INFO), 20-byte
//! FLASH_BEGIN, 0x800 RAM blocks (USB-OTG possible), no USB-Serial/JTAG, fixed 40 MHz
//! crystal, bootloader at 0x1000 like the ESP32. MAC layout and flash attach are the
//! [`Target`] defaults (eFuse BLOCK1 words 0 and 1).
//!
//! Revision and description: BLOCK1 word 3 holds major [19:18], minor bit 3 [20],
//! in-package flash [24:21] and PSRAM [31:28]; word 4 [6:4] holds minor bits 2..0. The
//! part name comes from flash + 100 × PSRAM ("ESP32-S2FNR2").

use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubLayout, Target};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x3F41_A000;
/// eFuse BLOCK1 (MAC and system data).
pub const EFUSE_BLOCK1: u32 = EFUSE_BASE + 0x44;
/// BLOCK1 word 3: major revision, minor bit 3, flash and PSRAM.
pub const EFUSE_BLOCK1_W3: u32 = word(EFUSE_BLOCK1, 3);
/// BLOCK1 word 4: minor revision bits 2..0.
pub const EFUSE_BLOCK1_W4: u32 = word(EFUSE_BLOCK1, 4);

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK1, word(EFUSE_BLOCK1, 1)];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32S2,
    name: "ESP32-S2",
    stub_name: "esp32s2",
    magic: Some(0x0000_07C6),
    image_chip_id: Some(2),
    detect_by_chip_id: false,
    rom_security_info: true,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 20,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs::s2_and_later(0x3F40_2000),
    uart_clkdiv_reg: 0x3F40_0014,
    uart_date_reg: 0x6000_0078,
    xtal_clk_divider: None,
    bootloader_offset: 0x1000,
    ram_block: 0x800,
    stub_v2: StubLayout { entry: 0x4002_90A4, text_start: 0x4002_8000 },
    usb_serial_jtag: None,
};

/// The ESP32-S2 chip module.
pub struct Esp32S2;

impl Target for Esp32S2 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W4]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w3 = reg_value(Chip::Esp32S2, regs, EFUSE_BLOCK1_W3)?;
        let w4 = reg_value(Chip::Esp32S2, regs, EFUSE_BLOCK1_W4)?;
        let name = match bits(w3, 21, 4) + bits(w3, 28, 4) * 100 {
            0 => "ESP32-S2",
            1 => "ESP32-S2FH2",
            2 => "ESP32-S2FH4",
            102 => "ESP32-S2FNR2",
            100 => "ESP32-S2R2",
            _ => "Unknown ESP32-S2",
        };
        let minor = bits(w3, 20, 1) << 3 | bits(w4, 4, 3);
        Ok(revision_description(name, bits(w3, 18, 2), minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::efuse::check_descriptions;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_magic(0x0000_07C6), Some(Chip::Esp32S2));
        assert_eq!(Chip::from_chip_id(2), None, "detected by magic, not by chip id");
        assert_eq!(SPEC.usb_serial_jtag, None);
        for name in ["ESP32-S2", "esp32s2", "esp32_S2"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32S2), "{name}");
        }
    }

    #[test]
    fn mac_from_block1() {
        // Words built from esptool's read_mac (BLOCK1 word 0 = bytes 2..5, word 1 [15:0]).
        let words = [0xDFA1_0203, 0x0000_7CDF];
        assert_eq!(Esp32S2.decode_mac(&words).unwrap().to_string(), "7c:df:df:a1:02:03");
        assert_eq!(SPEC.mac_regs, [0x3F41_A044, 0x3F41_A048]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000, 0x00], (0, 0), "ESP32-S2 (revision v0.0)"),
            ([0x0004_0000, 0x00], (1, 0), "ESP32-S2 (revision v1.0)"),
            ([0x0040_0000, 0x10], (0, 1), "ESP32-S2FH4 (revision v0.1)"),
            ([0x1044_0000, 0x00], (1, 0), "ESP32-S2FNR2 (revision v1.0)"),
            ([0x1010_0000, 0x30], (0, 11), "ESP32-S2R2 (revision v0.11)"),
            ([0x0060_0000, 0x00], (0, 0), "Unknown ESP32-S2 (revision v0.0)"),
        ];
        check_descriptions(&Esp32S2, [EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W4], &cases);
    }
}
