//! The register file esptool reads: chip magic, eFuse words (with the board's MAC),
//! clock/strapping registers, the UART divider, and the SPI controller block whose CMD
//! register executes flash commands (see [`crate::spi_engine`]).
//!
//! Values are the ESP-WROOM-32 (ESP32-D0WDQ6 revision v1.0) and ESP-12E (ESP8266EX)
//! profiles of the protocol reference; registers nobody set read as 0.

use crate::flash::NorFlash;
use crate::spi_engine::{self, FlashChipState};
use flashline_protocol::chip::Mac;
use flashline_protocol::chip::{encode_mac, SpiRegs, CHIP_DETECT_MAGIC_REG, ESP32_APB_CTL_DATE};
use flashline_protocol::{Chip, ChipSpec};
use std::collections::HashMap;

/// ESP32 eFuse block 0 base.
pub const ESP32_EFUSE_BASE: u32 = 0x3FF5_A000;
/// ESP32 RTC_CNTL calibration register (ROM crystal calibration).
pub const ESP32_RTCCALICFG1: u32 = 0x3FF5_F06C;
/// ESP32 RTC_CNTL_SDIO_CONF (flash voltage).
pub const ESP32_RTC_SDIO_CONF: u32 = 0x3FF4_8074;
/// ESP32 GPIO strapping register.
pub const ESP32_GPIO_STRAP: u32 = 0x3FF4_4038;
/// ESP8266 OTP word 2 as a real chip has it (bit 16 clear: not an ESP8285).
pub const ESP8266_WORD2: u32 = 0xF200_B000;

/// UART divider at 115200 baud: ESP32 (40 MHz APB) and ESP8266 (52 MHz bus, value seen on
/// real hardware).
const CLKDIV_115200_ESP32: u32 = 0x15B;
const CLKDIV_115200_ESP8266: u32 = 0x1C4;

/// The board's registers.
#[derive(Debug, Clone)]
pub struct Registers {
    spec: &'static ChipSpec,
    values: HashMap<u32, u32>,
    pub flash_chip: FlashChipState,
    /// Baud the chip's UART runs at (CLKDIV follows it).
    pub baud: u32,
    /// APB runs at twice the ROM clock after the new stub's clock boost (ESP32).
    pub boosted: bool,
}

impl Registers {
    /// The register profile of `chip` with `mac` burnt into its eFuses.
    pub fn new(chip: Chip, mac: &Mac) -> Self {
        let spec = chip.spec();
        let mut v = HashMap::new();
        if let Some(magic) = spec.magic {
            v.insert(CHIP_DETECT_MAGIC_REG, magic);
        }
        let mac_words = encode_mac(chip, mac);
        match chip {
            Chip::Esp8266 => {
                for (i, &addr) in spec.mac_regs.iter().enumerate() {
                    v.insert(addr, mac_words[i]);
                }
                v.insert(spec.mac_regs[2], ESP8266_WORD2);
            }
            _ => {
                // ESP-WROOM-32, D0WDQ6 v1.0 (protocol reference 10.3).
                let words = [0x0000_0000, mac_words[0], mac_words[1], 0x0000_A000, 0x0000_0531, 0, 0];
                for (i, w) in words.into_iter().enumerate() {
                    v.insert(ESP32_EFUSE_BASE + 4 * i as u32, w);
                }
                v.insert(ESP32_APB_CTL_DATE, 0x1604_2000);
                v.insert(ESP32_RTCCALICFG1, 0x0004_1500);
                v.insert(ESP32_RTC_SDIO_CONF, 0);
                v.insert(ESP32_GPIO_STRAP, 0x0000_0003);
            }
        }
        Self { spec, values: v, flash_chip: FlashChipState::default(), baud: 115_200, boosted: false }
    }

    fn clkdiv(&self) -> u32 {
        let (base, boost) = match self.spec.chip {
            Chip::Esp8266 => (CLKDIV_115200_ESP8266, 1),
            _ => (CLKDIV_115200_ESP32, if self.boosted { 2 } else { 1 }),
        };
        let baud = self.baud.max(1) as u64;
        ((base as u64 * boost * 115_200 + baud / 2) / baud) as u32 & 0xFFFFF
    }

    /// READ_REG.
    pub fn read(&self, addr: u32) -> u32 {
        if addr == self.spec.uart_clkdiv_reg {
            return self.clkdiv();
        }
        self.values.get(&addr).copied().unwrap_or(0)
    }

    /// One WRITE_REG entry: `reg = (reg & !mask) | (value & mask)`. Writing the SPI CMD
    /// register with bit 18 set runs the programmed flash command.
    pub fn write(&mut self, addr: u32, value: u32, mask: u32, flash: &mut NorFlash) {
        let old = self.read(addr);
        let new = (old & !mask) | (value & mask);
        self.values.insert(addr, new);
        let spi = self.spec.spi;
        if addr == spi.cmd_addr() && new & SpiRegs::CMD_USR != 0 {
            spi_engine::execute(&spi, &mut self.values, flash, &mut self.flash_chip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashline_protocol::chip::{decode_mac, esp32_package_name, esp32_revision};

    #[test]
    fn esp32_profile_and_mac() {
        let mac: Mac = "24:0a:c4:00:00:05".parse().unwrap();
        let r = Registers::new(Chip::Esp32, &mac);
        assert_eq!(r.read(0x4000_1000), 0x00F0_1D83);
        let vals: Vec<u32> = Chip::Esp32.spec().mac_regs.iter().map(|&a| r.read(a)).collect();
        assert_eq!(decode_mac(Chip::Esp32, &vals).unwrap(), mac);
        let (major, minor) = esp32_revision(r.read(0x3FF5_A00C), r.read(0x3FF5_A014), r.read(ESP32_APB_CTL_DATE));
        assert_eq!((major, minor), (1, 0));
        assert_eq!(esp32_package_name(r.read(0x3FF5_A00C), major), "ESP32-D0WDQ6");
        assert_eq!(r.read(0x3FF4_0014), 0x15B);
        assert_eq!(r.read(0x1234_5678), 0);
    }

    #[test]
    fn esp8266_profile_and_mac() {
        let mac: Mac = "84:0d:8e:12:34:56".parse().unwrap();
        let r = Registers::new(Chip::Esp8266, &mac);
        assert_eq!(r.read(0x4000_1000), 0xFFF0_C101);
        let vals: Vec<u32> = Chip::Esp8266.spec().mac_regs.iter().map(|&a| r.read(a)).collect();
        assert_eq!(vals[2], ESP8266_WORD2);
        assert_eq!(vals[0] & 0x30, 0, "ESP8285 marker bits clear");
        assert_eq!(decode_mac(Chip::Esp8266, &vals).unwrap(), mac);
        assert_eq!(r.read(0x6000_0014), 0x1C4);
    }

    #[test]
    fn write_masks_and_clkdiv_follows_baud() {
        let mac = Mac([0x24, 0x0a, 0xc4, 0, 0, 0]);
        let mut f = NorFlash::new(1 << 20);
        let mut r = Registers::new(Chip::Esp32, &mac);
        r.write(0x6000_0078, 0xFFFF_FFFF, 0x0000_00F0, &mut f);
        assert_eq!(r.read(0x6000_0078), 0xF0);
        r.baud = 921_600;
        assert_eq!(r.read(0x3FF4_0014), 43);
    }
}
