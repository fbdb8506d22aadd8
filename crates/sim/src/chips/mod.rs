//! The simulated chips, one module each: what the silicon is (its register profile with
//! the MAC and revision burnt in, clocks, boot logs, ROM quirks, the stubs it recognises).
//!
//! Protocol facts (magic, eFuse addresses, MAC layout, SPI registers) come from the host
//! side's chip modules (`flashline_protocol::chip`); what is modelled here is behaviour
//! that only a chip has. The board asks its [`SimChip`] instead of matching on [`Chip`].
//!
//! Simulating another chip: write `<chip>.rs` implementing [`SimChip`] (the chips with an
//! ESP-ROM loader are one [`EspRomChip`] value each), declare it below and add it to
//! [`SIMULATED`].

mod efuse;
mod esp32;
mod esp32c2;
mod esp32c3;
mod esp32c5;
mod esp32c6;
mod esp32h2;
mod esp32p4;
mod esp32s2;
mod esp32s3;
mod esp8266;
mod esp_rom;
mod rom_chip;
mod watchdog;

pub use esp32::Esp32;
pub use esp32c2::ESP32C2;
pub use esp32c3::ESP32C3;
pub use esp32c5::ESP32C5;
pub use esp32c6::ESP32C6;
pub use esp32h2::ESP32H2;
pub use esp32p4::ESP32P4;
pub use esp32s2::ESP32S2;
pub use esp32s3::ESP32S3;
pub use esp8266::Esp8266;
pub use esp_rom::{invalid_header_line, EspRomLog};
pub use rom_chip::EspRomChip;
pub use watchdog::WDT_EN;

use crate::board::StubKind;
use crate::boot::ResetCause;
use flashline_protocol::chip::{Mac, StubLayout, Target};
use flashline_protocol::command::SecurityInfo;
use flashline_protocol::flash::SECTOR_SIZE;
use flashline_protocol::Chip;
use std::fmt::Debug;

/// Every simulated chip, in the order the CLI lists them.
pub static SIMULATED: [&dyn SimChip; 10] =
    [&Esp32, &Esp8266, &ESP32S2, &ESP32S3, &ESP32C3, &ESP32C2, &ESP32C5, &ESP32C6, &ESP32H2, &ESP32P4];

/// How much a ROM FLASH_BEGIN really erases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RomErase {
    /// Bytes erased from the start of the offset's sector.
    pub len: u64,
    /// An erase running past the end of flash is clamped to it (ESP8266) instead of being
    /// rejected with "invalid input".
    pub clamp_to_flash: bool,
}

/// What one simulated chip is and how its silicon behaves where chips differ.
pub trait SimChip: Sync + Debug {
    /// The chip's protocol facts (the host side's module).
    fn target(&self) -> &'static dyn Target;

    /// The chip family.
    fn chip(&self) -> Chip {
        self.target().spec().chip
    }

    /// Default MAC base of a line of these boards (an Espressif OUI).
    fn default_mac_base(&self) -> Mac;

    /// Register values after power-on with `mac` burnt into the eFuses; registers not
    /// listed read as 0. The UART divider is computed (see [`SimChip::clkdiv_115200`]).
    fn power_on_registers(&self, mac: &Mac) -> Vec<(u32, u32)>;

    /// UART CLKDIV at 115200 baud with the ROM's clocks.
    fn clkdiv_115200(&self) -> u32;

    /// The new stub raises the CPU and APB clocks (ESP32: 160/80 MHz), which doubles the
    /// UART divider and speeds up checksums and SPI.
    fn new_stub_boosts_clocks(&self) -> bool {
        false
    }

    /// Stub images the chip is told apart by (esptool 5.6's legacy and new stubs).
    fn stub_layouts(&self) -> [(StubKind, StubLayout); 2];

    /// Baud the ROM prints its boot log at.
    fn banner_baud(&self) -> u32 {
        115_200
    }

    /// ROM boot log of a reset into download mode.
    fn download_banner(&self, cause: ResetCause) -> Vec<u8>;

    /// Boot log of a normal (SPI flash) boot followed by the application's first line.
    fn app_banner(&self) -> Vec<u8>;

    /// The ROM's log of a boot from flash after a reset of `cause`, before it loads the
    /// bootloader ([`crate::flash_boot`] prints the rest).
    fn flash_boot_banner(&self, cause: ResetCause) -> Vec<u8>;

    /// What the ROM's FLASH_BEGIN erases when asked for `size` bytes at `offset`. The
    /// default (every ROM but ESP8266's): whole sectors from the offset's sector on, and
    /// an erase past the end of flash is rejected.
    fn rom_erase(&self, offset: u32, size: u32) -> RomErase {
        let start = offset / SECTOR_SIZE * SECTOR_SIZE;
        let sector = SECTOR_SIZE as u64;
        RomErase { len: ((offset - start) as u64 + size as u64).div_ceil(sector) * sector, clamp_to_flash: false }
    }

