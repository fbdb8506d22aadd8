//! The real source: the udev monitor on subsystem `tty`.
//!
//! libudev objects are not thread-safe (`udev::MonitorSocket` is not `Send`), so the
//! monitor lives on its own thread with a small current-thread tokio runtime that waits on
//! the netlink socket through `AsyncFd`. Events cross to the daemon's runtime over the
//! channel, which is `Send`.

use std::path::Path;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::location::is_kernel_usb_name;
use super::{DeviceError, DeviceInfo, DeviceSource, SourceEvent};

const SUBSYSTEM: &str = "tty";

/// Watches udev for serial ports coming and going.
#[derive(Debug, Default)]
pub struct UdevSource {
    _private: (),
}

impl UdevSource {
    pub fn new() -> UdevSource {
        UdevSource::default()
    }
}

impl DeviceSource for UdevSource {
    fn name(&self) -> &'static str {
        "udev"
    }

    fn spawn(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> JoinHandle<Result<(), DeviceError>> {
        let (done_tx, done_rx) = oneshot::channel();
        let thread = std::thread::Builder::new().name("udev-monitor".into()).spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
                Ok(rt) => rt.block_on(monitor(tx)),
                Err(e) => Err(DeviceError::Monitor(e)),
            };
            let _ = done_tx.send(result);
        });
        tokio::spawn(async move {
            thread.map_err(DeviceError::Monitor)?;
            done_rx.await.unwrap_or_else(|_| Err(DeviceError::Crashed("udev", "the monitor thread panicked".into())))
        })
    }
}

async fn monitor(tx: mpsc::Sender<SourceEvent>) -> Result<(), DeviceError> {
    let socket = udev::MonitorBuilder::new()
        .and_then(|b| b.match_subsystem(SUBSYSTEM))
        .and_then(|b| b.listen())
        .map_err(DeviceError::Monitor)?;

    // Scan only now that the monitor is listening: a board plugged in meanwhile is then
    // reported twice (scan and event) instead of never, and the gate drops the repeat.
    for info in scan().map_err(DeviceError::Enumerate)? {
        if tx.send(SourceEvent::Added(info)).await.is_err() {
            return Ok(());
        }
    }
    if tx.send(SourceEvent::Ready { source: "udev" }).await.is_err() {
        return Ok(());
    }

    // SAFETY: the monitor socket owns its netlink fd, keeps it open until it is dropped and
    // always returns the same fd; the AsyncFd owns the socket, so the fd outlives the
    // registration.
    let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|e| DeviceError::Monitor(e.into_parts().1))?;
    loop {
        let mut guard = tokio::select! {
            _ = tx.closed() => return Ok(()),
            ready = fd.readable() => ready.map_err(DeviceError::Monitor)?,
        };
        // The socket is non-blocking: iterate until it is drained, then wait again.
        let events: Vec<SourceEvent> = guard.get_inner().iter().filter_map(|ev| source_event(&ev)).collect();
        guard.clear_ready();
        for ev in events {
            if tx.send(ev).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// USB serial ports present now.
pub fn scan() -> std::io::Result<Vec<DeviceInfo>> {
    let mut en = udev::Enumerator::new()?;
    en.match_subsystem(SUBSYSTEM)?;
    // With udevd running, a device it has not processed yet lacks ID_PATH and friends; its
    // "add" event is on its way to the monitor, so wait for that one.
    let udevd = Path::new("/run/udev/control").exists();
    Ok(en
        .scan_devices()?
        .filter(|d| !(udevd && !d.is_initialized() && d.property_value("ID_VENDOR_ID").is_none()))
        .filter_map(|d| device_info(&d))
        .collect())
}

fn source_event(ev: &udev::Event) -> Option<SourceEvent> {
    match ev.event_type() {
        udev::EventType::Add => device_info(&ev.device()).map(SourceEvent::Added),
        udev::EventType::Remove => Some(SourceEvent::Removed {
            syspath: ev.syspath().to_path_buf(),
            devnode: ev.devnode().map(Path::to_path_buf),
        }),
        // change/bind/unbind do not make a port appear or disappear.
        _ => None,
    }
}

/// What the dispatcher needs to know about a tty, or `None` if it is not on USB.
///
/// udev's properties (ID_VENDOR_ID, ID_PATH…) come first; when udevd did not process the
/// device (containers, or an event racing the rules) the USB parent's sysfs attributes
/// stand in, and the topology comes from the sysfs path itself.
pub(crate) fn device_info(dev: &udev::Device) -> Option<DeviceInfo> {
    let devnode = dev.devnode()?.to_path_buf();
    let usb = dev.parent_with_subsystem_devtype("usb", "usb_device").ok().flatten();
    let usb_if = dev.parent_with_subsystem_devtype("usb", "usb_interface").ok().flatten();
    let prop = |key: &str| text(dev.property_value(key));
    let attr = |key: &str| usb.as_ref().and_then(|u| text(u.attribute_value(key)));

    let vid = prop("ID_VENDOR_ID").or_else(|| attr("idVendor")).and_then(|s| hex16(&s))?;
    let pid = prop("ID_MODEL_ID").or_else(|| attr("idProduct")).and_then(|s| hex16(&s))?;
    let syspath = dev.syspath().to_path_buf();
    let (usb_interface, usb_port) = topology(&syspath);
    let id_path = prop("ID_PATH");
    let usb_path = id_path
        .clone()
        .or_else(|| usb_interface.clone())
        .or_else(|| usb_port.clone())
        .unwrap_or_else(|| syspath.display().to_string());
    Some(DeviceInfo {
        devnode,
        syspath,
        usb_path,
        id_path,
        usb_interface,
        usb_port,
        vid,
        pid,
        serial: prop("ID_SERIAL_SHORT").or_else(|| prop("ID_USB_SERIAL_SHORT")).or_else(|| attr("serial")),
        driver: prop("ID_USB_DRIVER").or_else(|| usb_if.as_ref().and_then(|i| text(i.driver()))),
        vendor: prop("ID_VENDOR_FROM_DATABASE").or_else(|| prop("ID_VENDOR")).or_else(|| attr("manufacturer")),
        model: prop("ID_MODEL_FROM_DATABASE").or_else(|| prop("ID_MODEL")).or_else(|| attr("product")),
    })
}

/// The innermost USB interface (`1-2.3:1.0`) and port (`1-2.3`) in a sysfs path.
pub(crate) fn topology(syspath: &Path) -> (Option<String>, Option<String>) {
    let names: Vec<&str> = syspath.iter().filter_map(|c| c.to_str()).filter(|c| is_kernel_usb_name(c)).collect();
    let interface = names.iter().rev().find(|n| n.contains(':')).map(|s| s.to_string());
    let port = names.iter().rev().find(|n| !n.contains(':')).map(|s| s.to_string());
    (interface, port)
}

fn text(v: Option<&std::ffi::OsStr>) -> Option<String> {
    v.and_then(|s| s.to_str()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn hex16(s: &str) -> Option<u16> {
    u16::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn topology_from_syspath() {
        let p = PathBuf::from("/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3/1-2.3:1.0/ttyUSB0/tty/ttyUSB0");
        assert_eq!(topology(&p), (Some("1-2.3:1.0".into()), Some("1-2.3".into())));
        let acm = PathBuf::from("/sys/devices/pci0000:00/0000:00:14.0/usb3/3-1/3-1:1.0/tty/ttyACM0");
        assert_eq!(topology(&acm), (Some("3-1:1.0".into()), Some("3-1".into())));
        assert_eq!(topology(Path::new("/sys/devices/platform/serial8250/tty/ttyS0")), (None, None));
    }
}
