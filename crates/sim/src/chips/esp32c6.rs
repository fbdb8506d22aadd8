//! The simulated ESP32-C6: an ESP32-C6-WROOM-1 module (ESP32-C6 (QFN40) revision v0.1).
//! Detected by its GET_SECURITY_INFO chip id (13). An 80 MHz clock drives the UART; the
//! crystal is a fixed 40 MHz. Its own USB-Serial/JTAG (303a:1001) is not used here: the
//! board talks through a USB-UART bridge.

use super::esp_rom::EspRomLog;
use super::rom_chip::EspRomChip;
use flashline_protocol::chip::esp32c6::{self, EFUSE_BLOCK1, EFUSE_BLOCK1_W3};
use flashline_protocol::chip::StubLayout;

/// The simulated ESP32-C6.
pub static ESP32C6: EspRomChip = EspRomChip {
    target: &esp32c6::Esp32C6,
    oui: [0x40, 0x4c, 0xca],
    // BLOCK1 word 3: minor revision 1 [21:18], package QFN40 (0).
    // BLOCK1 word 1 [31:16]: the EUI-64 extension ff:fe esptool prints as MAC_EXT.
    registers: &[(EFUSE_BLOCK1_W3, 0x0004_0000), (EFUSE_BLOCK1 + 4, 0xFFFE_0000)],
    clkdiv_115200: 694,
    legacy_stub: StubLayout { entry: 0x4080_06C2, text_start: 0x4080_0000 },
    new_stub: esp32c6::SPEC.stub_v2,
    log: EspRomLog {
        rom: "esp32c6-20220919",
        build: "Sep 19 2022",
        download: "0x4 (DOWNLOAD(USB/UART0/SDIO_FEI_FEO))",
        spi_boot: "0xc (SPI_FAST_FLASH_BOOT)",
        software_reset: "0xc (SW_CPU)",
        watchdog_reset: "0x7 (TG0_WDT_HPSYS)",
        watchdog_saved_pc: None,
        system_reset: "0x3 (LP_SW_HPSYS)",
    },
    rom_crystal: (40, 40),
};
