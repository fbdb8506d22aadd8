//! ESP32-C2 / ESP8684 (RISC-V): detected by its GET_SECURITY_INFO chip id (12), 20-byte
//! FLASH_BEGIN, no USB at all (always a USB-UART bridge), bootloader at 0x0.
//!
//! Unlike every other chip since the S2, the C2 has no eFuse BLOCK1 MAC block: the MAC
//! and the revision share eFuse BLOCK2 (at `EFUSE_BASE + 0x40`). Word 0 holds MAC bytes
//! 2..5, word 1 [15:0] bytes 0..1 (the usual S2-and-later layout, one word lower), and
//! word 1 also carries the minor revision [19:16], major [21:20] and package [24:22].
//!
//! Crystal: boards use 26 MHz or 40 MHz crystals and the ROM always assumes 40 MHz. As
//! esptool does, the crystal is estimated from UART_CLKDIV (divider 1); with a 26 MHz
//! crystal the ROM is sent `baud * 40 / 26` in CHANGE_BAUDRATE so that it ends up at
//! `baud`. The stub measures its clock itself and gets the plain rate.
//!
//! Stub: esptool 5.6 no longer runs its stub on revision v0.x (ECO0): such boards are
//! flashed through the ROM loader ([`Target::stub_for`] says `None`).

use super::crystal::crystal_mhz;
use super::efuse::{bits, revision_description, word};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubChoice, StubLayout, Target};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

pub const EFUSE_BASE: u32 = 0x6000_8800;
/// eFuse BLOCK2: MAC and revision.
pub const EFUSE_BLOCK2: u32 = EFUSE_BASE + 0x40;
/// BLOCK2 word 1: MAC bytes 0..1, minor/major revision, package.
pub const EFUSE_BLOCK2_W1: u32 = word(EFUSE_BLOCK2, 1);
pub const UART_CLKDIV_REG: u32 = 0x6000_0014;

const MAC_REGS: [u32; 2] = [EFUSE_BLOCK2, EFUSE_BLOCK2_W1];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32C2,
    name: "ESP32-C2",
    stub_name: "esp32c2",
    magic: None,
    image_chip_id: Some(12),
    detect_by_chip_id: true,
    rom_security_info: true,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 20,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs::s2_and_later(0x6000_2000),
    uart_clkdiv_reg: UART_CLKDIV_REG,
    uart_date_reg: 0x6000_007C,
    xtal_clk_divider: Some(1),
    bootloader_offset: 0x0,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x4038_0F90, text_start: 0x4038_0000 },
    usb_serial_jtag: None,
};

/// The ESP32-C2 chip module.
pub struct Esp32C2;

impl Target for Esp32C2 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_BLOCK2_W1]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w1 = reg_value(Chip::Esp32C2, regs, EFUSE_BLOCK2_W1)?;
        let name = match bits(w1, 22, 3) {
            0 => "ESP32-C2",
            1 => "ESP8684H",
            _ => "Unknown ESP32-C2",
        };
        Ok(revision_description(name, bits(w1, 20, 2), bits(w1, 16, 4)))
    }

    /// No stub on revision v0.x (esptool disables it there).
    fn stub_for(&self, revision: Option<(u32, u32)>) -> Option<StubChoice> {
        match revision {
            Some((0, _)) => None,
            _ => Some(StubChoice { file_stem: SPEC.stub_name, layout: SPEC.stub_v2 }),
        }
    }

    fn rom_baud_regs(&self) -> &'static [u32] {
        &[UART_CLKDIV_REG]
    }

    /// `baud * 40 / 26` when the crystal is 26 MHz (the ROM believes it is 40 MHz).
    fn rom_baud_word(&self, baud: u32, regs: &dyn RegisterSource) -> Result<u32, ChipError> {
        let clkdiv = reg_value(Chip::Esp32C2, regs, UART_CLKDIV_REG)?;
        Ok(match crystal_mhz(clkdiv, 1) {
            Some(26) => (baud as u64 * 40 / 26) as u32,
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
        assert_eq!(Chip::from_chip_id(12), Some(Chip::Esp32C2));
        assert_eq!(SPEC.usb_serial_jtag, None);
        for name in ["ESP32-C2", "esp32c2", "esp32_c2", "Esp32-C2"] {
            assert_eq!(name.parse::<Chip>(), Ok(Chip::Esp32C2), "{name}");
        }
    }

    #[test]
    fn mac_from_block2() {
        // Words built from esptool's read_mac: BLOCK2 word 0 = bytes 2..5, word 1 [15:0] =
        // bytes 0..1; the revision bits of word 1 (v1.0, ESP8684H) are not MAC.
        let words = [0x8D12_3456, 0x0050_083A];
        assert_eq!(Esp32C2.decode_mac(&words).unwrap().to_string(), "08:3a:8d:12:34:56");
        assert_eq!(SPEC.mac_regs, [0x6000_8840, 0x6000_8844]);
    }

    #[test]
    fn revision_and_description() {
        let cases = [
            ([0x0000_0000], (0, 0), "ESP32-C2 (revision v0.0)"),
            ([0x0010_083A], (1, 0), "ESP32-C2 (revision v1.0)"),
            ([0x0051_0000], (1, 1), "ESP8684H (revision v1.1)"),
            ([0x01C0_0000], (0, 0), "Unknown ESP32-C2 (revision v0.0)"),
        ];
        check_descriptions(&Esp32C2, [EFUSE_BLOCK2_W1], &cases);
        let e = Esp32C2.describe(&crate::chip::NO_REGISTERS).unwrap_err();
        assert_eq!(e, ChipError::RegisterNotRead { chip: Chip::Esp32C2, addr: 0x6000_8844 });
    }

    #[test]
    fn no_stub_on_eco0() {
        assert_eq!(Esp32C2.stub_for(Some((0, 0))), None);
        assert_eq!(Esp32C2.stub_for(Some((1, 2))).map(|s| s.file_stem), Some("esp32c2"));
    }

    #[test]
    fn rom_baud_follows_the_crystal() {
        // 26 MHz / 115200 bd = divider 225; 40 MHz = 347.
        let cases = [(225, 921_600, 1_417_846), (347, 921_600, 921_600), (0, 460_800, 460_800)];
        for (clkdiv, baud, word) in cases {
            assert_eq!(Esp32C2.rom_baud_word(baud, &[(UART_CLKDIV_REG, clkdiv)]), Ok(word), "div {clkdiv}");
        }
    }
}
