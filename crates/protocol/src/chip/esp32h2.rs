//! ESP32-H2 (RISC-V, 802.15.4 and BLE, no Wi-Fi): detected by its GET_SECURITY_INFO chip
//! id (16), 20-byte FLASH_BEGIN, USB-Serial/JTAG on 303a:1001, bootloader at 0x0. Its
//! crystal is fixed at 32 MHz (not 40: esptool never estimates it, and the flash clock
//! table is 48/24/16/12 MHz). eFuse, SPI and UART addresses are the ESP32-C6 ones. MAC
//! layout is the [`Target`] default (eFuse BLOCK1 words 0 and 1, as on the C6).
//!
//! Revision and description: BLOCK1 word 3 holds minor [20:18], major [22:21], in-package
//! flash [26:24] and temperature grade [28:27]; word 4 [2:0] is the package. esptool
//! builds "ESP32-H2" + "F" + H/N + 4/2/1 (flash MB) and, with flash from v1.2 on, an "S"
//! (security-enhanced) suffix.

use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubLayout, Target, USB_SERIAL_JTAG};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x600B_0800;
/// eFuse BLOCK1 (MAC and system data).
pub const EFUSE_BLOCK1: u32 = EFUSE_BASE + 0x44;
/// BLOCK1 word 3: revision, in-package flash, temperature grade.
pub const EFUSE_BLOCK1_W3: u32 = word(EFUSE_BLOCK1, 3);
/// BLOCK1 word 4: package.
pub const EFUSE_BLOCK1_W4: u32 = word(EFUSE_BLOCK1, 4);
/// The fixed crystal.
pub const CRYSTAL_MHZ: u32 = 32;

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK1, word(EFUSE_BLOCK1, 1)];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32H2,
    name: "ESP32-H2",
    stub_name: "esp32h2",
    magic: None,
    image_chip_id: Some(16),
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
    stub_v2: StubLayout { entry: 0x4080_0E92, text_start: 0x4080_0000 },
    usb_serial_jtag: Some(USB_SERIAL_JTAG),
};

/// The ESP32-H2 chip module.
pub struct Esp32H2;

impl Target for Esp32H2 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W4]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w3 = reg_value(Chip::Esp32H2, regs, EFUSE_BLOCK1_W3)?;
        let w4 = reg_value(Chip::Esp32H2, regs, EFUSE_BLOCK1_W4)?;
        let (major, minor) = (bits(w3, 21, 2), bits(w3, 18, 3));
        let flash_cap = bits(w3, 24, 3);
        let mut name = String::from("ESP32-H2");
        if flash_cap != 0 {
            name.push('F');
            name.push_str(match bits(w3, 27, 2) {
                1 => "H",
                2 => "N",
                _ => "?",
            });
            name.push_str(match flash_cap {
                1 => "4",
                2 => "2",
                3 => "1",
                _ => "?",
            });
        }
        if bits(w4, 0, 3) != 0 {
            name.push('?');
        }
        if name.contains('?') {
            name.insert_str(0, "Unknown ");
        }
        if flash_cap != 0 && (major, minor) >= (1, 2) {
            name.push('S');
        }
        Ok(revision_description(&name, major, minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::efuse::check_descriptions;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_chip_id(16), Some(Chip::Esp32H2));
        assert_eq!(SPEC.usb_serial_jtag, Some(USB_SERIAL_JTAG));
        assert_eq!(SPEC.xtal_clk_divider, None, "fixed {CRYSTAL_MHZ} MHz crystal");
        for name in ["ESP32-H2", "esp32h2", "ESP32_H2", "esp32-H2"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32H2), "{name}");
        }
    }

    #[test]
    fn mac_from_block1() {
        // Words built from esptool's read_mac (BLOCK1 word 0 = bytes 2..5, word 1 [15:0]).
        let words = [0x4F12_3456, 0xFFFE_7426];
        assert_eq!(Esp32H2.decode_mac(&words).unwrap().to_string(), "74:26:4f:12:34:56");
        assert_eq!(SPEC.mac_regs, [0x600B_0844, 0x600B_0848]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000, 0], (0, 0), "ESP32-H2 (revision v0.0)"),
            ([0x0004_0000, 0], (0, 1), "ESP32-H2 (revision v0.1)"),
            ([0x0928_0000, 0], (1, 2), "ESP32-H2FH4S (revision v1.2)"),
            ([0x1220_0000, 0], (1, 0), "ESP32-H2FN2 (revision v1.0)"),
            ([0x0100_0000, 0], (0, 0), "Unknown ESP32-H2F?4 (revision v0.0)"),
            ([0x0000_0000, 1], (0, 0), "Unknown ESP32-H2? (revision v0.0)"),
        ];
        check_descriptions(&Esp32H2, [EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W4], &cases);
    }
}
