//! `[slots]`: operator-facing names for hub ports.
//!
//! ```toml
//! [slots]
//! A1 = "pci-0000:00:14.0-usb-0:2.1:1.0"
//! A2 = "1-2.2"
//! ```
//!
//! Names are keys, so TOML itself refuses a name used twice; a USB location used twice
//! (or a port and one of its interfaces) is refused here, and so is a value that is not
//! one of the accepted spellings (see [`super::slot_location`]) or not a string at all.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{slot_location, ConfigError, Ctx};
use crate::device::{DeviceInfo, UsbLocation};

/// A named hub port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub location: UsbLocation,
}

/// All named hub ports, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slots {
    slots: Vec<Slot>,
}

/// Longest slot name: it has to fit a column of the live view.
pub const MAX_SLOT_NAME: usize = 16;

impl Slots {
    pub fn new(slots: Vec<Slot>) -> Slots {
        Slots { slots }
    }

    /// The slot a device is plugged into. A dual-UART adapter (CP2105, FT2232) needs one
    /// slot per interface (`1-2.2:1.0`, `1-2.2:1.1`); a port and one of its interfaces
    /// cannot both be named, so at most one kernel-name slot matches.
    pub fn find(&self, device: &DeviceInfo) -> Option<&Slot> {
        self.slots.iter().find(|s| s.location.matches(device))
    }

    /// The slot name for a device, if `[slots]` names its port.
    pub fn name_for(&self, device: &DeviceInfo) -> Option<&str> {
        self.find(device).map(|s| s.name.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(super) fn validate(
        raw: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
        ctx: &Ctx,
    ) -> Result<Slots, ConfigError> {
        let mut entries: Vec<(Spanned<String>, Spanned<toml::Value>)> = raw.into_iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut slots: Vec<Slot> = Vec::with_capacity(entries.len());
        for (name, path) in entries {
            let key = format!("[slots] {}", name.get_ref());
            let n = name.get_ref();
            if n.is_empty()
                || n.chars().count() > MAX_SLOT_NAME
                || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return ctx.err(
                    name.span(),
                    &key,
                    format!("slot name '{n}' must be 1 to {MAX_SLOT_NAME} letters, digits, '-' or '_'"),
                );
            }
            let Some(text) = path.get_ref().as_str() else {
                return ctx.err(
                    path.span(),
                    &key,
                    format!(
                        "expected a string (a USB location in quotes, like \"1-2.3\"), found {} {}",
                        path.get_ref().type_str(),
                        path.get_ref()
                    ),
                );
            };
            let location: UsbLocation = match slot_location::parse(text) {
                Ok(l) => l,
                Err(e) => return ctx.err(path.span(), &key, e),
            };
            if let Some(other) = slots.iter().find(|s| s.location.overlaps(&location)) {
                let how = if other.location == location { "already used by" } else { "overlapping the one of" };
                // The message carries the key itself, in the words an operator reads it.
                return ctx.err(
                    path.span(),
                    "",
                    format!("[slots] '{n}' maps to usb path '{text}' {how} '{}'", other.name),
                );
            }
            slots.push(Slot { name: n.clone(), location });
        }
        Ok(Slots { slots })
    }
}
