//! ESP32: detection by magic, the eFuse block 0 words (MAC with its CRC-8, revision,
//! package, custom SPI pads, 8 MHz clock calibration) and the ROM baud compensation.

use super::mac::{expect_words, Mac, MacError};
use super::spi::SpiRegs;
use super::target::{reg_value, ChipSpec, Description, RegisterSource, StubLayout, Target};
use super::{Chip, ChipError};
use crate::status::StatusFormat;

/// eFuse block 0 base; word n at `EFUSE_BASE + 4n`.
pub const EFUSE_BASE: u32 = 0x3FF5_A000;
/// eFuse word 3: single core, package, SPI pad HD, revision bit 0.
pub const EFUSE_W3: u32 = EFUSE_BASE + 0x0C;
/// eFuse word 4: CK8M frequency (ROM clock calibration).
pub const EFUSE_W4: u32 = EFUSE_BASE + 0x10;
/// eFuse word 5: SPI pads, revision bit 1, minor revision.
pub const EFUSE_W5: u32 = EFUSE_BASE + 0x14;
/// APB_CTL_DATE: bit 31 is revision bit 2.
pub const APB_CTL_DATE: u32 = 0x3FF6_607C;
/// RTC_CNTL calibration register (the ROM's estimate of its 8 MHz clock).
pub const RTCCALICFG1: u32 = 0x3FF5_F06C;

const MAC_REGS: [u32; 2] = [EFUSE_BASE + 0x04, EFUSE_BASE + 0x08];

pub static SPEC: ChipSpec = ChipSpec {
    chip: Chip::Esp32,
    name: "ESP32",
    stub_name: "esp32",
    magic: Some(0x00F0_1D83),
    image_chip_id: Some(0),
    detect_by_chip_id: false,
    rom_security_info: false,
    rom_status: StatusFormat::Rom4,
    rom_begin_len: 16,
    rom_is_esp32_class: true,
    efuse_base: EFUSE_BASE,
    mac_regs: &MAC_REGS,
    spi: SpiRegs {
        base: 0x3FF4_2000,
        usr: 0x1C,
        usr1: 0x20,
        usr2: 0x24,
        mosi_dlen: Some(0x28),
        miso_dlen: Some(0x2C),
        w0: 0x80,
        addr_left_aligned: true,
    },
    uart_clkdiv_reg: 0x3FF4_0014,
    uart_date_reg: 0x6000_0078,
    xtal_clk_divider: Some(1),
    bootloader_offset: 0x1000,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x400A_902C, text_start: 0x400A_8000 },
    usb_serial_jtag: None,
};

/// The ESP32 chip module.
pub struct Esp32;

impl Target for Esp32 {
    fn spec(&self) -> &'static ChipSpec {
        &SPEC
    }

    fn decode_mac(&self, words: &[u32]) -> Result<Mac, MacError> {
        expect_words(words, MAC_REGS.len())?;
        let (hi, lo) = (words[1].to_be_bytes(), words[0].to_be_bytes());
        Ok(Mac([hi[2], hi[3], lo[0], lo[1], lo[2], lo[3]]))
    }

    fn encode_mac(&self, mac: &Mac) -> Vec<u32> {
        let m = mac.0;
        let w1 = u32::from_be_bytes([m[2], m[3], m[4], m[5]]);
        let w2 = (mac_crc8(mac) as u32) << 16 | (m[0] as u32) << 8 | m[1] as u32;
        vec![w1, w2]
    }

    /// The eFuse CRC-8 in word 2 [23:16].
    fn mac_checksum_ok(&self, words: &[u32]) -> Option<bool> {
        let ok = match self.decode_mac(words) {
            Ok(mac) => mac_crc8(&mac) as u32 == (words[1] >> 16) & 0xFF,
            Err(_) => false,
        };
        Some(ok)
    }

    fn description_regs(&self) -> &'static [u32] {
        &[EFUSE_W3, EFUSE_W5, APB_CTL_DATE]
    }

    fn describe(&self, regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        let w3 = reg_value(Chip::Esp32, regs, EFUSE_W3)?;
        let w5 = reg_value(Chip::Esp32, regs, EFUSE_W5)?;
        let date = reg_value(Chip::Esp32, regs, APB_CTL_DATE)?;
        let (major, minor) = revision(w3, w5, date);
        let text = format!("{} (revision v{major}.{minor})", package_name(w3, major));
        Ok(Description { revision: Some((major, minor)), text })
    }

    fn spi_pad_regs(&self) -> &'static [u32] {
        &[EFUSE_W5, EFUSE_W3]
    }

    /// Custom SPI pads from eFuse (zero on modules with the default pins).
    fn spi_pad_config(&self, regs: &dyn RegisterSource) -> Result<u32, ChipError> {
        let w5 = reg_value(Chip::Esp32, regs, EFUSE_W5)?;
        let w3 = reg_value(Chip::Esp32, regs, EFUSE_W3)?;
        let clk = w5 & 0x1F;
        let q = (w5 >> 5) & 0x1F;
        let d = (w5 >> 10) & 0x1F;
        let cs = (w5 >> 15) & 0x1F;
        let hd = (w3 >> 4) & 0x1F;
        Ok(if clk | q | d | cs | hd == 0 { 0 } else { hd << 24 | cs << 18 | d << 12 | q << 6 | clk })
    }

    fn rom_baud_regs(&self) -> &'static [u32] {
        &[RTCCALICFG1, EFUSE_W4]
    }

    fn rom_baud_word(&self, baud: u32, regs: &dyn RegisterSource) -> Result<u32, ChipError> {
        let cali = reg_value(Chip::Esp32, regs, RTCCALICFG1)?;
        let w4 = reg_value(Chip::Esp32, regs, EFUSE_W4)?;
        Ok(rom_baud_word(baud, cali, w4))
    }
}

