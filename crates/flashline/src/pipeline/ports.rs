//! Where a board's link comes from: the station and the one-off commands open ports
//! through a [`PortOpener`], so the same pipeline runs over a real serial port
//! ([`SerialPorts`]) or an in-memory simulated board (the `sim` feature's
//! `SimulatedPorts`), the way probe-rs injects its probe lister.
//!
//! The opener is async: a board on a native USB port can be re-enumerating when its job
//! asks for it, and an opener may wait for it to come back.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use flashline_session::{SerialTransport, Transport};

use crate::exit::Exit;

/// A link to one board, whatever is behind it.
pub type BoxTransport = Box<dyn Transport + Sync>;

/// What to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    /// The port (`/dev/ttyUSB0`; a simulated board's name in tests).
    pub devnode: PathBuf,
    /// Host baud rate to open it at (the ROM's sync rate).
    pub baud: u32,
    /// The port's USB vendor and product id when known (from udev): 303a:1001, the chip's
    /// own USB-Serial/JTAG, selects the USB reset.
    pub usb_ids: Option<(u16, u16)>,
}

/// Why a port could not be opened, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{port}: {reason}")]
pub struct OpenError {
    pub port: String,
    pub reason: String,
}

impl OpenError {
    pub fn new(port: &Path, reason: impl Into<String>) -> OpenError {
        OpenError { port: port.display().to_string(), reason: reason.into() }
    }

    /// The documented exit code of a port that cannot be opened.
    pub fn exit(&self) -> Exit {
        Exit::Port
    }
}

/// The future an opener returns.
pub type OpenFuture<'a> = Pin<Box<dyn Future<Output = Result<BoxTransport, OpenError>> + Send + 'a>>;

/// Opens the link to a board.
pub trait PortOpener: Send + Sync + std::fmt::Debug {
    fn open<'a>(&'a self, req: &'a OpenRequest) -> OpenFuture<'a>;
}

/// Real serial ports through tokio-serial (USB-UART bridges, USB CDC-ACM, PTYs).
#[derive(Debug, Default, Clone, Copy)]
pub struct SerialPorts;

impl PortOpener for SerialPorts {
    fn open<'a>(&'a self, req: &'a OpenRequest) -> OpenFuture<'a> {
        Box::pin(async move {
            let port = open_serial(&req.devnode, req.baud)?;
            // Without udev's word (a one-off command), sysfs tells.
            let ids = req.usb_ids.or_else(|| usb_ids_in(Path::new("/sys/class/tty"), &req.devnode));
            Ok(match ids {
                Some((vid, pid)) => Box::new(port.with_usb_ids(vid, pid)) as BoxTransport,
                None => Box::new(port) as BoxTransport,
            })
        })
    }
}

/// The USB VID:PID of the adapter behind a tty, from sysfs (`<class>/<name>/device` is the
/// USB interface; its parents carry `idVendor`/`idProduct`). `devnode` may be a symlink
/// (`/dev/serial/by-id/...`).
fn usb_ids_in(tty_class: &Path, devnode: &Path) -> Option<(u16, u16)> {
    let node = match std::fs::read_link(devnode) {
        Ok(target) => devnode.parent().map_or(target.clone(), |d| d.join(target)),
        Err(_) => devnode.to_path_buf(),
    };
    let mut dir = std::fs::canonicalize(tty_class.join(node.file_name()?).join("device")).ok()?;
    let hex = |p: PathBuf| std::fs::read_to_string(p).ok().and_then(|s| u16::from_str_radix(s.trim(), 16).ok());
    for _ in 0..4 {
        if let (Some(vid), Some(pid)) = (hex(dir.join("idVendor")), hex(dir.join("idProduct"))) {
            return Some((vid, pid));
        }
        if !dir.pop() {
            break;
        }
    }
    None
}

