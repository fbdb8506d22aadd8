//! Register layout of the SPI "user command" engine, the one piece of hardware esptool and
//! flashline drive register by register (RDID, SFDP, flash reset). Each chip module says
//! where its engine sits; this file only knows the shape shared by all of them.

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

    /// The layout of ESP32-S2 and every later chip (only the base differs).
    pub const fn s2_and_later(base: u32) -> SpiRegs {
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
