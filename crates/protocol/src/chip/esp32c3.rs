//! ESP32-C3 (RISC-V): detected by its GET_SECURITY_INFO chip id, 20-byte FLASH_BEGIN,
//! USB-Serial/JTAG on 303a:1001.
//! Revision decoding is not implemented yet: the description is the chip name. The MAC
//! layout and flash attach are the [`Target`] defaults.

use super::spi::SpiRegs;
use super::target::{ChipSpec, StubLayout, Target, USB_SERIAL_JTAG};
use super::Chip;
use crate::status::StatusFormat;

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
    efuse_base: 0x6000_8800,
    mac_regs: &[0x6000_8844, 0x6000_8848],
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_chip_id(5), Some(Chip::Esp32C3));
        assert_eq!(SPEC.usb_serial_jtag, Some(USB_SERIAL_JTAG));
        assert_eq!(Esp32C3.describe(&crate::chip::NO_REGISTERS).unwrap().text, "ESP32-C3");
    }
}
