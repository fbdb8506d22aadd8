//! The simulated ESP32-C5: an ESP32-C5-WROOM-1 module (ESP32-C5HR8 revision v1.0) with the
//! 48 MHz crystal of mass production, and a ROM that expects 48 MHz (PCR_SYSCLK_CONF
//! [30:24] = 48), so CHANGE_BAUDRATE needs no scaling; the UART divider at 115200 (416)
//! gives esptool's crystal estimate of 48 MHz. Detected by its GET_SECURITY_INFO chip id
//! (23); bootloader at 0x2000; its stub loads at 0x40800000 with data in the upper SRAM.

use super::esp_rom::EspRomLog;
use super::rom_chip::EspRomChip;
use flashline_protocol::chip::esp32c5::{self, EFUSE_BLOCK1_W2, PCR_SYSCLK_CONF_REG};
use flashline_protocol::chip::StubLayout;

/// The simulated ESP32-C5.
pub static ESP32C5: EspRomChip = EspRomChip {
    target: &esp32c5::Esp32C5,
    oui: [0xd0, 0xcf, 0x13],
    registers: &[
        // BLOCK1 word 2: major 1 [5:4], PSRAM 8 MB [21:19], high temperature [25:24].
        (EFUSE_BLOCK1_W2, 0x0110_0010),
        (PCR_SYSCLK_CONF_REG, 48 << 24),
    ],
    clkdiv_115200: 416,
    legacy_stub: StubLayout { entry: 0x4080_0A88, text_start: 0x4080_0000 },
    new_stub: esp32c5::SPEC.stub_v2,
    log: EspRomLog {
        rom: "esp32c5-eco2-20250121",
        build: "Jan 21 2025",
        download: "0x4 (DOWNLOAD(USB/UART0/SDIO_FEI_FEO))",
        spi_boot: "0x8 (SPI_FAST_FLASH_BOOT)",
        software_reset: "0xc (SW_CPU)",
        watchdog_reset: "0x7 (TG0_WDT_HPSYS)",
        watchdog_saved_pc: None,
        system_reset: "0x3 (LP_SW_HPSYS)",
    },
    rom_crystal: (48, 48),
};
