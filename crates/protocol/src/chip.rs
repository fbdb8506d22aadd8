//! Per-chip constants and the pure decoding of what the chip's registers say.
//!
//! ESP32 and ESP8266 are complete (everything esptool reads from them is described here).
//! ESP32-S2/S3/C3 carry their detection, eFuse, SPI and stub constants so they can be added
//! without touching the protocol layer.

use crate::status::StatusFormat;
use std::fmt;
use std::str::FromStr;

/// Address of the word whose value identifies ESP8266 / ESP32 / ESP32-S2.
pub const CHIP_DETECT_MAGIC_REG: u32 = 0x4000_1000;

/// A supported chip family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chip {
    Esp8266,
    Esp32,
    Esp32S2,
    Esp32S3,
    Esp32C3,
}

impl Chip {
    pub const ALL: [Chip; 5] = [Chip::Esp8266, Chip::Esp32, Chip::Esp32S2, Chip::Esp32S3, Chip::Esp32C3];

    /// The constants of this chip.
    pub fn spec(self) -> &'static ChipSpec {
        match self {
            Chip::Esp8266 => &ESP8266,
            Chip::Esp32 => &ESP32,
            Chip::Esp32S2 => &ESP32S2,
            Chip::Esp32S3 => &ESP32S3,
            Chip::Esp32C3 => &ESP32C3,
        }
    }

    /// The chip whose magic register value is `magic` (ESP8266, ESP32, ESP32-S2 only).
    pub fn from_magic(magic: u32) -> Option<Chip> {
        Chip::ALL.into_iter().find(|c| c.spec().magic == Some(magic))
    }

    /// The chip with this GET_SECURITY_INFO chip id (S3, C3 and later).
    pub fn from_chip_id(id: u32) -> Option<Chip> {
        Chip::ALL.into_iter().find(|c| c.spec().detect_by_chip_id && c.spec().image_chip_id == Some(id))
    }

    /// Lower-case name without dashes, as used in stub file names (`esp32s3`).
    pub fn file_name(self) -> &'static str {
        self.spec().stub_name
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name)
    }
}

impl FromStr for Chip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm: String = s.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
        Chip::ALL
            .into_iter()
            .find(|c| c.spec().stub_name == norm)
            .ok_or_else(|| format!("unknown chip '{s}' (expected one of esp8266, esp32, esp32s2, esp32s3, esp32c3)"))
    }
}

/// Register layout of the SPI "user command" engine esptool drives through READ_REG and
/// WRITE_REG to send RDID, SFDP and reset commands to the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiRegs {
    pub base: u32,
    pub usr: u32,
    pub usr1: u32,
    pub usr2: u32,
    /// Absent on ESP8266 (bit lengths live in USR1 there).
    pub mosi_dlen: Option<u32>,
    pub miso_dlen: Option<u32>,
    pub w0: u32,
    /// The address is written left-aligned (`addr << (32 - bits)`) on ESP32/ESP8266.
    pub addr_left_aligned: bool,
}

impl SpiRegs {
    pub const CMD: u32 = 0x00;
    pub const ADDR: u32 = 0x04;
    /// CMD bit that starts a user command; hardware clears it when done.
    pub const CMD_USR: u32 = 1 << 18;
    pub const USR_COMMAND: u32 = 1 << 31;
    pub const USR_ADDR: u32 = 1 << 30;
    pub const USR_DUMMY: u32 = 1 << 29;
    pub const USR_MISO: u32 = 1 << 28;
    pub const USR_MOSI: u32 = 1 << 27;

    pub fn cmd_addr(&self) -> u32 {
        self.base + Self::CMD
    }
    pub fn addr_addr(&self) -> u32 {
        self.base + Self::ADDR
    }
    pub fn usr_addr(&self) -> u32 {
        self.base + self.usr
    }
    pub fn usr1_addr(&self) -> u32 {
        self.base + self.usr1
    }
    pub fn usr2_addr(&self) -> u32 {
        self.base + self.usr2
    }
    pub fn w0_addr(&self) -> u32 {
        self.base + self.w0
    }
    pub fn mosi_dlen_addr(&self) -> Option<u32> {
        self.mosi_dlen.map(|o| self.base + o)
    }
    pub fn miso_dlen_addr(&self) -> Option<u32> {
        self.miso_dlen.map(|o| self.base + o)
    }
}

/// Where a stub image is loaded (from esptool's stub JSON; used for checks and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubLayout {
    pub entry: u32,
    pub text_start: u32,
}

