//! The simulated ESP32-S3: an ESP32-S3-WROOM-1 module (ESP32-S3 (QFN56) revision v0.2).
//! Detected by its GET_SECURITY_INFO chip id (9). 80 MHz APB drives the UART; the crystal
//! is a fixed 40 MHz. Its own USB-Serial/JTAG (303a:1001) is not used here: the board
//! talks through a USB-UART bridge.

use super::esp_rom::EspRomLog;
use super::rom_chip::EspRomChip;
use flashline_protocol::chip::esp32s3::{self, EFUSE_BLOCK1_W3};
use flashline_protocol::chip::StubLayout;

/// The simulated ESP32-S3.
pub static ESP32S3: EspRomChip = EspRomChip {
    target: &esp32s3::Esp32S3,
    oui: [0xf4, 0x12, 0xfa],
    // BLOCK1 word 3: minor revision 2 [20:18], package QFN56 (0).
    registers: &[(EFUSE_BLOCK1_W3, 0x0008_0000)],
    clkdiv_115200: 694,
    legacy_stub: StubLayout { entry: 0x4037_8C94, text_start: 0x4037_8000 },
    new_stub: esp32s3::SPEC.stub_v2,
    log: EspRomLog {
        rom: "esp32s3-20210327",
        build: "Mar 27 2021",
        download: "0x0 (DOWNLOAD(USB/UART0))",
        spi_boot: "0x8 (SPI_FAST_FLASH_BOOT)",
        software_reset: "0xc (RTC_SW_CPU_RST)",
        watchdog_reset: "0x7 (TG0WDT_SYS_RST)",
        watchdog_saved_pc: Some(0x4004_8839),
        system_reset: "0x3 (RTC_SW_SYS_RST)",
    },
    rom_crystal: (40, 40),
};