/// Opens a serial port, telling "no such port", "in use" and "no permission" apart.
pub fn open_serial(path: &Path, baud: u32) -> Result<SerialTransport, OpenError> {
    if !path.exists() {
        return Err(OpenError::new(path, format!("no such serial port; {}", present_ports())));
    }
    let name = path.display().to_string();
    SerialTransport::open(&name, baud).map_err(|e| OpenError::new(path, describe(&e)))
}

fn describe(e: &std::io::Error) -> String {
    let errno = e.raw_os_error();
    let text = e.to_string();
    if e.kind() == std::io::ErrorKind::PermissionDenied || errno == Some(nix::libc::EACCES) {
        "permission denied: add your user to the 'dialout' group (then log in again), \
         or install config/99-flashline.rules"
            .to_string()
    } else if errno == Some(nix::libc::EBUSY) || text.contains("busy") || text.contains("exclusive") {
        "the port is in use by another program (serial monitor, ModemManager, a running flashline daemon?)".to_string()
    } else if errno == Some(nix::libc::ENOTTY) || text.contains("Not a typewriter") {
        "this is not a serial port".to_string()
    } else if e.kind() == std::io::ErrorKind::NotFound {
        format!("no such serial port; {}", present_ports())
    } else {
        format!("cannot open the port: {e}")
    }
}

/// "serial ports present: /dev/ttyUSB0, /dev/ttyACM1" (what to try instead).
fn present_ports() -> String {
    let mut found: Vec<String> = std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("ttyUSB") || n.starts_with("ttyACM"))
                .map(|n| format!("/dev/{n}"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if found.is_empty() {
        "no USB serial ports are present: is the board plugged in (and its USB cable a data cable)?".into()
    } else {
        format!("serial ports present: {}", found.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_port_names_what_is_present() {
        let req = OpenRequest { devnode: "/dev/flashline-no-such-port".into(), baud: 115_200, usb_ids: None };
        let e = SerialPorts.open(&req).await.err().expect("no such port");
        assert_eq!(e.exit(), Exit::Port);
        assert!(e.to_string().starts_with("/dev/flashline-no-such-port: no such serial port"), "{e}");
    }

    /// A fake sysfs: ttyACM0's device is the USB interface, its parent the USB device.
    #[test]
    fn usb_ids_come_from_the_usb_device_above_the_tty() {
        let sys = tempfile::tempdir().unwrap();
        let usb = sys.path().join("devices/usb1/1-4");
        std::fs::create_dir_all(usb.join("1-4:1.0/tty/ttyACM0")).unwrap();
        std::fs::write(usb.join("idVendor"), "303a\n").unwrap();
        std::fs::write(usb.join("idProduct"), "1001\n").unwrap();
        let class = sys.path().join("class/tty");
        std::fs::create_dir_all(class.join("ttyACM0")).unwrap();
        std::os::unix::fs::symlink(usb.join("1-4:1.0"), class.join("ttyACM0/device")).unwrap();
        assert_eq!(usb_ids_in(&class, Path::new("/dev/ttyACM0")), Some((0x303a, 0x1001)));
        // Through a by-id link, relative as udev makes them.
        let by_id = sys.path().join("dev/serial/by-id");
        std::fs::create_dir_all(&by_id).unwrap();
        std::os::unix::fs::symlink("../../ttyACM0", by_id.join("usb-Espressif-if00")).unwrap();
        assert_eq!(usb_ids_in(&class, &by_id.join("usb-Espressif-if00")), Some((0x303a, 0x1001)));
        assert_eq!(usb_ids_in(&class, Path::new("/dev/ttyUSB9")), None);
    }

    #[tokio::test]
    async fn a_file_is_not_a_serial_port() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let req = OpenRequest { devnode: f.path().to_path_buf(), baud: 115_200, usb_ids: None };
        let e = SerialPorts.open(&req).await.err().expect("not a tty");
        assert!(e.reason.contains("not a serial port") || e.reason.contains("cannot open"), "{e}");
    }
}
