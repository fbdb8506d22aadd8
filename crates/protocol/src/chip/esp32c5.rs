//! ESP32-C5 (RISC-V, dual-band Wi-Fi 6): detected by its GET_SECURITY_INFO chip id (23),
//! 20-byte FLASH_BEGIN, USB-Serial/JTAG on 303a:1001, and the first chip whose bootloader
//! sits at 0x2000 (the first two sectors are reserved). MAC layout is the [`Target`]
//! default (eFuse BLOCK1 words 0 and 1).
//!
//! Revision and description: BLOCK1 word 2 holds minor [3:0], major [5:4], in-package
//! flash [15:13], PSRAM [21:19], temperature grade [25:24]; esptool builds the part name
//! from the last three ("ESP32-C5HR8").
//!
//! Crystal: 40 MHz or 48 MHz, and the ROM may assume either. As esptool does, the real
//! crystal is estimated from UART_CLKDIV (divider 1) and compared with what the ROM
//! expects (PCR_SYSCLK_CONF [30:24], in MHz); on a mismatch CHANGE_BAUDRATE is scaled by
//! expected/real so the ROM ends up at the requested rate.

use super::crystal::crystal_mhz;
use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubLayout, Target, USB_SERIAL_JTAG};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x600B_4800;
/// eFuse BLOCK1 (MAC and system data).
pub const EFUSE_BLOCK1: u32 = EFUSE_BASE + 0x44;
/// BLOCK1 word 2: revision, flash, PSRAM, temperature, package.
pub const EFUSE_BLOCK1_W2: u32 = word(EFUSE_BLOCK1, 2);
pub const UART_CLKDIV_REG: u32 = 0x6000_0014;
/// PCR_SYSCLK_CONF: [30:24] is the crystal frequency (MHz) the ROM configured for.
pub const PCR_SYSCLK_CONF_REG: u32 = 0x6009_6110;

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK1, word(EFUSE_BLOCK1, 1)];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32C5,
    name: "ESP32-C5",
    stub_name: "esp32c5",
    magic: None,
    image_chip_id: Some(23),
    detect_by_chip_id: true,
    rom_security_info: true,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 20,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs::s2_and_later(0x6000_3000),
    uart_clkdiv_reg: UART_CLKDIV_REG,
    uart_date_reg: 0x6000_007C,
    xtal_clk_divider: Some(1),
    bootloader_offset: 0x2000,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x4080_1610, text_start: 0x4080_0000 },
    usb_serial_jtag: Some(USB_SERIAL_JTAG),
};

/// The ESP32-C5 chip module.
pub struct Esp32C5;

impl Target for Esp32C5 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK1_W2]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w2 = reg_value(Chip::Esp32C5, regs, EFUSE_BLOCK1_W2)?;
        let temp = match bits(w2, 24, 2) {
            0 => "N",
            1 => "H",
            _ => "?",
        };
        let flash = match bits(w2, 13, 3) {
            0 => "",
            1 => "F4",
            _ => "F?",
        };
        let psram = match bits(w2, 19, 3) {
            0 => "",
            1 => "R4",
            2 => "R8",
            _ => "R?",
        };
        let name = format!("ESP32-C5{temp}{flash}{psram}");
        let name = if name.contains('?') { format!("Unknown {name}") } else { name };
        Ok(revision_description(&name, bits(w2, 4, 2), bits(w2, 0, 4)))
    }

    fn rom_baud_regs(&self) -> &'static [u32] {
        &[UART_CLKDIV_REG, PCR_SYSCLK_CONF_REG]
    }

    /// Scaled by expected/real crystal when the ROM assumed the other one.
    fn rom_baud_word(&self, baud: u32, regs: &dyn RegisterSource) -> Result<u32, ChipError> {
        let clkdiv = reg_value(Chip::Esp32C5, regs, UART_CLKDIV_REG)?;
        let expected = bits(reg_value(Chip::Esp32C5, regs, PCR_SYSCLK_CONF_REG)?, 24, 7);
        Ok(match (crystal_mhz(clkdiv, 1), expected) {
            (Some(48), 40) => (baud as u64 * 40 / 48) as u32,
            (Some(40), 48) => (baud as u64 * 48 / 40) as u32,
            _ => baud,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::efuse::check_descriptions;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_chip_id(23), Some(Chip::Esp32C5));
        assert_eq!(SPEC.usb_serial_jtag, Some(USB_SERIAL_JTAG));
        assert_eq!(SPEC.bootloader_offset, 0x2000);
        for name in ["ESP32-C5", "esp32c5", "ESP32_C5", "esp32-c5"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32C5), "{name}");
        }
    }

    #[test]
    fn mac_from_block1() {
        // Words built from esptool's read_mac (BLOCK1 word 0 = bytes 2..5, word 1 [15:0]).
        assert_eq!(Esp32C5.decode_mac(&[0xF9F7_2CA2, 0xABCD_6055]).unwrap().to_string(), "60:55:f9:f7:2c:a2");
        assert_eq!(SPEC.mac_regs, [0x600B_4844, 0x600B_4848]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000], (0, 0), "ESP32-C5N (revision v0.0)"),
            ([0x0110_0010], (1, 0), "ESP32-C5HR8 (revision v1.0)"),
            ([0x0000_2012], (1, 2), "ESP32-C5NF4 (revision v1.2)"),
            ([0x0200_0001], (0, 1), "Unknown ESP32-C5? (revision v0.1)"),
        ];
        check_descriptions(&Esp32C5, [EFUSE_BLOCK1_W2], &cases);
    }

    #[test]
    fn rom_baud_follows_the_crystal_the_rom_expects() {
        // Dividers at 115200 bd: 48 MHz = 416, 40 MHz = 347. PCR [30:24] = expected MHz.
        let (rom40, rom48) = (40 << 24, 48 << 24);
        let cases = [
            (416, rom40, 921_600, 768_000),
            (347, rom48, 921_600, 1_105_920),
            (416, rom48, 921_600, 921_600),
            (347, rom40, 921_600, 921_600),
            (0, rom40, 921_600, 921_600),
        ];
        for (clkdiv, pcr, baud, word) in cases {
            let regs = [(UART_CLKDIV_REG, clkdiv), (PCR_SYSCLK_CONF_REG, pcr)];
            assert_eq!(Esp32C5.rom_baud_word(baud, &regs), Ok(word), "div {clkdiv} pcr {pcr:08x}");
        }
    }
}
