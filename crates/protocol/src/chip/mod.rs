//! The chips flashline knows, one module each, and the lookups that search all of them.
//!
//! Every per-chip fact (detection, names, eFuse and MAC layout, revision and description,
//! SPI registers, flash attach, ROM quirks, stub layout, USB identity) lives in that chip's
//! module, which implements [`Target`]. Code elsewhere asks `chip.target()` or
//! `chip.spec()` and never matches on [`Chip`] itself.
//!
//! Adding a chip: write `<chip>.rs` (a `SPEC` and a type implementing [`Target`]), declare
//! it below with `pub mod`, and add one line to the [`chips!`] list.

mod crystal;
mod efuse;
pub mod esp32;
pub mod esp32c2;
pub mod esp32c3;
pub mod esp32c5;
pub mod esp32c6;
pub mod esp32h2;
pub mod esp32p4;
pub mod esp32s2;
pub mod esp32s3;
pub mod esp8266;
mod mac;
mod spi;
mod target;
#[cfg(test)]
mod tests;

pub use crystal::{crystal_mhz, ROM_BAUD};
pub use mac::{Mac, MacError};
pub use spi::SpiRegs;
pub use target::{
    reg_value, ChipError, ChipSpec, Description, FlashAttach, RegisterSource, StubChoice, StubLayout, Target, UsbId,
    ESPRESSIF_VID, NO_REGISTERS, USB_SERIAL_JTAG,
};

use std::fmt;
use std::str::FromStr;

/// Address of the word whose value identifies ESP8266 / ESP32 / ESP32-S2.
pub const CHIP_DETECT_MAGIC_REG: u32 = 0x4000_1000;

/// Declares [`Chip`], [`Chip::ALL`] and [`Chip::target`] from one list of
/// `Variant => module::TargetType` lines.
macro_rules! chips {
    ($($variant:ident => $module:ident :: $target:ident),+ $(,)?) => {
        /// A supported chip family.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Chip {
            $($variant),+
        }

        impl Chip {
            /// Every chip, in list order.
            pub const ALL: [Chip; [$(Chip::$variant),+].len()] = [$(Chip::$variant),+];

            /// The module that knows everything about this chip.
            pub fn target(self) -> &'static dyn Target {
                match self {
                    $(Chip::$variant => &$module::$target),+
                }
            }
        }
    };
}

chips! {
    Esp8266 => esp8266::Esp8266,
    Esp32 => esp32::Esp32,
    Esp32S2 => esp32s2::Esp32S2,
    Esp32S3 => esp32s3::Esp32S3,
    Esp32C3 => esp32c3::Esp32C3,
    Esp32C2 => esp32c2::Esp32C2,
    Esp32C5 => esp32c5::Esp32C5,
    Esp32C6 => esp32c6::Esp32C6,
    Esp32H2 => esp32h2::Esp32H2,
    Esp32P4 => esp32p4::Esp32P4,
}

impl Chip {
    /// The constants of this chip.
    pub fn spec(self) -> &'static ChipSpec {
        self.target().spec()
    }

    /// The chip whose magic register value is `magic` (ESP8266, ESP32, ESP32-S2 only).
    pub fn from_magic(magic: u32) -> Option<Chip> {
        Chip::ALL.into_iter().find(|c| c.spec().magic == Some(magic))
    }

    /// The chip with this GET_SECURITY_INFO chip id (S3, C3 and every later chip).
    pub fn from_chip_id(id: u32) -> Option<Chip> {
        Chip::ALL.into_iter().find(|c| c.spec().detect_by_chip_id && c.spec().image_chip_id == Some(id))
    }

    /// Lower-case name without dashes, as used in stub file names (`esp32s3`).
    pub fn file_name(self) -> &'static str {
        self.spec().stub_name
    }

    /// Whether a USB port with this vendor:product id is a chip's own USB-Serial/JTAG.
    pub fn is_usb_serial_jtag(id: UsbId) -> bool {
        Chip::ALL.into_iter().any(|c| c.spec().usb_serial_jtag == Some(id))
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name)
    }
}

/// A chip name that is none of [`Chip::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chip '{given}' (expected one of {})", known_names())]
pub struct UnknownChipName {
    pub given: String,
}

/// "esp8266, esp32, …" from the chip list.
fn known_names() -> String {
    Chip::ALL.map(Chip::file_name).join(", ")
}

impl From<UnknownChipName> for String {
    fn from(e: UnknownChipName) -> String {
        e.to_string()
    }
}

impl FromStr for Chip {
    type Err = UnknownChipName;
    /// Accepts the display name and the file name, in any case, with or without `-`/`_`.
    fn from_str(s: &str) -> Result<Self, UnknownChipName> {
        let norm: String = s.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
        Chip::ALL
            .into_iter()
            .find(|c| c.spec().stub_name == norm)
            .ok_or_else(|| UnknownChipName { given: s.to_string() })
    }
}
