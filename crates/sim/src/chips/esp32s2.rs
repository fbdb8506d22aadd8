//! The simulated ESP32-S2: an ESP32-S2-WROOM module (ESP32-S2 revision v1.0, flash
//! outside the package). Detected by its magic value: its ROM answers GET_SECURITY_INFO
//! in the short 12-byte form, without a chip id. 80 MHz APB drives the UART; the crystal
//! is a fixed 40 MHz.

use super::esp_rom::EspRomLog;
use super::rom_chip::EspRomChip;
use flashline_protocol::chip::esp32s2::{self, EFUSE_BLOCK1_W3};
use flashline_protocol::chip::{StubLayout, CHIP_DETECT_MAGIC_REG};

/// The simulated ESP32-S2.
pub static ESP32S2: EspRomChip = EspRomChip {
    target: &esp32s2::Esp32S2,
    oui: [0x7c, 0xdf, 0xa1],
    // BLOCK1 word 3: major revision 1 [19:18], no in-package flash or PSRAM.
    registers: &[(EFUSE_BLOCK1_W3, 0x0004_0000), (CHIP_DETECT_MAGIC_REG, 0x0000_07C6)],
    clkdiv_115200: 694,
    legacy_stub: StubLayout { entry: 0x4002_88AC, text_start: 0x4002_8000 },
    new_stub: esp32s2::SPEC.stub_v2,
    log: EspRomLog {
        rom: "esp32s2-rc4-20191025",
        build: "Oct 25 2019",
        download: "0x0 (DOWNLOAD(USB/UART0/1))",
        spi_boot: "0x8 (SPI_FAST_FLASH_BOOT)",
        software_reset: "0x3 (RTC_SW_SYS_RST)",
        watchdog_reset: "0x7 (TG0WDT_SYS_RST)",
        watchdog_saved_pc: None,
        system_reset: "0x3 (RTC_SW_SYS_RST)",
    },
    rom_crystal: (40, 40),
};
