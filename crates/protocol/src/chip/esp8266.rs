//! ESP8266 (and its embedded-flash twin ESP8285): detection by magic, the OTP words that
//! hold the MAC, the 2-byte ROM status, and the ROM's missing commands and erase bug.

use super::mac::{expect_words, Mac, MacError};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, FlashAttach, RegisterSource, StubLayout, Target};
use super::{Chip, ChipError};
use crate::flash::SECTOR_SIZE;
use crate::status::StatusFormat;

/// OTP words MAC0, MAC1, word 2 (ESP8285 marker) and MAC3.
const MAC_REGS: [u32; 4] = [0x3FF0_0050, 0x3FF0_0054, 0x3FF0_0058, 0x3FF0_005C];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp8266,
    name: "ESP8266",
    stub_name: "esp8266",
    magic: Some(0xFFF0_C101),
    image_chip_id: None,
    detect_by_chip_id: false,
    rom_security_info: false,
    rom_status: StatusFormat::Rom2,
    rom_begin_len: 16,
    rom_is_esp32_class: false,
    efuse_base: 0x3FF0_0050,
    mac_regs: &MAC_REGS,
    spi: SpiRegs {
        base: 0x6000_0200,
        usr: 0x1C,
        usr1: 0x20,
        usr2: 0x24,
        mosi_dlen: None,
        miso_dlen: None,
        w0: 0x40,
        addr_left_aligned: true,
    },
    uart_clkdiv_reg: 0x6000_0014,
    uart_date_reg: 0x6000_0078,
    xtal_clk_divider: Some(2),
    bootloader_offset: 0x0,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x4010_C504, text_start: 0x4010_C500 },
    usb_serial_jtag: None,
};

/// OUIs selected by MAC1[23:16] when MAC3 is 0.
const OUI_BY_SELECTOR: [[u8; 3]; 2] = [[0x18, 0xFE, 0x34], [0xAC, 0xD0, 0x74]];

/// The ESP8266 chip module.
pub struct Esp8266;

