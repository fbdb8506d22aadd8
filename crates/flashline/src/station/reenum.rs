//! Whose is a remove/add of a USB serial device: a board re-enumerating at a reset its own
//! job (or its final reset) caused, or something else. Pure, so the dispatcher and the
//! udev system test decide the same way.
//!
//! A device event is a slot's board's own when it has the slot's USB path, or the USB
//! serial number of the slot's board, while a reset of that board is in its window
//! ([`crate::pipeline::REENUMERATION_WINDOW`]): a reset into download mode by the running
//! job (the job reopens the port and goes on), or the final reset into the application
//! (the board comes back running it, maybe as another USB device, and is not flashed
//! again). A device of the same VID:PID on that path with another serial number is
//! another board (swapped while the last one was off the bus). Everything else is an
//! unplug or a new board, as for any adapter.

use std::time::Instant;

use flashline_session::ResetInto;

use crate::device::DeviceInfo;

/// What a slot knows about its board for the decision.
#[derive(Debug, Clone, Copy)]
pub struct SlotBoard<'a> {
    /// The slot's USB path (its key).
    pub usb_path: &'a str,
    /// USB serial number of the slot's last board.
    pub serial: Option<&'a str>,
    /// USB VID:PID the slot's last board was added with.
    pub ids: Option<(u16, u16)>,
    /// A reset by the running job whose window is open.
    pub job_reset: Option<ResetInto>,
    /// The end of the window after the board's final reset (its job has ended).
    pub app_until: Option<Instant>,
}

/// The reset `dev` comes from, when the event is this slot's board's own.
pub fn own_reset(slot: &SlotBoard<'_>, dev: &DeviceInfo, now: Instant) -> Option<ResetInto> {
    let same_board = dev.usb_path == slot.usb_path || (dev.serial.is_some() && dev.serial.as_deref() == slot.serial);
    // Another board on the same path: the same kind of device (VID:PID) with another
    // serial number (a chip's own USB port reports its MAC) — the operator swapped boards
    // while the last one was off the bus. An application with another VID:PID (TinyUSB)
    // may report another serial and is still the board.
    let other_board = dev.serial.is_some()
        && slot.serial.is_some()
        && dev.serial.as_deref() != slot.serial
        && slot.ids == Some((dev.vid, dev.pid));
    if !same_board || other_board {
        return None;
    }
    slot.job_reset.or(slot.app_until.filter(|t| now < *t).map(|_| ResetInto::App))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn dev(path: &str, serial: Option<&str>) -> DeviceInfo {
        DeviceInfo {
            usb_path: path.into(),
            serial: serial.map(String::from),
            vid: 0x303a,
            pid: 0x1001,
            ..DeviceInfo::simulated(0, "/dev/ttyACM0".into())
        }
    }

    #[test]
    fn decisions() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        let ids = Some((0x303a, 0x1001));
        let slot = |job_reset, app_until| SlotBoard { usb_path: "p1", serial: Some("S1"), ids, job_reset, app_until };
        let d = ResetInto::Download;
        // (path, serial, job reset, app window) → decision
        type Row<'a> = (&'a str, Option<&'a str>, Option<ResetInto>, Option<Instant>, Option<ResetInto>);
        let table: [Row; 10] = [
            ("p1", None, Some(d), None, Some(d)),        // same path, job reset
            ("p1", Some("S1"), Some(d), None, Some(d)),  // same path and serial
            ("p9", Some("S1"), Some(d), None, Some(d)),  // same serial elsewhere
            ("p9", Some("S2"), Some(d), None, None),     // another board
            ("p9", None, Some(d), None, None),           // no serial to match
            ("p1", Some("S2"), Some(d), None, None),     // swapped in the gap
            ("p1", None, None, None, None),              // no reset: unplug / new
            ("p1", Some("S2"), None, Some(later), None), // swapped after the job
            ("p1", None, None, Some(now), None),         // window closed
            ("p1", None, Some(ResetInto::App), Some(later), Some(ResetInto::App)),
        ];
        for (path, serial, job, app, want) in table {
            assert_eq!(own_reset(&slot(job, app), &dev(path, serial), now), want, "{path} {serial:?} {job:?}");
        }
        // Its application as another USB device (TinyUSB) with its own serial: the board.
        let app = DeviceInfo { vid: 0x303a, pid: 0x4001, ..dev("p1", Some("X")) };
        assert_eq!(own_reset(&slot(None, Some(later)), &app, now), Some(ResetInto::App));
    }
}