/// CRC-8 over the MAC as stored in ESP32 eFuse (reflected polynomial 0x8C, init 0).
pub fn mac_crc8(mac: &Mac) -> u8 {
    let mut crc = 0u8;
    for &b in &mac.0 {
        let mut x = b;
        for _ in 0..8 {
            let mix = (crc ^ x) & 1;
            crc >>= 1;
            if mix != 0 {
                crc ^= 0x8C;
            }
            x >>= 1;
        }
    }
    crc
}

/// Chip revision from eFuse word 3, word 5 and APB_CTL_DATE: (major, minor).
pub fn revision(w3: u32, w5: u32, apb_ctl_date: u32) -> (u32, u32) {
    let bit0 = (w3 >> 15) & 1;
    let bit1 = (w5 >> 20) & 1;
    let bit2 = (apb_ctl_date >> 31) & 1;
    let major = match (bit2 << 2) | (bit1 << 1) | bit0 {
        1 => 1,
        3 => 2,
        7 => 3,
        _ => 0,
    };
    (major, (w5 >> 24) & 3)
}

/// Package description ("ESP32-D0WDQ6") from eFuse word 3 and the major revision.
pub fn package_name(w3: u32, major: u32) -> String {
    let pkg = ((w3 >> 9) & 7) | (((w3 >> 2) & 1) << 3);
    let single = w3 & 1 != 0;
    let v3 = major == 3;
    let name = match pkg {
        0 if single => "ESP32-S0WDQ6",
        0 => "ESP32-D0WDQ6",
        1 if single => "ESP32-S0WD",
        1 => "ESP32-D0WD",
        2 => "ESP32-D2WD",
        4 => "ESP32-U4WDH",
        5 if v3 => "ESP32-PICO-V3",
        5 => "ESP32-PICO-D4",
        6 => "ESP32-PICO-V3-02",
        7 => "ESP32-D0WDR2-V3",
        _ => "unknown ESP32",
    };
    if v3 && (pkg == 0 || pkg == 1) {
        format!("{name}-V3")
    } else {
        name.to_string()
    }
}