/// Everything flashline needs to know about a chip family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipSpec {
    pub chip: Chip,
    pub name: &'static str,
    pub stub_name: &'static str,
    /// Value of [`CHIP_DETECT_MAGIC_REG`], for chips detected that way.
    pub magic: Option<u32>,
    /// Chip id in GET_SECURITY_INFO and app image headers (ESP8266 has none).
    pub image_chip_id: Option<u32>,
    /// Detected by the GET_SECURITY_INFO chip id rather than the magic register.
    pub detect_by_chip_id: bool,
    /// GET_SECURITY_INFO is implemented by the ROM (S2 and later).
    pub rom_security_info: bool,
    /// Status bytes of the ROM loader.
    pub rom_status: StatusFormat,
    /// FLASH_BEGIN / DEFL_BEGIN payload length the ROM expects (16 or 20).
    pub rom_begin_len: usize,
    /// ROM implements FLASH_DEFL_*, SPI_FLASH_MD5, CHANGE_BAUDRATE, READ_FLASH_SLOW,
    /// SPI_ATTACH and SPI_SET_PARAMS (every ROM except ESP8266).
    pub rom_is_esp32_class: bool,
    pub efuse_base: u32,
    /// Registers holding the MAC (chip-specific formula, see [`decode_mac`]).
    pub mac_regs: &'static [u32],
    pub spi: SpiRegs,
    pub uart_clkdiv_reg: u32,
    /// Dummy register target used as a delay carrier in WRITE_REG.
    pub uart_date_reg: u32,
    /// Divider in the crystal estimate from CLKDIV (None: fixed 40 MHz crystal).
    pub xtal_clk_divider: Option<u32>,
    pub bootloader_offset: u32,
    /// MEM_DATA block size esptool 5.6 uses for the ROM (0x800 where USB-OTG is possible).
    pub ram_block: u32,
    /// Stub v2 layout shipped with esptool 5.6 (entry, text start).
    pub stub_v2: StubLayout,
    /// USB vendor/product of the chip's own USB-Serial/JTAG, if it has one.
    pub usb_jtag_serial: bool,
}

const ESP32_SPI: SpiRegs = SpiRegs {
    base: 0x3FF4_2000,
    usr: 0x1C,
    usr1: 0x20,
    usr2: 0x24,
    mosi_dlen: Some(0x28),
    miso_dlen: Some(0x2C),
    w0: 0x80,
    addr_left_aligned: true,
};

const ESP8266_SPI: SpiRegs = SpiRegs {
    base: 0x6000_0200,
    usr: 0x1C,
    usr1: 0x20,
    usr2: 0x24,
    mosi_dlen: None,
    miso_dlen: None,
    w0: 0x40,
    addr_left_aligned: true,
};

const fn s_series_spi(base: u32) -> SpiRegs {
    SpiRegs {
        base,
        usr: 0x18,
        usr1: 0x1C,
        usr2: 0x20,
        mosi_dlen: Some(0x24),
        miso_dlen: Some(0x28),
        w0: 0x58,
        addr_left_aligned: false,
    }
}

pub static ESP8266: ChipSpec = ChipSpec {
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
    mac_regs: &[0x3FF0_0050, 0x3FF0_0054, 0x3FF0_0058, 0x3FF0_005C],
    spi: ESP8266_SPI,
    uart_clkdiv_reg: 0x6000_0014,
    uart_date_reg: 0x6000_0078,
    xtal_clk_divider: Some(2),
    bootloader_offset: 0x0,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x4010_C504, text_start: 0x4010_C500 },
    usb_jtag_serial: false,
};

pub static ESP32: ChipSpec = ChipSpec {
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
    efuse_base: 0x3FF5_A000,
    mac_regs: &[0x3FF5_A004, 0x3FF5_A008],
    spi: ESP32_SPI,
    uart_clkdiv_reg: 0x3FF4_0014,
    uart_date_reg: 0x6000_0078,
    xtal_clk_divider: Some(1),
    bootloader_offset: 0x1000,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x400A_902C, text_start: 0x400A_8000 },
    usb_jtag_serial: false,
};

pub static ESP32S2: ChipSpec = ChipSpec {
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
    spi: s_series_spi(0x3F40_2000),
    uart_clkdiv_reg: 0x3F40_0014,
    uart_date_reg: 0x6000_0078,
    xtal_clk_divider: None,
    bootloader_offset: 0x1000,
    ram_block: 0x800,
    stub_v2: StubLayout { entry: 0x4002_90A4, text_start: 0x4002_8000 },
    usb_jtag_serial: false,
};

