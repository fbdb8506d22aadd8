//! The register file esptool reads: chip magic, eFuse words (with the board's MAC),
//! clock/strapping registers, the UART divider, and the SPI controller block whose CMD
//! register executes flash commands (see [`crate::spi_engine`]).
//!
//! The values at power-on come from the board's chip module ([`crate::chips`]); registers
//! nobody set read as 0.

use crate::chips::{self, SimChip};
use crate::flash::NorFlash;
use crate::spi_engine::{self, FlashChipState};
use flashline_protocol::chip::{Mac, SpiRegs};
use flashline_protocol::{Chip, ChipSpec};
use std::collections::HashMap;

/// The board's registers.
#[derive(Debug, Clone)]
pub struct Registers {
    spec: &'static ChipSpec,
    model: &'static dyn SimChip,
    values: HashMap<u32, u32>,
    pub flash_chip: FlashChipState,
    /// Baud the chip's UART runs at (CLKDIV follows it).
    pub baud: u32,
    /// APB runs at twice the ROM clock after the new stub's clock boost
    /// ([`SimChip::new_stub_boosts_clocks`]).
    pub boosted: bool,
}

impl Registers {
    /// The register profile of `chip` with `mac` burnt into its eFuses.
    ///
    /// # Panics
    /// When `chip` is not simulated (see [`chips::require`]).
    pub fn new(chip: Chip, mac: &Mac) -> Self {
        Self::with_overrides(chip, mac, &[])
    }

    /// [`Registers::new`] with some power-on values replaced (another revision or package).
    pub fn with_overrides(chip: Chip, mac: &Mac, overrides: &[(u32, u32)]) -> Self {
        let model = chips::require(chip);
        let values = model.power_on_registers(mac).into_iter().chain(overrides.iter().copied()).collect();
        let flash_chip = FlashChipState { attached: model.rom_attaches_flash_at_boot(), ..FlashChipState::default() };
        Self { spec: chip.spec(), model, values, flash_chip, baud: 115_200, boosted: false }
    }

    fn clkdiv(&self) -> u32 {
        let (base, boost) = (self.model.clkdiv_115200(), if self.boosted { 2 } else { 1 });
        let baud = self.baud.max(1) as u64;
        ((base as u64 * boost * 115_200 + baud / 2) / baud) as u32 & 0xFFFFF
    }

    /// READ_REG.
    pub fn read(&self, addr: u32) -> u32 {
        if addr == self.spec.uart_clkdiv_reg {
            return self.clkdiv();
        }
        self.values.get(&addr).copied().unwrap_or(0)
    }

    /// One WRITE_REG entry: `reg = (reg & !mask) | (value & mask)`. Writing the SPI CMD
    /// register with bit 18 set runs the programmed flash command.
    pub fn write(&mut self, addr: u32, value: u32, mask: u32, flash: &mut NorFlash) {
        let old = self.read(addr);
        let new = (old & !mask) | (value & mask);
        self.values.insert(addr, new);
        let spi = self.spec.spi;
        if addr == spi.cmd_addr() && new & SpiRegs::CMD_USR != 0 {
            spi_engine::execute(&spi, &mut self.values, flash, &mut self.flash_chip);
        }
    }
}
