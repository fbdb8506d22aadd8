//! The simulated ESP32-P4: an ESP32-P4 revision v1.0 board (the ECO of the first dev
//! kits), which runs the `esp32p4-rev1` stubs: their RAM sits 256 KiB below that of the
//! v3 silicon (`esp32p4.json`), so a stub linked for the other revision is not
//! recognised. Detected by its GET_SECURITY_INFO chip id (18); bootloader at 0x2000;
//! 0x800 ROM RAM blocks (USB-OTG); fixed 40 MHz crystal. Its own USB-Serial/JTAG
//! (303a:1001) is not used here: the board talks through a USB-UART bridge.

use super::esp_rom::EspRomLog;
use super::rom_chip::EspRomChip;
use flashline_protocol::chip::esp32p4::{self, EFUSE_BLOCK1_W2, STUB_REV1};
use flashline_protocol::chip::StubLayout;

/// The simulated ESP32-P4.
pub static ESP32P4: EspRomChip = EspRomChip {
    target: &esp32p4::Esp32P4,
    oui: [0x30, 0xed, 0xa0],
    // BLOCK1 word 2: major revision 1 [5:4], package 0.
    registers: &[(EFUSE_BLOCK1_W2, 0x0000_0010)],
    clkdiv_115200: 347,
    legacy_stub: StubLayout { entry: 0x4FF1_0BA0, text_start: 0x4FF1_0000 },
    new_stub: STUB_REV1.layout,
    log: EspRomLog {
        rom: "esp32p4-eco2-20240710",
        build: "Jul 10 2024",
        download: "0x4 (DOWNLOAD(USB/UART0/SPI))",
        spi_boot: "0x8 (SPI_FAST_FLASH_BOOT)",
        software_reset: "0xc (SW_CPU)",
        watchdog_reset: "0x7 (TG0_WDT_HPSYS)",
        watchdog_saved_pc: None,
        system_reset: "0x3 (LP_SW_HPSYS)",
    },
    rom_crystal: (40, 40),
};