pub static ESP32S3: ChipSpec = ChipSpec {
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
    efuse_base: 0x6000_7000,
    mac_regs: &[0x6000_7044, 0x6000_7048],
    spi: s_series_spi(0x6000_2000),
    uart_clkdiv_reg: 0x6000_0014,
    uart_date_reg: 0x6000_0080,
    xtal_clk_divider: None,
    bootloader_offset: 0x0,
    ram_block: 0x800,
    stub_v2: StubLayout { entry: 0x4037_95A8, text_start: 0x4037_8000 },
    usb_jtag_serial: true,
};

pub static ESP32C3: ChipSpec = ChipSpec {
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
    spi: s_series_spi(0x6000_2000),
    uart_clkdiv_reg: 0x6000_0014,
    uart_date_reg: 0x6000_007C,
    xtal_clk_divider: None,
    bootloader_offset: 0x0,
    ram_block: 0x1800,
    stub_v2: StubLayout { entry: 0x4038_0E9A, text_start: 0x4038_0000 },
    usb_jtag_serial: true,
};

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The MAC `n` addresses after this one (wrapping in the low 24 bits, keeping the OUI).
    pub fn offset(self, n: u32) -> Mac {
        let low = u32::from_be_bytes([0, self.0[3], self.0[4], self.0[5]]).wrapping_add(n) & 0xFF_FFFF;
        let b = low.to_be_bytes();
        Mac([self.0[0], self.0[1], self.0[2], b[1], b[2], b[3]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        let err = || format!("'{s}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)");
        if parts.len() != 6 {
            return Err(err());
        }
        let mut m = [0u8; 6];
        for (o, p) in m.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        Ok(Mac(m))
    }
}

/// Why the eFuse words do not yield a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("ESP8266 MAC uses an unknown OUI selector 0x{0:02x}")]
    UnknownOui(u8),
    #[error("expected {expected} register values, got {got}")]
    WrongCount { expected: usize, got: usize },
}

/// Decodes the MAC from the values of `spec.mac_regs`, read in that order.
pub fn decode_mac(chip: Chip, values: &[u32]) -> Result<Mac, MacError> {
    let need = chip.spec().mac_regs.len();
    if values.len() != need {
        return Err(MacError::WrongCount { expected: need, got: values.len() });
    }
    match chip {
        Chip::Esp32 => {
            let (w1, w2) = (values[0], values[1]);
            let hi = w2.to_be_bytes();
            let lo = w1.to_be_bytes();
            Ok(Mac([hi[2], hi[3], lo[0], lo[1], lo[2], lo[3]]))
        }
        Chip::Esp8266 => {
            let (mac0, mac1, mac3) = (values[0], values[1], values[3]);
            let oui = if mac3 != 0 {
                [(mac3 >> 16) as u8, (mac3 >> 8) as u8, mac3 as u8]
            } else {
                match (mac1 >> 16) as u8 {
                    0 => [0x18, 0xFE, 0x34],
                    1 => [0xAC, 0xD0, 0x74],
                    other => return Err(MacError::UnknownOui(other)),
                }
            };
            Ok(Mac([oui[0], oui[1], oui[2], (mac1 >> 8) as u8, mac1 as u8, (mac0 >> 24) as u8]))
        }
        Chip::Esp32S2 | Chip::Esp32S3 | Chip::Esp32C3 => {
            let (mac0, mac1) = (values[0], values[1]);
            let lo = mac0.to_be_bytes();
            Ok(Mac([(mac1 >> 8) as u8, mac1 as u8, lo[0], lo[1], lo[2], lo[3]]))
        }
    }
}

