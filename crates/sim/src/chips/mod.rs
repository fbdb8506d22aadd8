//! The simulated chips, one module each: what the silicon is (its register profile with
//! the MAC and revision burnt in, clocks, boot logs, ROM quirks, the stubs it recognises).
//!
//! Protocol facts (magic, eFuse addresses, MAC layout, SPI registers) come from the host
//! side's chip modules (`flashline_protocol::chip`); what is modelled here is behaviour
//! that only a chip has. The board asks its [`SimChip`] instead of matching on [`Chip`].
//!
//! Simulating another chip: write `<chip>.rs` implementing [`SimChip`], declare it below and
//! add it to [`SIMULATED`].

mod esp32;
mod esp8266;

pub use esp32::Esp32;
pub use esp8266::Esp8266;

use crate::board::StubKind;
use crate::boot::ResetCause;
use flashline_protocol::chip::{Mac, StubLayout, Target};
use flashline_protocol::Chip;
use std::fmt::Debug;

/// Every simulated chip, in the order the CLI lists them.
pub static SIMULATED: [&dyn SimChip; 2] = [&Esp32, &Esp8266];

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

    /// What the ROM's FLASH_BEGIN erases when asked for `size` bytes at `offset`.
    fn rom_erase(&self, offset: u32, size: u32) -> RomErase;

    /// Baud the ROM's UART ends up at after CHANGE_BAUDRATE with `word`.
    fn rom_baud_from_word(&self, word: u32) -> u64 {
        word as u64
    }

    /// The stubs jump to the application on RUN_USER_CODE without replying (ESP8266).
    fn stub_run_user_code_silent(&self) -> bool {
        false
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

/// "esp32, esp8266".
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

/// Which stub is being loaded, told by a MEM_BEGIN address (its text segment start).
pub fn stub_by_load_addr(chip: Chip, addr: u32) -> Option<StubKind> {
    let m = model(chip)?;
    m.stub_layouts().into_iter().find(|(_, l)| l.text_start == addr).map(|(k, _)| k)
}

#[cfg(test)]
mod tests;
