//! Finding a board's port again without a station: a one-off command (`flashline flash`,
//! `read`, `erase`, `capture`, `info`) has no device source telling it where a board on
//! its own USB-Serial/JTAG port came back after a reset, so it looks for itself.
//!
//! A board keeps its place on the bus across a reset (same hub port, same interface), but
//! not its device node: while the old `/dev/ttyACMn` is still held open the new one gets
//! the next number. So the place is noted before the reset, and the board is back when a
//! serial port appears at that place that is not the old device (a new sysfs node, even if
//! it has the old name). esptool does the same by waiting for a port at the same USB
//! location after its USB reset; espflash matches the port's USB identity.
//!
//! [`PortFinder`] is the seam: [`SysfsPorts`] reads `/sys/class/tty`; the simulated ports
//! answer for in-process boards, so the one-off commands are tested without hardware.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A serial port found at a board's place on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPort {
    pub devnode: PathBuf,
    /// Tells two devices with the same node name apart (a re-enumerated board may get the
    /// old name back): the sysfs node's inode and creation time, a simulated board's
    /// enumeration count.
    pub instance: u64,
}

/// Where serial ports sit on the bus.
pub trait PortFinder: Send + Sync + std::fmt::Debug {
    /// The place (USB port and interface) of the device behind `devnode`, when it is a USB
    /// device this finder can follow; `None` for a PTY or a port without sysfs entry.
    fn place(&self, devnode: &Path) -> Option<String>;

    /// The serial ports at `place` now.
    fn ports_at(&self, place: &str) -> Vec<FoundPort>;
}

/// The host's serial ports, from sysfs: a tty's place is the canonical path of its
/// `device` link (the USB interface, e.g. `/sys/devices/…/usb1/1-4/1-4:1.0`).
#[derive(Debug, Clone)]
pub struct SysfsPorts {
    tty_class: PathBuf,
    dev: PathBuf,
}

impl Default for SysfsPorts {
    fn default() -> SysfsPorts {
        SysfsPorts::at(Path::new("/sys/class/tty"), Path::new("/dev"))
    }
}

impl SysfsPorts {
    /// A finder over another tree (tests build a fake sysfs).
    pub fn at(tty_class: &Path, dev: &Path) -> SysfsPorts {
        SysfsPorts { tty_class: tty_class.to_path_buf(), dev: dev.to_path_buf() }
    }

    fn interface_of(&self, name: &std::ffi::OsStr) -> Option<PathBuf> {
        std::fs::canonicalize(self.tty_class.join(name).join("device")).ok()
    }
}

impl PortFinder for SysfsPorts {
    fn place(&self, devnode: &Path) -> Option<String> {
        // `/dev/serial/by-id/…` links name the tty they point at.
        let node = std::fs::canonicalize(devnode).unwrap_or_else(|_| devnode.to_path_buf());
        let iface = self.interface_of(node.file_name()?)?;
        // Only USB devices have a place that survives a reset (an interface directory
        // below a USB device that has a vendor id).
        iface.parent()?.join("idVendor").exists().then(|| iface.display().to_string())
    }

    fn ports_at(&self, place: &str) -> Vec<FoundPort> {
        let Ok(entries) = std::fs::read_dir(&self.tty_class) else { return Vec::new() };
        let mut found: Vec<FoundPort> = entries
            .flatten()
            .filter(|e| self.interface_of(&e.file_name()).is_some_and(|i| i.as_os_str() == place))
            .filter_map(|e| {
                let m = std::fs::symlink_metadata(e.path()).ok()?;
                let instance = m.ino() ^ (m.ctime() as u64).rotate_left(32) ^ (m.ctime_nsec() as u64).rotate_left(13);
                Some(FoundPort { devnode: self.dev.join(e.file_name()), instance })
            })
            .collect();
        found.sort_by(|a, b| a.devnode.cmp(&b.devnode));
        found
    }
}

/// The port that is the board back after its reset: one at its place that is not the
/// device it left (`gone`).
pub fn came_back<'a>(now: &'a [FoundPort], gone: &FoundPort) -> Option<&'a FoundPort> {
    now.iter().find(|p| *p != gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs with a USB device at `1-4` whose interface 1.0 carries `tty`.
    struct Tree {
        root: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Tree {
            let root = tempfile::tempdir().unwrap();
            for d in ["class/tty", "dev", "devices/usb1/1-4", "devices/usb1/1-5"] {
                std::fs::create_dir_all(root.path().join(d)).unwrap();
            }
            std::fs::write(root.path().join("devices/usb1/1-4/idVendor"), "303a\n").unwrap();
            std::fs::write(root.path().join("devices/usb1/1-5/idVendor"), "10c4\n").unwrap();
            Tree { root }
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.root.path().join(rel)
        }
        fn finder(&self) -> SysfsPorts {
            SysfsPorts::at(&self.p("class/tty"), &self.p("dev"))
        }
        /// Enumerates `tty` at `usb` (e.g. "1-4"): interface dir, class link, dev node.
        fn plug(&self, tty: &str, usb: &str) {
            let iface = self.p(&format!("devices/usb1/{usb}/{usb}:1.0"));
            std::fs::create_dir_all(iface.join("tty").join(tty)).unwrap();
            std::fs::create_dir_all(self.p("class/tty").join(tty)).unwrap();
            std::os::unix::fs::symlink(&iface, self.p("class/tty").join(tty).join("device")).unwrap();
            std::fs::write(self.p("dev").join(tty), "").unwrap();
        }
        fn unplug(&self, tty: &str) {
            std::fs::remove_dir_all(self.p("class/tty").join(tty)).unwrap();
            let _ = std::fs::remove_file(self.p("dev").join(tty));
        }
    }

    #[test]
    fn a_board_is_found_again_at_its_place_under_a_new_or_its_old_name() {
        let t = Tree::new();
        let f = t.finder();
        t.plug("ttyACM0", "1-4");
        t.plug("ttyUSB0", "1-5");
        t.plug("ttyS0", "none");
        let place = f.place(&t.p("dev/ttyACM0")).expect("a USB device has a place");
        assert!(place.ends_with("1-4/1-4:1.0"), "{place}");
        let before = f.ports_at(&place);
        assert_eq!(before.len(), 1);
        let old = before[0].clone();
        assert_eq!(old.devnode, t.p("dev/ttyACM0"));
        // Still the old device (the reset has not taken it off the bus yet): not back.
        assert_eq!(came_back(&f.ports_at(&place), &old), None);
        // Gone, then back on the next number (the old node still held open).
        t.unplug("ttyACM0");
        assert_eq!(came_back(&f.ports_at(&place), &old), None);
        t.plug("ttyACM1", "1-4");
        assert_eq!(came_back(&f.ports_at(&place), &old).map(|p| p.devnode.clone()), Some(t.p("dev/ttyACM1")));
        // Back under the old name: a new sysfs node, so a new instance.
        t.unplug("ttyACM1");
        t.plug("ttyACM0", "1-4");
        let back = f.ports_at(&place);
        assert_eq!(back[0].devnode, old.devnode);
        assert_ne!(back[0].instance, old.instance, "a new device, not the one the reset took away");
        assert!(came_back(&back, &old).is_some());
    }

    #[test]
    fn ports_without_a_usb_place_are_not_followed() {
        let t = Tree::new();
        t.plug("ttyS0", "none");
        let f = t.finder();
        assert_eq!(f.place(&t.p("dev/ttyS0")), None, "not below a USB device");
        assert_eq!(f.place(&t.p("dev/pts-5")), None, "no sysfs entry (a PTY)");
        assert!(f.ports_at("/nowhere").is_empty());
    }
}