/// The word the ROM must be sent for `baud`: its UART runs off a clock that the ROM
/// calibrated from the internal 8 MHz oscillator, so esptool scales the rate by the ratio
/// of that estimate to the real crystal (protocol reference 5.2 and 8).
pub fn rom_baud_word(baud: u32, rtc_cali_cfg1: u32, efuse_w4: u32) -> u32 {
    let cali = ((rtc_cali_cfg1 >> 7) & 0x1FF_FFFF) as u64;
    let ck8m = (efuse_w4 & 0xFF) as u64;
    if cali == 0 || ck8m == 0 {
        return baud;
    }
    // rom_freq = cali * 15625 * ck8m / 40 Hz
    let num = cali * 15_625 * ck8m;
    let rom_freq = num / 40;
    let valid: u64 = if rom_freq > 33_000_000 { 40_000_000 } else { 26_000_000 };
    (baud as u64 * num / (40 * valid)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// eFuse words 3 and 5 and APB_CTL_DATE of a real module, and what esptool prints.
    struct Board {
        w3: u32,
        w5: u32,
        date: u32,
        revision: (u32, u32),
        text: &'static str,
    }

    const BOARDS: [Board; 4] = [
        // ESP-WROOM-32, D0WDQ6 v1.0.
        Board { w3: 0xA000, w5: 0, date: 0x1604_2000, revision: (1, 0), text: "ESP32-D0WDQ6 (revision v1.0)" },
        // ESP-WROOM-32E, D0WD-V3 v3.0.
        Board {
            w3: 0xA200,
            w5: 0x0010_0000,
            date: 0x9604_2000,
            revision: (3, 0),
            text: "ESP32-D0WD-V3 (revision v3.0)",
        },
        // ESP32-PICO-D4 v1.0 (package 5).
        Board { w3: 0xAA00, w5: 0, date: 0x1604_2000, revision: (1, 0), text: "ESP32-PICO-D4 (revision v1.0)" },
        // Single-core D0WDQ6 v0.0 with minor 1.
        Board { w3: 0x0001, w5: 0x0100_0000, date: 0, revision: (0, 1), text: "ESP32-S0WDQ6 (revision v0.1)" },
    ];

    #[test]
    fn revision_and_description_of_real_boards() {
        for b in BOARDS {
            let regs = [(EFUSE_W3, b.w3), (EFUSE_W5, b.w5), (APB_CTL_DATE, b.date)];
            let d = Esp32.describe(&regs).unwrap();
            assert_eq!((d.revision, d.text.as_str()), (Some(b.revision), b.text));
        }
        let e = Esp32.describe(&[(EFUSE_W3, 0)]).unwrap_err();
        assert_eq!(e, ChipError::RegisterNotRead { chip: Chip::Esp32, addr: EFUSE_W5 });
    }

    #[test]
    fn revision_bits_table() {
        let cases = [(0, 0, 0, 0), (1 << 15, 0, 0, 1), (1 << 15, 1 << 20, 0, 2), (1 << 15, 1 << 20, 1 << 31, 3)];
        for (w3, w5, date, major) in cases {
            assert_eq!(revision(w3, w5, date).0, major, "{w3:x} {w5:x} {date:x}");
        }
        // Bit 1 without bit 0 is not a valid combination: v0.
        assert_eq!(revision(0, 1 << 20, 0).0, 0);
    }

    #[test]
    fn mac_round_trip_and_crc() {
        let mac: Mac = "24:0a:c4:12:34:56".parse().unwrap();
        let w = Esp32.encode_mac(&mac);
        assert_eq!(w[0], 0xC412_3456);
        assert_eq!(w[1] & 0xFFFF, 0x240A);
        assert_eq!(Esp32.decode_mac(&w), Ok(mac));
        assert_eq!(Esp32.mac_checksum_ok(&w), Some(true));
        assert_eq!(Esp32.mac_checksum_ok(&[w[0] ^ 1, w[1]]), Some(false));
        assert_eq!(Esp32.mac_checksum_ok(&[w[0]]), Some(false));
    }

    #[test]
    fn spi_pads_from_efuse() {
        let regs = |w3: u32, w5: u32| [(EFUSE_W3, w3), (EFUSE_W5, w5)];
        assert_eq!(Esp32.spi_pad_config(&regs(0x0000_A000, 0)), Ok(0));
        // CLK 6, Q 17, D 8, CS 16, HD 11 (an ESP32-D2WD's internal flash pads).
        let w5 = 6 | 17 << 5 | 8 << 10 | 16 << 15;
        let w3 = 11 << 4;
        assert_eq!(Esp32.spi_pad_config(&regs(w3, w5)), Ok(11 << 24 | 16 << 18 | 8 << 12 | 17 << 6 | 6));
    }

    #[test]
    fn rom_baud_compensation_matches_esptool() {
        // ESP-WROOM-32 profile: cali 2090 (RTCCALICFG1 0x00041500), ck8m 0x31 → 921690.
        assert_eq!(rom_baud_word(921_600, 0x0004_1500, 0x0000_0531), 921_690);
        // Exactly 40 MHz: no change.
        assert_eq!(rom_baud_word(921_600, 0x0004_0000, 0x0000_0032), 921_600);
        assert_eq!(rom_baud_word(921_600, 0, 0), 921_600);
        let regs = [(RTCCALICFG1, 0x0004_1500), (EFUSE_W4, 0x0000_0531)];
        assert_eq!(Esp32.rom_baud_word(921_600, &regs), Ok(921_690));
    }
}
