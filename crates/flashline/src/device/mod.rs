//! Where boards come from.
//!
//! A [`DeviceSource`] produces raw [`SourceEvent`]s: the real one watches udev
//! ([`UdevSource`]), the simulated one is fed by the demo or by tests
//! ([`SimulatedSource`]). [`start`] runs any number of sources into one stream, through
//! the same [`Gate`] (VID:PID filter and dedupe), so the dispatcher sees identical
//! [`DeviceEvent`]s whichever source a board came from.

mod gate;
mod location;
mod pipeline;
mod simulated;
mod udev;
mod vidpid;

use std::path::PathBuf;

pub use gate::Gate;
pub use location::{interface_port, UsbLocation};
pub use pipeline::{start, DeviceSource, DeviceStream, EVENT_BUFFER};
pub use simulated::{SimulatedDevices, SimulatedSource};
pub use udev::{scan as scan_ports, UdevSource};
pub use vidpid::{DeviceFilter, VidPid, DEFAULT_ADAPTERS, ESPRESSIF_USB_JTAG_SERIAL};

use crate::exit::Exit;

/// A serial port that belongs to a USB adapter, as seen when it appeared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    /// The port to open (`/dev/ttyUSB0`).
    pub devnode: PathBuf,
    /// The tty's sysfs path; stable for as long as the adapter stays plugged.
    pub syspath: PathBuf,
    /// Slot identity: udev's `ID_PATH` if it has one, else the kernel USB interface name
    /// (`1-2.3:1.0`). Fixed per hub port, whatever the adapter's serial number.
    pub usb_path: String,
    /// udev `ID_PATH` (`pci-0000:00:14.0-usb-0:2.3:1.0`).
    pub id_path: Option<String>,
    /// Kernel USB interface name (`1-2.3:1.0`).
    pub usb_interface: Option<String>,
    /// Kernel USB port name (`1-2.3`).
    pub usb_port: Option<String>,
    #[serde(serialize_with = "hex4")]
    pub vid: u16,
    #[serde(serialize_with = "hex4")]
    pub pid: u16,
    /// The adapter's serial number; CH340s have none.
    pub serial: Option<String>,
    /// Kernel driver (`cp210x`, `ch341`, `cdc_acm`).
    pub driver: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
}

impl DeviceInfo {
    pub fn vid_pid(&self) -> VidPid {
        VidPid::new(self.vid, self.pid)
    }

    /// A simulated board `k` (as the demo creates them) whose port is `devnode`, for
    /// [`SimulatedDevices::plug`]: a CP2102 on simulated hub port `k`.
    pub fn simulated(k: u32, devnode: PathBuf) -> DeviceInfo {
        let port = format!("0-{k}");
        DeviceInfo {
            devnode,
            syspath: PathBuf::from(format!("/sys/devices/virtual/flashline-sim/board{k}")),
            usb_path: format!("sim-usb-0:{k}:1.0"),
            id_path: Some(format!("sim-usb-0:{k}:1.0")),
            usb_interface: Some(format!("{port}:1.0")),
            usb_port: Some(port),
            vid: 0x10c4,
            pid: 0xea60,
            serial: Some(format!("SIM{k:04}")),
            driver: Some("espsim".into()),
            vendor: Some("flashline".into()),
            model: Some("simulated board".into()),
        }
    }

    /// A simulated board `k` on its chip's own USB-Serial/JTAG port at `devnode`: 303a:1001
    /// with the CDC-ACM driver, its MAC as the USB serial number (as the chip reports it).
    pub fn simulated_usb_jtag(k: u32, devnode: PathBuf, mac: impl std::fmt::Display) -> DeviceInfo {
        DeviceInfo {
            vid: ESPRESSIF_USB_JTAG_SERIAL.vid,
            pid: ESPRESSIF_USB_JTAG_SERIAL.pid,
            serial: Some(mac.to_string()),
            driver: Some("cdc_acm".into()),
            ..DeviceInfo::simulated(k, devnode)
        }
    }
}

/// USB ids are read in hex everywhere (lsusb, udev, the config), so logs print them so.
fn hex4<S: serde::Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:04x}"))
}

/// What a source reports, before filtering and dedupe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// A USB serial port appeared (or was found at start-up).
    Added(DeviceInfo),
    /// A tty disappeared. Sources cannot always tell its VID:PID any more.
    Removed { syspath: PathBuf, devnode: Option<PathBuf> },
    /// The source has reported every device that was present when it started.
    Ready { source: &'static str },
}

/// What the dispatcher receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A board's port appeared: flash it. Never sent twice for the same device without a
    /// `Removed` between.
    Added(DeviceInfo),
    /// A board that was `Added` went away: cancel its job. Carries the info it was added
    /// with, so the slot is known.
    Removed(DeviceInfo),
    /// `source` has reported all devices present at its start.
    Ready { source: &'static str },
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "cannot watch udev for serial ports: {0} (flashline needs a netlink socket: under systemd, \
         RestrictAddressFamilies must include AF_NETLINK)"
    )]
    Monitor(#[source] std::io::Error),
    #[error("cannot list the serial ports present at start-up: {0}")]
    Enumerate(#[source] std::io::Error),
    #[error("device source {0} stopped unexpectedly: {1}")]
    Crashed(&'static str, String),
}

impl DeviceError {
    pub fn exit_code(&self) -> Exit {
        Exit::Devices
    }
}
