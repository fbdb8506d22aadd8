//! The chip's own USB-Serial/JTAG port as the link to the host.
//!
//! Three things differ from a board behind a USB-UART bridge, and this module holds them:
//! - **Throughput** is the USB full-speed CDC rate, whatever baud rate the host sets or
//!   CHANGE_BAUDRATE asks for (the peripheral has no UART; the ROM and the stubs accept
//!   the command and nothing changes).
//! - **Reset** comes from the peripheral's own DTR/RTS logic, not from an auto-reset
//!   circuit: DTR asserted while RTS is released arms "boot into download mode"; RTS
//!   asserted while DTR is released resets the chip at once, into download mode when it
//!   was armed, into the application otherwise. esptool's `USBJTAGSerialReset` walks
//!   (F,F) → (T,F) → (T,T) → (F,T); its hard reset pulses (F,T) from idle.
//! - **Re-enumeration**: the peripheral is reset with the chip, so the port drops off the
//!   bus at every chip reset (the host's serial device vanishes) and a new one enumerates
//!   after [`UsbTiming::reenumerate`].
//!
//! Only chips whose host module names a USB-Serial/JTAG peripheral may be presented this
//! way ([`check_chip`]); tests of the chip-independent behaviour may override that.

use crate::chip_timing;
use flashline_protocol::Chip;
use std::time::Duration;

/// How a board is connected to its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkMode {
    /// A USB-UART bridge (CP2102, CH340...) with the classic auto-reset circuit.
    #[default]
    Uart,
    /// The chip's built-in USB-Serial/JTAG (303a:1001).
    UsbSerialJtag,
}

impl std::str::FromStr for LinkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "uart" => Ok(LinkMode::Uart),
            "usb-serial-jtag" | "usb" => Ok(LinkMode::UsbSerialJtag),
            other => Err(format!("unknown link '{other}' (expected uart or usb-serial-jtag)")),
        }
    }
}

/// Refuses a USB-Serial/JTAG link for a chip without the peripheral (unless `any_chip`).
/// Data-driven: the host module's `usb_serial_jtag` fact decides, so a chip added to the
/// simulator is accepted the moment its module says it has the port.
pub fn check_chip(chip: Chip, link: LinkMode, any_chip: bool) -> Result<(), String> {
    if link == LinkMode::UsbSerialJtag && !any_chip && chip.spec().usb_serial_jtag.is_none() {
        return Err(format!("{chip} has no USB-Serial/JTAG peripheral: present it on a UART bridge (--link uart)"));
    }
    Ok(())
}

/// The link's timing (see `docs/TIMING.md`, "USB-Serial/JTAG link", for the sources).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsbTiming {
    /// Payload throughput of the CDC bulk endpoints in each direction, bytes per second
    /// (infinite: instant).
    pub bytes_per_sec: f64,
    /// From the chip reset until the host sees the new serial device.
    pub reenumerate: Duration,
}

impl UsbTiming {
    /// Calibrated figures for `chip`: its USB-Serial/JTAG rate (`crate::chip_timing`; the
    /// S3's 680 KB/s for every chip with the port), re-enumeration after 200 ms.
    pub fn realistic(chip: Chip) -> UsbTiming {
        let rate = chip_timing::of(chip).usb_bytes_per_sec.unwrap_or(chip_timing::USB_SERIAL_JTAG_BYTES_PER_SEC);
        UsbTiming { bytes_per_sec: rate, reenumerate: Duration::from_millis(200) }
    }

    /// Instant bytes; the link still drops and comes back (after `reenumerate`).
    pub fn instant(reenumerate: Duration) -> UsbTiming {
        UsbTiming { bytes_per_sec: f64::INFINITY, reenumerate }
    }

    /// The rate as a pace in "bits per second" at 8 bits per byte (0: instant).
    pub fn bits_per_sec(&self) -> u32 {
        if self.bytes_per_sec.is_finite() && self.bytes_per_sec > 0.0 {
            (self.bytes_per_sec * 8.0).round() as u32
        } else {
            0
        }
    }

    /// Time `n` bytes take on the link.
    pub fn transfer(&self, n: usize) -> Duration {
        if self.bits_per_sec() == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(n as f64 / self.bytes_per_sec)
    }
}

