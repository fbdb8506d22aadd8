//! ESP32-C3 / ESP8685 (RISC-V): detected by its GET_SECURITY_INFO chip id (5), 20-byte
//! FLASH_BEGIN, USB-Serial/JTAG on 303a:1001, fixed 40 MHz crystal, bootloader at 0x0.
//! MAC layout and flash attach are the [`Target`] defaults (eFuse BLOCK1 words 0 and 1).
//!
//! Revision and description: BLOCK1 word 3 holds minor bits 2..0 [20:18] and package
//! [23:21]; word 5 holds minor bit 3 [23] and major [25:24].

use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubLayout, Target, USB_SERIAL_JTAG};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x6000_8800;
/// eFuse BLOCK1 (MAC and system data).
pub const EFUSE_BLOCK1: u32 = EFUSE_BASE + 0x44;
/// BLOCK1 word 3: minor bits 2..0 and package.
pub const EFUSE_BLOCK1_W3: u32 = word(EFUSE_BLOCK1, 3);
/// BLOCK1 word 5: minor bit 3 and major.
pub const EFUSE_BLOCK1_W5: u32 = word(EFUSE_BLOCK1, 5);

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK1, word(EFUSE_BLOCK1, 1)];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32C3,
    name: "ESP32-C3",
    stub_name: "esp32c3",
    magic: None,
    image_chip_id: Some(5),
    detect_by_chip_id: true,
    rom_security_info: true,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 20,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs::s2_and_later(0x6000_2000),
    uart_clkdiv_reg: 0x6000_0014,
    uart_date_reg: 0x6000_007C,
    xtal_clk_divider: None,
    bootloader_offset: 0x0,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x4038_0E9A, text_start: 0x4038_0000 },
    usb_serial_jtag: Some(USB_SERIAL_JTAG),
};

/// The ESP32-C3 chip module.
pub struct Esp32C3;

impl Target for Esp32C3 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W5]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w3 = reg_value(Chip::Esp32C3, regs, EFUSE_BLOCK1_W3)?;
        let w5 = reg_value(Chip::Esp32C3, regs, EFUSE_BLOCK1_W5)?;
        let name = match bits(w3, 21, 3) {
            0 => "ESP32-C3 (QFN32)",
            1 => "ESP8685 (QFN28)",
            2 => "ESP32-C3 AZ (QFN32)",
            3 => "ESP8686 (QFN24)",
            _ => "Unknown ESP32-C3",
        };
        let minor = bits(w5, 23, 1) << 3 | bits(w3, 18, 3);
        Ok(revision_description(name, bits(w5, 24, 2), minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::efuse::check_descriptions;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_chip_id(5), Some(Chip::Esp32C3));
        assert_eq!(SPEC.usb_serial_jtag, Some(USB_SERIAL_JTAG));
        for name in ["ESP32-C3", "esp32c3", "Esp32_C3", "esp32-c3"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32C3), "{name}");
        }
    }

    #[test]
    fn mac_from_block1() {
        // Words built from esptool's read_mac (BLOCK1 word 0 = bytes 2..5, word 1 [15:0]).
        let words = [0x3A12_3456, 0x0000_0C8B];
        assert_eq!(Esp32C3.decode_mac(&words).unwrap().to_string(), "0c:8b:3a:12:34:56");
        assert_eq!(SPEC.mac_regs, [0x6000_8844, 0x6000_8848]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000, 0x0000_0000], (0, 0), "ESP32-C3 (QFN32) (revision v0.0)"),
            ([0x0010_0000, 0x0000_0000], (0, 4), "ESP32-C3 (QFN32) (revision v0.4)"),
            ([0x0020_0000, 0x0000_0000], (0, 0), "ESP8685 (QFN28) (revision v0.0)"),
            ([0x0044_0000, 0x0100_0000], (1, 1), "ESP32-C3 AZ (QFN32) (revision v1.1)"),
            ([0x0060_0000, 0x0080_0000], (0, 8), "ESP8686 (QFN24) (revision v0.8)"),
            ([0x00E0_0000, 0x0000_0000], (0, 0), "Unknown ESP32-C3 (revision v0.0)"),
        ];
        check_descriptions(&Esp32C3, [EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W5], &cases);
    }
}
