//! [`EspRomChip`]: the chips with an "ESP-ROM" loader (ESP32-S2 and every later one)
//! differ in data only — eFuse words, UART clock, stub layouts, boot log, crystal — so
//! each of their modules is one value of this type, and the behaviour is written once.

use super::efuse::burn;
use super::esp_rom::EspRomLog;
use super::SimChip;
use crate::board::StubKind;
use crate::boot::ResetCause;
use flashline_protocol::chip::{Mac, StubLayout, Target};
use flashline_protocol::Chip;
use std::fmt;

/// ESP-ROM chips whose download mode attaches the flash by itself (esptool's
/// `test_attach_flash` is skipped for them: "ESP32-S2 attaches the flash even without
/// explicit attach").
const ATTACH_AT_BOOT: [Chip; 2] = [Chip::Esp32S2, Chip::Esp32P4];

/// One simulated chip with an ESP-ROM loader.
pub struct EspRomChip {
    /// The host side's module of the chip.
    pub target: &'static dyn Target,
    /// Espressif OUI of the default MAC base.
    pub oui: [u8; 3],
    /// eFuse and other registers at power-on besides the MAC words (revision, package,
    /// magic value, crystal the ROM expects); words shared with the MAC are OR-ed in.
    pub registers: &'static [(u32, u32)],
    /// UART CLKDIV at 115200 baud: the UART clock over 115200 (esptool's crystal estimate
    /// on chips that have no fixed crystal).
    pub clkdiv_115200: u32,
    /// esptool 5.6's legacy stub (stub set 1).
    pub legacy_stub: StubLayout,
    /// esptool 5.6's new stub (stub set 2) for the simulated revision.
    pub new_stub: StubLayout,
    pub log: EspRomLog,
    /// (real, assumed) crystal MHz of the ROM's UART: the ROM's CHANGE_BAUDRATE and boot
    /// log run at `rate * real / assumed` (ESP32-C2 with a 26 MHz crystal: 26/40).
    pub rom_crystal: (u32, u32),
}

impl fmt::Debug for EspRomChip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspRomChip").field("chip", &self.target.spec().chip).finish_non_exhaustive()
    }
}

impl EspRomChip {
    fn rom_rate(&self, rate: u64) -> u64 {
        let (real, assumed) = self.rom_crystal;
        (rate * real as u64 + assumed as u64 / 2) / assumed as u64
    }
}

impl SimChip for EspRomChip {
    fn target(&self) -> &'static dyn Target {
        self.target
    }

    fn default_mac_base(&self) -> Mac {
        let [a, b, c] = self.oui;
        Mac([a, b, c, 0, 0, 0])
    }

    fn power_on_registers(&self, mac: &Mac) -> Vec<(u32, u32)> {
        burn(self.target, mac, self.registers)
    }

    fn clkdiv_115200(&self) -> u32 {
        self.clkdiv_115200
    }

    fn stub_layouts(&self) -> [(StubKind, StubLayout); 2] {
        [(StubKind::Legacy, self.legacy_stub), (StubKind::New, self.new_stub)]
    }

    fn banner_baud(&self) -> u32 {
        self.rom_rate(115_200) as u32
    }

    fn download_banner(&self, cause: ResetCause) -> Vec<u8> {
        self.log.download_banner(cause)
    }

    fn app_banner(&self) -> Vec<u8> {
        self.log.app_banner()
    }

    fn flash_boot_banner(&self, cause: ResetCause) -> Vec<u8> {
        self.log.flash_boot(cause)
    }

    fn rom_baud_from_word(&self, word: u32) -> u64 {
        self.rom_rate(word as u64)
    }

    fn watchdog_boot_log(&self, image: u32) -> Vec<u8> {
        self.log.watchdog_boot(image)
    }

    fn rom_attaches_flash_at_boot(&self) -> bool {
        ATTACH_AT_BOOT.contains(&self.chip())
    }
}