impl Target for Esp8266 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn decode_mac(&self, words: &[u32]) -> Result<Mac, MacError> {
        expect_words(words, MAC_REGS.len())?;
        let (mac0, mac1, mac3) = (words[0], words[1], words[3]);
        let oui = if mac3 != 0 {
            [(mac3 >> 16) as u8, (mac3 >> 8) as u8, mac3 as u8]
        } else {
            let selector = (mac1 >> 16) as u8;
            *OUI_BY_SELECTOR.get(selector as usize).ok_or(MacError::UnknownOui(selector))?
        };
        Ok(Mac([oui[0], oui[1], oui[2], (mac1 >> 8) as u8, mac1 as u8, (mac0 >> 24) as u8]))
    }

    /// Word 2 carries no MAC bits and is returned as 0 (a real chip has 0xF200B000). An OUI
    /// of 00:00:00 cannot be stored: MAC3 = 0 selects 18:fe:34.
    fn encode_mac(&self, mac: &Mac) -> Vec<u32> {
        let m = mac.0;
        let mac0 = (m[5] as u32) << 24;
        let mac1 = (m[3] as u32) << 8 | m[4] as u32;
        let mac3 = u32::from_be_bytes([0, m[0], m[1], m[2]]);
        vec![mac0, mac1, 0, mac3]
    }

    /// ESP8285 = ESP8266 with embedded flash: word 0 bit 4 or word 2 bit 16.
    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let word0 = reg_value(Chip::Esp8266, regs, MAC_REGS[0])?;
        let word2 = reg_value(Chip::Esp8266, regs, MAC_REGS[2])?;
        let is_8285 = word0 & (1 << 4) != 0 || word2 & (1 << 16) != 0;
        let text = if is_8285 { "ESP8285" } else { "ESP8266EX" };
        Ok(Description { revision: None, text: text.to_string() })
    }

    fn rom_flash_attach(&self) -> FlashAttach {
        FlashAttach::EmptyFlashBegin
    }

    /// The ROM's FLASH_BEGIN erases roughly twice the requested head; esptool's
    /// `get_erase_size` asks for less so that the right range is erased.
    fn rom_flash_begin_size(&self, offset: u32, size: u32) -> u32 {
        let sectors_per_block = 16;
        let num_sectors = size.div_ceil(SECTOR_SIZE);
        let start_sector = offset / SECTOR_SIZE;
        let head = (sectors_per_block - start_sector % sectors_per_block).min(num_sectors);
        if num_sectors < 2 * head {
            num_sectors.div_ceil(2) * SECTOR_SIZE
        } else {
            (num_sectors - head) * SECTOR_SIZE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::NO_REGISTERS;

    /// Protocol reference 5.3, a public trace of a real ESP-12E.
    const TRACE: [u32; 4] = [0xAB00_0000, 0x0200_7681, 0xF200_B000, 0x0084_0D8E];

    #[test]
    fn mac_from_real_trace_and_oui_selectors() {
        let cases: [([u32; 4], Result<&str, MacError>); 4] = [
            (TRACE, Ok("84:0d:8e:76:81:ab")),
            ([0, 0x0000_1234, 0, 0], Ok("18:fe:34:12:34:00")),
            ([0x5600_0000, 0x0001_1234, 0, 0], Ok("ac:d0:74:12:34:56")),
            ([0, 0x0005_0000, 0, 0], Err(MacError::UnknownOui(5))),
        ];
        for (words, want) in cases {
            let got = Esp8266.decode_mac(&words).map(|m| m.to_string());
            assert_eq!(got, want.map(str::to_string), "{words:08x?}");
        }
        assert_eq!(Esp8266.decode_mac(&TRACE[..3]), Err(MacError::WrongCount { expected: 4, got: 3 }));
    }

    #[test]
    fn mac_round_trip_keeps_word2_free() {
        let mac: Mac = "84:0d:8e:12:34:56".parse().unwrap();
        let mut words = Esp8266.encode_mac(&mac);
        assert_eq!(words[2], 0);
        words[2] = TRACE[2];
        assert_eq!(Esp8266.decode_mac(&words), Ok(mac));
    }

    #[test]
    fn description_tells_esp8285_apart() {
        let regs = |w0: u32, w2: u32| [(MAC_REGS[0], w0), (MAC_REGS[2], w2)];
        let cases = [(TRACE[0], TRACE[2], "ESP8266EX"), (0x10, 0, "ESP8285"), (0, 1 << 16, "ESP8285")];
        for (w0, w2, want) in cases {
            let d = Esp8266.describe(&regs(w0, w2)).unwrap();
            assert_eq!((d.revision, d.text.as_str()), (None, want));
        }
        let missing = Esp8266.describe(&NO_REGISTERS).unwrap_err();
        assert_eq!(missing, ChipError::RegisterNotRead { chip: Chip::Esp8266, addr: MAC_REGS[0] });
    }

    #[test]
    fn rom_erase_size_matches_reference_example() {
        // 100 000 bytes at 0 → 25 sectors → esptool sends 0xD000 (13 sectors).
        assert_eq!(Esp8266.rom_flash_begin_size(0, 100_000), 0xD000);
        // Beyond the first 64 KiB block: sectors - head.
        assert_eq!(Esp8266.rom_flash_begin_size(0, 0x40000), (64 - 16) * 0x1000);
        assert_eq!(Esp8266.rom_flash_begin_size(0, 0), 0);
        // Starting mid-block: the head is the rest of that block.
        assert_eq!(Esp8266.rom_flash_begin_size(0xF000, 0x3000), 0x2000);
    }

    #[test]
    fn rom_personality() {
        assert_eq!(SPEC.rom_status.len(), 2);
        assert!(!SPEC.rom_is_esp32_class);
        assert_eq!(Esp8266.rom_flash_attach(), FlashAttach::EmptyFlashBegin);
        assert_eq!(Esp8266.rom_baud_word(921_600, &NO_REGISTERS), Ok(921_600));
    }
}