/// What a change of the host's DTR/RTS did to the chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbReset {
    /// The chip reset and boots into the ROM download mode.
    Download,
    /// The chip reset and boots its application.
    App,
}

/// The peripheral's DTR/RTS logic (pyserial convention: `true` = asserted). The host's
/// CDC-ACM driver sends SET_CONTROL_LINE_STATE only when the lines change, so a write of
/// the same state does nothing; while the port is off the bus nothing arrives at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsbLines {
    armed: bool,
    last: (bool, bool),
    down: bool,
}

impl UsbLines {
    /// The port enumerated (again): the host's lines start released.
    pub fn link_up(&mut self) {
        self.down = false;
        self.last = (false, false);
    }

    /// Applies one line state; a reset when RTS is asserted with DTR released.
    pub fn set(&mut self, dtr: bool, rts: bool) -> Option<UsbReset> {
        if self.down || self.last == (dtr, rts) {
            return None;
        }
        self.last = (dtr, rts);
        if dtr && !rts {
            self.armed = true;
            None
        } else if rts && !dtr {
            let armed = std::mem::take(&mut self.armed);
            // The chip resets with its USB port: the link is gone until it enumerates.
            self.down = true;
            Some(if armed { UsbReset::Download } else { UsbReset::App })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &mut UsbLines, seq: &[(bool, bool)]) -> Vec<UsbReset> {
        seq.iter().filter_map(|&(d, r)| lines.set(d, r)).collect()
    }

    #[test]
    fn esptool_sequences() {
        // USBJTAGSerialReset, write by write: rts(F) dtr(F) | dtr(T) rts(F) | rts(T) dtr(F) rts(T) | dtr(F) rts(F).
        let bootloader = [(false, false), (false, false), (true, false), (true, false), (true, true), (false, true)];
        let mut l = UsbLines::default();
        assert_eq!(run(&mut l, &bootloader), vec![UsbReset::Download]);
        // The writes after the reset land on a port that is gone.
        assert_eq!(run(&mut l, &[(false, true), (false, false), (false, true)]), vec![]);
        l.link_up();
        // HardReset: dtr(F) rts(T) | rts(F).
        assert_eq!(run(&mut l, &[(false, false), (false, true), (false, false)]), vec![UsbReset::App]);
        l.link_up();
        // Idle and both asserted never reset.
        assert_eq!(run(&mut l, &[(false, false), (true, true), (false, false)]), vec![]);
        // Arming is used up by one reset.
        assert_eq!(run(&mut l, &[(true, false), (false, true)]), vec![UsbReset::Download]);
        l.link_up();
        assert_eq!(run(&mut l, &[(false, true)]), vec![UsbReset::App]);
    }

    #[test]
    fn only_chips_with_the_peripheral() {
        assert!(check_chip(Chip::Esp32, LinkMode::Uart, false).is_ok());
        let e = check_chip(Chip::Esp32, LinkMode::UsbSerialJtag, false).unwrap_err();
        assert!(e.contains("no USB-Serial/JTAG"), "{e}");
        assert!(check_chip(Chip::Esp32, LinkMode::UsbSerialJtag, true).is_ok());
        // Data-driven: every chip whose host module has the port is accepted.
        for chip in Chip::ALL {
            let has = chip.spec().usb_serial_jtag.is_some();
            assert_eq!(check_chip(chip, LinkMode::UsbSerialJtag, false).is_ok(), has, "{chip}");
        }
        assert!(check_chip(Chip::Esp32S3, LinkMode::UsbSerialJtag, false).is_ok());
        assert!(check_chip(Chip::Esp32C3, LinkMode::UsbSerialJtag, false).is_ok());
        assert_eq!("usb-serial-jtag".parse::<LinkMode>(), Ok(LinkMode::UsbSerialJtag));
        assert!("spi".parse::<LinkMode>().is_err());
    }

    #[test]
    fn rate_arithmetic() {
        let t = UsbTiming::realistic(Chip::Esp32S3);
        assert_eq!(t.bits_per_sec(), 5_440_000);
        // 4 MiB at 680 KB/s: 6.17 s, the link-bound figure (see the timing doc).
        let s = t.transfer(4 << 20).as_secs_f64();
        assert!((s - 6.168).abs() < 0.01, "{s}");
        assert_eq!(UsbTiming::instant(Duration::ZERO).bits_per_sec(), 0);
    }
}