    /// What the ROM answers to GET_SECURITY_INFO on a chip with nothing burnt (no secure
    /// boot, no flash encryption, every key block unused): `None` when the ROM does not
    /// implement it (ESP32, ESP8266). ESP32-S2 answers the 12-byte form without chip id;
    /// the chips detected by chip id add it and the ROM API version (0). The stubs pass
    /// the ROM's answer on where they implement the command.
    fn security_info(&self) -> Option<SecurityInfo> {
        let spec = self.target().spec();
        if !spec.rom_security_info {
            return None;
        }
        let chip_id = if spec.detect_by_chip_id { spec.image_chip_id } else { None };
        Some(SecurityInfo {
            flags: 0,
            flash_crypt_cnt: 0,
            key_purposes: [0; 7],
            chip_id,
            api_version: chip_id.map(|_| 0),
        })
    }

    /// Baud the ROM's UART ends up at after CHANGE_BAUDRATE with `word`.
    fn rom_baud_from_word(&self, word: u32) -> u64 {
        word as u64
    }

    /// The stubs jump to the application on RUN_USER_CODE without replying (ESP8266).
    fn stub_run_user_code_silent(&self) -> bool {
        false
    }

    /// The ROM routes the SPI flash to its controller while booting into download mode,
    /// so flash commands answer before any SPI_ATTACH. Most ROMs do not (esptool's own
    /// `test_attach_flash` expects a detached flash on every chip but ESP32-S2 and ESP32-P4).
    fn rom_attaches_flash_at_boot(&self) -> bool {
        false
    }

    /// WDTCONFIG0 of the RTC watchdog esptool's `--after watchdog-reset` enables, on the
    /// chips it does that on.
    fn rtc_wdt_config0(&self) -> Option<u32> {
        watchdog::config0(self.chip())
    }

    /// The ROM's log of a boot from flash after the RTC watchdog fired: `image` is the
    /// first word at the bootloader offset (a valid image starts with 0xE9).
    fn watchdog_boot_log(&self, image: u32) -> Vec<u8> {
        let _ = image;
        self.app_banner()
    }

    /// Why no chip of this kind could have `mac` (a real chip's identity derived from it
    /// would be impossible); the operator gets the message.
    fn check_mac(&self, _mac: &Mac) -> Result<(), String> {
        Ok(())
    }
}

/// The simulated `chip`, if it is simulated.
pub fn model(chip: Chip) -> Option<&'static dyn SimChip> {
    SIMULATED.into_iter().find(|m| m.chip() == chip)
}

/// The simulated `chip`. Callers accept only chips [`parse_simulated`] lets through.
///
/// # Panics
/// When `chip` is not simulated (a programming error: every entry point checks it).
pub fn require(chip: Chip) -> &'static dyn SimChip {
    model(chip).unwrap_or_else(|| panic!("{chip} is not simulated (only {})", simulated_names()))
}

/// "esp32, esp8266, esp32s2, …" in [`SIMULATED`] order.
pub fn simulated_names() -> String {
    SIMULATED.map(|m| m.chip().file_name()).join(", ")
}

/// The simulated `chip`, or the operator's error naming the chips that are.
pub fn ensure(chip: Chip) -> Result<&'static dyn SimChip, String> {
    model(chip).ok_or_else(|| format!("{chip} is not simulated (one of {})", simulated_names()))
}

/// Parses a chip name and accepts it only if it is simulated.
pub fn parse_simulated(s: &str) -> Result<Chip, String> {
    let chip: Chip = s.parse()?;
    ensure(chip).map(|_| chip)
}

/// Which stub was loaded, told by its MEM_END entry point.
pub fn stub_by_entry(chip: Chip, entry: u32) -> Option<StubKind> {
    let m = model(chip)?;
    m.stub_layouts().into_iter().find(|(_, l)| l.entry == entry).map(|(k, _)| k)
}

/// Which stub is being loaded, told by a MEM_BEGIN address (its text segment start):
/// `None` when no stub or both stubs load there (the RISC-V chips: only the entry point
/// at MEM_END tells them apart).
pub fn stub_by_load_addr(chip: Chip, addr: u32) -> Option<StubKind> {
    let m = model(chip)?;
    let mut hits = m.stub_layouts().into_iter().filter(|(_, l)| l.text_start == addr);
    match (hits.next(), hits.next()) {
        (Some((k, _)), None) => Some(k),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
