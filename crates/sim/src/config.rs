//! Configuration of one simulated board.

use crate::chips;
use crate::faults::Fault;
use crate::timing::{TimingMode, TimingModel};
use crate::usb::{LinkMode, UsbTiming};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use std::path::PathBuf;
use std::time::Duration;

/// Flash sizes the simulator offers (each with a Winbond JEDEC id).
pub const FLASH_SIZES: [u32; 5] = [1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20];

/// Default MAC base for a chip: an Espressif OUI (its module's; 24:0a:c4 for chips that
/// are not simulated).
pub fn default_mac_base(chip: Chip) -> Mac {
    chips::model(chip).map_or(Mac([0x24, 0x0a, 0xc4, 0, 0, 0]), |m| m.default_mac_base())
}

/// One board.
#[derive(Debug, Clone)]
pub struct BoardConfig {
    pub chip: Chip,
    /// Flash size in bytes (1, 2, 4, 8 or 16 MB).
    pub flash_size: u32,
    pub mac: Mac,
    pub timing: TimingMode,
    pub faults: Vec<Fault>,
    /// Backing file kept in step with the flash content (loaded at start if present).
    pub flash_file: Option<PathBuf>,
    /// Replaces the default model of [`TimingMode::Realistic`] (calibration).
    pub timing_model: Option<TimingModel>,
    /// Register values that replace the chip's power-on ones: another revision, package or
    /// strapping of the same chip (e.g. an ESP32-C2 v0.0, which runs no stub).
    pub registers: Vec<(u32, u32)>,
    /// How the board is connected: a UART bridge, or the chip's own USB-Serial/JTAG.
    pub link: LinkMode,
    /// Test-only: present a chip without the peripheral on USB-Serial/JTAG (the link's
    /// behaviour does not depend on the chip).
    pub usb_any_chip: bool,
    /// Replaces the re-enumeration delay of the timing mode (USB-Serial/JTAG link).
    pub reenumerate: Option<Duration>,
}

impl BoardConfig {
    /// 4 MB flash, timing off, no faults.
    pub fn new(chip: Chip, mac: Mac) -> Self {
        Self {
            chip,
            flash_size: 4 << 20,
            mac,
            timing: TimingMode::Off,
            faults: Vec::new(),
            flash_file: None,
            timing_model: None,
            registers: Vec::new(),
            link: LinkMode::Uart,
            usb_any_chip: false,
            reenumerate: None,
        }
    }

    /// The same board on its USB-Serial/JTAG port.
    pub fn on_usb_serial_jtag(mut self) -> Self {
        self.link = LinkMode::UsbSerialJtag;
        self
    }

    /// The USB-Serial/JTAG link's timing: realistic, or instant bytes with a re-enumeration
    /// delay of zero (both overridden by [`Self::reenumerate`]).
    pub fn usb_timing(&self) -> UsbTiming {
        let mut t = match self.timing {
            TimingMode::Off => UsbTiming::instant(Duration::ZERO),
            TimingMode::Realistic => UsbTiming::realistic(self.chip),
        };
        if let Some(d) = self.reenumerate {
            t.reenumerate = d;
        }
        t
    }

    /// The timing model in force.
    pub fn model(&self) -> TimingModel {
        match self.timing {
            TimingMode::Off => TimingModel::zero(),
            TimingMode::Realistic => {
                self.timing_model.clone().unwrap_or_else(|| TimingModel::realistic_on(self.chip, self.link))
            }
        }
    }
}
