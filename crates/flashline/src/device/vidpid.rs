//! USB vendor/product ids and the filter that decides which serial adapters are boards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A USB vendor and product id, written `10c4:ea60`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VidPid {
    pub vid: u16,
    pub pid: u16,
}

impl VidPid {
    pub const fn new(vid: u16, pid: u16) -> VidPid {
        VidPid { vid, pid }
    }
}

impl fmt::Display for VidPid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vid, self.pid)
    }
}

impl FromStr for VidPid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("'{s}' is not a USB id: expected VID:PID in hex, like 10c4:ea60 (see lsusb)");
        let (v, p) = s.trim().split_once(':').ok_or_else(err)?;
        let hex16 = |t: &str| {
            let t = t.strip_prefix("0x").unwrap_or(t);
            if t.is_empty() || t.len() > 4 {
                return Err(err());
            }
            u16::from_str_radix(t, 16).map_err(|_| err())
        };
        Ok(VidPid { vid: hex16(v)?, pid: hex16(p)? })
    }
}

impl<'de> Deserialize<'de> for VidPid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for VidPid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// The USB-UART bridges found on ESP32/ESP8266 boards, and the chips' own USB port.
pub const DEFAULT_ADAPTERS: &[(VidPid, &str)] = &[
    (VidPid::new(0x10c4, 0xea60), "Silicon Labs CP210x"),
    (VidPid::new(0x10c4, 0xea70), "Silicon Labs CP2105"),
    (VidPid::new(0x10c4, 0xea71), "Silicon Labs CP2108"),
    (VidPid::new(0x1a86, 0x7523), "WCH CH340"),
    (VidPid::new(0x1a86, 0x55d3), "WCH CH343"),
    (VidPid::new(0x1a86, 0x55d4), "WCH CH9102"),
    (VidPid::new(0x0403, 0x6001), "FTDI FT232R"),
    (VidPid::new(0x0403, 0x6010), "FTDI FT2232"),
    (VidPid::new(0x0403, 0x6011), "FTDI FT4232"),
    (VidPid::new(0x0403, 0x6014), "FTDI FT232H"),
    (VidPid::new(0x0403, 0x6015), "FTDI FT-X"),
    (VidPid::new(0x303a, 0x1001), "Espressif USB-JTAG-Serial"),
];

/// Espressif's built-in USB-Serial/JTAG, which needs its own reset sequence.
pub const ESPRESSIF_USB_JTAG_SERIAL: VidPid = VidPid::new(0x303a, 0x1001);

/// Which adapters are treated as boards. Everything else (a modem, a debug probe's UART,
/// the operator's barcode scanner) is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFilter {
    allow: Vec<VidPid>,
}

impl DeviceFilter {
    pub fn new(allow: impl IntoIterator<Item = VidPid>) -> DeviceFilter {
        let mut allow: Vec<VidPid> = allow.into_iter().collect();
        allow.sort();
        allow.dedup();
        DeviceFilter { allow }
    }

    /// Accepts every adapter.
    pub fn any() -> DeviceFilter {
        DeviceFilter { allow: Vec::new() }
    }

    pub fn allows(&self, id: VidPid) -> bool {
        self.allow.is_empty() || self.allow.binary_search(&id).is_ok()
    }

    pub fn allowed(&self) -> &[VidPid] {
        &self.allow
    }
}

impl Default for DeviceFilter {
    fn default() -> Self {
        DeviceFilter::new(DEFAULT_ADAPTERS.iter().map(|(id, _)| *id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_print_filter() {
        let id: VidPid = "10C4:EA60".parse().unwrap();
        assert_eq!(id, VidPid::new(0x10c4, 0xea60));
        assert_eq!(id.to_string(), "10c4:ea60");
        assert_eq!("0x1a86:0x7523".parse::<VidPid>().unwrap(), VidPid::new(0x1a86, 0x7523));
        for bad in ["10c4", "10c4:", "10c4:ea600", "zzzz:0001", ":0001"] {
            assert!(bad.parse::<VidPid>().is_err(), "{bad}");
        }
        let f = DeviceFilter::default();
        assert!(f.allows(VidPid::new(0x1a86, 0x7523)));
        assert!(f.allows(ESPRESSIF_USB_JTAG_SERIAL));
        assert!(!f.allows(VidPid::new(0x067b, 0x2303)), "Prolific PL2303 is not a default adapter");
        assert_eq!(f.allowed().len(), 12);
        assert!(DeviceFilter::any().allows(VidPid::new(0x067b, 0x2303)));
    }
}
