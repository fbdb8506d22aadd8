//! The simulated ESP32-C3: an ESP32-C3-MINI-1 module (ESP32-C3 (QFN32) revision v0.4).
//! Detected by its GET_SECURITY_INFO chip id (5). 80 MHz APB drives the UART; the crystal
//! is a fixed 40 MHz. Its own USB-Serial/JTAG (303a:1001) is not used here: the board
//! talks through a USB-UART bridge.

use super::esp_rom::EspRomLog;
use super::rom_chip::EspRomChip;
use flashline_protocol::chip::esp32c3::{self, EFUSE_BLOCK1_W3};
use flashline_protocol::chip::StubLayout;

/// The simulated ESP32-C3.
pub static ESP32C3: EspRomChip = EspRomChip {
    target: &esp32c3::Esp32C3,
    oui: [0x58, 0xcf, 0x79],
    // BLOCK1 word 3: minor revision 4 [20:18], package QFN32 (0).
    registers: &[(EFUSE_BLOCK1_W3, 0x0010_0000)],
    clkdiv_115200: 694,
    legacy_stub: StubLayout { entry: 0x4038_06D2, text_start: 0x4038_0000 },
    new_stub: esp32c3::SPEC.stub_v2,
    log: EspRomLog {
        rom: "esp32c3-api1-20210207",
        build: "Feb  7 2021",
        download: "0x4 (DOWNLOAD(USB/UART0/1))",
        spi_boot: "0xc (SPI_FAST_FLASH_BOOT)",
        software_reset: "0x3 (RTC_SW_SYS_RST)",
        watchdog_reset: "0x7 (TG0WDT_SYS_RST)",
        watchdog_saved_pc: Some(0x4004_d1f8),
        system_reset: "0x3 (RTC_SW_SYS_RST)",
    },
    rom_crystal: (40, 40),
};
