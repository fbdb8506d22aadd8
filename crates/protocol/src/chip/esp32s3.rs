//! ESP32-S3: detected by its GET_SECURITY_INFO chip id (9), 20-byte FLASH_BEGIN, 0x800
//! RAM blocks (USB-OTG possible), USB-Serial/JTAG on 303a:1001, fixed 40 MHz crystal,
//! bootloader at 0x0. MAC layout and flash attach are the [`Target`] defaults (eFuse
//! BLOCK1 words 0 and 1).
//!
//! Revision and description: BLOCK1 word 3 holds minor bits 2..0 [20:18], package
//! [23:21] and the BLOCK2 version minor [26:24]; word 5 holds minor bit 3 [23] and major
//! [25:24]. Chips v0.0 were burnt with BLOCK2 version v1.1 and other data in the major
//! field: as esptool does, minor bits 2..0 of 0 with block version 1.1 (BLOCK2 word 4
//! [1:0] = 1, BLOCK1 word 3 [26:24] = 1) mean v0.0 whatever the major field says.

use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubLayout, Target, USB_SERIAL_JTAG};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x6000_7000;
/// eFuse BLOCK1 (MAC and system data).
pub const EFUSE_BLOCK1: u32 = EFUSE_BASE + 0x44;
/// eFuse BLOCK2 (more system data).
pub const EFUSE_BLOCK2: u32 = EFUSE_BASE + 0x5C;
/// BLOCK1 word 3: minor bits 2..0, package, BLOCK2 version minor.
pub const EFUSE_BLOCK1_W3: u32 = word(EFUSE_BLOCK1, 3);
/// BLOCK1 word 5: minor bit 3, major.
pub const EFUSE_BLOCK1_W5: u32 = word(EFUSE_BLOCK1, 5);
/// BLOCK2 word 4: BLOCK2 version major [1:0].
pub const EFUSE_BLOCK2_W4: u32 = word(EFUSE_BLOCK2, 4);

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK1, word(EFUSE_BLOCK1, 1)];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32S3,
    name: "ESP32-S3",
    stub_name: "esp32s3",
    magic: None,
    image_chip_id: Some(9),
    detect_by_chip_id: true,
    rom_security_info: true,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 20,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs::s2_and_later(0x6000_2000),
    uart_clkdiv_reg: 0x6000_0014,
    uart_date_reg: 0x6000_0080,
    xtal_clk_divider: None,
    bootloader_offset: 0x0,
    ram_block: 0x800,
    stub_v2: StubLayout { entry: 0x4037_95A8, text_start: 0x4037_8000 },
    usb_serial_jtag: Some(USB_SERIAL_JTAG),
};

/// The ESP32-S3 chip module.
pub struct Esp32S3;

impl Target for Esp32S3 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W5, EFUSE_BLOCK2_W4]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w3 = reg_value(Chip::Esp32S3, regs, EFUSE_BLOCK1_W3)?;
        let w5 = reg_value(Chip::Esp32S3, regs, EFUSE_BLOCK1_W5)?;
        let b2w4 = reg_value(Chip::Esp32S3, regs, EFUSE_BLOCK2_W4)?;
        let minor_raw = bits(w5, 23, 1) << 3 | bits(w3, 18, 3);
        let eco0 = minor_raw & 7 == 0 && bits(b2w4, 0, 2) == 1 && bits(w3, 24, 3) == 1;
        let (major, minor) = if eco0 { (0, 0) } else { (bits(w5, 24, 2), minor_raw) };
        let name = match bits(w3, 21, 3) {
            0 => "ESP32-S3 (QFN56)",
            1 => "ESP32-S3-PICO-1 (LGA56)",
            _ => "Unknown ESP32-S3",
        };
        Ok(revision_description(name, major, minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::efuse::check_descriptions;

    #[test]
    fn detection_and_identity() {
        assert_eq!(Chip::from_chip_id(9), Some(Chip::Esp32S3));
        assert_eq!(SPEC.usb_serial_jtag, Some(USB_SERIAL_JTAG));
        for name in ["ESP32-S3", "esp32s3", "Esp32_S3", "esp32-s3"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32S3), "{name}");
        }
    }

    #[test]
    fn mac_from_block1() {
        // Words built from esptool's read_mac (BLOCK1 word 0 = bytes 2..5, word 1 [15:0]).
        let words = [0xD574_0102, 0x0000_F412];
        assert_eq!(Esp32S3.decode_mac(&words).unwrap().to_string(), "f4:12:d5:74:01:02");
        assert_eq!(SPEC.mac_regs, [0x6000_7044, 0x6000_7048]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000, 0x0000_0000, 0], (0, 0), "ESP32-S3 (QFN56) (revision v0.0)"),
            ([0x0004_0000, 0x0000_0000, 0], (0, 1), "ESP32-S3 (QFN56) (revision v0.1)"),
            ([0x0028_0000, 0x0000_0000, 0], (0, 2), "ESP32-S3-PICO-1 (LGA56) (revision v0.2)"),
            ([0x0000_0000, 0x0180_0000, 0], (1, 8), "ESP32-S3 (QFN56) (revision v1.8)"),
            // v0.0 with BLOCK2 version 1.1: the major field is not a revision.
            ([0x0100_0000, 0x0100_0000, 1], (0, 0), "ESP32-S3 (QFN56) (revision v0.0)"),
            // Same words with BLOCK2 version 0.1: the major field counts.
            ([0x0100_0000, 0x0100_0000, 0], (1, 0), "ESP32-S3 (QFN56) (revision v1.0)"),
            ([0x0040_0000, 0x0000_0000, 0], (0, 0), "Unknown ESP32-S3 (revision v0.0)"),
        ];
        check_descriptions(&Esp32S3, [EFUSE_BLOCK1_W3, EFUSE_BLOCK1_W5, EFUSE_BLOCK2_W4], &cases);
    }
}
