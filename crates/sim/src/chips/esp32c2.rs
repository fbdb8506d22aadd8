//! The simulated ESP32-C2: an ESP8684-WROOM module with the usual 26 MHz crystal
//! (ESP32-C2 revision v1.0, so esptool and flashline run the stub on it). Detected by its
//! GET_SECURITY_INFO chip id (12). The ROM assumes a 40 MHz crystal: its boot log comes
//! out at 74880 baud and CHANGE_BAUDRATE lands at 26/40 of the rate asked for, while the
//! UART divider the ROM auto-bauds to (225 at 115200) tells the host the real crystal.
//! No USB at all.

use super::esp_rom::EspRomLog;
use super::rom_chip::EspRomChip;
use flashline_protocol::chip::esp32c2::{self, EFUSE_BLOCK2_W1};
use flashline_protocol::chip::StubLayout;

/// The simulated ESP32-C2.
pub static ESP32C2: EspRomChip = EspRomChip {
    target: &esp32c2::Esp32C2,
    oui: [0x08, 0x3a, 0x8d],
    // BLOCK2 word 1 (shared with MAC bytes 0..1): major revision 1 [21:20], package 0.
    registers: &[(EFUSE_BLOCK2_W1, 0x0010_0000)],
    clkdiv_115200: 225,
    legacy_stub: StubLayout { entry: 0x4038_05DA, text_start: 0x4038_0000 },
    new_stub: esp32c2::SPEC.stub_v2,
    log: EspRomLog {
        rom: "esp8684-api2-20220127",
        build: "Jan 27 2022",
        download: "0x4 (DOWNLOAD(UART0))",
        spi_boot: "0xc (SPI_FAST_FLASH_BOOT)",
        software_reset: "0x3 (RTC_SW_SYS_RST)",
        watchdog_reset: "0x7 (TG0WDT_SYS_RST)",
        watchdog_saved_pc: None,
        system_reset: "0x3 (RTC_SW_SYS_RST)",
    },
    rom_crystal: (26, 40),
};
