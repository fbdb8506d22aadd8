//! ESP32-S2: detected by magic (its ROM already answers GET_SECURITY_INFO), 20-byte
//! FLASH_BEGIN, 0x800 RAM blocks (USB-OTG possible), no USB-Serial/JTAG.
//! Revision decoding is not implemented yet: the description is the chip name. The MAC
//! layout and flash attach are the [`Target`] defaults.

use super::spi::SpiRegs;
use super::target::{ChipSpec, StubLayout, Target};
use super::Chip;
use crate::status::StatusFormat;

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
    efuse_base: 0x3F41_A000,
    mac_regs: &[0x3F41_A044, 0x3F41_A048],
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_magic(0x0000_07C6), Some(Chip::Esp32S2));
        assert_eq!(SPEC.usb_serial_jtag, None);
        assert_eq!(Esp32S2.describe(&crate::chip::NO_REGISTERS).unwrap().text, "ESP32-S2");
    }
}
