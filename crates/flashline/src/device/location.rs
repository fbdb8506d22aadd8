//! Where on the USB tree a board sits: the identity of a slot on the line.
//!
//! A board is identified by the hub port it is plugged into, never by its adapter's serial
//! number: CH340 adapters have none, and the operator thinks in "hub 1, port 3". Three
//! spellings of a port are accepted in `[slots]`, as an operator finds them:
//! - udev's `ID_PATH`, e.g. `pci-0000:00:14.0-usb-0:2.3:1.0` (`udevadm info /dev/ttyUSB0`);
//!   also the `/dev/serial/by-path/…-port0` link name, whose suffix is dropped;
//! - the kernel's USB interface or port name, `1-2.3:1.0` or `1-2.3` (`dmesg`, `lsusb -t`);
//! - a sysfs devpath, `/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3/1-2.3:1.0/ttyUSB0/tty/ttyUSB0`,
//!   reduced to the last USB interface or port in it.

use std::fmt;
use std::str::FromStr;

use super::DeviceInfo;

/// A USB location as written in the config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UsbLocation {
    /// udev `ID_PATH`.
    IdPath(String),
    /// Kernel USB interface name: bus-ports:config.interface (`1-2.3:1.0`).
    Interface(String),
    /// Kernel USB port name: bus-ports (`1-2.3`); matches every interface on that port.
    Port(String),
}

impl UsbLocation {
    /// Whether a device plugged in at `info`'s place is at this location.
    pub fn matches(&self, info: &DeviceInfo) -> bool {
        match self {
            UsbLocation::IdPath(p) => info.id_path.as_deref() == Some(p.as_str()),
            UsbLocation::Interface(i) => info.usb_interface.as_deref() == Some(i.as_str()),
            UsbLocation::Port(p) => info.usb_port.as_deref() == Some(p.as_str()),
        }
    }

    /// Whether two locations could name the same device (same text, or a port and one of
    /// its interfaces). ID_PATHs and kernel names cannot be compared without the device.
    pub fn overlaps(&self, other: &UsbLocation) -> bool {
        use UsbLocation::*;
        match (self, other) {
            (Port(p), Interface(i)) | (Interface(i), Port(p)) => interface_port(i) == Some(p.as_str()),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for UsbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsbLocation::IdPath(s) | UsbLocation::Interface(s) | UsbLocation::Port(s) => f.write_str(s),
        }
    }
}

impl FromStr for UsbLocation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty USB location".into());
        }
        if t.chars().any(char::is_whitespace) {
            return Err(format!("'{s}' is not a USB location: it contains white space"));
        }
        if let Some(devpath) = t
            .strip_prefix("/sys")
            .filter(|d| d.starts_with("/devices/"))
            .or_else(|| t.starts_with("/devices/").then_some(t))
        {
            return devpath.split('/').rev().find_map(kernel_name).ok_or_else(|| {
                format!("devpath '{s}' contains no USB port (like 1-2.3) or interface (like 1-2.3:1.0)")
            });
        }
        if let Some(loc) = kernel_name(t) {
            return Ok(loc);
        }
        let name = t.strip_prefix("/dev/serial/by-path/").unwrap_or(t);
        if name.contains('/') {
            return Err(format!(
                "'{s}' is not a USB location: use udev's ID_PATH (pci-…-usb-0:2.3:1.0), a port (1-2.3) or a devpath (/devices/…)"
            ));
        }
        // The by-path link is ID_PATH plus "-portN" (the adapter's UART number).
        let id_path = match name.rsplit_once("-port") {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
            _ => name,
        };
        Ok(UsbLocation::IdPath(id_path.to_string()))
    }
}

/// `1-2.3` → Port, `1-2.3:1.0` → Interface, anything else → None.
fn kernel_name(s: &str) -> Option<UsbLocation> {
    match s.split_once(':') {
        None => is_port(s).then(|| UsbLocation::Port(s.to_string())),
        Some((port, cfg_if)) => {
            let ok = is_port(port) && is_dotted_pair(cfg_if);
            ok.then(|| UsbLocation::Interface(s.to_string()))
        }
    }
}

/// bus-port[.port…]: `1-2`, `3-1.4.2`.
fn is_port(s: &str) -> bool {
    let Some((bus, ports)) = s.split_once('-') else { return false };
    all_digits(bus) && !ports.is_empty() && ports.split('.').all(all_digits)
}

fn is_dotted_pair(s: &str) -> bool {
    matches!(s.split_once('.'), Some((a, b)) if all_digits(a) && all_digits(b))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The port part of an interface name (`1-2.3:1.0` → `1-2.3`).
pub fn interface_port(interface: &str) -> Option<&str> {
    interface.split_once(':').map(|(p, _)| p)
}

/// Whether a sysfs name is a USB port or interface (used when walking up a devpath).
pub(crate) fn is_kernel_usb_name(s: &str) -> bool {
    kernel_name(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use UsbLocation::*;

    #[test]
    fn spellings() {
        let id = |s: &str| s.parse::<UsbLocation>().unwrap();
        assert_eq!(id("pci-0000:00:14.0-usb-0:2.3:1.0"), IdPath("pci-0000:00:14.0-usb-0:2.3:1.0".into()));
        assert_eq!(
            id("/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"),
            IdPath("pci-0000:00:14.0-usb-0:2:1.0".into())
        );
        assert_eq!(id("1-2.3"), Port("1-2.3".into()));
        assert_eq!(id("1-2.3:1.0"), Interface("1-2.3:1.0".into()));
        assert_eq!(
            id("/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3/1-2.3:1.0/ttyUSB0/tty/ttyUSB0"),
            Interface("1-2.3:1.0".into())
        );
        assert_eq!(id("/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3"), Port("1-2.3".into()));
        assert!("/devices/pci0000:00/0000:00:14.0".parse::<UsbLocation>().is_err());
        assert!("".parse::<UsbLocation>().is_err());
        assert!("a b".parse::<UsbLocation>().is_err());
        assert!("/dev/ttyUSB0".parse::<UsbLocation>().is_err(), "a devnode is not a location");
        assert!(Port("1-2".into()).overlaps(&Interface("1-2:1.0".into())));
        assert!(!Port("1-2".into()).overlaps(&Interface("1-2.1:1.0".into())));
        assert!(!Port("1-2".into()).overlaps(&Port("1-2.1".into())));
    }
}
