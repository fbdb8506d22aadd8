//! ESP32-C6 (RISC-V, Wi-Fi 6, 802.15.4): detected by its GET_SECURITY_INFO chip id (13),
//! 20-byte FLASH_BEGIN, USB-Serial/JTAG on 303a:1001, fixed 40 MHz crystal, bootloader at
//! 0x0. MAC layout is the [`Target`] default (eFuse BLOCK1 words 0 and 1; esptool also
//! derives an EUI-64 from word 1 [31:16], which flashline does not use).
//!
//! Revision and description: BLOCK1 word 3 holds minor [21:18], major [23:22] and package
//! [26:24]; package 1 is told apart by the in-package flash in word 4 [2:0] (FH4 / FH8).

use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubLayout, Target, USB_SERIAL_JTAG};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x600B_0800;
/// eFuse BLOCK1 (MAC and system data).
pub const EFUSE_BLOCK1: u32 = EFUSE_BASE + 0x44;
/// BLOCK1 word 3: revision and package.
pub const EFUSE_BLOCK1_W3: u32 = word(EFUSE_BLOCK1, 3);
/// BLOCK1 word 4: in-package flash.
pub const EFUSE_BLOCK1_W4: u32 = word(EFUSE_BLOCK1, 4);

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK1, word(EFUSE_BLOCK1, 1)];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32C6,
    name: "ESP32-C6",
    stub_name: "esp32c6",
    magic: None,
    image_chip_id: Some(13),
    detect_by_chip_id: true,
    rom_security_info: true,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 20,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs::s2_and_later(0x6000_3000),
    uart_clkdiv_reg: 0x6000_0014,
    uart_date_reg: 0x6000_007C,
    xtal_clk_divider: None,
    bootloader_offset: 0x0,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x4080_127C, text_start: 0x4080_0000 },
    usb_serial_jtag: Some(USB_SERIAL_JTAG),
};

/// The ESP32-C6 chip module.
pub struct Esp32C6;

impl Target for Esp32C6 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W4]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w3 = reg_value(Chip::Esp32C6, regs, EFUSE_BLOCK1_W3)?;
        let w4 = reg_value(Chip::Esp32C6, regs, EFUSE_BLOCK1_W4)?;
        let name = match (bits(w3, 24, 3), bits(w4, 0, 3)) {
            (0, _) => "ESP32-C6 (QFN40)",
            (1, 1) => "ESP32-C6FH4 (QFN32)",
            (1, 2) => "ESP32-C6FH8 (QFN32)",
            _ => "Unknown ESP32-C6",
        };
        Ok(revision_description(name, bits(w3, 22, 2), bits(w3, 18, 4)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::efuse::check_descriptions;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_chip_id(13), Some(Chip::Esp32C6));
        assert_eq!(SPEC.usb_serial_jtag, Some(USB_SERIAL_JTAG));
        for name in ["ESP32-C6", "esp32c6", "ESP32_c6", "Esp32-C6"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32C6), "{name}");
        }
    }

    #[test]
    fn mac_from_block1() {
        // The base MAC of esptool's own example in esp32c6.py read_mac (60:55:f9:f7:2c:a2),
        // as BLOCK1 word 0 and word 1 [15:0]; word 1 [31:16] is the EUI-64 extension.
        let words = [0xF9F7_2CA2, 0xFFFE_6055];
        assert_eq!(Esp32C6.decode_mac(&words).unwrap().to_string(), "60:55:f9:f7:2c:a2");
        assert_eq!(SPEC.mac_regs, [0x600B_0844, 0x600B_0848]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000, 0], (0, 0), "ESP32-C6 (QFN40) (revision v0.0)"),
            ([0x0004_0000, 0], (0, 1), "ESP32-C6 (QFN40) (revision v0.1)"),
            ([0x0148_0000, 1], (1, 2), "ESP32-C6FH4 (QFN32) (revision v1.2)"),
            ([0x0100_0000, 2], (0, 0), "ESP32-C6FH8 (QFN32) (revision v0.0)"),
            ([0x0100_0000, 0], (0, 0), "Unknown ESP32-C6 (revision v0.0)"),
        ];
        check_descriptions(&Esp32C6, [EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W4], &cases);
    }
}