/// CRC-8 over the MAC as stored in ESP32 eFuse (reflected polynomial 0x8C, init 0).
pub fn esp32_mac_crc8(mac: &Mac) -> u8 {
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

/// The register values that [`decode_mac`] turns back into `mac` (the simulator's eFuses).
/// For ESP8266 the third word is returned as 0 and the caller supplies the real word 2.
pub fn encode_mac(chip: Chip, mac: &Mac) -> Vec<u32> {
    let m = mac.0;
    match chip {
        Chip::Esp32 => {
            let w1 = u32::from_be_bytes([m[2], m[3], m[4], m[5]]);
            let w2 = (esp32_mac_crc8(mac) as u32) << 16 | (m[0] as u32) << 8 | m[1] as u32;
            vec![w1, w2]
        }
        Chip::Esp8266 => {
            let mac0 = (m[5] as u32) << 24;
            let mac1 = (m[3] as u32) << 8 | m[4] as u32;
            let mac3 = u32::from_be_bytes([0, m[0], m[1], m[2]]);
            vec![mac0, mac1, 0, mac3]
        }
        Chip::Esp32S2 | Chip::Esp32S3 | Chip::Esp32C3 => {
            vec![u32::from_be_bytes([m[2], m[3], m[4], m[5]]), (m[0] as u32) << 8 | m[1] as u32]
        }
    }
}

/// ESP32 chip revision from eFuse word 3, word 5 and APB_CTL_DATE: (major, minor).
pub fn esp32_revision(w3: u32, w5: u32, apb_ctl_date: u32) -> (u32, u32) {
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

/// Address of the ESP32 APB_CTL_DATE register (revision bit 2).
pub const ESP32_APB_CTL_DATE: u32 = 0x3FF6_607C;

/// ESP32 package description ("ESP32-D0WDQ6") from eFuse word 3 and the major revision.
pub fn esp32_package_name(w3: u32, major: u32) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_tables() {
        assert_eq!(Chip::from_magic(0x00F0_1D83), Some(Chip::Esp32));
        assert_eq!(Chip::from_magic(0xFFF0_C101), Some(Chip::Esp8266));
        assert_eq!(Chip::from_magic(0x0000_07C6), Some(Chip::Esp32S2));
        assert_eq!(Chip::from_magic(0x1234), None);
        assert_eq!(Chip::from_chip_id(9), Some(Chip::Esp32S3));
        assert_eq!(Chip::from_chip_id(5), Some(Chip::Esp32C3));
        assert_eq!(Chip::from_chip_id(0), None, "ESP32 is detected by magic, not chip id");
        assert_eq!("ESP32-S3".parse::<Chip>(), Ok(Chip::Esp32S3));
        assert_eq!("esp8266".parse::<Chip>(), Ok(Chip::Esp8266));
        assert!("esp31".parse::<Chip>().is_err());
    }

    #[test]
    fn status_formats() {
        assert_eq!(Chip::Esp8266.spec().rom_status.len(), 2);
        assert_eq!(Chip::Esp32.spec().rom_status.len(), 4);
        assert_eq!(Chip::Esp32.spec().bootloader_offset, 0x1000);
        assert_eq!(Chip::Esp32S3.spec().bootloader_offset, 0);
    }

    #[test]
    fn esp8266_mac_from_real_trace() {
        // Protocol reference 5.3: MAC3 0x00840D8E, word2 0xF200B000, MAC1 0x02007681.
        let mac0 = 0xAB00_0000;
        let m = decode_mac(Chip::Esp8266, &[mac0, 0x0200_7681, 0xF200_B000, 0x0084_0D8E]).unwrap();
        assert_eq!(m.to_string(), "84:0d:8e:76:81:ab");
        assert_eq!(decode_mac(Chip::Esp8266, &[0, 0x0000_1234, 0, 0]).unwrap().to_string(), "18:fe:34:12:34:00");
        assert_eq!(decode_mac(Chip::Esp8266, &[0, 0x0005_0000, 0, 0]), Err(MacError::UnknownOui(5)));
    }

    #[test]
    fn mac_round_trips() {
        let mac: Mac = "24:0a:c4:12:34:56".parse().unwrap();
        for chip in Chip::ALL {
            let mut regs = encode_mac(chip, &mac);
            if chip == Chip::Esp8266 {
                regs[2] = 0xF200_B000;
            }
            assert_eq!(decode_mac(chip, &regs).unwrap(), mac, "{chip}");
        }
        let w = encode_mac(Chip::Esp32, &mac);
        assert_eq!(w[0], 0xC412_3456);
        assert_eq!(w[1] & 0xFFFF, 0x240A);
    }

    #[test]
    fn mac_offset_and_parse() {
        let mac: Mac = "24:0a:c4:ff:ff:ff".parse().unwrap();
        assert_eq!(mac.offset(1).to_string(), "24:0a:c4:00:00:00");
        assert_eq!(mac.offset(0), mac);
        assert!("24:0a:c4".parse::<Mac>().is_err());
        assert!("zz:0a:c4:00:00:00".parse::<Mac>().is_err());
    }

    #[test]
    fn esp32_revision_and_names() {
        // ESP-WROOM-32 (D0WDQ6 v1.0): w3 0xA000, w5 0, APB date 0x16042000.
        let (major, minor) = esp32_revision(0x0000_A000, 0, 0x1604_2000);
        assert_eq!((major, minor), (1, 0));
        assert_eq!(esp32_package_name(0x0000_A000, major), "ESP32-D0WDQ6");
        // ESP-WROOM-32E (D0WD-V3 v3.0): w3 0xA200, w5 0x00100000, APB date 0x96042000.
        let (major, minor) = esp32_revision(0x0000_A200, 0x0010_0000, 0x9604_2000);
        assert_eq!((major, minor), (3, 0));
        assert_eq!(esp32_package_name(0x0000_A200, major), "ESP32-D0WD-V3");
    }
}
